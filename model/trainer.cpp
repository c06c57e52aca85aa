// model/trainer.cpp — training loop, evaluation, metrics and checkpoints (model/trainer.hpp).
#include "model/trainer.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/atomic_file.hpp"
#include "io/paths.hpp"
#include "model/checkpoint_file.hpp"
#include "posenc/error.hpp"
#include "posenc/threads.hpp"

namespace posenc::model {

namespace {

using json = nlohmann::ordered_json;
constexpr const char* kFormat = "posenc-checkpoint";
constexpr int kVersion = 1;

[[noreturn]] void fail(const std::string& arg, const std::string& value, const std::string& allowed) {
  throw Error("posenc::model::train", arg, value, allowed);
}

// The shortest text that reads back as v ("1e-09", "nan"; std::to_string would print 1e-9 as 0.000000).
std::string num(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

json train_config_json(const TrainConfig& t) {
  json j;
  j["steps"] = t.steps;
  j["batch"] = t.batch;
  j["train_len"] = t.train_len;
  j["lr"] = t.lr;
  j["min_lr_ratio"] = t.min_lr_ratio;
  j["warmup"] = t.warmup;
  j["weight_decay"] = t.weight_decay;
  j["clip"] = t.clip;
  j["eval_every"] = t.eval_every;
  j["eval_sequences"] = t.eval_sequences;
  j["seed"] = t.seed;
  return j;
}

json record_json(const StepRecord& r) {
  json j;
  j["step"] = r.step;
  j["lr"] = r.lr;
  j["loss"] = r.loss;
  j["grad_norm"] = r.grad_norm;
  j["tokens_per_s"] = r.tokens_per_s;
  j["elapsed_s"] = r.elapsed_s;
  j["eval_loss"] = r.eval_loss ? json(*r.eval_loss) : json(nullptr);
  j["eval_accuracy"] = r.eval_accuracy ? json(*r.eval_accuracy) : json(nullptr);
  return j;
}
StepRecord record_from_json(const json& j) {
  StepRecord r;
  r.step = j.at("step").get<int64_t>();
  r.lr = j.at("lr").get<double>();
  r.loss = j.at("loss").get<double>();
  r.grad_norm = j.at("grad_norm").get<double>();
  r.tokens_per_s = j.at("tokens_per_s").get<double>();
  r.elapsed_s = j.at("elapsed_s").get<double>();
  if (!j.at("eval_loss").is_null()) r.eval_loss = j.at("eval_loss").get<double>();
  if (!j.at("eval_accuracy").is_null()) r.eval_accuracy = j.at("eval_accuracy").get<double>();
  return r;
}

double lr_at(const TrainConfig& t, int64_t step) {  // step counts from 1
  const int64_t warm = t.warmup >= 0 ? t.warmup : std::max<int64_t>(1, t.steps / 20);
  if (step <= warm) return t.lr * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(warm, 1));
  const double p =
      static_cast<double>(step - warm) / static_cast<double>(std::max<int64_t>(t.steps - warm, 1));
  const double lo = t.lr * t.min_lr_ratio;
  return lo + 0.5 * (t.lr - lo) * (1.0 + std::cos(M_PI * std::min(p, 1.0)));
}

std::string format_hms(double s) {
  const auto t = static_cast<int64_t>(std::max(0.0, s) + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(t / 3600),
                  static_cast<long long>(t / 60 % 60), static_cast<long long>(t % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(t / 60),
                  static_cast<long long>(t % 60));
  return buf;
}

// One progress line: redrawn in place on a terminal, printed every ~10% (and at the end) otherwise.
class Progress {
 public:
  Progress(std::ostream* out, int64_t total, bool enabled)
      : out_(enabled ? out : nullptr), total_(total), tty_(::isatty(2) != 0) {}
  void update(int64_t step, double loss, double tok_s, double eta_s, const std::string& extra) {
    if (!out_) return;
    const bool last = step == total_;
    if (!tty_ && !last && step % std::max<int64_t>(1, total_ / 10) != 0) return;
    const int width = 24;
    const int filled = static_cast<int>(width * step / std::max<int64_t>(total_, 1));
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < width) bar += '>' + std::string(static_cast<size_t>(width - filled - 1), ' ');
    char buf[256];
    std::snprintf(buf, sizeof buf, "step %lld/%lld [%s] loss %.4f | %.0f tok/s | ETA %s%s",
                  static_cast<long long>(step), static_cast<long long>(total_), bar.c_str(), loss, tok_s,
                  format_hms(eta_s).c_str(), extra.c_str());
    if (tty_)
      *out_ << '\r' << buf << "\x1b[K" << (last ? "\n" : "") << std::flush;
    else
      *out_ << buf << '\n' << std::flush;
  }
  void note(const std::string& line) {
    if (!out_) return;
    if (tty_) *out_ << "\r\x1b[K";
    *out_ << line << '\n' << std::flush;
  }

 private:
  std::ostream* out_;
  int64_t total_;
  bool tty_;
};

void write_metrics(const TrainConfig& t, const ModelConfig& m, const std::vector<StepRecord>& h) {
  if (!t.metrics_csv.empty()) {
    std::ostringstream s;
    s << "step,lr,loss,grad_norm,tokens_per_s,elapsed_s,eval_loss,eval_accuracy\n";
    s.precision(9);
    for (const auto& r : h) {
      s << r.step << ',' << r.lr << ',' << r.loss << ',' << r.grad_norm << ',' << r.tokens_per_s << ','
        << r.elapsed_s << ',';
      if (r.eval_loss) s << *r.eval_loss;
      s << ',';
      if (r.eval_accuracy) s << *r.eval_accuracy;
      s << '\n';
    }
    io::write_file_atomic(t.metrics_csv, s.str());
  }
  if (!t.metrics_json.empty()) {
    json j;
    j["model"] = json::parse(to_json(m));
    j["train"] = train_config_json(t);
    j["history"] = json::array();
    for (const auto& r : h) j["history"].push_back(record_json(r));
    io::write_file_atomic(t.metrics_json, j.dump(1) + "\n");
  }
}

at::Generator& cpu_generator() {
  static at::Generator g = at::detail::getDefaultCPUGenerator();
  return g;
}

void save_checkpoint(const std::string& path, Transformer& model, torch::optim::Optimizer& opt,
                     const TrainConfig& t, const RunInfo& info, int64_t step, const std::mt19937_64& data_rng,
                     const std::vector<StepRecord>& history) {
  json meta;
  meta["format"] = kFormat;
  meta["version"] = kVersion;
  meta["step"] = step;
  meta["model"] = json::parse(to_json(model->cfg));
  meta["train"] = train_config_json(t);
  meta["task"] = info.task;
  meta["symbols"] = info.symbols;
  meta["history"] = json::array();
  for (const auto& r : history) meta["history"].push_back(record_json(r));
  std::ostringstream rng;
  rng << data_rng;

  torch::serialize::OutputArchive ar;
  ar.write("meta", c10::IValue(meta.dump()));
  ar.write("tokenizer", c10::IValue(info.tokenizer));
  ar.write("data_rng", c10::IValue(rng.str()));
  {
    at::Generator& g = cpu_generator();
    std::lock_guard<std::mutex> lock(g.mutex());
    ar.write("torch_rng", g.get_state());
  }
  torch::serialize::OutputArchive m, o;
  model->save(m);
  opt.save(o);
  ar.write("model", m);
  ar.write("optimizer", o);
  std::ostringstream bytes;
  ar.save_to(bytes);
  io::write_file_atomic(path, seal_checkpoint(bytes.str()));
}

struct Opened {
  torch::serialize::InputArchive ar;
  json meta;
};

void open_checkpoint(const std::string& path, Opened& o) {
  const std::string bytes = io::read_file(path, "checkpoint");
  std::istringstream in(std::string(unseal_checkpoint(bytes, path)));
  try {
    o.ar.load_from(in);
    c10::IValue meta;
    o.ar.read("meta", meta);
    o.meta = json::parse(meta.toStringRef());
  } catch (const std::exception& e) {
    const std::string why = e.what();
    throw Error("posenc::model::checkpoint", "checkpoint", "'" + path + "'",
                "a complete posenc checkpoint (it is truncated or not one: " +
                    escape_bytes(why.substr(0, why.find('\n'))) + ")");
  }
  if (!o.meta.is_object() || o.meta.value("format", "") != kFormat)
    throw Error("posenc::model::checkpoint", "checkpoint", "'" + path + "'",
                "a posenc checkpoint (format tag missing)");
  if (o.meta.value("version", 0) != kVersion)
    throw Error("posenc::model::checkpoint", "checkpoint version", o.meta.value("version", json(0)).dump(),
                std::to_string(kVersion));
}

Checkpoint meta_of(const Opened& o, const std::string& path) {
  Checkpoint c;
  try {
    c.model = model_config_from_json(o.meta.at("model").dump());
    c.step = o.meta.at("step").get<int64_t>();
    c.info.task = o.meta.at("task").get<std::string>();
    c.info.symbols = o.meta.at("symbols").get<int64_t>();
    c.train_json = o.meta.at("train").dump();
  } catch (const nlohmann::json::exception& e) {
    throw Error("posenc::model::checkpoint", "checkpoint", "'" + path + "'",
                std::string("a posenc checkpoint with complete metadata (") + e.what() + ")");
  }
  return c;
}

void load_weights(Opened& o, Transformer& model, const std::string& path) {
  try {
    torch::serialize::InputArchive m;
    o.ar.read("model", m);
    model->load(m);
  } catch (const c10::Error& e) {
    const std::string why = e.what();
    throw Error("posenc::model::checkpoint", "checkpoint", "'" + path + "'",
                "weights that match the model config (" + escape_bytes(why.substr(0, why.find('\n'))) + ")");
  }
}

}  // namespace

void check_same_config(const ModelConfig& have, const ModelConfig& want, const std::string& path,
                       const std::function<std::string(const std::string&)>& name) {
  const json a = json::parse(to_json(have)), b = json::parse(to_json(want));
  const auto called = [&](const std::string& field) { return name ? name(field) : field; };
  std::string first, others;  // the first field that differs names the error; the others are listed
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (it.key() == "dropout" || it.key() == "ops") continue;  // may change between runs
    if (a.at(it.key()) == it.value()) continue;
    if (first.empty())
      first = it.key();
    else
      others += (others.empty() ? "" : ", ") + called(it.key()) + " = " + it.value().dump() +
                " (checkpoint: " + a.at(it.key()).dump() + ")";
  }
  if (!first.empty())
    throw Error("posenc::model::checkpoint", called(first), b.at(first).dump(),
                a.at(first).dump() + " (the value in checkpoint '" + path + "', written with another config" +
                    (others.empty() ? std::string() : "; also differ: " + others) + ")");
}

