// tests/model/test_model.cpp — the Transformer, the tasks, the trainer and checkpoints.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include "io/paths.hpp"
#include "model/checkpoint_file.hpp"
#include "model/order.hpp"
#include "model/trainer.hpp"
#include "posenc/error.hpp"
#include "posenc/threads.hpp"

namespace pm = posenc::model;
namespace fs = std::filesystem;

namespace {

pm::ModelConfig tiny(pm::PeKind pe, bool causal, int64_t vocab = 12) {
  pm::ModelConfig c;
  c.vocab_size = vocab;
  c.dim = 16;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 2;
  c.max_positions = 32;
  c.causal = causal;
  c.pe = pe;
  c.seed = 7;
  return c;
}

fs::path temp_dir() {
  static const fs::path d = [] {
    fs::path p = fs::temp_directory_path() / ("posenc_test_model_" + std::to_string(::getpid()));
    fs::create_directories(p);
    return p;
  }();
  return d;
}

// max |out(perm(x)) - perm(out(x))| for the bidirectional encoder: 0 up to rounding iff equivariant.
double permutation_gap(pm::PeKind pe) {
  pm::Transformer m(tiny(pe, /*causal=*/false));
  m->eval();
  torch::NoGradGuard ng;
  const at::Tensor ids = at::tensor({3, 5, 7, 9, 11, 4}, at::kLong).view({1, 6});
  const at::Tensor perm = at::tensor({4, 2, 0, 5, 1, 3}, at::kLong);
  const at::Tensor out = m->hidden(ids), out_p = m->hidden(ids.index_select(1, perm));
  return (out_p - out.index_select(1, perm)).abs().max().item<double>();
}

}  // namespace

TEST(Model, BidirectionalWithoutPeIsPermutationEquivariant) {
  EXPECT_LT(permutation_gap(pm::PeKind::None), 1e-5);
}

TEST(Model, EveryEncodingBreaksPermutationEquivariance) {
  for (pm::PeKind pe :
       {pm::PeKind::Sinusoidal, pm::PeKind::Learned, pm::PeKind::Rope, pm::PeKind::Alibi, pm::PeKind::T5}) {
    SCOPED_TRACE(pm::to_string(pe));
    EXPECT_GT(permutation_gap(pe), 1e-3);
  }
}

TEST(Model, CausalMaskAloneLeaksOrder) {
  pm::Transformer m(tiny(pm::PeKind::None, /*causal=*/true));
  m->eval();
  torch::NoGradGuard ng;
  const at::Tensor ids = at::tensor({3, 5, 7, 9}, at::kLong).view({1, 4});
  const at::Tensor perm = at::tensor({3, 2, 1, 0}, at::kLong);
  const double gap = (m->hidden(ids.index_select(1, perm)) - m->hidden(ids).index_select(1, perm))
                         .abs()
                         .max()
                         .item<double>();
  EXPECT_GT(gap, 1e-3);
}

TEST(Model, PosencOpsAndEagerOpsGiveTheSameModel) {
  for (pm::PeKind pe : {pm::PeKind::None, pm::PeKind::Sinusoidal, pm::PeKind::Learned, pm::PeKind::Rope,
                        pm::PeKind::Alibi, pm::PeKind::T5}) {
    SCOPED_TRACE(pm::to_string(pe));
    pm::ModelConfig c = tiny(pe, true);
    pm::Transformer a(c);
    c.ops = pm::Ops::Eager;
    pm::Transformer b(c);  // same seed: same weights
    const at::Tensor ids = at::randint(0, c.vocab_size, {2, 9}, at::kLong);
    const at::Tensor ya = a->forward(ids), yb = b->forward(ids);
    // The encodings differ only in float32 rounding (exact vs float32 recipes): 1e-4 on O(1) logits.
    EXPECT_LT((ya - yb).abs().max().item<double>(), 1e-4);
    ya.sum().backward();
    yb.sum().backward();
    for (size_t i = 0; i < a->parameters().size(); ++i) {
      const at::Tensor ga = a->parameters()[i].grad(), gb = b->parameters()[i].grad();
      ASSERT_TRUE(ga.defined());
      EXPECT_LT((ga - gb).abs().max().item<double>(), 1e-3 * (1 + gb.abs().max().item<double>()));
    }
  }
}

