// tests/model/test_torch_double_backward.cpp (built into test_torch_adapter): gradients of gradients
// (create_graph = true) through learned_add, embed and t5_bias, whose backward passes are autograd Functions
// too (the adjoint of each scatter is a gather and vice versa). Two checks per case:
//   - gradgradcheck: the first-order backward F(u) = J^T u is linear in the upstream gradient u; the Jacobian
//     of F that double backward gives (one VJP per element of F(u), create_graph) must equal F's columns
//     F(e_j) computed by the plain first-order backward (the finite difference of a linear map, exact);
//   - float64 reference: first and second derivatives of a loss that is not linear in the output, against
//     the same computation in float64 with plain LibTorch ops (index_select), through torch's own autograd.
// posenc's ops run in float32 (the adapter takes f32 / f16 / bf16). CPU only.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "posenc/t5_bias.hpp"
#include "posenc/torch/functional.hpp"

namespace pt = posenc::libtorch;
using posenc::SinusoidalConfig;
using posenc::T5BiasConfig;

namespace {

using Tensors = std::vector<at::Tensor>;
// One output from the op's float inputs (cast to the dtype of the run; everything else is captured).
using Op = std::function<at::Tensor(const Tensors&)>;

// Values k / 1024 in [-1, 1]: exact in float32, and so are their sums and pairwise products here.
at::Tensor grid(at::IntArrayRef shape) {
  return at::randint(-1024, 1025, shape, at::kDouble) / 1024.0;
}

at::Tensor flat_cat(const Tensors& ts) {
  Tensors flat;
  for (const auto& t : ts) flat.push_back(t.reshape(-1).to(at::kDouble));
  return at::cat(flat);
}

double max_abs(const at::Tensor& t) {
  return t.numel() ? t.abs().max().item<double>() : 0.0;
}

// The inputs as leaves of dtype dt; those with needs[i] require grad (they are the ones differentiated).
Tensors leaves(const Tensors& x, const std::vector<bool>& needs, at::ScalarType dt, Tensors* wrt) {
  Tensors xs;
  for (size_t i = 0; i < x.size(); ++i) {
    xs.push_back(x[i].to(dt).detach().requires_grad_(needs[i]));
    if (needs[i]) wrt->push_back(xs.back());
  }
  return xs;
}

// gradgradcheck for a linear op (see the file comment). Rows: the elements of F(u) (the gradients of the
// inputs with needs[i], concatenated); columns: the elements of u (shaped like the output).
void check_backward_is_differentiable(const std::string& what, const Op& op, const Tensors& x,
                                      const std::vector<bool>& needs) {
  SCOPED_TRACE(what);
  Tensors wrt;
  const Tensors xs = leaves(x, needs, at::kFloat, &wrt);
  const at::Tensor y = op(xs);
  const int64_t n_u = y.numel();
  // F's columns from the first-order backward.
  Tensors cols;
  for (int64_t j = 0; j < n_u; ++j) {
    at::Tensor e = at::zeros_like(y);
    e.view(-1)[j] = 1.0;
    const Tensors g = torch::autograd::grad({y}, wrt, {e}, /*retain_graph=*/true, /*create_graph=*/false);
    cols.push_back(flat_cat(g));
  }
  const at::Tensor J_first = at::stack(cols, 1);  // [n_F, n_u]
  // F's rows from double backward: u requires grad, F(u) is on the tape.
  const at::Tensor u = at::zeros_like(y).requires_grad_(true);
  const Tensors g = torch::autograd::grad({y}, wrt, {u}, /*retain_graph=*/true, /*create_graph=*/true);
  const at::Tensor F = at::cat([&] {
    Tensors f;
    for (const auto& t : g) f.push_back(t.reshape(-1));
    return f;
  }());
  ASSERT_EQ(F.numel(), J_first.size(0));
  ASSERT_TRUE(F.requires_grad()) << "the first-order gradients are not on the tape";
  Tensors rows;
  for (int64_t r = 0; r < F.numel(); ++r) {
    at::Tensor e = at::zeros_like(F);
    e[r] = 1.0;
    rows.push_back(
        torch::autograd::grad({F}, {u}, {e}, /*retain_graph=*/true)[0].reshape(-1).to(at::kDouble));
  }
  const at::Tensor J_double = at::stack(rows, 0);
  EXPECT_GT(max_abs(J_first), 0.5) << "the Jacobian should not vanish";
  // Entries are 0, 1 or the scale, and sums of a few of them: exact in float32 both ways.
  EXPECT_EQ(max_abs(J_double - J_first), 0.0) << "double backward vs the first-order backward's Jacobian";
}

// g_i = dL/dx_i for L = sum(w * y^2), y = op(x) (create_graph), then h_i = dL2/dx_i for
// L2 = sum_i sum(v_i * g_i + g_i^2 / 2): both the op's backward and its backward's backward carry weight.
// Returns {g..., h...} for the inputs with needs[i].
Tensors second_order(const Op& op, const Tensors& x, const std::vector<bool>& needs, const at::Tensor& w,
                     const Tensors& v, at::ScalarType dt) {
  Tensors wrt;
  const Tensors xs = leaves(x, needs, dt, &wrt);
  const at::Tensor y = op(xs);
  const at::Tensor L = (w.to(dt) * y * y).sum();
  const Tensors g = torch::autograd::grad({L}, wrt, {}, /*retain_graph=*/true, /*create_graph=*/true);
  at::Tensor L2 = at::zeros({}, y.options());
  for (size_t i = 0; i < g.size(); ++i) L2 = L2 + (v[i].to(dt) * g[i]).sum() + (g[i] * g[i]).sum() / 2;
  const Tensors h = torch::autograd::grad({L2}, wrt);
  Tensors r;
  for (const auto& t : g) r.push_back(t.detach());
  for (const auto& t : h) r.push_back(t);
  return r;
}

// posenc's ops (float32) against the reference (float64) for second_order.
void check_against_float64(const std::string& what, const Op& posenc_op, const Op& ref, const Tensors& x,
                           const std::vector<bool>& needs) {
  SCOPED_TRACE(what);
  Tensors xf;
  for (const auto& t : x) xf.push_back(t.to(at::kFloat));
  at::Tensor y;
  {
    at::NoGradGuard no_grad;
    y = posenc_op(xf);
  }
  const at::Tensor w = grid(y.sizes());
  Tensors v;
  for (size_t i = 0; i < x.size(); ++i)
    if (needs[i]) v.push_back(grid(x[i].sizes()));
  const Tensors got = second_order(posenc_op, x, needs, w, v, at::kFloat);
  const Tensors want = second_order(ref, x, needs, w, v, at::kDouble);
  ASSERT_EQ(got.size(), want.size());
  double worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE((i < v.size() ? "first derivative " : "second derivative ") + std::to_string(i % v.size()));
    ASSERT_TRUE(got[i].defined() && want[i].defined());
    EXPECT_EQ(got[i].scalar_type(), at::kFloat);
    ASSERT_EQ(got[i].sizes(), want[i].sizes());
    EXPECT_GT(max_abs(want[i]), 0.1) << "the derivative should not vanish";
    // float32 against float64: each value is a few float32 products (w * y * y, g * g) and sums of a few
    // terms. Measured: at most 8e-8 of the largest magnitude; 1e-6 of it leaves a factor > 10 of headroom
    // and is far below a missing, doubled or unscaled term (of the order of the values themselves).
    const double scale = std::max(1.0, max_abs(want[i]));
    const double err = max_abs(got[i].to(at::kDouble) - want[i]);
    EXPECT_LE(err, 1e-6 * scale);
    worst = std::max(worst, err / scale);
  }
  std::printf("%-50s |f32 - f64| / max|f64| %.2g (tol 1e-6)\n", what.c_str(), worst);
}

