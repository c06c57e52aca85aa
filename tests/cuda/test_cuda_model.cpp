// A training step of posenc::model on the GPU (every encoding through posenc's CUDA kernels) against the
// same step on the CPU: logits, loss, every parameter's gradient, and the logits after an SGD step agree
// within float tolerance. Second derivatives (create_graph) of the adapter's ops, GPU against CPU. Skips
// without a GPU or when LibTorch has no CUDA.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "model/transformer.hpp"
#include "posenc/cuda.hpp"
#include "posenc/torch/functional.hpp"

namespace pm = posenc::model;

namespace {

pm::ModelConfig config(pm::PeKind pe) {
  pm::ModelConfig c;
  c.vocab_size = 50;
  c.dim = 64;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 2;
  c.max_positions = 64;
  c.causal = pe != pm::PeKind::T5;  // the bidirectional T5 buckets too
  c.pe = pe;
  c.embed_scale_sqrt = pe == pm::PeKind::Sinusoidal;
  c.seed = 11;
  return c;
}

double max_abs(const at::Tensor& t) {
  return t.abs().max().item<double>();
}

}  // namespace

TEST(CudaModel, TrainingStepOnTheGpuMatchesTheCpu) {
  if (!posenc::cuda_available()) GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none): skipped";
  if (!torch::cuda::is_available()) GTEST_SKIP() << "this LibTorch has no CUDA: skipped";
  torch::manual_seed(3);
  for (pm::PeKind pe : {pm::PeKind::None, pm::PeKind::Sinusoidal, pm::PeKind::Learned, pm::PeKind::Rope,
                        pm::PeKind::Alibi, pm::PeKind::T5}) {
    SCOPED_TRACE(pm::to_string(pe));
    const pm::ModelConfig c = config(pe);
    pm::Transformer cpu(c), gpu(c);  // same seed: same weights
    gpu->to(at::kCUDA);
    const at::Tensor ids = at::randint(0, c.vocab_size, {3, 40}, at::kLong);
    const at::Tensor target = at::randint(0, c.vocab_size, {3, 40}, at::kLong);
    // SGD: the step is continuous in the gradient (Adam's first step is about lr * sign(g), which float
    // noise on a near-zero gradient would flip).
    torch::optim::SGD oc(cpu->parameters(), torch::optim::SGDOptions(0.1));
    torch::optim::SGD og(gpu->parameters(), torch::optim::SGDOptions(0.1));

    const at::Tensor yc = cpu->forward(ids);
    const at::Tensor yg = gpu->forward(ids.to(at::kCUDA));
    ASSERT_TRUE(yg.is_cuda());
    EXPECT_LT(max_abs(yc - yg.cpu()), 1e-4);
    const at::Tensor lc =
        torch::nn::functional::cross_entropy(yc.view({-1, c.vocab_size}), target.view({-1}));
    const at::Tensor lg =
        torch::nn::functional::cross_entropy(yg.view({-1, c.vocab_size}), target.to(at::kCUDA).view({-1}));
    EXPECT_NEAR(lc.item<double>(), lg.item<double>(), 1e-4);
    lc.backward();
    lg.backward();
    const auto pc = cpu->named_parameters(), pg = gpu->named_parameters();
    ASSERT_EQ(pc.size(), pg.size());
    for (size_t i = 0; i < pc.size(); ++i) {
      const at::Tensor gc = pc[i].value().grad(), gg = pg[i].value().grad();
      ASSERT_TRUE(gc.defined() && gg.defined()) << pc[i].key();
      EXPECT_LT(max_abs(gc - gg.cpu()), 1e-4 * (1 + max_abs(gc))) << pc[i].key();
    }
    oc.step();
    og.step();
    torch::NoGradGuard ng;
    EXPECT_LT(max_abs(cpu->forward(ids) - gpu->forward(ids.to(at::kCUDA)).cpu()), 1e-3);
  }
}

// Gradients of gradients through the adapter's ops on the GPU (their backward passes are autograd
// Functions: the adjoint kernels on the device, allocated on the upstream gradient's device) against the CPU:
// h = d/dinputs sum(g^2), g = d/dinputs sum(w * y^2), y = op(inputs).
TEST(CudaModel, DoubleBackwardOnTheGpuMatchesTheCpu) {
  if (!posenc::cuda_available()) GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none): skipped";
  if (!torch::cuda::is_available()) GTEST_SKIP() << "this LibTorch has no CUDA: skipped";
  namespace pt = posenc::libtorch;
  torch::manual_seed(5);
  using Op = std::function<at::Tensor(const std::vector<at::Tensor>&, at::Device)>;
  const at::Tensor ids = at::randint(0, 30, {2, 9}, at::kLong);
  const at::Tensor pos_ids = at::randint(0, 16, {2, 9}, at::kLong);
  posenc::T5BiasConfig t5;
  t5.num_buckets = 8;
  t5.max_distance = 16;
  t5.bidirectional = true;
  posenc::RopeConfig rc;
  rc.head_dim = 8;
  struct Case {
    const char* name;
    std::vector<at::Tensor> inputs;
    Op op;
  };
  const std::vector<Case> cases = {
      {"learned_add ids",
       {at::randn({2, 9, 6}), at::randn({16, 6})},
       [&](const std::vector<at::Tensor>& in, at::Device d) {
         return pt::learned_add(in[0], in[1], pt::PositionArg::from_ids(pos_ids.to(d)));
       }},
      {"embed learned",
       {at::randn({30, 6}), at::randn({16, 6})},
       [&](const std::vector<at::Tensor>& in, at::Device d) {
         return pt::embed(ids.to(d), in[0], in[1], std::nullopt, 1.5f, pt::PositionArg::at_offset(3));
       }},
      {"t5_bias",
       {at::randn({8, 3})},
       [&](const std::vector<at::Tensor>& in, at::Device) { return pt::t5_bias(in[0], t5, 5, 7, 2); }},
      {"rope",
       {at::randn({2, 9, 2, 8}), at::randn({2, 9, 1, 8})},
       [&](const std::vector<at::Tensor>& in, at::Device) {
         const auto [q, k] = pt::rope(in[0], in[1], rc, pt::PositionArg::at_offset(4));
         return at::cat({q.reshape(-1), k.reshape(-1)});
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto second = [&](at::Device d) {
      std::vector<at::Tensor> in;
      for (const at::Tensor& t : c.inputs) in.push_back(t.to(d).detach().requires_grad_(true));
      const at::Tensor y = c.op(in, d);
      const at::Tensor w = at::linspace(-1, 1, y.numel(), y.options()).view(y.sizes());
      const auto g = torch::autograd::grad({(w * y * y).sum()}, in, {}, /*retain_graph=*/true,
                                           /*create_graph=*/true);
      at::Tensor l2 = at::zeros({}, y.options());
      for (const at::Tensor& gi : g) l2 = l2 + (gi * gi).sum();
      std::vector<at::Tensor> h = torch::autograd::grad({l2}, in);
      for (at::Tensor& t : h) t = t.cpu();
      return h;
    };
    const auto hc = second(at::kCPU), hg = second(at::kCUDA);
    ASSERT_EQ(hc.size(), hg.size());
    for (size_t i = 0; i < hc.size(); ++i)
      EXPECT_LT(max_abs(hc[i] - hg[i]), 1e-4 * (1 + max_abs(hc[i]))) << "input " << i;
  }
}