TEST(Model, LearnedTableGetsGradientsThatMatchFiniteDifferences) {
  // posenc's fp32 gradient of the learned table against central differences of the same model run in
  // double (eager ops, identical weights), where eps = 1e-6 leaves ~1e-9 truncation and rounding error.
  pm::ModelConfig c = tiny(pm::PeKind::Learned, true);
  pm::Transformer m(c);
  c.ops = pm::Ops::Eager;
  pm::Transformer ref(c);
  ref->to(at::kDouble);
  m->eval();
  ref->eval();
  const at::Tensor ids = at::tensor({1, 4, 2, 7, 3}, at::kLong).view({1, 5});
  const at::Tensor target = at::tensor({4, 2, 7, 3, 5}, at::kLong).view({1, 5});
  auto loss_of = [&](pm::Transformer& model) {
    const at::Tensor logits = model->forward(ids);
    return at::cross_entropy_loss(logits.reshape({-1, c.vocab_size}), target.reshape({-1}));
  };
  loss_of(m).backward();
  const at::Tensor g = m->tok->pe_weight.grad().clone();
  // Rows of positions 0..4 get gradient; rows >= 5 (never used) get none.
  EXPECT_GT(g.slice(0, 0, 5).abs().min().item<double>(), 0.0);
  EXPECT_EQ(g.slice(0, 5).abs().max().item<double>(), 0.0);
  torch::NoGradGuard ng;
  const double eps = 1e-6;
  double worst = 0;
  for (int64_t p = 0; p < 5; ++p)
    for (int64_t col = 0; col < c.dim; col += 3) {
      double& w = ref->tok->pe_weight.data_ptr<double>()[p * c.dim + col];
      const double w0 = w;
      w = w0 + eps;
      const double lp = loss_of(ref).item<double>();
      w = w0 - eps;
      const double lm = loss_of(ref).item<double>();
      w = w0;
      const double fd = (lp - lm) / (2.0 * eps), an = g[p][col].item<double>();
      // fp32 forward/backward through 2 layers: relative error ~1e-5 of the gradient scale.
      EXPECT_NEAR(an, fd, 1e-4 * std::max(1.0, std::abs(fd))) << "row " << p << " col " << col;
      worst = std::max(worst, std::abs(an - fd));
    }
  RecordProperty("worst_abs_error", std::to_string(worst));
}

TEST(Model, TrainingChangesTheLearnedTable) {
  pm::ModelConfig c = tiny(pm::PeKind::Learned, true, 3 + 8);
  pm::Transformer m(c);
  const at::Tensor before = m->tok->pe_weight.detach().clone();
  auto task = pm::make_synthetic_task(pm::TaskKind::Copy, 8);
  pm::TrainConfig t;
  t.steps = 5;
  t.batch = 4;
  t.train_len = 6;
  t.progress = false;
  t.eval_sequences = 8;
  t.weight_decay = 0.0;  // decoupled decay would shrink unused rows too
  pm::train(m, *task, t, {}, nullptr);
  const at::Tensor delta = (m->tok->pe_weight.detach() - before).abs().sum(1);
  EXPECT_GT(delta.slice(0, 0, 13).min().item<double>(), 0.0);  // positions 0 .. 2*6 were used
  EXPECT_EQ(delta.slice(0, 13).max().item<double>(), 0.0);     // positions never seen: untouched
}

