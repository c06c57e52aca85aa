// examples/torch_rotary_attention.cpp — posenc's LibTorch modules in a model: token embedding (fused
// kernel) and rotary position embedding (GQA: 4 query heads share 2 key/value heads) in a causal
// attention layer, trained with autograd on a task that needs relative positions: at every position t,
// predict the token seen 3 positions earlier.
//
//   posenc_example_torch_rotary_attention
//
// Checked, exit status 1 otherwise: (1) the gradients that flow through posenc's RoPE equal those of the
// same formula written in LibTorch ops (Hugging Face's apply_rotary_pos_emb, posenc/torch/eager.hpp) to
// float rounding; (2) training learns the task (accuracy > 0.9 on fresh sequences), and the same model
// without position information does not (0.26 here, checked < 0.5): its attention sees the prefix as a
// set, and only the causal mask tells it anything about order.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <posenc/threads.hpp>
#include <posenc/torch/eager.hpp>
#include <posenc/torch/modules.hpp>

namespace pt = posenc::libtorch;

struct CausalAttentionImpl : torch::nn::Module {
  CausalAttentionImpl(int64_t dim, int64_t heads, int64_t kv_heads, const posenc::RopeConfig& rope_cfg,
                      bool use_rope)
      : Hq(heads),
        Hk(kv_heads),
        D(dim / heads),
        use_rope(use_rope),
        wq(register_module("wq", torch::nn::Linear(torch::nn::LinearOptions(dim, heads * D).bias(false)))),
        wk(register_module("wk", torch::nn::Linear(torch::nn::LinearOptions(dim, kv_heads * D).bias(false)))),
        wv(register_module("wv", torch::nn::Linear(torch::nn::LinearOptions(dim, kv_heads * D).bias(false)))),
        wo(register_module("wo", torch::nn::Linear(torch::nn::LinearOptions(heads * D, dim).bias(false)))),
        rotary(register_module("rotary", pt::RotaryEmbedding(rope_cfg))) {}

  at::Tensor forward(const at::Tensor& x) {
    const int64_t B = x.size(0), T = x.size(1);
    const at::Tensor q = wq(x).view({B, T, Hq, D}), k = wk(x).view({B, T, Hk, D});
    const at::Tensor v = wv(x).view({B, T, Hk, D});
    auto [qr, kr] = use_rope ? rotary(q, k) : std::pair{q, k};  // [B, T, H, D], positions 0 .. T-1
    const at::Tensor kk = kr.repeat_interleave(Hq / Hk, 2), vv = v.repeat_interleave(Hq / Hk, 2);
    at::Tensor scores = torch::einsum("bthd,bshd->bhts", {qr, kk}) / std::sqrt(static_cast<double>(D));
    const at::Tensor future = torch::ones({T, T}, torch::kBool).triu(1);
    scores = scores.masked_fill(future, -INFINITY);
    const at::Tensor out = torch::einsum("bhts,bshd->bthd", {scores.softmax(-1), vv});
    return wo(out.reshape({B, T, Hq * D}));
  }

  int64_t Hq, Hk, D;
  bool use_rope;
  torch::nn::Linear wq, wk, wv, wo;
  pt::RotaryEmbedding rotary;
};
TORCH_MODULE(CausalAttention);

int main() {
  torch::manual_seed(0);
  at::set_num_threads(1);
  posenc::set_num_threads(1);
  const int64_t V = 16, C = 64, Hq = 4, Hk = 2, T = 16, B = 32, lag = 3;
  posenc::RopeConfig rope_cfg;
  rope_cfg.head_dim = C / Hq;
  bool ok = true;

  // (1) RoPE gradients: posenc's autograd function against the LibTorch formula.
  {
    const at::Tensor q = torch::randn({2, T, Hq, rope_cfg.head_dim}, torch::requires_grad());
    const at::Tensor k = torch::randn({2, T, Hk, rope_cfg.head_dim}, torch::requires_grad());
    const at::Tensor wq = torch::randn_like(q), wk = torch::randn_like(k);
    auto [q1, k1] = pt::rope(q, k, rope_cfg);
    const auto g1 = torch::autograd::grad({(q1 * wq).sum() + (k1 * wk).sum()}, {q, k});
    auto [q2, k2] = pt::eager::rope(q, k, rope_cfg);
    const auto g2 = torch::autograd::grad({(q2 * wq).sum() + (k2 * wk).sum()}, {q, k});
    const double dq = (g1[0] - g2[0]).abs().max().item<double>(),
                 dk = (g1[1] - g2[1]).abs().max().item<double>();
    std::printf("RoPE gradients, posenc vs LibTorch ops: largest difference dq %.2e, dk %.2e\n", dq, dk);
    ok = ok && dq < 1e-5 && dk < 1e-5;
  }

  // (2) A tiny model: fused token embedding (no absolute PE) -> causal attention -> logits, trained with
  // RoPE and, for comparison, without any position information.
  auto train = [&](bool use_rope) {
    torch::manual_seed(1);
    pt::TokenEmbeddingOptions eopt;
    eopt.vocab_size = V, eopt.dim = C, eopt.pe = pt::EmbedPe::None, eopt.embedding_std = 1.0f;
    pt::TokenEmbedding embed(eopt);
    CausalAttention attention(C, Hq, Hk, rope_cfg, use_rope);
    torch::nn::Linear head(C, V);
    std::vector<at::Tensor> params;
    for (auto* m : std::initializer_list<torch::nn::Module*>{embed.get(), attention.get(), head.get()})
      for (auto& p : m->parameters()) params.push_back(p);
    torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-2));
    auto batch_loss = [&](const at::Tensor& ids, double* accuracy) {
      const at::Tensor logits = head(attention(embed(ids)));  // [B, T, V]
      const at::Tensor pred = logits.slice(1, lag), target = ids.slice(1, 0, T - lag);
      *accuracy = (pred.argmax(-1) == target).to(torch::kFloat).mean().item<double>();
      return torch::nn::functional::cross_entropy(pred.reshape({-1, V}), target.reshape({-1}));
    };
    std::printf("%s:\n", use_rope ? "with posenc's RoPE" : "without position information");
    for (int step = 0; step <= 200; ++step) {
      double acc = 0;
      const at::Tensor loss = batch_loss(torch::randint(V, {B, T}, torch::kLong), &acc);
      opt.zero_grad();
      loss.backward();
      opt.step();
      if (step % 50 == 0)
        std::printf("  step %3d  loss %.3f  accuracy %.3f\n", step, loss.item<double>(), acc);
    }
    torch::NoGradGuard no_grad;
    double acc = 0;
    batch_loss(torch::randint(V, {256, T}, torch::kLong), &acc);
    std::printf("  accuracy on 256 fresh sequences: %.3f (chance %.3f)\n", acc, 1.0 / V);
    return acc;
  };
  const double with_rope = train(true), without = train(false);
  ok = ok && with_rope > 0.9 && without < 0.5;
  std::printf("%s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
