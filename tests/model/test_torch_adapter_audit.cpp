// tests/model/test_torch_adapter_audit.cpp (built into test_torch_adapter): regressions from an audit of the
// LibTorch adapter (posenc/torch/): position ids changed in place between forward and backward, double
// backward (create_graph), tensors whose memory is not what data_ptr() shows (sparse layout, lazy negation),
// bias lengths past the position range, and position ids that TokenEmbedding's sinusoidal cache could not
// read. CPU only.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "posenc/error.hpp"
#include "posenc/torch/functional.hpp"
#include "posenc/torch/modules.hpp"

namespace pt = posenc::libtorch;
using posenc::RopeConfig;
using posenc::SinusoidalConfig;
using posenc::T5BiasConfig;

namespace {

template <class F>
void expect_posenc_error(F&& f, const std::string& argument) {
  SCOPED_TRACE("expected a posenc::Error naming " + argument);
  try {
    f();
    ADD_FAILURE() << "no exception";
  } catch (const posenc::Error& e) {
    EXPECT_NE(e.argument().find(argument), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(argument), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a posenc::Error: " << e.what();
  }
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

class AdapterAudit : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(4321); }
};

// ---- position ids changed in place after the forward pass --------------------------------------------------
// The gradient belongs to the forward pass that ran: positions [0, 1, 2] per row, whatever the caller's
// buffer holds by the time backward runs (a reused position buffer). Before the fix the backward read the
// caller's tensor, so learned_add's dW went to row 3 only, and rope/embed rotated / scattered by the new ids.
TEST_F(AdapterAudit, PositionIdsChangedAfterForwardDoNotChangeGradients) {
  const int64_t B = 2, T = 3, C = 8, P = 6, V = 5;
  const at::Tensor x = at::randn({B, T, C}), W = at::randn({P, C}), E = at::randn({V, C});
  const at::Tensor ids = at::randint(0, V, {B, T}, at::kLong), g = at::randn({B, T, C});
  RopeConfig rc;
  rc.head_dim = C;
  const at::Tensor q = at::randn({B, T, 2, C}), k = at::randn({B, T, 1, C});
  const at::Tensor gq = at::randn({B, T, 2, C}), gk = at::randn({B, T, 1, C});
  // c == 0: untouched ids; c == 1: ids overwritten between forward and backward.
  std::vector<at::Tensor> got[2];
  for (int c = 0; c < 2; ++c) {
    const at::Tensor pids = at::tensor({0, 1, 2, 2, 1, 0}, at::kLong).view({B, T});
    const auto pos = pt::PositionArg::from_ids(pids);
    const at::Tensor Wl = W.clone().requires_grad_(true), xr = x.clone().requires_grad_(true);
    const at::Tensor yl = pt::learned_add(xr, Wl, pos);
    const at::Tensor Er = E.clone().requires_grad_(true), We = W.clone().requires_grad_(true);
    const at::Tensor ye = pt::embed(ids, Er, We, std::nullopt, 2.0f, pos);
    const at::Tensor qr = q.clone().requires_grad_(true), kr = k.clone().requires_grad_(true);
    auto [qo, ko] = pt::rope(qr, kr, rc, pos);
    if (c == 1) pids.fill_(5);
    yl.backward(g);
    ye.backward(g);
    ((qo * gq).sum() + (ko * gk).sum()).backward();
    got[c] = {Wl.grad(), xr.grad(), Er.grad(), We.grad(), qr.grad(), kr.grad()};
  }
  const char* names[] = {"learned_add dW", "learned_add dx", "embed dE", "embed dW", "rope dq", "rope dk"};
  for (size_t i = 0; i < got[0].size(); ++i) EXPECT_TRUE(at::equal(got[0][i], got[1][i])) << names[i];
}

// ---- double backward -----------------------------------------------------------------------------------------
// RoPE: the reference is Hugging Face's formula (q * cos + rotate_half(q) * sin) in float64 torch ops, with
// omega_i = base^(-2i/D). Before the fix the first gradient was not on the tape (requires_grad false), so
// the second torch::autograd::grad threw, or, summed with a term that was on the tape, was silently short.
at::Tensor hf_rope(const at::Tensor& x, const at::Tensor& pos, double base) {  // x [B, T, H, D], pos [B, T]
  const int64_t D = x.size(3);
  const at::Tensor inv_freq = at::pow(base, -at::arange(0, D, 2, at::kDouble) / static_cast<double>(D));
  const at::Tensor freqs = pos.to(at::kDouble).unsqueeze(-1) * inv_freq;  // [B, T, D/2]
  const at::Tensor emb = at::cat({freqs, freqs}, -1).unsqueeze(2);        // [B, T, 1, D]
  const at::Tensor rotated = at::cat({-x.slice(-1, D / 2), x.slice(-1, 0, D / 2)}, -1);
  return x * emb.cos().to(x.scalar_type()) + rotated * emb.sin().to(x.scalar_type());
}

TEST_F(AdapterAudit, RopeDoubleBackwardMatchesFloat64Reference) {
  const int64_t B = 2, T = 5, D = 8;
  RopeConfig rc;
  rc.head_dim = D;
  const at::Tensor pids = at::randint(0, 60, {B, T}, at::kLong);
  const at::Tensor q0 = at::randn({B, T, 4, D}, at::kDouble), k0 = at::randn({B, T, 2, D}, at::kDouble);
  const at::Tensor wq = at::randn({B, T, 4, D}, at::kDouble), wk = at::randn({B, T, 2, D}, at::kDouble);
  const at::Tensor vq = at::randn({B, T, 4, D}, at::kDouble), vk = at::randn({B, T, 2, D}, at::kDouble);
  for (const bool heads_first : {false, true}) {
    SCOPED_TRACE(heads_first ? "heads first" : "[B, T, H, D]");
    // Second derivatives of L2 = <vq, dL/dq> + <vk, (dL/dk)^2>, L = <wq, q'^2> + <wk, k'^3>.
    auto second = [&](at::ScalarType dt, bool posenc_op) {
      const at::Tensor q = q0.to(dt).requires_grad_(true), k = k0.to(dt).requires_grad_(true);
      at::Tensor qo, ko;
      if (posenc_op && heads_first) {
        auto r = pt::rope(q.transpose(1, 2), k.transpose(1, 2), rc, pt::PositionArg::from_ids(pids), true);
        qo = r.first.transpose(1, 2);
        ko = r.second.transpose(1, 2);
      } else if (posenc_op) {
        std::tie(qo, ko) = pt::rope(q, k, rc, pt::PositionArg::from_ids(pids));
      } else {
        qo = hf_rope(q, pids, rc.base);
        ko = hf_rope(k, pids, rc.base);
      }
      const at::Tensor L = (wq.to(dt) * qo * qo).sum() + (wk.to(dt) * ko * ko * ko).sum();
      const auto g = torch::autograd::grad({L}, {q, k}, {}, /*retain_graph=*/true, /*create_graph=*/true);
      const at::Tensor L2 = (vq.to(dt) * g[0]).sum() + (vk.to(dt) * g[1] * g[1]).sum();
      const auto h = torch::autograd::grad({L2}, {q, k});
      return std::vector<at::Tensor>{g[0].detach(), g[1].detach(), h[0], h[1]};
    };
    const auto got = second(at::kFloat, true), want = second(at::kDouble, false);
    const char* names[] = {"dq", "dk", "d2q", "d2k"};
    for (size_t i = 0; i < 4; ++i) {
      // float32 storage and math against float64: each value is a chain of O(D) float32 products and sums
      // through two rotations and their adjoints. Measured: at most 4e-7 of the largest magnitude (d2k,
      // where |d2k| reaches ~1300); 1e-5 of it leaves a factor ~25 of headroom.
      const double scale = std::max(1.0, want[i].abs().max().item<double>());
      EXPECT_LE(max_abs_diff(got[i], want[i]), 1e-5 * scale) << names[i];
    }
  }
}

// Backward through the Function that rope's backward now calls again: an output that the loss does not use
// (LibTorch gives it a zero gradient) and a non-contiguous upstream gradient.
TEST_F(AdapterAudit, RopeBackwardWithOneOutputUnusedAndStridedGradient) {
  RopeConfig rc;
  rc.head_dim = 8;
  const at::Tensor q0 = at::randn({2, 5, 4, 8}), k0 = at::randn({2, 5, 2, 8});
  const at::Tensor w = at::randn({2, 4, 5, 8}).transpose(1, 2);  // non-contiguous
  for (const bool use_q : {true, false}) {
    SCOPED_TRACE(use_q ? "loss of q only" : "loss of k only");
    const at::Tensor q = q0.clone().requires_grad_(true), k = k0.clone().requires_grad_(true);
    auto [qo, ko] = pt::rope(q, k, rc);
    const at::Tensor L = use_q ? (qo * w).sum() : (ko * w.narrow(2, 0, 2)).sum();
    L.backward();
    const at::Tensor qr = q0.clone().requires_grad_(true), kr = k0.clone().requires_grad_(true);
    const at::Tensor pos = at::arange(5, at::kLong).unsqueeze(0).expand({2, 5});
    const at::Tensor Lr =
        use_q ? (hf_rope(qr, pos, rc.base) * w).sum() : (hf_rope(kr, pos, rc.base) * w.narrow(2, 0, 2)).sum();
    Lr.backward();
    const at::Tensor& used = use_q ? q : k;
    const at::Tensor& used_ref = use_q ? qr : kr;
    const at::Tensor& unused = use_q ? k : q;
    ASSERT_TRUE(used.grad().defined());
    // float32 both sides, two different rotation formulas: a few ulps of values of magnitude ~3.
    EXPECT_LE(max_abs_diff(used.grad(), used_ref.grad()), 1e-5);
    if (unused.grad().defined()) {
      EXPECT_EQ(unused.grad().abs().max().item<float>(), 0.0f);
    }
  }
}

// learned_add, embed and t5_bias: their scatter backward passes were not recorded on the tape, so d/dx of
// (sum(dL/dx) + sum(dL/dW)) came back as d/dx of sum(dL/dx) alone; then (a stopgap) a posenc::Error naming
// create_graph. Now each backward is an autograd Function whose own backward is the gather: the same
// computations give the full second derivative (closed forms below; test_torch_double_backward.cpp checks
// them in general).
TEST_F(AdapterAudit, ScatterBackwardsAreDifferentiable) {
  const int64_t B = 2, T = 3, C = 4;
  const at::Tensor x = at::randn({B, T, C}).requires_grad_(true);
  const at::Tensor W = at::randn({5, C}).requires_grad_(true), E = at::randn({6, C}).requires_grad_(true);
  const at::Tensor ids = at::randint(0, 6, {B, T}, at::kLong);
  {
    // L = sum(y^2), y = x + W[t]: dL/dx = 2y, dL/dW[t] = sum_b 2y[b, t]; both sum to 2 sum(y): d/dx = 2 + 2.
    const at::Tensor y = pt::learned_add(x, W);
    const auto g = torch::autograd::grad({(y * y).sum()}, {x, W}, {}, true, /*create_graph=*/true);
    const auto h = torch::autograd::grad({g[0].sum() + g[1].sum()}, {x});
    EXPECT_TRUE(at::allclose(h[0], at::full_like(x, 4.0)));
  }
  {
    // y = E[ids] + W[t]: sum(dL/dE) = sum(dL/dW) = 2 sum(y): d/dE[v] = 4 * (occurrences of v in ids).
    const at::Tensor y = pt::embed(ids, E, W, std::nullopt, 1.0f);
    const auto g = torch::autograd::grad({(y * y).sum()}, {E, W}, {}, true, /*create_graph=*/true);
    const auto h = torch::autograd::grad({g[0].sum() + g[1].sum()}, {E});
    const at::Tensor count = at::bincount(ids.reshape(-1), {}, 6).to(at::kFloat).unsqueeze(1).expand({6, C});
    EXPECT_TRUE(at::allclose(h[0], 4.0 * count));
  }
  {
    // y = W[bucket]: sum(dL/dW) = 2 sum(y): d/dW[b, h] = 2 * (pairs in bucket b) = 2 * d sum(y) / dW.
    T5BiasConfig tc;
    const at::Tensor tab = at::randn({tc.num_buckets, 2}).requires_grad_(true);
    const at::Tensor y = pt::t5_bias(tab, tc, 3, 4);
    const auto g = torch::autograd::grad({(y * y).sum()}, {tab}, {}, true, /*create_graph=*/true);
    const auto h = torch::autograd::grad({g[0].sum()}, {tab});
    const auto count = torch::autograd::grad({pt::t5_bias(tab, tc, 3, 4).sum()}, {tab});
    EXPECT_GT(count[0].sum().item<float>(), 0.0f);
    EXPECT_TRUE(at::allclose(h[0], 2.0 * count[0]));
  }
  // As before: create_graph where the scatter's result is a constant (upstream gradient without grad),
  // and the gradient of learned_add with respect to x only (the identity, on the tape as it is).
  {
    const at::Tensor y = pt::learned_add(x, W);
    const auto g = torch::autograd::grad({y.sum()}, {x, W}, {}, true, /*create_graph=*/true);
    EXPECT_TRUE(at::equal(g[0], at::ones_like(x)));
  }
  {
    const at::Tensor y = pt::learned_add(x, W);
    const auto g = torch::autograd::grad({(y * y).sum()}, {x}, {}, true, /*create_graph=*/true);
    const auto h = torch::autograd::grad({g[0].sum()}, {x, W});
    EXPECT_TRUE(at::allclose(h[0], at::full_like(x, 2.0)));
    EXPECT_TRUE(at::allclose(h[1].narrow(0, 0, T), at::full({T, C}, 2.0 * B)));
  }
}

// ---- tensors whose data_ptr() is not their values ---------------------------------------------------------
// Before the fix: a sparse tensor was a c10::Error ("doesn't have storage"), and a lazily negated view
// (neg bit) was read without its sign: learned_add(x, _neg_view(W)) returned x + W.
TEST_F(AdapterAudit, SparseAndNegatedViewsAreErrors) {
  const at::Tensor x = at::randn({2, 3, 4}), W = at::randn({4, 4});
  expect_posenc_error([&] { pt::learned_add(x, W.to_sparse()); }, "table.layout");
  expect_posenc_error([&] { pt::learned_add(x.to_sparse(), W); }, "x.layout");
  SinusoidalConfig sc;
  sc.dim = 4;
  RopeConfig rc;
  rc.head_dim = 4;
  T5BiasConfig tc;
  const at::Tensor ids = at::zeros({2, 3}, at::kLong), q = at::randn({2, 3, 2, 4}), tab = at::randn({32, 2});
  expect_posenc_error([&] { pt::sinusoidal_add(x.to_sparse(), sc); }, "x.layout");
  expect_posenc_error([&] { pt::embed(ids, W.to_sparse(), at::Tensor(), sc, 1.0f); }, "E.layout");
  expect_posenc_error([&] { pt::embed(ids.to_sparse(), W, at::Tensor(), sc, 1.0f); }, "ids.layout");
  expect_posenc_error([&] { pt::rope(q.to_sparse(), at::Tensor(), rc); }, "q.layout");
  expect_posenc_error([&] { pt::rope(q, q.to_sparse(), rc); }, "k.layout");
  expect_posenc_error([&] { pt::t5_bias(tab.to_sparse(), tc, 2, 2); }, "table.layout");
  const at::Tensor negW = at::_neg_view(W);
  ASSERT_TRUE(negW.is_neg());
  expect_posenc_error([&] { pt::learned_add(x, negW); }, "table.is_neg()");
  expect_posenc_error([&] { pt::learned_add(at::_neg_view(x), W); }, "x.is_neg()");
  expect_posenc_error([&] { pt::embed(ids, negW, at::Tensor(), sc, 1.0f); }, "E.is_neg()");
  expect_posenc_error([&] { pt::rope(at::_neg_view(q), at::Tensor(), rc); }, "q.is_neg()");
  expect_posenc_error([&] { pt::t5_bias(at::_neg_view(tab), tc, 2, 2); }, "table.is_neg()");
  // resolve_neg() gives the values.
  const at::Tensor y = pt::learned_add(x, negW.resolve_neg());
  EXPECT_TRUE(at::allclose(y, x - W.narrow(0, 0, 3).unsqueeze(0)));
}

// ---- bias lengths past the position range ----------------------------------------------------------------------
// Before the fix: Tk = 2^32 tried to allocate [H, 1, 2^32] floats first (a c10::Error from the allocator);
// q_offset near INT64_MAX overflowed q_offset + i (signed overflow) and the core then named
// query_positions[0]. Now the lengths are checked first, against kMaxPosition.
TEST_F(AdapterAudit, BiasLengthsPastPositionRangeAreErrors) {
  T5BiasConfig tc;
  posenc::AlibiConfig ac;
  ac.num_heads = 2;
  const at::Tensor tab = at::randn({tc.num_buckets, 2});
  const int64_t big = int64_t{1} << 32, max_pos = posenc::kMaxPosition;
  const int64_t i64_max = std::numeric_limits<int64_t>::max();
  expect_posenc_error([&] { pt::t5_bias(tab, tc, 1, big); }, "Tk");
  expect_posenc_error([&] { pt::alibi_bias(ac, 1, big); }, "Tk");
  expect_posenc_error([&] { pt::t5_bias(tab, tc, big, 1); }, "Tq");
  expect_posenc_error([&] { pt::alibi_bias(ac, big, 1); }, "Tq");
  expect_posenc_error([&] { pt::t5_bias(tab, tc, 2, 2, i64_max); }, "q_offset");
  expect_posenc_error([&] { pt::alibi_bias(ac, 2, 2, i64_max); }, "q_offset");
  expect_posenc_error([&] { pt::t5_bias(tab, tc, 2, 2, max_pos); }, "q_offset");  // last query 2^31
  expect_posenc_error([&] { pt::alibi_bias(ac, 2, 2, max_pos); }, "q_offset");
  // The last valid query position is kMaxPosition.
  EXPECT_EQ(pt::t5_bias(tab, tc, 2, 3, max_pos - 1).sizes(), (std::vector<int64_t>{2, 2, 3}));
  EXPECT_EQ(pt::alibi_bias(ac, 2, 3, max_pos - 1).sizes(), (std::vector<int64_t>{2, 2, 3}));
}

// ---- TokenEmbedding's sinusoidal cache and odd position ids --------------------------------------------------
// The module sizes its cached table from max(position ids) + 1. Before the fix it read that as an int64
// for any dtype: float ids holding NaN were a c10::Error ("cannot be converted to type int64_t") instead
// of embed()'s posenc::Error naming position_ids.dtype; ids or offsets near INT64_MAX overflowed (+ 1).
TEST_F(AdapterAudit, TokenEmbeddingPositionIdsOfWrongDtypeAreNamed) {
  pt::TokenEmbeddingOptions o;
  o.vocab_size = 10;
  o.dim = 8;
  o.pe = pt::EmbedPe::Sinusoidal;
  pt::TokenEmbedding m(o);
  const at::Tensor ids = at::zeros({1, 2}, at::kLong);
  expect_posenc_error(
      [&] {
        m->forward(ids, pt::PositionArg::from_ids(at::full({1, 2}, std::nan(""), at::kFloat)));
      },
      "position_ids.dtype");
  expect_posenc_error(
      [&] {
        m->forward(ids, pt::PositionArg::from_ids(at::ones({1, 2}, at::kBool)));
      },
      "position_ids.dtype");
  expect_posenc_error(
      [&] {
        m->forward(
            ids, pt::PositionArg::from_ids(at::full({1, 2}, std::numeric_limits<int64_t>::max(), at::kLong)));
      },
      "position ids[0, 0]");
  expect_posenc_error(
      [&] { m->forward(ids, pt::PositionArg::at_offset(std::numeric_limits<int64_t>::max())); }, "offset");
  // Valid ids still read the cache: the same bits as the on-the-fly sinusoidal PE.
  const at::Tensor pids = at::tensor({7, 3}, at::kInt).view({1, 2});
  const at::Tensor a = m->forward(ids, pt::PositionArg::from_ids(pids));
  const at::Tensor b =
      pt::embed(ids, m->weight, at::Tensor(), m->options.sinusoidal, 1.0f, pt::PositionArg::from_ids(pids));
  EXPECT_TRUE(at::equal(a, b));
}

}  // namespace