TEST(Model, LearnsTheCopyTaskInDistribution) {
  pm::ModelConfig c;
  c.vocab_size = 3 + 8;
  c.dim = 64;
  c.layers = 2;
  c.heads = 4;
  c.pe = pm::PeKind::Rope;
  c.seed = 1;
  pm::Transformer m(c);
  auto task = pm::make_synthetic_task(pm::TaskKind::Copy, 8);
  pm::TrainConfig t;
  // ~11 s here: a model this small runs fastest on one thread (2 threads: twice as slow).
  t.threads = 1;
  t.steps = 600;
  t.batch = 32;
  t.train_len = 8;
  t.lr = 3e-3;
  t.progress = false;
  t.eval_sequences = 128;
  const auto r = pm::train(m, *task, t, {}, nullptr);
  EXPECT_GT(r.final_eval.accuracy, 0.95) << "loss " << r.final_eval.loss;
  // A model that copies depends on the source order: shuffling it changes most predictions, and the
  // original targets are mostly missed (a random permutation of 8 of 8 symbols keeps ~1/8 + repeats).
  const pm::OrderResult o = pm::order_sensitivity(m, *task, 8, 32, 128, 0);
  EXPECT_EQ(o.tokens, 128 * 8);
  EXPECT_GT(o.sensitivity, 0.5);
  EXPECT_GT(o.accuracy, 0.95);
  EXPECT_LT(o.shuffled_accuracy, 0.5);
  EXPECT_GT(o.shuffled_loss, o.loss + 1.0);
}

// Order sensitivity (model/order.hpp) on untrained models, where the properties are exact.
TEST(Model, OrderSensitivityIsZeroExactlyWhenTheModelCannotSeeOrder) {
  auto task = pm::make_synthetic_task(pm::TaskKind::Copy, 9);
  const auto measure = [&](pm::PeKind pe, bool causal, int64_t len) {
    pm::Transformer m(tiny(pe, causal));
    m->train();  // order_sensitivity switches dropout off and restores the mode
    const pm::OrderResult o = pm::order_sensitivity(m, *task, len, 16, 40, 5);
    EXPECT_TRUE(m->is_training());
    return o;
  };
  // A bidirectional encoder without PE is permutation equivariant: the outputs after the shuffled
  // source see the same multiset of tokens, so their distributions are the same up to rounding.
  const pm::OrderResult none = measure(pm::PeKind::None, false, 6);
  EXPECT_EQ(none.tokens, 40 * 6);  // the 6 output positions of each of the 40 sequences
  EXPECT_LT(none.sensitivity, 1e-6);
  EXPECT_NEAR(none.shuffled_loss, none.loss, 1e-5);
  EXPECT_EQ(none.shuffled_accuracy, none.accuracy);
  // With any encoding, or with a causal mask alone, the order shows.
  for (pm::PeKind pe :
       {pm::PeKind::Sinusoidal, pm::PeKind::Learned, pm::PeKind::Rope, pm::PeKind::Alibi, pm::PeKind::T5}) {
    SCOPED_TRACE(pm::to_string(pe));
    const pm::OrderResult o = measure(pe, false, 6);
    EXPECT_GT(o.sensitivity, 100 * none.sensitivity + 1e-5);
    EXPECT_LE(o.sensitivity, 1.0);
  }
  EXPECT_GT(measure(pm::PeKind::None, true, 6).sensitivity, 100 * none.sensitivity + 1e-5);
  // The same inputs for every call (seeded): equal results.
  const pm::OrderResult a = measure(pm::PeKind::Rope, true, 5), b = measure(pm::PeKind::Rope, true, 5);
  EXPECT_EQ(a.sensitivity, b.sensitivity);
  EXPECT_EQ(a.shuffled_loss, b.shuffled_loss);
  // One source token has no other order: nothing is measured.
  EXPECT_EQ(measure(pm::PeKind::Rope, true, 1).tokens, 0);
  // lm: the first half of each window is shuffled, the second half compared.
  std::vector<int64_t> text(400);
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<int64_t>(i * 7 % 12);
  auto lm = pm::make_lm_task(text, 12);
  pm::Transformer m(tiny(pm::PeKind::Rope, true));
  const pm::OrderResult o = pm::order_sensitivity(m, *lm, 8, 4, 100, 0);
  EXPECT_EQ(o.tokens, (40 - 1) / 8 * 4);  // windows of the 40-token validation split, 4 positions each
  EXPECT_GT(o.sensitivity, 0.0);
  EXPECT_EQ(pm::order_sensitivity(m, *lm, 3, 4, 100, 0).tokens, 0);  // a span of one token
}