// [B, T] positions offset + t.
at::Tensor offset_positions(int64_t B, int64_t T, int64_t offset) {
  return (at::arange(T, at::kLong) + offset).unsqueeze(0).expand({B, T});
}

// rows of W [P, C] gathered at idx [B, T] -> [B, T, C], in plain LibTorch.
at::Tensor gather_rows(const at::Tensor& W, const at::Tensor& idx) {
  return W.index_select(0, idx.reshape(-1)).view({idx.size(0), idx.size(1), W.size(1)});
}

class DoubleBackward : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(2024); }
};

// ---- learned_add ---------------------------------------------------------------------------------------------
TEST_F(DoubleBackward, LearnedAdd) {
  const int64_t B = 2, T = 3, C = 4, P = 7;
  const at::Tensor ids = at::tensor({4, 1, 4, 0, 4, 6}, at::kLong).view({B, T});  // repeats: rows summed
  struct Case {
    std::string name;
    pt::PositionArg pos;
    at::Tensor rows;  // the positions as a [B, T] tensor, for the reference
  };
  const Case cases[] = {{"explicit position ids", pt::PositionArg::from_ids(ids), ids},
                        {"offset 0", pt::PositionArg::at_offset(0), offset_positions(B, T, 0)},
                        {"offset 3", pt::PositionArg::at_offset(3), offset_positions(B, T, 3)}};
  const Tensors x = {grid({B, T, C}), grid({P, C})};
  for (const Case& c : cases) {
    const Op op = [&](const Tensors& in) { return pt::learned_add(in[0], in[1], c.pos); };
    const Op ref = [&](const Tensors& in) { return in[0] + gather_rows(in[1], c.rows); };
    for (const auto& needs : {std::vector<bool>{true, true}, std::vector<bool>{false, true}}) {
      const std::string what = c.name + (needs[0] ? ", x and table" : ", table only");
      check_backward_is_differentiable(what, op, x, needs);
      check_against_float64(what, op, ref, x, needs);
    }
  }
}

