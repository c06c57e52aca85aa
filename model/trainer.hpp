// model/trainer.hpp — training and evaluation of a Transformer on a Task.
//
// Training: AdamW (decay on matrices, none on biases and norms), a linear warm-up to lr then a cosine
// decay to lr * min_lr_ratio, gradient clipping by global norm, dropout as in the model config,
// evaluation on held-out data every eval_every steps and at the end. One seed fixes the weights
// (model config), the data order and dropout. A progress line (step, loss, tokens/s, ETA) goes to
// `progress` (overwritten in place on a terminal, every ~10% otherwise).
// Checkpoints (model, optimizer, step, torch and data RNG states, model config, task, training config,
// tokenizer, metrics so far) are written atomically (temporary file + rename) every checkpoint_every
// steps and at the end. resume = true continues from the checkpoint: with the same settings a resumed
// run gives the same losses, bit for bit, as one that was never interrupted (same thread count).
// Metrics: CSV (step, lr, loss, grad_norm, tokens_per_s, elapsed_s, eval_loss, eval_accuracy) and JSON,
// rewritten atomically at each evaluation and at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "model/tasks.hpp"
#include "model/transformer.hpp"

namespace posenc::model {

struct TrainConfig {
  int64_t steps = 500;
  int64_t batch = 32;
  int64_t train_len = 16;  // synthetic: content length up to train_len; lm: window length
  double lr = 3e-3;
  double min_lr_ratio = 0.1;
  int64_t warmup = -1;  // -1: 5% of the steps
  double weight_decay = 0.01;
  double clip = 1.0;             // global grad-norm clip; 0 = off
  int64_t eval_every = 0;        // 0: only at the end
  int64_t eval_sequences = 256;  // held-out sequences per evaluation
  uint64_t seed = 0;             // data order and dropout
  int threads = 0;               // 0: leave torch's and posenc's thread counts as they are
  std::string device = "cpu";    // cpu or cuda
  std::string checkpoint;        // path; empty: no checkpoints
  int64_t checkpoint_every = 0;  // 0: only at the end
  bool resume = false;
  int64_t stop_after = 0;  // > 0: stop after this many steps in this process (an interruption; resume later)
  std::string metrics_csv, metrics_json;
  bool progress = true;
};

struct StepRecord {
  int64_t step = 0;
  double lr = 0, loss = 0, grad_norm = 0, tokens_per_s = 0, elapsed_s = 0;
  std::optional<double> eval_loss, eval_accuracy;
};

struct TrainResult {
  std::vector<StepRecord> history;
  EvalResult final_eval;
  double tokens_per_s = 0;  // input tokens per second over the steps run in this process
  int64_t resumed_from = 0;
  bool stopped = false;  // stop_after ended the run before steps (no final evaluation)
};

// What a checkpoint carries besides the weights, for eval/demo to rebuild the same setup.
struct RunInfo {
  std::string task = "copy";  // task name
  int64_t symbols = 16;       // synthetic tasks
  std::string tokenizer;      // serialized tokenizer (lm, demo); may be empty
};

// The checks of train() that need neither a model nor a task: every field's range, the device name, and
// the output paths (each writable, no two the same file). Throws posenc::Error naming the field
// ("weight_decay"), its value and the allowed range. train() calls it first; callers that build a
// TrainConfig from user input (the posenc command) call it before any costly set-up.
void validate(const TrainConfig& tc);

TrainResult train(Transformer& model, const Task& task, const TrainConfig& tc, const RunInfo& info,
                  std::ostream* progress);

// Mean loss and accuracy over the task's evaluation batches at length len (no dropout, no gradients).
EvalResult evaluate(Transformer& model, const Task& task, int64_t len, int64_t batch, int64_t max_sequences,
                    uint64_t seed);

// ---- checkpoints ----
struct Checkpoint {
  ModelConfig model;
  RunInfo info;
  std::string train_json;  // the TrainConfig it was written under
  int64_t step = 0;
};
// Reads the metadata and loads the weights into a fresh model (errors: missing, truncated or foreign
// files, named by path).
Checkpoint read_checkpoint_meta(const std::string& path);
Transformer load_model(const std::string& path, Checkpoint* meta = nullptr);

// The same check resume does: throws posenc::Error naming the first field of `requested` that differs
// from the checkpoint's model config, and listing the others. `name` says how a field is called in the
// message (the posenc command passes its options' names); default: the field's own name.
void check_same_config(const ModelConfig& in_checkpoint, const ModelConfig& requested,
                       const std::string& path,
                       const std::function<std::string(const std::string&)>& name = {});

}  // namespace posenc::model