// eval and extrapolate measure both in one pass (evaluate_with_order): its loss and accuracy are
// evaluate()'s, bit for bit, also at lengths with nothing to shuffle.
TEST(Model, EvaluateWithOrderGivesEvaluatesNumbers) {
  auto copy = pm::make_synthetic_task(pm::TaskKind::Copy, 9);
  std::vector<int64_t> text(400);
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<int64_t>(i * 5 % 12);
  auto lm = pm::make_lm_task(text, 12);
  for (const pm::Task* task : {copy.get(), lm.get()}) {
    pm::Transformer m(tiny(pm::PeKind::Rope, true));
    for (int64_t len : {1, 3, 8}) {
      SCOPED_TRACE("len " + std::to_string(len));
      const pm::EvalResult e = pm::evaluate(m, *task, len, 4, 30, 2);
      const pm::EvalWithOrder both = pm::evaluate_with_order(m, *task, len, 4, 30, 2);
      EXPECT_GT(e.tokens, 0);
      EXPECT_EQ(both.eval.tokens, e.tokens);
      EXPECT_EQ(both.eval.loss, e.loss);
      EXPECT_EQ(both.eval.accuracy, e.accuracy);
      const pm::OrderResult o = pm::order_sensitivity(m, *task, len, 4, 30, 2);
      EXPECT_EQ(both.order.tokens, o.tokens);
      EXPECT_EQ(both.order.sensitivity, o.sensitivity);
    }
  }
}

namespace {
std::vector<double> losses(const pm::TrainResult& r) {
  std::vector<double> v;
  for (const auto& h : r.history) v.push_back(h.loss);
  return v;
}
pm::TrainConfig resume_cfg(const fs::path& ckpt) {
  pm::TrainConfig t;
  t.steps = 16;
  t.batch = 8;
  t.train_len = 5;
  t.progress = false;
  t.eval_sequences = 16;
  t.eval_every = 4;
  t.threads = 1;
  t.seed = 3;
  t.checkpoint = ckpt.string();
  t.checkpoint_every = 4;
  return t;
}
// A tiny causal model trained for `steps` steps of the copy task, checkpointed to ckpt at the end.
pm::Transformer trained_to_checkpoint(const fs::path& ckpt, pm::PeKind pe, int64_t steps) {
  auto task = pm::make_synthetic_task(pm::TaskKind::Copy, 9);
  pm::Transformer m(tiny(pe, true));
  pm::TrainConfig t = resume_cfg(ckpt);
  t.steps = steps;
  pm::train(m, *task, t, {}, nullptr);
  return m;
}
}  // namespace