// ---- embed ---------------------------------------------------------------------------------------------------
TEST_F(DoubleBackward, Embed) {
  const int64_t B = 2, T = 3, C = 4, V = 5, P = 8;
  const at::Tensor tok = at::tensor({3, 1, 3, 0, 3, 4}, at::kLong).view({B, T});  // token 3 three times
  const at::Tensor pids = at::tensor({5, 0, 5, 2, 7, 2}, at::kLong).view({B, T});
  SinusoidalConfig sc;
  sc.dim = C;
  enum class Pe { Learned, Sinusoidal, None };
  struct Case {
    Pe pe;
    float scale;
    pt::PositionArg pos;
    at::Tensor rows;
  };
  const Case cases[] = {{Pe::Learned, 2.5f, pt::PositionArg::from_ids(pids), pids},
                        {Pe::Learned, 1.0f, pt::PositionArg::at_offset(4), offset_positions(B, T, 4)},
                        {Pe::Sinusoidal, 2.0f, pt::PositionArg::from_ids(pids), pids},
                        {Pe::Sinusoidal, 1.0f, pt::PositionArg::at_offset(2), offset_positions(B, T, 2)},
                        {Pe::None, 0.75f, pt::PositionArg::from_ids(pids), pids},
                        {Pe::None, 1.0f, pt::PositionArg::at_offset(0), offset_positions(B, T, 0)}};
  const Tensors x = {grid({V, C}), grid({P, C})};  // E, table
  for (const Case& c : cases) {
    const char* pe_name = c.pe == Pe::Learned ? "learned" : c.pe == Pe::Sinusoidal ? "sinusoidal" : "no PE";
    char name[64];
    std::snprintf(name, sizeof name, "%s, scale %g, %s", pe_name, static_cast<double>(c.scale),
                  c.pos.ids.defined() ? "position ids" : "offset");
    // The sinusoidal PE is a constant of the loss: posenc's own values, so that the reference differs only in
    // how the gradients are formed.
    at::Tensor pe_const;
    if (c.pe == Pe::Sinusoidal)
      pe_const = pt::sinusoidal_add(at::zeros({B, T, C}), sc, c.pos).to(at::kDouble);
    const Op op = [&](const Tensors& in) {
      const at::Tensor table = c.pe == Pe::Learned ? in[1] : at::Tensor();
      const std::optional<SinusoidalConfig> sin = c.pe == Pe::Sinusoidal ? std::optional(sc) : std::nullopt;
      return pt::embed(tok, in[0], table, sin, c.scale, c.pos);
    };
    const Op ref = [&](const Tensors& in) {
      at::Tensor y = gather_rows(in[0], tok) * static_cast<double>(c.scale);
      if (c.pe == Pe::Learned) y = y + gather_rows(in[1], c.rows);
      if (c.pe == Pe::Sinusoidal) y = y + pe_const.to(y.scalar_type());
      return y;
    };
    std::vector<std::vector<bool>> needs_list = {{true, false}};
    if (c.pe == Pe::Learned) needs_list = {{true, true}, {false, true}, {true, false}};
    for (const auto& needs : needs_list) {
      const std::string what =
          std::string(name) + (needs[0] ? (needs[1] ? ", E and table" : ", E only") : ", table only");
      check_backward_is_differentiable(what, op, x, needs);
      check_against_float64(what, op, ref, x, needs);
    }
  }
}