// A resumed run continues the run in the checkpoint: the fields that decide its losses (the learning
// rates, the batches, the seed) must be the checkpoint's. steps may grow (the cosine schedule then
// stretches from that step on) but not fall below the checkpoint's step.
void check_same_training(const Checkpoint& c, const TrainConfig& t) {
  const json have = json::parse(c.train_json), want = train_config_json(t);
  for (const char* key :
       {"batch", "train_len", "lr", "min_lr_ratio", "warmup", "weight_decay", "clip", "seed"}) {
    if (!have.contains(key) || have.at(key) != want.at(key))
      throw Error("posenc::model::checkpoint", key, want.at(key).dump(),
                  (have.contains(key) ? have.at(key).dump() : std::string("absent")) +
                      " (the value in checkpoint '" + t.checkpoint +
                      "': --resume continues that run with its training config)");
  }
  if (c.step > t.steps)
    fail("steps", std::to_string(t.steps),
         ">= " + std::to_string(c.step) + ", the step of checkpoint '" + t.checkpoint + "'");
}

// The metadata plus the serialized tokenizer.
Checkpoint meta_and_tokenizer(Opened& o, const std::string& path) {
  Checkpoint c = meta_of(o, path);
  c10::IValue tok;
  o.ar.read("tokenizer", tok);
  c.info.tokenizer = tok.toStringRef();
  return c;
}