TEST(Checkpoint, ResumedRunGivesTheSameLossesAsAnUninterruptedOne) {
  auto task = pm::make_synthetic_task(pm::TaskKind::Reverse, 9);
  pm::ModelConfig c = tiny(pm::PeKind::Learned, true);
  c.dropout = 0.1;  // dropout draws from torch's generator: its state must be restored too
  const fs::path a = temp_dir() / "a.pt", b = temp_dir() / "b.pt";

  pm::Transformer ma(c);
  const auto ra = pm::train(ma, *task, resume_cfg(a), {}, nullptr);

  pm::Transformer mb(c);
  pm::TrainConfig tb = resume_cfg(b);
  tb.stop_after = 7;  // killed after step 7; the last checkpoint is at step 7 (written on stop)
  pm::train(mb, *task, tb, {}, nullptr);
  torch::manual_seed(999);  // whatever happened in between must not matter
  pm::Transformer mc(c);    // a fresh process: fresh weights, resumed from the file
  tb.stop_after = 0;
  tb.resume = true;
  const auto rc = pm::train(mc, *task, tb, {}, nullptr);
  EXPECT_EQ(rc.resumed_from, 7);
  ASSERT_EQ(losses(rc).size(), 16u);
  EXPECT_EQ(losses(rc), losses(ra));
  for (size_t i = 0; i < ma->parameters().size(); ++i)
    EXPECT_TRUE(at::equal(ma->parameters()[i], mc->parameters()[i])) << ma->named_parameters().keys()[i];
  EXPECT_EQ(rc.final_eval.loss, ra.final_eval.loss);
}

TEST(Checkpoint, LoadModelRestoresWeightsAndMetadata) {
  auto task = pm::make_synthetic_task(pm::TaskKind::Sort, 9);
  const fs::path p = temp_dir() / "load.pt";
  pm::Transformer m(tiny(pm::PeKind::T5, true));
  pm::RunInfo info;
  info.task = "sort";
  info.symbols = 9;
  info.tokenizer = "tok-bytes";
  pm::TrainConfig t = resume_cfg(p);
  t.steps = 3;
  pm::train(m, *task, t, info, nullptr);
  pm::Checkpoint meta;
  pm::Transformer back = pm::load_model(p.string(), &meta);
  EXPECT_EQ(meta.step, 3);
  EXPECT_EQ(meta.info.task, "sort");
  EXPECT_EQ(meta.info.symbols, 9);
  EXPECT_EQ(meta.info.tokenizer, "tok-bytes");
  EXPECT_EQ(pm::to_json(meta.model), pm::to_json(m->cfg));
  const at::Tensor ids = at::randint(0, 12, {2, 7}, at::kLong);
  m->eval();
  back->eval();
  EXPECT_TRUE(at::equal(m->forward(ids), back->forward(ids)));
  // no temporaries left next to the checkpoint
  for (const auto& e : fs::directory_iterator(temp_dir()))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

TEST(Checkpoint, TruncatedOrForeignFilesAreErrorsNotCrashes) {
  const fs::path p = temp_dir() / "whole.pt";
  trained_to_checkpoint(p, pm::PeKind::Rope, 2);
  const std::string bytes = posenc::io::read_file(p.string());
  for (size_t keep : {size_t{0}, size_t{10}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 30}) {
    const fs::path q = temp_dir() / "cut.pt";
    std::ofstream(q, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(keep));
    try {
      pm::load_model(q.string());
      ADD_FAILURE() << "a checkpoint cut to " << keep << " bytes loaded";
    } catch (const posenc::Error& e) {
      EXPECT_NE(std::string(e.what()).find("cut.pt"), std::string::npos) << e.what();
    }
  }
  const fs::path txt = temp_dir() / "notes.txt";
  std::ofstream(txt) << "not a checkpoint";
  EXPECT_THROW(pm::load_model(txt.string()), posenc::Error);
  EXPECT_THROW(pm::load_model((temp_dir() / "missing.pt").string()), posenc::Error);
}

// Damage anywhere in the file is an error before LibTorch parses the archive: without the envelope, 161 of
// 300 checkpoints with random bytes changed loaded (wrong weights) and 3 crashed LibTorch's parser.
TEST(Checkpoint, DamagedBytesAnywhereAreErrorsNamingTheFile) {
  const fs::path p = temp_dir() / "intact.pt";
  trained_to_checkpoint(p, pm::PeKind::Learned, 1);
  const std::string bytes = posenc::io::read_file(p.string());
  ASSERT_EQ(bytes.substr(0, 8), "POSENCCK");
  const fs::path q = temp_dir() / "damaged.pt";
  std::mt19937_64 rng(7);
  std::vector<size_t> offsets;
  for (size_t i = 0; i < 32; ++i) offsets.push_back(i);  // every byte of the header and the zip's first
  for (int i = 0; i < 96; ++i) offsets.push_back(rng() % bytes.size());
  offsets.push_back(bytes.size() - 1);
  for (const size_t at : offsets) {
    for (const unsigned flip : {0x01u, 0x80u, 0xffu}) {
      std::string d = bytes;
      d[at] = static_cast<char>(static_cast<unsigned char>(d[at]) ^ flip);
      std::ofstream(q, std::ios::binary | std::ios::trunc)
          .write(d.data(), static_cast<std::streamsize>(d.size()));
      try {
        pm::load_model(q.string());
        ADD_FAILURE() << "a checkpoint with byte " << at << " xor " << flip << " loaded";
      } catch (const posenc::Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("damaged.pt"), std::string::npos) << what;
        for (const char c : what)
          ASSERT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << "unprintable: " << what;
      }
    }
  }
  // Bytes appended after a complete file.
  std::ofstream(q, std::ios::binary | std::ios::trunc) << bytes << "tail";
  try {
    pm::load_model(q.string());
    ADD_FAILURE() << "a checkpoint with bytes appended loaded";
  } catch (const posenc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("appended"), std::string::npos) << e.what();
  }
}

