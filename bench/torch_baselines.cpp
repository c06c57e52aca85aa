// The one TU that includes torch (see torch_baselines.hpp).
#include "torch_baselines.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

namespace posenc_bench {

namespace {
torch::Dtype float_type(bool bf16) {
  return bf16 ? torch::kBFloat16 : torch::kFloat32;
}

// Wraps caller memory: the tensor does not own it (the caller keeps it alive for the TorchOp's
// life).
torch::Tensor wrap(const void* p, std::initializer_list<int64_t> shape, torch::Dtype t) {
  return torch::from_blob(const_cast<void*>(p), shape, torch::TensorOptions().dtype(t));
}

torch::Tensor hf_table(const torch::Tensor& pos_f32, int64_t d, double base) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const torch::Tensor inv_freq = 1.0 / torch::pow(base, torch::arange(0, d, 2, f32) / static_cast<double>(d));
  const torch::Tensor angles = torch::outer(pos_f32, inv_freq);
  return torch::stack({angles.sin(), angles.cos()}, -1).flatten(-2);
}

struct Embed {
  torch::Tensor E, pe, ids, pos, out, e_rows, pe_rows;
};

std::function<double(const void*)> diff_of(std::shared_ptr<Embed> s) {
  return [s](const void* expected) {
    const torch::Tensor want = wrap(expected, {s->out.size(0), s->out.size(1)}, s->out.scalar_type());
    return (s->out.to(torch::kFloat32) - want.to(torch::kFloat32)).abs().max().item<double>();
  };
}
}  // namespace

void torch_set_num_threads(int n) {
  torch::set_num_threads(n);
}

std::string torch_describe() {
  std::string s = TORCH_VERSION;
  s += "; ATen parallel: ";
  const std::string info = at::get_parallel_info();
  // get_parallel_info() is several lines; keep the "ATen parallel backend" one.
  const auto k = info.find("ATen parallel backend: ");
  if (k != std::string::npos) {
    const auto e = info.find('\n', k);
    s += info.substr(k + 23, e == std::string::npos ? std::string::npos : e - k - 23);
  }
  s += ", " + std::to_string(at::get_num_threads()) + " intra-op threads";
  return s;
}

namespace {
std::shared_ptr<Embed> make_embed(const TorchEmbedInputs& in) {
  auto s = std::make_shared<Embed>();
  s->E = wrap(in.E, {in.V, in.C}, float_type(in.bf16));
  if (in.pe != nullptr) s->pe = wrap(in.pe, {in.P, in.C}, float_type(in.bf16));
  s->ids = wrap(in.ids, {in.T}, torch::kInt64);
  s->pos = torch::arange(in.T, torch::TensorOptions().dtype(torch::kInt64));
  return s;
}
}  // namespace

TorchOp torch_embed_forward(const TorchEmbedInputs& in) {
  auto s = make_embed(in);
  const double scale = in.scale;
  auto run = [s, scale] {
    torch::NoGradGuard no_grad;
    s->out = torch::embedding(s->E, s->ids) * scale + s->pe.index_select(0, s->pos);
  };
  return {run, diff_of(s)};
}

TorchOp torch_embed_forward_out(const TorchEmbedInputs& in) {
  auto s = make_embed(in);
  const auto opts = torch::TensorOptions().dtype(float_type(in.bf16));
  s->out = torch::ones({in.T, in.C}, opts);  // ones, not empty: the pages are touched now
  s->e_rows = torch::ones({in.T, in.C}, opts);
  s->pe_rows = torch::ones({in.T, in.C}, opts);
  const double scale = in.scale;
  auto run = [s, scale] {
    torch::NoGradGuard no_grad;
    torch::index_select_out(s->e_rows, s->E, 0, s->ids);
    torch::index_select_out(s->pe_rows, s->pe, 0, s->pos);
    torch::add_out(s->out, s->pe_rows, s->e_rows, scale);
  };
  return {run, diff_of(s)};
}

TorchOp torch_embed_forward_sinusoidal(const TorchEmbedInputs& in) {
  auto s = make_embed(in);
  const double scale = in.scale, base = in.base;
  const int64_t C = in.C;
  auto run = [s, scale, base, C] {
    torch::NoGradGuard no_grad;
    const torch::Tensor pe = hf_table(s->pos.to(torch::kFloat32), C, base).to(s->E.scalar_type());
    s->out = torch::embedding(s->E, s->ids) * scale + pe;
  };
  return {run, diff_of(s)};
}