Checkpoint read_checkpoint_meta(const std::string& path) {
  Opened o;
  open_checkpoint(path, o);
  return meta_and_tokenizer(o, path);
}

Transformer load_model(const std::string& path, Checkpoint* meta) {
  Opened o;
  open_checkpoint(path, o);
  const Checkpoint c = meta_and_tokenizer(o, path);
  Transformer model(c.model);
  load_weights(o, model, path);
  if (meta) *meta = c;
  return model;
}

EvalResult evaluate(Transformer& model, const Task& task, int64_t len, int64_t batch, int64_t max_sequences,
                    uint64_t seed) {
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  const auto device = model->tok->weight.device();
  double loss_sum = 0, correct = 0;
  int64_t n = 0;
  for (const Batch& b : task.eval_batches(len, batch, max_sequences, seed)) {
    const at::Tensor input = b.input.to(device), target = b.target.to(device);
    const at::Tensor logits = model->forward(input);
    const at::Tensor flat = logits.reshape({-1, logits.size(-1)}).to(at::kFloat), t = target.reshape({-1});
    loss_sum += at::cross_entropy_loss(flat, t, {}, at::Reduction::Sum, -100).item<double>();
    const at::Tensor mask = t.ne(-100);
    correct += (flat.argmax(-1).eq(t) & mask).sum().item<double>();
    n += mask.sum().item<int64_t>();
  }
  if (was_training) model->train();
  EvalResult r;
  r.tokens = n;
  r.loss = n ? loss_sum / static_cast<double>(n) : 0.0;
  r.accuracy = n ? correct / static_cast<double>(n) : 0.0;
  return r;
}