// A checkpoint written before the envelope (the bare LibTorch archive) still loads.
TEST(Checkpoint, ArchivesWithoutTheEnvelopeStillLoad) {
  const fs::path p = temp_dir() / "sealed.pt", bare = temp_dir() / "bare.pt";
  pm::Transformer m = trained_to_checkpoint(p, pm::PeKind::Rope, 1);
  const std::string bytes = posenc::io::read_file(p.string());
  const std::string archive = bytes.substr(24);
  ASSERT_EQ(archive.substr(0, 4), std::string("PK\3\4", 4));
  std::ofstream(bare, std::ios::binary | std::ios::trunc) << archive;
  pm::Checkpoint meta;
  pm::Transformer loaded = pm::load_model(bare.string(), &meta);
  EXPECT_EQ(meta.step, 1);
  const auto a = m->named_parameters(), b = loaded->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& kv : a) EXPECT_TRUE(at::equal(kv.value(), b[kv.key()])) << kv.key();
}

TEST(Checkpoint, ResumingWithAnotherConfigNamesTheField) {
  auto task = pm::make_synthetic_task(pm::TaskKind::Copy, 9);
  const fs::path p = temp_dir() / "cfg.pt";
  pm::Transformer m(tiny(pm::PeKind::Rope, true));
  pm::TrainConfig t = resume_cfg(p);
  t.steps = 2;
  pm::train(m, *task, t, {}, nullptr);
  pm::ModelConfig other = tiny(pm::PeKind::Rope, true);
  other.layers = 3;
  pm::Transformer m2(other);
  t.resume = true;
  t.steps = 4;
  try {
    pm::train(m2, *task, t, {}, nullptr);
    ADD_FAILURE() << "resumed with another config";
  } catch (const posenc::Error& e) {
    EXPECT_EQ(e.argument(), "layers") << e.what();
  }
}

TEST(ModelErrors, LearnedTableShorterThanTheSequences) {
  pm::ModelConfig c = tiny(pm::PeKind::Learned, true);
  c.max_positions = 8;
  pm::Transformer m(c);
  auto task = pm::make_synthetic_task(pm::TaskKind::Copy, 9);
  pm::TrainConfig t;
  t.train_len = 4;  // input 9 tokens > 8 rows
  t.progress = false;
  try {
    pm::train(m, *task, t, {}, nullptr);
    ADD_FAILURE();
  } catch (const posenc::Error& e) {
    EXPECT_EQ(e.argument(), "train_len") << e.what();
    EXPECT_NE(std::string(e.what()).find("max_positions = 8"), std::string::npos) << e.what();
  }
  try {
    m->forward(at::zeros({1, 9}, at::kLong));
    ADD_FAILURE();
  } catch (const posenc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("learned position table"), std::string::npos) << e.what();
  }
}

