// cli/pipeline_options.hpp — the model and training flags shared by `posenc train`, `eval`, `demo` and
// `extrapolate`, and what turns them into a model config, a task and a tokenizer.
//
// Lengths: --len L is the training length: for copy/reverse/sort the content length (sequences
// [BOS x1..xn SEP y1..yn] with n <= L, i.e. up to 2L + 1 input tokens), for lm the window in tokens.
// --ctx is the context the model is built for (default: the input length of --len); a learned table
// has --max-positions rows (default --ctx), and --ctx larger than that table is an error.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "model/order.hpp"
#include "model/tasks.hpp"
#include "model/tokenizer.hpp"
#include "model/trainer.hpp"
#include "posenc/error.hpp"

namespace posenc::cli {

struct ModelArgs {
  int64_t layers = 2, heads = 4, kv_heads = 0, dim = 64, ff_mult = 4;
  int64_t ctx = 0, max_positions = 0;
  double dropout = 0.0;
  std::string pe = "sinusoidal", ops = "posenc";
  std::string rope_scaling = "default";
  double rope_factor = 1.0, rope_base = 10000.0;
  uint64_t seed = 0;
};

struct TaskArgs {
  std::string task = "copy", data, tokenizer = "char", spm_model;
  int64_t spm_vocab = 256, symbols = 16, len = 16;
  const char* len_option = "--len";  // the option of len in messages (extrapolate: --train-len)
};

struct TrainArgs {
  int64_t batch = 32, steps = 500, warmup = -1, eval_every = 0, eval_sequences = 256;
  double lr = 3e-3, min_lr_ratio = 0.1, weight_decay = 0.01, clip = 1.0;
  int threads = 0;
  std::string device = "cpu", checkpoint, metrics_csv, metrics_json;
  int64_t checkpoint_every = 0, stop_after = 0;
  bool resume = false, quiet = false;
};

void add_model_options(CLI::App* sub, ModelArgs& m);
void add_task_options(CLI::App* sub, TaskArgs& t, bool with_symbols = true);
void add_train_options(CLI::App* sub, TrainArgs& t);

// A task and what a checkpoint must remember of it (task name, symbols, serialized tokenizer).
struct TaskSetup {
  std::unique_ptr<model::Task> task;
  std::unique_ptr<model::Tokenizer> tokenizer;  // lm only
  model::RunInfo info;
};
// Builds the task: copy/reverse/sort from --symbols; lm from --data with a tokenizer built from the file
// (word/char), trained on it or loaded from --spm-model (sentencepiece), or `given` (a checkpoint's).
TaskSetup make_task(const TaskArgs& t, const model::Tokenizer* given = nullptr);

// The model config for a task: checks every size (CliError naming the flag), derives --ctx and
// --max-positions from --len when not given.
model::ModelConfig make_model_config(const ModelArgs& m, const TaskArgs& t, const model::Task& task,
                                     bool causal = true);
// Refuses (CliError naming the options) a model, or a training step with `batch` inputs of `tokens`
// tokens, that cannot fit this machine's memory by a lower bound: weights with gradients and AdamW's
// moments, one layer's attention scores. Better than LibTorch's allocator error, or a run that swaps.
void check_fits_memory(const model::ModelConfig& c, int64_t batch, int64_t tokens, const char* len_option,
                       bool training = true);
// The same for the evaluation at each of `lens` (batches of `batch` of the task's sequences, at most
// `sequences`; lengths a learned table cannot hold are skipped, as evaluate_lengths does), and each length
// in the task's range: a CliError naming lens_option ("--lens") before anything is evaluated.
void check_eval_fits_memory(const model::ModelConfig& c, const model::Task& task,
                            const std::vector<int64_t>& lens, int64_t batch, int64_t sequences,
                            const char* lens_option);
// seed: --seed, which fixes the data order, dropout and the held-out batches as well as the weights.
model::TrainConfig make_train_config(const TrainArgs& a, const TaskArgs& t, uint64_t seed);
// The option that sets a TrainConfig or ModelConfig field ("weight_decay" -> "--weight-decay"; "" for none),
// and a posenc::Error naming such a field (the trainer's checks, a resumed run against its checkpoint)
// thrown again as a CliError in the option's words; other errors rethrown unchanged (call it in a catch
// handler of e).
std::string option_of_field(const std::string& field, const TaskArgs& t);
[[noreturn]] void rethrow_in_option_words(const posenc::Error& e, const TaskArgs& t);
// --resume: the requested model config against the checkpoint's, every differing field named by its
// option ("--dim: 64 is invalid (allowed: 32 (the value in checkpoint ...; also differ: --layers = 3 ...))"),
// before anything is built (the trainer checks the same, in its fields' names).
void check_resume_config(const model::ModelConfig& requested, const std::string& checkpoint,
                         const TaskArgs& t);

// Thread count: --threads, or 1 for models with dim <= 128 (small matrix products run fastest on one
// thread here), else the number of cores. Sets LibTorch's and posenc's.
int apply_threads(int requested, int64_t dim);

// Comma-separated lists ("8,16,32" for --lens and --eval-lens, "rope,alibi" for --pes): an empty list,
// an empty item ("8,,16", "8,") or a repeated one is an error naming the option.
std::vector<int64_t> parse_int_list(const std::string& text, const char* option);
std::vector<std::string> parse_name_list(const std::string& text, const char* option,
                                         const std::string& allowed);

}  // namespace posenc::cli

namespace posenc::cli {

// One evaluation cell: status "ok", or "not_applicable" when a learned table has fewer rows than the
// inputs of that length need (never clamped).
struct LengthResult {
  int64_t len = 0, input_tokens = 0;
  std::string status = "ok", reason;
  model::EvalResult eval;
  model::OrderResult order;  // order sensitivity (model/order.hpp); order.tokens == 0: not measured
};
std::vector<LengthResult> evaluate_lengths(model::Transformer& m, const model::Task& task,
                                           const std::vector<int64_t>& lens, int64_t batch, int64_t sequences,
                                           uint64_t seed);
// {"sensitivity", "compared_tokens", "loss", "shuffled_loss", "accuracy", "shuffled_accuracy"} of a
// cell, or null when nothing was measured (not applicable, or no order to shuffle at that length).
nlohmann::ordered_json order_json(const LengthResult& r);
// "decoder, 2 layers, dim 64, 4 heads (2 kv), pe rope, 103,424 parameters"
std::string describe_model(model::Transformer& m);

}  // namespace posenc::cli