void validate(const TrainConfig& t) {
  if (t.steps < 1) fail("steps", std::to_string(t.steps), "an integer >= 1");
  if (t.batch < 1) fail("batch", std::to_string(t.batch), "an integer >= 1");
  if (t.train_len < 1) fail("train_len", std::to_string(t.train_len), "an integer >= 1");
  if (!(t.lr > 0 && std::isfinite(t.lr))) fail("lr", num(t.lr), "a finite number > 0");
  if (!(t.min_lr_ratio >= 0 && t.min_lr_ratio <= 1)) fail("min_lr_ratio", num(t.min_lr_ratio), "0 .. 1");
  if (t.warmup < -1) fail("warmup", std::to_string(t.warmup), ">= 0, or -1 for 5% of the steps");
  if (!(t.weight_decay >= 0 && std::isfinite(t.weight_decay)))
    fail("weight_decay", num(t.weight_decay), "a finite number >= 0");
  if (!(t.clip >= 0 && std::isfinite(t.clip))) fail("clip", num(t.clip), "a finite number >= 0 (0: off)");
  if (t.eval_every < 0) fail("eval_every", std::to_string(t.eval_every), ">= 0 (0: only at the end)");
  if (t.eval_sequences < 1) fail("eval_sequences", std::to_string(t.eval_sequences), "an integer >= 1");
  if (t.threads < 0 || t.threads > kMaxThreads)
    fail("threads", std::to_string(t.threads), "0 .. " + std::to_string(kMaxThreads) + "; 0: as they are");
  if (t.device != "cpu" && t.device != "cuda") fail("device", "'" + t.device + "'", "cpu, cuda");
  if (t.checkpoint_every < 0) fail("checkpoint_every", std::to_string(t.checkpoint_every), ">= 0");
  if (t.checkpoint_every > 0 && t.checkpoint.empty())
    fail("checkpoint_every", std::to_string(t.checkpoint_every),
         "only with a checkpoint path (0 without one)");
  if (t.stop_after < 0) fail("stop_after", std::to_string(t.stop_after), ">= 0 (0: no stop)");
  if (t.resume && t.checkpoint.empty()) fail("resume", "true", "only with a checkpoint path");
  if (t.stop_after > 0 && t.checkpoint.empty())
    fail("stop_after", std::to_string(t.stop_after),
         "only with a checkpoint path (the stopped run is resumed from it; without one it is lost)");
  if (!t.checkpoint.empty()) io::check_writable_path(t.checkpoint, "checkpoint");
  if (!t.metrics_csv.empty()) io::check_writable_path(t.metrics_csv, "metrics_csv");
  if (!t.metrics_json.empty()) io::check_writable_path(t.metrics_json, "metrics_json");
  io::check_distinct_paths(
      {{"checkpoint", t.checkpoint}, {"metrics_csv", t.metrics_csv}, {"metrics_json", t.metrics_json}});
}

