// cli/pipeline_options.cpp — shared flags of the pipeline commands (cli/pipeline_options.hpp).
#include "pipeline_options.hpp"

#include <ATen/Parallel.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "cli_error.hpp"
#include "io/paths.hpp"
#include "posenc/error.hpp"
#include "posenc/threads.hpp"
#include "validators.hpp"

namespace posenc::cli {

namespace {
void positive(const char* flag, int64_t v) {
  if (v < 1)
    throw CliError(std::string(flag) + ": " + std::to_string(v) + " is invalid (allowed: an integer >= 1)");
}
}  // namespace

void add_model_options(CLI::App* sub, ModelArgs& m) {
  sub->add_option("--pe", m.pe, "Positional encoding: none, sinusoidal, learned, rope, alibi, t5")
      ->capture_default_str();
  sub->add_option("--layers", m.layers, "Transformer blocks")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--heads", m.heads, "Attention heads")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--kv-heads", m.kv_heads, "Key/value heads for grouped-query attention (0 = --heads)")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--dim", m.dim, "Model width (embedding size)")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--ff-mult", m.ff_mult, "MLP width as a multiple of --dim")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option(
         "--ctx", m.ctx,
         "Context the model is built for, in tokens (default: the input length of the training length)")
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--max-positions", m.max_positions, "Rows of a learned position table (default: --ctx)")
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--dropout", m.dropout, "Dropout probability")->capture_default_str();
  sub->add_option("--ops", m.ops, "Encoding kernels: posenc (fused) or eager (LibTorch ops, the baseline)")
      ->capture_default_str();
  sub->add_option("--rope-scaling", m.rope_scaling,
                  "RoPE scaling: default, linear, ntk, dynamic, yarn, llama3")
      ->capture_default_str();
  sub->add_option("--rope-factor", m.rope_factor, "RoPE scaling factor")->capture_default_str();
  sub->add_option("--rope-base", m.rope_base, "RoPE base (theta)")->capture_default_str();
  sub->add_option("--seed", m.seed, "Seed for weights, data order and dropout")
      ->capture_default_str()
      ->transform(decimal_integer<uint64_t>());
}

void add_task_options(CLI::App* sub, TaskArgs& t, bool with_symbols) {
  sub->add_option("--task", t.task, "copy, reverse, sort (built in) or lm (needs --data)")
      ->capture_default_str();
  sub->add_option("--data", t.data, "Text file for --task lm (first 90% train, last 10% validation)")
      ->type_name("FILE");
  sub->add_option("--tokenizer", t.tokenizer, "lm tokenizer: char, word or sentencepiece")
      ->capture_default_str();
  sub->add_option("--spm-vocab", t.spm_vocab, "SentencePiece vocabulary size when training one on --data")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--spm-model", t.spm_model, "Load an existing SentencePiece .model instead of training one")
      ->type_name("FILE");
  if (with_symbols)
    sub->add_option("--symbols", t.symbols, "Distinct data tokens of copy/reverse/sort")
        ->capture_default_str()
        ->transform(decimal_integer<int64_t>());
  sub->add_option("--len", t.len, "Training length (content length for copy/reverse/sort, window for lm)")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
}

void add_train_options(CLI::App* sub, TrainArgs& t) {
  sub->add_option("--batch", t.batch, "Sequences per step")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--steps", t.steps, "Optimizer steps")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--lr", t.lr, "Peak learning rate (AdamW; linear warm-up, cosine decay to --min-lr-ratio)")
      ->capture_default_str();
  sub->add_option("--min-lr-ratio", t.min_lr_ratio,
                  "Learning rate at the end of the cosine decay, as a fraction of --lr")
      ->capture_default_str();
  sub->add_option("--warmup", t.warmup, "Warm-up steps (-1: 5% of --steps)")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--weight-decay", t.weight_decay, "AdamW weight decay on matrices")->capture_default_str();
  sub->add_option("--clip", t.clip, "Gradient clipping by global norm (0: off)")->capture_default_str();
  sub->add_option("--eval-every", t.eval_every, "Evaluate on held-out data every N steps (0: at the end)")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--eval-sequences", t.eval_sequences, "Held-out sequences per evaluation")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--threads", t.threads, "Threads (0: 1 for --dim <= 128, else all cores)")
      ->capture_default_str()
      ->transform(decimal_integer<int>());
  sub->add_option("--device", t.device, "cpu or cuda (when LibTorch has CUDA)")->capture_default_str();
  sub->add_option("--checkpoint", t.checkpoint, "Checkpoint file, written atomically")->type_name("FILE");
  sub->add_option(
         "--checkpoint-every", t.checkpoint_every,
         "Also checkpoint every N steps (0: only at the end; a killed run resumes from the last one)")
      ->transform(decimal_integer<int64_t>());
  sub->add_flag("--resume", t.resume,
                "Continue from --checkpoint (same config; same losses as an uninterrupted run)");
  sub->add_option("--stop-after", t.stop_after,
                  "Stop after N steps of this run (checkpointed; --resume later)")
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--metrics-csv", t.metrics_csv,
                  "Per-step metrics as CSV (written at the end; after --resume, the whole run's)")
      ->type_name("FILE");
  sub->add_option("--metrics-json", t.metrics_json, "Per-step metrics as JSON (as --metrics-csv)")
      ->type_name("FILE");
  sub->add_flag("-q,--quiet", t.quiet, "No progress bar");
}

