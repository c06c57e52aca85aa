// model/order.cpp — order sensitivity of a trained model (see order.hpp).
#include "model/order.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

namespace posenc::model {

EvalWithOrder evaluate_with_order(Transformer& model, const Task& task, int64_t len, int64_t batch,
                                  int64_t max_sequences, uint64_t seed) {
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  const auto device = model->tok->weight.device();
  const auto [first, last_wanted] = task.order_span(len);
  // One generator for all batches, seeded apart from the batches' own (which use seed and len too).
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(len) * 7919ull + 0x6f72646572ull);
  double eval_loss_sum = 0, eval_correct = 0;
  int64_t eval_n = 0;
  double tv_sum = 0, loss_sum = 0, loss_shuffled_sum = 0, correct = 0, correct_shuffled = 0;
  int64_t n = 0;
  const auto run = [&](const at::Tensor& input) {
    const at::Tensor logits = model->forward(input.to(device));
    return logits.reshape({-1, logits.size(-1)}).to(at::kFloat);
  };
  for (const Batch& b : task.eval_batches(len, batch, max_sequences, seed)) {
    // In order, every scored position: evaluate()'s numbers.
    const at::Tensor lo = run(b.input), all = b.target.reshape({-1}).to(device);
    const at::Tensor scored = all.ne(-100);
    eval_loss_sum += at::cross_entropy_loss(lo, all, {}, at::Reduction::Sum, -100).item<double>();
    eval_correct += (lo.argmax(-1).eq(all) & scored).sum().item<double>();
    eval_n += scored.sum().item<int64_t>();

    const int64_t B = b.input.size(0), T = b.input.size(1);
    const int64_t last = std::min(last_wanted, T);
    if (last - first < 2) continue;
    at::Tensor shuffled = b.input.clone();
    auto in = b.input.accessor<int64_t, 2>();
    auto out = shuffled.accessor<int64_t, 2>();
    std::vector<int64_t> perm(static_cast<size_t>(last - first));
    for (int64_t r = 0; r < B; ++r) {
      std::iota(perm.begin(), perm.end(), first);
      do std::shuffle(perm.begin(), perm.end(), rng);
      while (std::is_sorted(perm.begin(), perm.end()));  // not the identity
      for (int64_t i = first; i < last; ++i) out[r][i] = in[r][perm[static_cast<size_t>(i - first)]];
    }
    // Compared: scored positions after the span (their inputs are the same in both).
    at::Tensor target = b.target.clone();
    target.narrow(1, 0, last).fill_(-100);
    const at::Tensor t = target.reshape({-1}).to(device);
    const at::Tensor mask = t.ne(-100);
    const int64_t count = mask.sum().item<int64_t>();
    if (count == 0) continue;
    const at::Tensor ls = run(shuffled);
    const at::Tensor p = at::softmax(lo, -1), q = at::softmax(ls, -1);
    const at::Tensor tv = 0.5 * (p - q).abs().sum(-1);
    tv_sum += tv.masked_select(mask).sum().item<double>();
    loss_sum += at::cross_entropy_loss(lo, t, {}, at::Reduction::Sum, -100).item<double>();
    loss_shuffled_sum += at::cross_entropy_loss(ls, t, {}, at::Reduction::Sum, -100).item<double>();
    correct += (lo.argmax(-1).eq(t) & mask).sum().item<double>();
    correct_shuffled += (ls.argmax(-1).eq(t) & mask).sum().item<double>();
    n += count;
  }
  if (was_training) model->train();
  EvalWithOrder r;
  r.eval.tokens = eval_n;
  if (eval_n > 0) {
    r.eval.loss = eval_loss_sum / static_cast<double>(eval_n);
    r.eval.accuracy = eval_correct / static_cast<double>(eval_n);
  }
  r.order.tokens = n;
  if (n > 0) {
    const double d = static_cast<double>(n);
    r.order.sensitivity = tv_sum / d;
    r.order.loss = loss_sum / d;
    r.order.shuffled_loss = loss_shuffled_sum / d;
    r.order.accuracy = correct / d;
    r.order.shuffled_accuracy = correct_shuffled / d;
  }
  return r;
}

OrderResult order_sensitivity(Transformer& model, const Task& task, int64_t len, int64_t batch,
                              int64_t max_sequences, uint64_t seed) {
  return evaluate_with_order(model, task, len, batch, max_sequences, seed).order;
}

}  // namespace posenc::model
