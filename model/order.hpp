// model/order.hpp — how much a trained model's predictions depend on the order of its context.
//
// On the task's evaluation batches at length len (the batches evaluate() uses), each sequence's tokens
// in task.order_span(len) are shuffled by a random permutation other than the identity (seeded by seed
// and len; the same for every model, so encodings are compared on the same inputs), and the model is
// run on both inputs. At every scored position after the span (the outputs y of a synthetic task, the
// second half of an lm window), with p and q the next-token distributions for the input in order and
// shuffled:
//   sensitivity = mean over those positions of TV(p, q) = 1/2 sum_v |p_v - q_v|   in [0, 1]
// 0: the model ignores the order of the span (a bidirectional encoder without positional encoding,
// by permutation equivariance; a model that solved `sort`, whose answer does not depend on it);
// near 1: its predictions change completely. Next to it, the loss and accuracy at the same positions for
// both inputs (targets unchanged: copy and reverse need the order, so a model that uses it loses accuracy
// on the shuffled input; sort does not).
// Positions inside the span are not compared (their inputs changed). A span shorter than 2 tokens has
// no other order: tokens = 0 then, and the numbers are 0.
#pragma once

#include <cstdint>

#include "model/tasks.hpp"
#include "model/transformer.hpp"

namespace posenc::model {

struct OrderResult {
  double sensitivity = 0.0;    // mean total variation distance, in [0, 1]
  double loss = 0.0;           // cross-entropy at the compared positions, context in order (nats)
  double accuracy = 0.0;       // argmax accuracy there, in order
  double shuffled_loss = 0.0;  // the same with the span shuffled
  double shuffled_accuracy = 0.0;
  int64_t tokens = 0;  // compared positions (0: nothing to shuffle at this length)
};

// No dropout, no gradients; the model's mode is restored.
OrderResult order_sensitivity(Transformer& model, const Task& task, int64_t len, int64_t batch,
                              int64_t max_sequences, uint64_t seed);

// evaluate() (trainer.hpp) and order_sensitivity() in one pass: each batch is run once in order (for
// both results) and once shuffled, instead of twice in order and once shuffled. Both results equal
// those of the two separate calls.
struct EvalWithOrder {
  EvalResult eval;
  OrderResult order;
};
EvalWithOrder evaluate_with_order(Transformer& model, const Task& task, int64_t len, int64_t batch,
                                  int64_t max_sequences, uint64_t seed);

}  // namespace posenc::model
