// A training step of posenc::model on the GPU (every encoding through posenc's CUDA kernels) against the
// same step on the CPU: logits, loss, every parameter's gradient, and the logits after an SGD step agree
// within float tolerance. Skips without a GPU or when LibTorch has no CUDA.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "model/transformer.hpp"
#include "posenc/cuda.hpp"

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