TorchOp torch_embed_backward_autograd(const TorchEmbedInputs& in, const float* dout) {
  auto s = make_embed(in);
  // Leaves that need gradients; clone() so autograd never writes into the caller's buffers.
  s->E = s->E.clone().requires_grad_(true);
  s->pe = s->pe.clone().requires_grad_(true);
  s->out = torch::embedding(s->E, s->ids) * static_cast<double>(in.scale) + s->pe.index_select(0, s->pos);
  const torch::Tensor g = wrap(dout, {in.T, in.C}, torch::kFloat32);
  // One call outside the timed loop creates E.grad and pe.grad; later calls accumulate into them.
  torch::autograd::backward({s->out}, {g}, /*retain_graph=*/true);
  return {[s, g] { torch::autograd::backward({s->out}, {g}, /*retain_graph=*/true); }, nullptr};
}

TorchOp torch_embed_backward_index_add(const TorchEmbedInputs& in, const float* dout, float* dE, float* dPE) {
  auto s = make_embed(in);
  auto g = wrap(dout, {in.T, in.C}, torch::kFloat32);
  auto dE_t = wrap(dE, {in.V, in.C}, torch::kFloat32);
  auto dPE_t = wrap(dPE, {in.P, in.C}, torch::kFloat32);
  const double scale = in.scale;
  auto run = [s, g, dE_t, dPE_t, scale]() mutable {
    torch::NoGradGuard no_grad;
    dE_t.index_add_(0, s->ids, g * scale);
    dPE_t.index_add_(0, s->pos, g);
  };
  return {run, nullptr};
}

TorchOp torch_sinusoidal_table(int64_t N, int64_t d, double base) {
  auto out = std::make_shared<torch::Tensor>();
  auto run = [out, N, d, base] {
    torch::NoGradGuard no_grad;
    *out = hf_table(torch::arange(N, torch::TensorOptions().dtype(torch::kFloat32)), d, base);
  };
  return {run, nullptr};
}

// ---- RoPE ----