TaskSetup make_task(const TaskArgs& t, const model::Tokenizer* given) {
  TaskSetup s;
  const model::TaskKind kind = model::parse_task_kind(t.task);
  s.info.task = t.task;
  positive(t.len_option, t.len);
  if (kind != model::TaskKind::Lm) {
    if (!t.data.empty()) throw CliError("--data: only used with --task lm (the task is " + t.task + ")");
    if (t.symbols < 2)
      throw CliError("--symbols: " + std::to_string(t.symbols) + " is invalid (allowed: >= 2)");
    s.task = model::make_synthetic_task(kind, t.symbols);
    s.info.symbols = t.symbols;
    return s;
  }
  if (t.data.empty()) throw CliError("--data: --task lm needs a text file (--data FILE)");
  const std::string text = io::read_file(t.data, "--data");
  if (text.empty()) throw CliError("--data: '" + t.data + "' is empty (allowed: a non-empty text file)");
  if (given) {
    s.tokenizer = model::deserialize_tokenizer(given->serialize());
  } else {
    switch (model::parse_tokenizer_kind(t.tokenizer)) {
      case model::TokenizerKind::Word:
        s.tokenizer = model::build_word_tokenizer(text);
        break;
      case model::TokenizerKind::Char:
        s.tokenizer = model::build_char_tokenizer(text);
        break;
      case model::TokenizerKind::SentencePiece:
        if (!t.spm_model.empty()) {
          s.tokenizer = model::load_sentencepiece(t.spm_model);
        } else {
          if (t.spm_vocab < 4)  // model::train_sentencepiece's range, in the option's words
            throw CliError("--spm-vocab: " + std::to_string(t.spm_vocab) +
                           " is invalid (allowed: >= 4, more than the 3 meta pieces <unk>, <s>, </s>)");
          model::SentencePieceOptions o;
          o.vocab_size = t.spm_vocab;
          s.tokenizer = model::train_sentencepiece(t.data, o);
        }
        break;
    }
  }
  s.task = model::make_lm_task(s.tokenizer->encode(text), s.tokenizer->vocab_size());
  s.info.tokenizer = s.tokenizer->serialize();
  s.info.symbols = 0;
  return s;
}

