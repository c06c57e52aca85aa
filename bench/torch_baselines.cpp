// The one TU that includes torch (see torch_baselines.hpp).
#include "torch_baselines.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <memory>

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
  const torch::Tensor inv_freq =
      1.0 / torch::pow(base, torch::arange(0, d, 2, f32) / static_cast<double>(d));
  const torch::Tensor angles = torch::outer(pos_f32, inv_freq);
  return torch::stack({angles.sin(), angles.cos()}, -1).flatten(-2);
}

struct Embed {
  torch::Tensor E, pe, ids, pos, out, e_rows, pe_rows;
};

std::function<double(const void*)> diff_of(std::shared_ptr<Embed> s) {
  return [s](const void* expected) {
    const torch::Tensor want =
        wrap(expected, {s->out.size(0), s->out.size(1)}, s->out.scalar_type());
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
  s->out = torch::embedding(s->E, s->ids) * static_cast<double>(in.scale) +
           s->pe.index_select(0, s->pos);
  const torch::Tensor g = wrap(dout, {in.T, in.C}, torch::kFloat32);
  // One call outside the timed loop creates E.grad and pe.grad; later calls accumulate into them.
  torch::autograd::backward({s->out}, {g}, /*retain_graph=*/true);
  return {[s, g] { torch::autograd::backward({s->out}, {g}, /*retain_graph=*/true); }, nullptr};
}

TorchOp torch_embed_backward_index_add(const TorchEmbedInputs& in, const float* dout, float* dE,
                                       float* dPE) {
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

}  // namespace posenc_bench