TEST(ModelErrors, BadConfigsNameTheField) {
  auto expect_field = [](pm::ModelConfig c, const char* field) {
    try {
      pm::validate(c);
      ADD_FAILURE() << field;
    } catch (const posenc::Error& e) {
      EXPECT_EQ(e.argument(), field) << e.what();
    }
  };
  pm::ModelConfig c = tiny(pm::PeKind::Rope, true);
  auto bad = c;
  bad.dim = 0;
  expect_field(bad, "dim");
  bad = c;
  bad.heads = 5;
  expect_field(bad, "dim");
  bad = c;
  bad.kv_heads = 3;
  expect_field(bad, "kv_heads");
  bad = c;
  bad.layers = -1;
  expect_field(bad, "layers");
  bad = c;
  bad.dropout = 1.0;
  expect_field(bad, "dropout");
  bad = c;
  bad.pe = pm::PeKind::Learned;
  bad.max_positions = 0;
  expect_field(bad, "max_positions");
  EXPECT_THROW(pm::parse_pe_kind("xpos"), posenc::Error);
  EXPECT_THROW(pm::model_config_from_json("{\"dim\": 3"), posenc::Error);
  EXPECT_EQ(pm::to_json(pm::model_config_from_json(pm::to_json(c))), pm::to_json(c));
}

TEST(ModelErrors, BadTrainConfigsNameTheField) {
  auto expect_field = [](const pm::TrainConfig& t, const char* field) {
    try {
      pm::validate(t);
      ADD_FAILURE() << field;
    } catch (const posenc::Error& e) {
      EXPECT_EQ(e.argument(), field) << e.what();
    }
  };
  const pm::TrainConfig ok;
  EXPECT_NO_THROW(pm::validate(ok));
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  auto with = [&](auto set) {
    pm::TrainConfig t = ok;
    set(t);
    return t;
  };
  expect_field(with([](auto& t) { t.steps = 0; }), "steps");
  expect_field(with([](auto& t) { t.batch = 0; }), "batch");
  expect_field(with([](auto& t) { t.train_len = 0; }), "train_len");
  expect_field(with([&](auto& t) { t.lr = nan; }), "lr");
  expect_field(with([&](auto& t) { t.lr = inf; }), "lr");
  expect_field(with([](auto& t) { t.lr = 0; }), "lr");
  expect_field(with([](auto& t) { t.min_lr_ratio = -0.5; }), "min_lr_ratio");
  expect_field(with([](auto& t) { t.min_lr_ratio = 1.5; }), "min_lr_ratio");
  expect_field(with([](auto& t) { t.warmup = -2; }), "warmup");
  expect_field(with([&](auto& t) { t.weight_decay = nan; }), "weight_decay");
  expect_field(with([&](auto& t) { t.weight_decay = inf; }), "weight_decay");
  expect_field(with([&](auto& t) { t.clip = nan; }), "clip");
  expect_field(with([](auto& t) { t.clip = -1; }), "clip");
  expect_field(with([&](auto& t) { t.clip = inf; }), "clip");
  expect_field(with([](auto& t) { t.eval_every = -1; }), "eval_every");
  expect_field(with([](auto& t) { t.eval_sequences = 0; }), "eval_sequences");
  expect_field(with([](auto& t) { t.threads = -1; }), "threads");
  expect_field(with([](auto& t) { t.device = "tpu"; }), "device");
  expect_field(with([](auto& t) { t.checkpoint_every = -1; }), "checkpoint_every");
  expect_field(with([](auto& t) { t.stop_after = -1; }), "stop_after");
  expect_field(with([](auto& t) { t.resume = true; }), "resume");
  expect_field(with([](auto& t) { t.stop_after = 3; }), "stop_after");
  const std::string ck = (temp_dir() / "validate.pt").string();
  expect_field(with([&](auto& t) { t.checkpoint = (temp_dir() / "no_such_dir" / "x.pt").string(); }),
               "checkpoint");
  EXPECT_THROW(pm::validate(with([&](auto& t) {
                 t.checkpoint = ck;
                 t.metrics_json = ck;
               })),
               posenc::Error);
  EXPECT_NO_THROW(pm::validate(with([&](auto& t) {
    t.checkpoint = ck;
    t.resume = true;
    t.stop_after = 3;
    t.warmup = 0;
    t.clip = 0;
    t.min_lr_ratio = 1;
  })));
  EXPECT_FALSE(fs::exists(ck));  // validating writes nothing
  try {                          // the value as given, not std::to_string's 0.000000
    pm::validate(with([](auto& t) { t.lr = -1e-9; }));
    ADD_FAILURE();
  } catch (const posenc::Error& e) {
    EXPECT_EQ(e.value(), "-1e-09");
  }
}