// ---- t5_bias -------------------------------------------------------------------------------------------------
TEST_F(DoubleBackward, T5Bias) {
  const int64_t H = 2, Tq = 3, Tk = 6;
  for (const bool bidirectional : {true, false}) {
    for (const int64_t q_offset : {int64_t{0}, int64_t{5}}) {
      T5BiasConfig cfg;
      cfg.num_buckets = 8;
      cfg.max_distance = 16;
      cfg.bidirectional = bidirectional;
      // The buckets from the core's bucket function (what is under test here is the gradients).
      std::vector<int64_t> b;
      for (int64_t i = 0; i < Tq; ++i)
        for (int64_t j = 0; j < Tk; ++j) b.push_back(posenc::t5_relative_bucket(j - (q_offset + i), cfg));
      const at::Tensor buckets = at::tensor(b, at::kLong).view({Tq, Tk});
      const Op op = [&](const Tensors& in) { return pt::t5_bias(in[0], cfg, Tq, Tk, q_offset); };
      const Op ref = [&](const Tensors& in) { return gather_rows(in[0], buckets).permute({2, 0, 1}); };
      const std::string what =
          std::string(bidirectional ? "bidirectional" : "causal") + ", q_offset " + std::to_string(q_offset);
      const Tensors x = {grid({cfg.num_buckets, H})};
      check_backward_is_differentiable(what, op, x, {true});
      check_against_float64(what, op, ref, x, {true});
    }
  }
}

// Upstream gradients that do not require grad under create_graph: the backward runs as in first order and
// its results are constants (no tape), as before.
TEST_F(DoubleBackward, CreateGraphWithConstantUpstreamGradient) {
  const at::Tensor x = grid({2, 3, 4}).to(at::kFloat).requires_grad_(true);
  const at::Tensor W = grid({5, 4}).to(at::kFloat).requires_grad_(true);
  const at::Tensor y = pt::learned_add(x, W);
  const Tensors g = torch::autograd::grad({y}, {x, W}, {at::ones_like(y)}, true, /*create_graph=*/true);
  EXPECT_FALSE(g[1].requires_grad());
  at::Tensor want = at::zeros({5, 4});
  want.narrow(0, 0, 3).fill_(2.0f);
  EXPECT_TRUE(at::equal(g[1], want));
}

}  // namespace