namespace {
torch::Tensor rope_inv_freq(int64_t D, double base) {
  // HF: 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
  const torch::Tensor e =
      torch::arange(0, D, 2, torch::TensorOptions().dtype(torch::kInt64)).to(torch::kFloat32) /
      static_cast<double>(D);
  return 1.0 / torch::pow(base, e);
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  const int64_t h = x.size(-1) / 2;
  return torch::cat({-x.slice(-1, h), x.slice(-1, 0, h)}, -1);
}

// The adjoint of rotate_half: rotate_half(x) . y = x . rotate_half_inverse(y).
torch::Tensor rotate_half_inverse(const torch::Tensor& y) {
  const int64_t h = y.size(-1) / 2;
  return torch::cat({y.slice(-1, h), -y.slice(-1, 0, h)}, -1);
}

struct Rope {
  torch::Tensor q, k, inv_freq, pos, cos, sin;  // cos, sin [1, T, 1, D] in q's dtype
  torch::Tensor gq, gk;                         // backward: dq', dk'
  torch::Tensor q_out, k_out;                   // the last run's results
  bool has_k = false;
};

// cos, sin [T, D] float32, the HF way.
std::pair<torch::Tensor, torch::Tensor> hf_cos_sin(const torch::Tensor& inv_freq,
                                                   const torch::Tensor& pos_f32) {
  const torch::Tensor freqs = torch::outer(pos_f32, inv_freq);
  const torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

void set_cos_sin(Rope& s) {
  auto [c, sn] = hf_cos_sin(s.inv_freq, s.pos);
  const int64_t T = c.size(0), D = c.size(1);
  s.cos = c.to(s.q.scalar_type()).view({1, T, 1, D});
  s.sin = sn.to(s.q.scalar_type()).view({1, T, 1, D});
}

std::shared_ptr<Rope> make_rope(const TorchRopeInputs& in) {
  auto s = std::make_shared<Rope>();
  const torch::Dtype t = float_type(in.bf16);
  s->q = torch::from_blob(const_cast<void*>(in.q), {1, in.T, in.Hq, in.D}, torch::TensorOptions().dtype(t));
  s->has_k = in.k != nullptr;
  if (s->has_k)
    s->k = torch::from_blob(const_cast<void*>(in.k), {1, in.T, in.Hk, in.D}, torch::TensorOptions().dtype(t));
  s->inv_freq = rope_inv_freq(in.D, in.base);
  s->pos = torch::arange(in.T, torch::TensorOptions().dtype(torch::kFloat32));
  return s;
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  return x * cos + rotate_half(x) * sin;
}

torch::Tensor unrotate(const torch::Tensor& g, const torch::Tensor& cos, const torch::Tensor& sin) {
  return g * cos + rotate_half_inverse(g * sin);
}

std::function<double(const void*, const void*)> rope_diff_of(std::shared_ptr<Rope> s) {
  return [s](const void* q, const void* k) {
    auto diff = [](const torch::Tensor& got, const void* want) {
      const torch::Tensor w = torch::from_blob(const_cast<void*>(want), got.sizes(),
                                               torch::TensorOptions().dtype(got.scalar_type()));
      return (got.to(torch::kFloat32) - w.to(torch::kFloat32)).abs().max().item<double>();
    };
    double d = diff(s->q_out, q);
    if (s->has_k) d = std::max(d, diff(s->k_out, k));
    return d;
  };
}

void wrap_grads(Rope& s, const TorchRopeInputs& in, const void* gq, const void* gk) {
  const auto opts = torch::TensorOptions().dtype(float_type(in.bf16));
  s.gq = torch::from_blob(const_cast<void*>(gq), {1, in.T, in.Hq, in.D}, opts);
  if (s.has_k) s.gk = torch::from_blob(const_cast<void*>(gk), {1, in.T, in.Hk, in.D}, opts);
}
}  // namespace

std::vector<float> torch_rope_inv_freq(int64_t D, double base) {
  const torch::Tensor f = rope_inv_freq(D, base).contiguous();
  return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}

TorchRopeOp torch_rope_forward(const TorchRopeInputs& in, bool cos_sin_per_call) {
  auto s = make_rope(in);
  if (!cos_sin_per_call) set_cos_sin(*s);
  auto run = [s, cos_sin_per_call] {
    torch::NoGradGuard no_grad;
    if (cos_sin_per_call) set_cos_sin(*s);
    s->q_out = apply_rope(s->q, s->cos, s->sin);
    if (s->has_k) s->k_out = apply_rope(s->k, s->cos, s->sin);
  };
  return {run, rope_diff_of(s)};
}

TorchRopeOp torch_rope_backward_autograd(const TorchRopeInputs& in, const void* gq, const void* gk) {
  auto s = make_rope(in);
  wrap_grads(*s, in, gq, gk);
  set_cos_sin(*s);  // no grad: inv_freq and positions are constants
  // Leaves that need gradients (autograd::grad never writes into them).
  s->q = s->q.detach().requires_grad_(true);
  if (s->has_k) s->k = s->k.detach().requires_grad_(true);
  auto qe = std::make_shared<torch::Tensor>(apply_rope(s->q, s->cos, s->sin));
  auto ke = std::make_shared<torch::Tensor>(s->has_k ? apply_rope(s->k, s->cos, s->sin) : torch::Tensor());
  auto run = [s, qe, ke] {
    std::vector<torch::Tensor> outputs{*qe}, inputs{s->q}, grads{s->gq};
    if (s->has_k) outputs.push_back(*ke), inputs.push_back(s->k), grads.push_back(s->gk);
    auto d = torch::autograd::grad(outputs, inputs, grads, /*retain_graph=*/true);
    s->q_out = d[0];
    if (s->has_k) s->k_out = d[1];
  };
  return {run, rope_diff_of(s)};
}

TorchRopeOp torch_rope_backward_explicit(const TorchRopeInputs& in, const void* gq, const void* gk) {
  auto s = make_rope(in);
  wrap_grads(*s, in, gq, gk);
  set_cos_sin(*s);
  auto run = [s] {
    torch::NoGradGuard no_grad;
    s->q_out = unrotate(s->gq, s->cos, s->sin);
    if (s->has_k) s->k_out = unrotate(s->gk, s->cos, s->sin);
  };
  return {run, rope_diff_of(s)};
}

TorchOp torch_rope_cos_sin(int64_t T, int64_t D, double base) {
  auto s = std::make_shared<std::pair<torch::Tensor, torch::Tensor>>();
  const torch::Tensor inv_freq = rope_inv_freq(D, base);
  const torch::Tensor pos = torch::arange(T, torch::TensorOptions().dtype(torch::kFloat32));
  auto run = [s, inv_freq, pos] {
    torch::NoGradGuard no_grad;
    *s = hf_cos_sin(inv_freq, pos);
  };
  return {run, nullptr};
}

// ---- attention-score biases ----

TorchOp torch_alibi_bias(const double* slopes, int64_t H, int64_t T, bool bf16) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const torch::Tensor sl =
      torch::from_blob(const_cast<double*>(slopes), {H}, torch::kFloat64).to(torch::kFloat32);
  auto out = std::make_shared<torch::Tensor>();
  const torch::Dtype dt = float_type(bf16);
  auto run = [sl, out, T, dt, f32] {
    torch::NoGradGuard no_grad;
    const torch::Tensor pos = torch::arange(T, f32);
    const torch::Tensor rel = pos.unsqueeze(0) - pos.unsqueeze(1);  // k - q
    torch::Tensor bias = -sl.view({-1, 1, 1}) * rel.abs().unsqueeze(0);
    bias.masked_fill_((rel > 0).unsqueeze(0), -std::numeric_limits<float>::infinity());
    *out = bias.to(dt);
  };
  auto diff = [out, H, T](const void* expected) {
    const torch::Tensor want = wrap(expected, {H, T, T}, out->scalar_type()).to(torch::kFloat32);
    const torch::Tensor got = out->to(torch::kFloat32);
    const torch::Tensor finite = torch::isfinite(want);
    if (!torch::equal(finite, torch::isfinite(got))) return std::numeric_limits<double>::infinity();
    return torch::where(finite, (got - want).abs(), torch::zeros_like(got)).max().item<double>();
  };
  return {run, diff};
}