TrainResult train(Transformer& model, const Task& task, const TrainConfig& t, const RunInfo& info,
                  std::ostream* progress_out) {
  validate(t);
  if (task.vocab_size() != model->cfg.vocab_size)
    fail("vocab_size", std::to_string(model->cfg.vocab_size),
         std::to_string(task.vocab_size()) + " (the task's vocabulary)");
  const int64_t need = task.input_length(t.train_len);
  if (model->max_length() >= 0 && need > model->max_length())
    fail("train_len", std::to_string(t.train_len),
         "lengths whose input (" + std::to_string(need) +
             " tokens) fits the learned table (max_positions = " + std::to_string(model->max_length()) + ")");
  if (t.threads > 0) {
    at::set_num_threads(t.threads);
    posenc::set_num_threads(t.threads);
  }
  at::Device device(at::kCPU);
  if (t.device == "cuda") {
    if (!torch::cuda::is_available()) fail("device", "cuda", "cpu (this LibTorch has no CUDA device)");
    device = at::Device(at::kCUDA);
  }
  model->to(device);
  model->train();

  // AdamW: decay on matrices (dim >= 2), none on biases and LayerNorm parameters.
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& p : model->parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay,
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(t.lr).betas({0.9, 0.95}).weight_decay(t.weight_decay)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(t.lr).betas({0.9, 0.95}).weight_decay(0.0)));
  torch::optim::AdamW opt(groups, torch::optim::AdamWOptions(t.lr));

  TrainResult result;
  std::mt19937_64 data_rng(t.seed * 0x9E3779B97F4A7C15ull + 12345);
  torch::manual_seed(t.seed + 1);
  int64_t first = 1;
  if (t.resume) {
    Opened o;
    open_checkpoint(t.checkpoint, o);
    const Checkpoint c = meta_of(o, t.checkpoint);
    check_same_config(c.model, model->cfg, t.checkpoint);
    check_same_training(c, t);
    load_weights(o, model, t.checkpoint);
    try {
      torch::serialize::InputArchive oa;
      o.ar.read("optimizer", oa);
      opt.load(oa);
      c10::IValue rng;
      o.ar.read("data_rng", rng);
      std::istringstream(rng.toStringRef()) >> data_rng;
      at::Tensor state;
      o.ar.read("torch_rng", state);
      at::Generator& g = cpu_generator();
      std::lock_guard<std::mutex> lock(g.mutex());
      g.set_state(state);
    } catch (const c10::Error& e) {
      std::string why = e.what();
      throw Error("posenc::model::checkpoint", "checkpoint", "'" + t.checkpoint + "'",
                  "a checkpoint with optimizer and RNG state (" + why.substr(0, why.find('\n')) + ")");
    }
    for (const auto& r : o.meta.at("history")) result.history.push_back(record_from_json(r));
    first = c.step + 1;
    result.resumed_from = c.step;
  }

  Progress bar(progress_out, t.steps, t.progress);
  if (result.resumed_from > 0)
    bar.note("resumed from step " + std::to_string(result.resumed_from) + " of '" + t.checkpoint + "'");
  const auto t0 = std::chrono::steady_clock::now();
  const double elapsed_before = result.history.empty() ? 0.0 : result.history.back().elapsed_s;
  int64_t tokens = 0;
  double last_eval = std::nan("");
  for (int64_t step = first; step <= t.steps; ++step) {
    const double lr = lr_at(t, step);
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    const Batch b = task.train_batch(t.batch, t.train_len, data_rng);
    const at::Tensor input = b.input.to(device), target = b.target.to(device);
    opt.zero_grad();
    const at::Tensor logits = model->forward(input);
    const at::Tensor loss = at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}),
                                                   target.reshape({-1}), {}, at::Reduction::Mean, -100);
    loss.backward();
    double gnorm = 0;
    if (t.clip > 0) {
      gnorm = torch::nn::utils::clip_grad_norm_(model->parameters(), t.clip);
    } else {
      for (const auto& p : model->parameters())
        if (p.grad().defined()) gnorm += p.grad().pow(2).sum().item<double>();
      gnorm = std::sqrt(gnorm);
    }
    opt.step();
    tokens += input.numel();

    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    StepRecord r;
    r.step = step;
    r.lr = lr;
    r.loss = loss.item<double>();
    r.grad_norm = gnorm;
    r.tokens_per_s = secs > 0 ? static_cast<double>(tokens) / secs : 0.0;
    r.elapsed_s = elapsed_before + secs;
    if (!std::isfinite(r.loss))
      fail("lr", num(t.lr),
           "a smaller learning rate (the loss became " + std::to_string(r.loss) + " at step " +
               std::to_string(step) + ")");
    const bool do_eval = (t.eval_every > 0 && step % t.eval_every == 0) || step == t.steps;
    if (do_eval) {
      const EvalResult e = evaluate(model, task, t.train_len, t.batch, t.eval_sequences, t.seed);
      r.eval_loss = e.loss;
      r.eval_accuracy = e.accuracy;
      last_eval = e.loss;
      if (step == t.steps) result.final_eval = e;
    }
    result.history.push_back(r);
    const double per_step = secs / static_cast<double>(step - first + 1);
    std::string extra;
    if (!std::isnan(last_eval)) {
      char buf[64];
      std::snprintf(buf, sizeof buf, " | eval %.4f", last_eval);
      extra = buf;
    }
    bar.update(step, r.loss, r.tokens_per_s, per_step * static_cast<double>(t.steps - step), extra);
    if (do_eval) write_metrics(t, model->cfg, result.history);
    const bool do_ckpt = !t.checkpoint.empty() &&
                         ((t.checkpoint_every > 0 && step % t.checkpoint_every == 0) || step == t.steps);
    if (do_ckpt) save_checkpoint(t.checkpoint, model, opt, t, info, step, data_rng, result.history);
    if (t.stop_after > 0 && step - first + 1 >= t.stop_after) {
      if (!do_ckpt && !t.checkpoint.empty())
        save_checkpoint(t.checkpoint, model, opt, t, info, step, data_rng, result.history);
      bar.note("stopped after step " + std::to_string(step) + " (--stop-after)");
      result.stopped = step < t.steps;
      break;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.tokens_per_s = secs > 0 ? static_cast<double>(tokens) / secs : 0.0;
  if (first > t.steps) {  // nothing left to run: report the evaluation of the loaded weights
    result.final_eval = evaluate(model, task, t.train_len, t.batch, t.eval_sequences, t.seed);
    bar.note("checkpoint '" + t.checkpoint + "' is already at step " + std::to_string(first - 1) + " of " +
             std::to_string(t.steps));
  }
  write_metrics(t, model->cfg, result.history);
  return result;
}

}  // namespace posenc::model