model::ModelConfig make_model_config(const ModelArgs& m, const TaskArgs& t, const model::Task& task,
                                     bool causal) {
  positive("--layers", m.layers);
  positive("--heads", m.heads);
  positive("--dim", m.dim);
  positive("--ff-mult", m.ff_mult);
  positive(t.len_option, t.len);
  if (m.kv_heads < 0)
    throw CliError("--kv-heads: " + std::to_string(m.kv_heads) + " is invalid (allowed: >= 0)");
  if (m.ctx < 0) throw CliError("--ctx: " + std::to_string(m.ctx) + " is invalid (allowed: >= 1)");
  if (m.max_positions < 0)
    throw CliError("--max-positions: " + std::to_string(m.max_positions) + " is invalid (allowed: >= 1)");
  if (!(m.dropout >= 0 && m.dropout < 1))
    throw CliError("--dropout: " + std::to_string(m.dropout) + " is invalid (allowed: 0 <= p < 1)");
  if (m.dim % m.heads != 0)
    throw CliError("--dim: " + std::to_string(m.dim) + " is not a multiple of --heads " +
                   std::to_string(m.heads));
  model::ModelConfig c;
  c.vocab_size = task.vocab_size();
  c.dim = m.dim;
  c.layers = m.layers;
  c.heads = m.heads;
  c.kv_heads = m.kv_heads;
  c.ff_mult = m.ff_mult;
  c.dropout = m.dropout;
  c.causal = causal;
  c.pe = model::parse_pe_kind(m.pe);
  c.ops = model::parse_ops(m.ops);
  c.rope_base = m.rope_base;
  c.rope_factor = m.rope_factor;
  c.seed = m.seed;
  const int64_t need = task.input_length(t.len);
  const int64_t ctx = m.ctx > 0 ? m.ctx : need;
  if (ctx < need)
    throw CliError("--ctx: " + std::to_string(ctx) + " is smaller than the training inputs (" +
                   std::to_string(need) + " tokens for --len " + std::to_string(t.len) + ")");
  c.max_positions = ctx;
  if (m.max_positions > 0) {
    if (c.pe == model::PeKind::Learned && ctx > m.max_positions)
      throw CliError("--ctx: " + std::to_string(ctx) + " is larger than the learned table (--max-positions " +
                     std::to_string(m.max_positions) + " rows)");
    c.max_positions = m.max_positions;
  }
  // LongRoPE needs per-frequency factor lists, which have no flags: not offered here.
  const std::optional<RopeType> type = model::find_rope_type(m.rope_scaling);
  if (!type || *type == RopeType::LongRope)
    throw CliError("--rope-scaling: '" + m.rope_scaling +
                   "' is invalid (allowed: default, linear, ntk, dynamic, yarn, llama3)");
  c.rope_scaling = *type;
  if (c.rope_scaling != RopeType::Default && c.pe != model::PeKind::Rope)
    throw CliError("--rope-scaling: '" + m.rope_scaling + "' applies only to --pe rope (the encoding is " +
                   m.pe + ")");
  if (c.pe == model::PeKind::Rope && c.rope_scaling != RopeType::Default) {
    // The scalings describe a model trained at some length and run at a longer one: train at ctx.
    c.max_positions = ctx;
  }
  model::validate(c);
  return c;
}

namespace {
double machine_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
}
std::string sig3(double v) {  // 3 significant digits: "1.28e+10", "4.5"
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}
std::string gib(double bytes) {
  return sig3(bytes / 1073741824.0) + " GiB";
}
double parameter_count(const model::ModelConfig& c) {  // in double: sizes from flags may overflow int64
  const double d = static_cast<double>(c.dim),
               kv = static_cast<double>(c.kv()) / static_cast<double>(c.heads);
  const double per_layer = d * d * (2.0 + 2.0 * kv) + 2.0 * static_cast<double>(c.ff_mult) * d * d;
  return 2.0 * static_cast<double>(c.vocab_size) * d + static_cast<double>(c.layers) * per_layer +
         (c.pe == model::PeKind::Learned ? static_cast<double>(c.max_positions) * d : 0.0);
}
}  // namespace

void check_fits_memory(const model::ModelConfig& c, int64_t batch, int64_t tokens, const char* len_option,
                       bool training) {
  const double memory = machine_memory();
  if (memory <= 0) return;
  // Lower bounds, so that only what cannot run is refused: the weights in float32 (training: with their
  // gradients and AdamW's two moments, 4 copies), and one layer's attention scores and probabilities.
  const double weights = parameter_count(c) * 4.0 * (training ? 4.0 : 1.0);
  if (weights > memory)
    throw CliError("--dim " + std::to_string(c.dim) + ", --layers " + std::to_string(c.layers) + ": " +
                   sig3(parameter_count(c)) + " parameters (vocabulary " + std::to_string(c.vocab_size) +
                   ") need at least " + gib(weights) + (training ? " to train" : "") +
                   ", more than this machine's memory (" + gib(memory) +
                   "): reduce --dim, --layers, --ff-mult or the vocabulary");
  // One layer's attention scores and probabilities, and the hidden state and the logits of the batch.
  const double t = static_cast<double>(tokens), b = static_cast<double>(batch);
  const double scores = 2.0 * b * static_cast<double>(c.heads) * t * t * 4.0;
  const double activations = b * t * static_cast<double>(c.dim + c.vocab_size) * 4.0;
  if (weights + scores + activations > memory)
    throw CliError(std::string(len_option) + ", --batch " + std::to_string(batch) + ": inputs of " +
                   std::to_string(tokens) + " tokens need at least " + gib(weights + scores + activations) +
                   (training ? " per training step" : "") +
                   " (one layer's attention scores, the hidden state and the logits), more than this "
                   "machine's memory (" +
                   gib(memory) + "): reduce " + len_option + " or --batch");
}

