// model/tasks.hpp — what the model learns: built-in sequence tasks and language modelling on a text.
//
// Synthetic tasks (no data needed), over `symbols` data tokens plus PAD = 0, BOS = 1, SEP = 2:
//   sequence  [BOS x1 .. xn SEP y1 .. yn]   n random in [1, train_len] for training (variable length)
//   copy      y = x          reverse   y = x reversed          sort   y = x sorted ascending
// The model reads the sequence without its last token and predicts the next one; only the y tokens
// are scored (target -100 elsewhere). A sequence of content length n has 2n + 1 input tokens, so it
// uses positions 0 .. 2n. "Length" L for these tasks is the content length n; accuracy is the fraction
// of y tokens predicted correctly (teacher forcing).
// Language modelling (lm): the token ids of a text; the first 90% train (random windows of L + 1
// tokens), the last 10% validate (non-overlapping windows of L + 1 tokens); length L is the window.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace posenc::model {

enum class TaskKind : uint8_t { Copy, Reverse, Sort, Lm };
const char* to_string(TaskKind);
TaskKind parse_task_kind(std::string_view);  // "copy|reverse|sort|lm"

struct Batch {
  at::Tensor input;   // [B, T] int64
  at::Tensor target;  // [B, T] int64, -100 = not scored
};

class Task {
 public:
  virtual ~Task() = default;
  virtual TaskKind kind() const = 0;
  virtual int64_t vocab_size() const = 0;
  // The model input length of a sequence of length len (2 len + 1 for synthetic tasks, len for lm).
  virtual int64_t input_length(int64_t len) const = 0;
  // A training batch with lengths up to train_len (drawn from rng).
  virtual Batch train_batch(int64_t batch, int64_t train_len, std::mt19937_64& rng) const = 0;
  // Evaluation batches at exactly length len: the same batches for every call (seeded by seed and len).
  // lm: non-overlapping validation windows (at most max_sequences of them); a validation split too short
  // for one window is a posenc::Error.
  virtual std::vector<Batch> eval_batches(int64_t len, int64_t batch, int64_t max_sequences,
                                          uint64_t seed) const = 0;
  // How many sequences eval_batches(len, ., max_sequences, .) holds, without making them; a length
  // eval_batches refuses is the same posenc::Error ("eval length") here.
  virtual int64_t eval_sequences(int64_t len, int64_t max_sequences) const = 0;
  // The input positions [first, last) whose order an order-sensitivity measurement shuffles in the
  // evaluation batches at length len (model/order.hpp): the source x1 .. xn of a synthetic task
  // (positions 1 .. n), the first half of an lm window. The predictions after it are compared.
  virtual std::pair<int64_t, int64_t> order_span(int64_t len) const = 0;
  // A readable form of one sequence of a batch (for logs).
  virtual std::string describe(const at::Tensor& ids) const;
};

// Synthetic task over `symbols` >= 2 data tokens.
std::unique_ptr<Task> make_synthetic_task(TaskKind kind, int64_t symbols);
// Language modelling on token ids (from a tokenizer); needs at least 20 tokens.
std::unique_ptr<Task> make_lm_task(std::vector<int64_t> tokens, int64_t vocab_size);

struct EvalResult {
  double loss = 0.0;      // mean cross-entropy per scored token (nats)
  double accuracy = 0.0;  // fraction of scored tokens predicted correctly (argmax)
  int64_t tokens = 0;     // scored tokens
};

}  // namespace posenc::model