namespace {
// HF's _relative_position_bucket (bidirectional) in torch ops, on int64 relative positions.
torch::Tensor t5_buckets(const torch::Tensor& rel, int64_t num_buckets, int64_t max_distance) {
  const int64_t half = num_buckets / 2, max_exact = half / 2;
  torch::Tensor buckets = (rel > 0).to(torch::kLong) * half;
  const torch::Tensor d = rel.abs();
  const torch::Tensor is_small = d < max_exact;
  torch::Tensor large =
      max_exact + (torch::log(d.to(torch::kFloat32) / static_cast<double>(max_exact)) /
                   std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)) *
                   static_cast<double>(half - max_exact))
                      .to(torch::kLong);
  large = torch::min(large, torch::full_like(large, half - 1));
  return buckets + torch::where(is_small, d, large);
}

torch::Tensor t5_compute_bias(const torch::Tensor& W, int64_t T, int64_t max_distance) {
  const auto i64 = torch::TensorOptions().dtype(torch::kLong);
  const torch::Tensor rel = torch::arange(T, i64).unsqueeze(0) - torch::arange(T, i64).unsqueeze(1);
  const torch::Tensor b = t5_buckets(rel, W.size(0), max_distance);
  return torch::embedding(W, b).permute({2, 0, 1}).contiguous();
}
}  // namespace

TorchOp torch_t5_bias_forward(const void* W, int64_t N, int64_t H, int64_t T, int64_t max_distance,
                              bool bf16) {
  const torch::Tensor w = wrap(W, {N, H}, float_type(bf16));
  auto out = std::make_shared<torch::Tensor>();
  auto run = [w, out, T, max_distance] {
    torch::NoGradGuard no_grad;
    *out = t5_compute_bias(w, T, max_distance);
  };
  auto diff = [out, H, T](const void* expected) {
    const torch::Tensor want = wrap(expected, {H, T, T}, out->scalar_type()).to(torch::kFloat32);
    return (out->to(torch::kFloat32) - want).abs().max().item<double>();
  };
  return {run, diff};
}

TorchOp torch_t5_bias_backward(const float* W, int64_t N, int64_t H, int64_t T, int64_t max_distance,
                               const float* dout) {
  auto w = std::make_shared<torch::Tensor>(wrap(W, {N, H}, torch::kFloat32).clone().requires_grad_(true));
  auto out = std::make_shared<torch::Tensor>(t5_compute_bias(*w, T, max_distance));
  const torch::Tensor g = wrap(dout, {H, T, T}, torch::kFloat32);
  // One call outside the timed loop creates W.grad; later calls accumulate into it.
  torch::autograd::backward({*out}, {g}, /*retain_graph=*/true);
  return {[w, out, g] { torch::autograd::backward({*out}, {g}, /*retain_graph=*/true); }, nullptr};
}

}  // namespace posenc_bench