void check_eval_fits_memory(const model::ModelConfig& c, const model::Task& task,
                            const std::vector<int64_t>& lens, int64_t batch, int64_t sequences,
                            const char* lens_option) {
  for (int64_t len : lens) {
    int64_t count = 0;
    try {
      count = task.eval_sequences(len, sequences);
    } catch (const Error& e) {  // the task's range of lengths, in the option's words
      throw CliError(std::string(lens_option) + ": " + e.value() + " is invalid (allowed: " + e.allowed() +
                     ")");
    }
    const int64_t tokens = task.input_length(len);
    if (c.pe == model::PeKind::Learned && tokens > c.max_positions) continue;  // not evaluated
    check_fits_memory(c, std::min(batch, count), tokens, lens_option, /*training=*/false);
  }
}

model::TrainConfig make_train_config(const TrainArgs& a, const TaskArgs& t, uint64_t seed) {
  // Said in options, which model::validate (below) cannot name.
  if (a.resume && a.checkpoint.empty()) throw CliError("--resume: needs --checkpoint FILE");
  if (a.stop_after > 0 && a.checkpoint.empty())
    throw CliError("--stop-after: needs --checkpoint FILE (the stopped run is resumed from it)");
  // An output over the training text would destroy it (model::validate compares the outputs only).
  io::check_distinct_paths({{"--data", t.data},
                            {"--spm-model", t.spm_model},
                            {"--checkpoint", a.checkpoint},
                            {"--metrics-csv", a.metrics_csv},
                            {"--metrics-json", a.metrics_json}});
  model::TrainConfig c;
  c.steps = a.steps;
  c.batch = a.batch;
  c.train_len = t.len;
  c.lr = a.lr;
  c.min_lr_ratio = a.min_lr_ratio;
  c.warmup = a.warmup;
  c.weight_decay = a.weight_decay;
  c.clip = a.clip;
  c.eval_every = a.eval_every;
  c.eval_sequences = a.eval_sequences;
  c.device = a.device;
  c.checkpoint = a.checkpoint;
  c.checkpoint_every = a.checkpoint_every;
  c.resume = a.resume;
  c.stop_after = a.stop_after;
  c.metrics_csv = a.metrics_csv;
  c.metrics_json = a.metrics_json;
  c.progress = !a.quiet;
  c.seed = seed;
  c.threads = a.threads;
  // The trainer's checks, before the text is read and a tokenizer trained; its errors name the
  // TrainConfig field ("weight_decay"): said in the option's words.
  try {
    model::validate(c);
  } catch (const posenc::Error& e) {
    rethrow_in_option_words(e, t);
  }
  return c;
}

std::string option_of_field(const std::string& field, const TaskArgs& t) {
  static const std::pair<const char*, const char*> kOptions[] = {
      // TrainConfig
      {"steps", "--steps"},
      {"batch", "--batch"},
      {"lr", "--lr"},
      {"min_lr_ratio", "--min-lr-ratio"},
      {"warmup", "--warmup"},
      {"weight_decay", "--weight-decay"},
      {"clip", "--clip"},
      {"eval_every", "--eval-every"},
      {"eval_sequences", "--eval-sequences"},
      {"threads", "--threads"},
      {"device", "--device"},
      {"checkpoint_every", "--checkpoint-every"},
      {"stop_after", "--stop-after"},
      {"resume", "--resume"},
      {"checkpoint", "--checkpoint"},
      {"metrics_csv", "--metrics-csv"},
      {"metrics_json", "--metrics-json"},
      // ModelConfig (a resumed run's config against its checkpoint's)
      {"vocab_size", "--symbols (or the tokenizer's vocabulary)"},
      {"dim", "--dim"},
      {"layers", "--layers"},
      {"heads", "--heads"},
      {"kv_heads", "--kv-heads"},
      {"ff_mult", "--ff-mult"},
      {"pe", "--pe"},
      {"rope_base", "--rope-base"},
      {"rope_scaling", "--rope-scaling"},
      {"rope_factor", "--rope-factor"}};
  if (field == "train_len") return t.len_option;
  if (field == "max_positions")  // set by --ctx, or by the training length, when not given
    return std::string("--max-positions (or --ctx, or ") + t.len_option + ", which set it when not given)";
  if (field == "seed") return "--seed";  // the model's and the training's
  for (const auto& [f, option] : kOptions)
    if (field == f) return option;
  return {};
}

void check_resume_config(const model::ModelConfig& requested, const std::string& checkpoint,
                         const TaskArgs& t) {
  const model::Checkpoint meta = model::read_checkpoint_meta(checkpoint);
  try {
    model::check_same_config(meta.model, requested, checkpoint, [&](const std::string& field) {
      const std::string option = option_of_field(field, t);
      return option.empty() ? field : option;
    });
  } catch (const posenc::Error& e) {
    throw CliError(e.argument() + ": " + e.value() + " is invalid (allowed: " + e.allowed() + ")");
  }
}