TEST(Tasks, SequencesAreWhatTheTaskSays) {
  std::mt19937_64 rng(5);
  for (auto kind : {pm::TaskKind::Copy, pm::TaskKind::Reverse, pm::TaskKind::Sort}) {
    auto task = pm::make_synthetic_task(kind, 10);
    const pm::Batch b = task->eval_batches(6, 4, 4, 1).at(0);
    ASSERT_EQ(b.input.size(1), 13);
    for (int64_t r = 0; r < 4; ++r) {
      std::vector<int64_t> x, y;
      for (int64_t i = 1; i <= 6; ++i) x.push_back(b.input[r][i].item<int64_t>());
      for (int64_t i = 7; i < 13; ++i) y.push_back(b.target[r][i].item<int64_t>());
      EXPECT_EQ(b.input[r][7].item<int64_t>(), 2);  // SEP
      if (kind == pm::TaskKind::Reverse) std::reverse(x.begin(), x.end());
      if (kind == pm::TaskKind::Sort) std::sort(x.begin(), x.end());
      EXPECT_EQ(x, y);
      for (int64_t i = 0; i < 7; ++i) EXPECT_EQ(b.target[r][i].item<int64_t>(), -100);
    }
    // the same evaluation batches every time
    EXPECT_TRUE(at::equal(b.input, task->eval_batches(6, 4, 4, 1).at(0).input));
  }
  std::vector<int64_t> toks(100);
  for (int i = 0; i < 100; ++i) toks[static_cast<size_t>(i)] = i % 7;
  auto lm = pm::make_lm_task(toks, 7);
  const auto ev = lm->eval_batches(3, 8, 100, 0);  // 10 validation tokens: 3 windows of 3 (+1)
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].input.size(0), 3);
  EXPECT_EQ(ev[0].input[0][0].item<int64_t>(), 90 % 7);
  EXPECT_EQ(ev[0].target[2][2].item<int64_t>(), 99 % 7);
  EXPECT_THROW(lm->eval_batches(10, 8, 100, 0), posenc::Error);  // needs 11 tokens
  // Batches of no sequence looped for ever (CLI audit: eval --batch 0); lengths past 2^30 overflowed
  // the input length 2n + 1.
  auto copy = pm::make_synthetic_task(pm::TaskKind::Copy, 4);
  for (const pm::Task* t : {copy.get(), lm.get()}) {
    EXPECT_THROW(t->eval_batches(3, 0, 8, 0), posenc::Error);
    EXPECT_THROW(t->eval_batches(3, 4, 0, 0), posenc::Error);
  }
  EXPECT_THROW(copy->eval_batches(int64_t{1} << 31, 4, 8, 0), posenc::Error);
  EXPECT_GT(copy->input_length(std::numeric_limits<int64_t>::max()), 0);
  EXPECT_THROW(pm::make_lm_task(std::vector<int64_t>(5, 1), 2), posenc::Error);
}