void rethrow_in_option_words(const posenc::Error& e, const TaskArgs& t) {
  const std::string option = option_of_field(e.argument(), t);
  if (option.empty()) throw;  // called in a handler: rethrows e as it was (no slicing)
  // "--lr: nan is invalid (allowed: ...)": the library's message in the option's words.
  throw CliError(option + ": " + e.value() + " is invalid (allowed: " + e.allowed() + ")");
}

int apply_threads(int requested, int64_t dim) {
  int n = requested;
  if (n <= 0) n = dim <= 128 ? 1 : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  posenc::set_num_threads(n);
  return n;
}

namespace {
// Splits "a,b,c" into items, each checked by `parse` (which throws for an invalid one), refusing an
// empty list, empty items ("a,,b", "a,") and repeats. `allowed` describes a valid list in the errors.
template <class T, class Parse>
std::vector<T> parse_list(const std::string& text, const std::string& option, const std::string& allowed,
                          Parse parse) {
  if (text.empty()) throw CliError(option + ": empty list");
  std::vector<T> out;
  size_t begin = 0;
  while (true) {
    const size_t comma = text.find(',', begin);
    const std::string item =
        text.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
    if (item.empty())
      throw CliError(option + ": '" + text + "' has an empty item (allowed: " + allowed + ")");
    T v = parse(item);
    if (std::find(out.begin(), out.end(), v) != out.end())
      throw CliError(option + ": '" + text + "' lists " + item + " twice (allowed: " + allowed + ")");
    out.push_back(std::move(v));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return out;
}
}  // namespace

std::vector<int64_t> parse_int_list(const std::string& text, const char* option) {
  const std::string allowed = "distinct comma-separated integers >= 1";
  return parse_list<int64_t>(text, option, allowed, [&](const std::string& item) {
    int64_t v = 0;
    const auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || p != item.data() + item.size() || v < 1)
      throw CliError(std::string(option) + ": '" + item + "' is invalid (allowed: " + allowed + ")");
    return v;
  });
}

std::vector<std::string> parse_name_list(const std::string& text, const char* option,
                                         const std::string& allowed) {
  return parse_list<std::string>(text, option, allowed, [](const std::string& item) { return item; });
}

}  // namespace posenc::cli

namespace posenc::cli {

std::vector<LengthResult> evaluate_lengths(model::Transformer& m, const model::Task& task,
                                           const std::vector<int64_t>& lens, int64_t batch, int64_t sequences,
                                           uint64_t seed) {
  std::vector<LengthResult> out;
  for (int64_t len : lens) {
    LengthResult r;
    r.len = len;
    r.input_tokens = task.input_length(len);
    if (m->max_length() >= 0 && r.input_tokens > m->max_length()) {
      r.status = "not_applicable";
      r.reason = "length " + std::to_string(len) + " needs " + std::to_string(r.input_tokens) +
                 " positions; the learned table has " + std::to_string(m->max_length()) + " rows";
    } else {
      const model::EvalWithOrder e = model::evaluate_with_order(m, task, len, batch, sequences, seed);
      r.eval = e.eval;
      r.order = e.order;
    }
    out.push_back(r);
  }
  return out;
}

nlohmann::ordered_json order_json(const LengthResult& r) {
  if (r.status != "ok" || r.order.tokens == 0) return nullptr;
  nlohmann::ordered_json j;
  j["sensitivity"] = r.order.sensitivity;
  j["compared_tokens"] = r.order.tokens;
  j["loss"] = r.order.loss;
  j["shuffled_loss"] = r.order.shuffled_loss;
  j["accuracy"] = r.order.accuracy;
  j["shuffled_accuracy"] = r.order.shuffled_accuracy;
  return j;
}

std::string describe_model(model::Transformer& m) {
  const model::ModelConfig& c = m->cfg;
  int64_t params = 0;
  for (const auto& p : m->parameters()) params += p.numel();
  std::string s = std::string(c.causal ? "decoder" : "encoder") + ", " + std::to_string(c.layers) +
                  " layers, dim " + std::to_string(c.dim) + ", " + std::to_string(c.heads) + " heads";
  if (c.kv() != c.heads) s += " (" + std::to_string(c.kv()) + " kv)";
  s += ", pe " + std::string(model::to_string(c.pe));
  if (c.pe == model::PeKind::Learned) s += " (" + std::to_string(c.max_positions) + " positions)";
  if (c.ops == model::Ops::Eager) s += " [eager ops]";
  s += ", " + std::to_string(params) + " parameters";
  return s;
}

}  // namespace posenc::cli
