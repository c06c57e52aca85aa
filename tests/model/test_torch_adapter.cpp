// test_torch_adapter: the LibTorch adapter (posenc/torch/functional.hpp, modules.hpp) against
//   - finite differences of its own float32 forward (gradcheck-style full Jacobians, accumulated in double),
//   - torch autograd through independent float64 references (eager.hpp or plain torch ops written here),
//   - the eager LibTorch formulas in float32 (forward equality),
// plus the nn modules, f16/bf16 storage, errors and determinism of the backward passes. CPU only.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "posenc/error.hpp"
#include "posenc/threads.hpp"
#include "posenc/torch/eager.hpp"
#include "posenc/torch/functional.hpp"
#include "posenc/torch/modules.hpp"

namespace pt = posenc::libtorch;
using posenc::PairLayout;
using posenc::Precision;
using posenc::RopeConfig;
using posenc::RopeType;
using posenc::SinusoidalConfig;
using posenc::T5BiasConfig;

namespace {

using Tensors = std::vector<at::Tensor>;
// Maps the differentiable inputs to the outputs (everything else is captured).
using Fn = std::function<Tensors(const Tensors&)>;

// Values k / 1024 in [-1, 1] (double): exact in float32, and x +- kEps stays exact, so a central difference
// of the float32 forward sees only the rounding of the outputs.
constexpr double kEps = 1.0 / 128.0;
at::Tensor grid(at::IntArrayRef shape) {
  return at::randint(-1024, 1025, shape, at::kDouble) / 1024.0;
}

int64_t total_numel(const Tensors& ts) {
  int64_t n = 0;
  for (const auto& t : ts) n += t.numel();
  return n;
}
at::Tensor flat_cat(const Tensors& ts) {
  Tensors flat;
  for (const auto& t : ts) flat.push_back(t.reshape(-1).to(at::kDouble));
  return at::cat(flat);
}
Tensors cast(const Tensors& ts, at::ScalarType dt) {
  Tensors r;
  for (const auto& t : ts) r.push_back(t.to(dt).contiguous());
  return r;
}

// J[o, i] by central differences of f on float32 copies of x (x are double tensors with grid values).
at::Tensor numeric_jacobian(const Fn& f, const Tensors& x) {
  at::NoGradGuard no_grad;
  Tensors xf = cast(x, at::kFloat);
  const int64_t n_out = total_numel(f(xf)), n_in = total_numel(xf);
  at::Tensor J = at::zeros({n_out, n_in}, at::kDouble);
  int64_t col = 0;
  for (auto& t : xf) {
    float* p = t.data_ptr<float>();
    for (int64_t e = 0; e < t.numel(); ++e, ++col) {
      const float orig = p[e];
      p[e] = orig + static_cast<float>(kEps);
      const at::Tensor plus = flat_cat(f(xf));
      p[e] = orig - static_cast<float>(kEps);
      const at::Tensor minus = flat_cat(f(xf));
      p[e] = orig;
      J.select(1, col).copy_((plus - minus) / (2 * kEps));
    }
  }
  return J;
}

// J[o, i] from the backward pass: one VJP per output element with a one-hot grad output. x is cast to
// `dtype` (float32 for posenc, float64 for the references).
at::Tensor analytic_jacobian(const Fn& f, const Tensors& x, at::ScalarType dtype) {
  Tensors xs;
  for (const auto& t : x) xs.push_back(t.to(dtype).detach().requires_grad_(true));
  const Tensors outs = f(xs);
  const int64_t n_out = total_numel(outs), n_in = total_numel(xs);
  at::Tensor J = at::zeros({n_out, n_in}, at::kDouble);
  int64_t row = 0;
  for (size_t j = 0; j < outs.size(); ++j) {
    for (int64_t e = 0; e < outs[j].numel(); ++e, ++row) {
      Tensors grads;
      for (const auto& o : outs) grads.push_back(at::zeros(o.sizes(), o.options()));
      grads[j].view(-1)[e] = 1.0;
      const Tensors g = torch::autograd::grad(outs, xs, grads, /*retain_graph=*/true, /*create_graph=*/false,
                                              /*allow_unused=*/true);
      Tensors gs;
      for (size_t i = 0; i < xs.size(); ++i) {
        EXPECT_TRUE(!g[i].defined() || g[i].scalar_type() == dtype) << "gradient dtype";
        gs.push_back(g[i].defined() ? g[i] : at::zeros_like(xs[i]));
      }
      J.select(0, row).copy_(flat_cat(gs));
    }
  }
  return J;
}

double max_abs(const at::Tensor& t) {
  return t.numel() ? t.abs().max().item<double>() : 0.0;
}

// posenc's analytic Jacobian (float32 backward) against (1) central differences of its float32 forward and
// (2) torch autograd of `ref` run in float64 (when given).
void check_gradients(const std::string& what, const Fn& posenc_fn, const Fn& ref, const Tensors& x,
                     double ref_tol = 1e-6) {
  SCOPED_TRACE(what);
  const at::Tensor Ja = analytic_jacobian(posenc_fn, x, at::kFloat);
  const at::Tensor Jn = numeric_jacobian(posenc_fn, x);
  double out_max = 1.0;
  {
    at::NoGradGuard no_grad;
    out_max = std::max(1.0, max_abs(flat_cat(posenc_fn(cast(x, at::kFloat)))));
  }
  // The ops are linear, so central differences have no truncation error; each output holds at most a few
  // fp32 roundings (<= 4 ulp of max|out| across both evaluations), divided by 2 eps.
  const double fd_tol = 4.0 * std::ldexp(out_max, -23) / (2 * kEps);
  ASSERT_EQ(Ja.sizes(), Jn.sizes());
  EXPECT_GT(max_abs(Ja), 0.5) << "the Jacobian should not vanish";
  EXPECT_LE(max_abs(Ja - Jn), fd_tol) << "analytic vs finite differences";
  std::printf("%-45s J %3lldx%-3lld |Ja - Jfd| %.2g (tol %.2g)", what.c_str(),
              static_cast<long long>(Ja.size(0)), static_cast<long long>(Ja.size(1)), max_abs(Ja - Jn),
              fd_tol);
  if (ref) {
    const at::Tensor Jr = analytic_jacobian(ref, x, at::kDouble);
    ASSERT_EQ(Ja.sizes(), Jr.sizes());
    EXPECT_LE(max_abs(Ja - Jr), ref_tol) << "analytic vs float64 autograd of the reference";
    std::printf("  |Ja - Jf64| %.2g (tol %.2g)", max_abs(Ja - Jr), ref_tol);
    // Forward against the reference too.
    at::NoGradGuard no_grad;
    const at::Tensor yp = flat_cat(posenc_fn(cast(x, at::kFloat)));
    const at::Tensor yr = flat_cat(ref(cast(x, at::kDouble)));
    EXPECT_LE(max_abs(yp - yr), ref_tol * out_max) << "forward vs float64 reference";
  }
  std::printf("\n");
}

// Positions [B, T] as an int64 tensor.
at::Tensor positions_tensor(const pt::PositionArg& pos, int64_t B, int64_t T) {
  if (pos.ids.defined()) return pos.ids.to(at::kLong);
  return (at::arange(T, at::kLong) + pos.offset).unsqueeze(0).expand({B, T}).contiguous();
}

// ---- float64 references in plain torch ops (independent of posenc's kernels) ---------------------------
at::Tensor ref_rope_one(const at::Tensor& x, const at::Tensor& pos, const std::vector<double>& inv_freq,
                        double scaling, PairLayout layout, int64_t r, bool heads_first) {
  if (!x.defined()) return {};
  const at::Tensor xt = heads_first ? x.transpose(1, 2) : x;  // [B, T, H, D]
  const at::Tensor w = at::tensor(inv_freq, at::kDouble);
  const at::Tensor angle = pos.to(at::kDouble).unsqueeze(-1) * w;  // [B, T, r/2]
  const at::Tensor c = (angle.cos() * scaling).unsqueeze(2), s = (angle.sin() * scaling).unsqueeze(2);
  const bool half = layout == PairLayout::HalfSplit;
  const at::Tensor a = half ? xt.slice(-1, 0, r / 2) : xt.slice(-1, 0, r, 2);
  const at::Tensor b = half ? xt.slice(-1, r / 2, r) : xt.slice(-1, 1, r, 2);
  const at::Tensor a2 = a * c - b * s, b2 = b * c + a * s;
  const at::Tensor rot = half ? at::cat({a2, b2}, -1) : at::stack({a2, b2}, -1).flatten(-2);
  const at::Tensor out = at::cat({rot, xt.slice(-1, r)}, -1);
  return heads_first ? out.transpose(1, 2) : out;
}

// omega_i = base^(-2i / r) / factor (default and linear scaling), in double.
std::vector<double> plain_inv_freq(const RopeConfig& cfg) {
  const int64_t r = cfg.rot();
  const double factor = cfg.scaling.type == RopeType::Linear ? cfg.scaling.factor : 1.0;
  std::vector<double> w;
  for (int64_t i = 0; i < r / 2; ++i)
    w.push_back(std::pow(cfg.base, -2.0 * static_cast<double>(i) / static_cast<double>(r)) / factor);
  return w;
}

at::Tensor ref_t5(const at::Tensor& table, const T5BiasConfig& cfg, int64_t Tq, int64_t Tk,
                  int64_t q_offset) {
  std::vector<int64_t> buckets;
  for (int64_t i = 0; i < Tq; ++i)
    for (int64_t j = 0; j < Tk; ++j) buckets.push_back(posenc::t5_relative_bucket(j - (i + q_offset), cfg));
  const at::Tensor b = at::tensor(buckets, at::kLong).view({Tq, Tk});
  return table.index_select(0, b.reshape(-1)).view({Tq, Tk, table.size(1)}).permute({2, 0, 1});
}

at::Tensor core_sinusoidal(const SinusoidalConfig& cfg, int64_t P) {
  std::vector<float> v = posenc::sinusoidal_table(cfg, P);
  return at::from_blob(v.data(), {P, cfg.dim}, at::kFloat).clone();
}

template <class F>
void expect_posenc_error(F&& f, const std::string& argument) {
  SCOPED_TRACE("expected a posenc::Error naming " + argument);
  EXPECT_THROW(f(), posenc::Error);
  try {
    f();
  } catch (const posenc::Error& e) {
    EXPECT_NE(e.argument().find(argument), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(argument), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a posenc::Error: " << e.what();
  }
}

class Adapter : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(1234); }
};

// =============================== 1. gradients: finite differences + float64 references =====================

TEST_F(Adapter, SinusoidalAddGradient) {
  const int64_t B = 2, T = 4, C = 8;
  SinusoidalConfig cfg;
  cfg.dim = C;
  for (const auto& pos :
       {pt::PositionArg::at_offset(0), pt::PositionArg::at_offset(3),
        pt::PositionArg::from_ids(at::tensor({5, 0, 2, 2, 7, 1, 1, 3}, at::kLong).view({B, T}))}) {
    const at::Tensor pe =
        core_sinusoidal(cfg, 8).to(at::kDouble).index_select(0, positions_tensor(pos, B, T).reshape(-1));
    check_gradients(
        pos.ids.defined() ? "sinusoidal_add ids" : "sinusoidal_add offset " + std::to_string(pos.offset),
        [&](const Tensors& in) { return Tensors{pt::sinusoidal_add(in[0], cfg, pos)}; },
        [&](const Tensors& in) {
          return Tensors{in[0] + pe.view({B, T, C}).to(in[0].scalar_type())};
        },
        {grid({B, T, C})});
  }
}

TEST_F(Adapter, LearnedAddGradient) {
  const int64_t B = 2, T = 3, C = 4, P = 6;
  // Explicit ids with repeats (rows summed) and a non-contiguous ids tensor (a transposed [T, B] one).
  const at::Tensor ids_t = at::tensor({4, 0, 4, 5, 1, 4}, at::kLong).view({T, B});
  for (const auto& pos :
       {pt::PositionArg::at_offset(0), pt::PositionArg::at_offset(2), pt::PositionArg::from_ids(ids_t.t())}) {
    const at::Tensor p = positions_tensor(pos, B, T).reshape(-1);
    check_gradients(
        pos.ids.defined() ? "learned_add strided ids" : "learned_add offset " + std::to_string(pos.offset),
        [&](const Tensors& in) { return Tensors{pt::learned_add(in[0], in[1], pos)}; },
        [&](const Tensors& in) {
          return Tensors{in[0] + in[1].index_select(0, p).view({B, T, C})};
        },
        {grid({B, T, C}), grid({P, C})});
  }
}

TEST_F(Adapter, EmbedGradientLearned) {
  const int64_t B = 2, T = 3, V = 5, C = 8, P = 6;
  const float scale = posenc::embed_scale(posenc::EmbedScale::SqrtC, C);  // sqrt(8), inexact
  const at::Tensor ids = at::tensor({3, 1, 3, 0, 4, 3}, at::kLong).view({B, T});
  // Positions 0 .. T-1: eager::embed (at::embedding + table slice) in float64 is the reference.
  check_gradients(
      "embed learned offset 0",
      [&](const Tensors& in) { return Tensors{pt::embed(ids, in[0], in[1], std::nullopt, scale)}; },
      [&](const Tensors& in) { return Tensors{pt::eager::embed(ids, in[0], in[1], scale)}; },
      {grid({V, C}), grid({P, C})}, 2e-6);
  // Explicit positions with repeats.
  const auto pos = pt::PositionArg::from_ids(at::tensor({2, 2, 5, 0, 1, 2}, at::kLong).view({B, T}));
  const at::Tensor p = positions_tensor(pos, B, T).reshape(-1);
  check_gradients(
      "embed learned ids",
      [&](const Tensors& in) { return Tensors{pt::embed(ids, in[0], in[1], std::nullopt, scale, pos)}; },
      [&](const Tensors& in) {
        return Tensors{at::embedding(in[0], ids) * static_cast<double>(scale) +
                       in[1].index_select(0, p).view({B, T, C})};
      },
      {grid({V, C}), grid({P, C})}, 2e-6);
  // Only the table needs a gradient (E is a constant): the scratch-dE path.
  const at::Tensor E = grid({V, C}).to(at::kFloat);
  check_gradients(
      "embed learned, table only",
      [&](const Tensors& in) { return Tensors{pt::embed(ids, E, in[0], std::nullopt, scale, pos)}; },
      [&](const Tensors& in) {
        return Tensors{at::embedding(E.to(at::kDouble), ids) * static_cast<double>(scale) +
                       in[0].index_select(0, p).view({B, T, C})};
      },
      {grid({P, C})}, 2e-6);
}

TEST_F(Adapter, EmbedGradientSinusoidalAndNone) {
  const int64_t B = 2, T = 4, V = 5, C = 8;
  const float scale = posenc::embed_scale(posenc::EmbedScale::SqrtC, C);
  const at::Tensor ids = at::tensor({3, 1, 3, 0, 4, 3, 3, 2}, at::kLong).view({B, T});
  SinusoidalConfig cfg;
  cfg.dim = C;
  const at::Tensor pe = core_sinusoidal(cfg, T).to(at::kDouble);
  check_gradients(
      "embed sinusoidal",
      [&](const Tensors& in) { return Tensors{pt::embed(ids, in[0], at::Tensor(), cfg, scale)}; },
      [&](const Tensors& in) { return Tensors{pt::eager::embed(ids, in[0], pe, scale)}; }, {grid({V, C})},
      2e-6);
  check_gradients(
      "embed none",
      [&](const Tensors& in) { return Tensors{pt::embed(ids, in[0], at::Tensor(), std::nullopt, scale)}; },
      [&](const Tensors& in) { return Tensors{pt::eager::embed(ids, in[0], at::Tensor(), scale)}; },
      {grid({V, C})}, 2e-6);
  // No PE, positions far out (the zero-row view covers every position).
  check_gradients(
      "embed none, offset 1e9",
      [&](const Tensors& in) {
        return Tensors{
            pt::embed(ids, in[0], at::Tensor(), std::nullopt, 1.0f, pt::PositionArg::at_offset(1000000000))};
      },
      [&](const Tensors& in) { return Tensors{pt::eager::embed(ids, in[0], at::Tensor(), 1.0f)}; },
      {grid({V, C})}, 1e-7);
}

struct RopeCase {
  std::string name;
  RopeConfig cfg;
  bool heads_first;
  pt::PositionArg pos;
  bool with_eager;  // positions 0 .. T-1 and default frequencies: eager::rope in float64 is a reference
};

TEST_F(Adapter, RopeGradient) {
  const int64_t B = 2, T = 3, Hq = 4, Hk = 2, D = 8;
  auto cfg_of = [&](PairLayout layout, int64_t r) {
    RopeConfig c;
    c.head_dim = D;
    c.rotary_dim = r;
    c.layout = layout;
    return c;
  };
  RopeConfig linear = cfg_of(PairLayout::HalfSplit, 0);
  linear.scaling.type = RopeType::Linear;
  linear.scaling.factor = 2.0;
  RopeConfig yarn = cfg_of(PairLayout::Interleaved, 0);
  yarn.base = 100.0;  // small base: the ramp falls inside the few frequencies of D = 8
  yarn.max_position_embeddings = 64;
  yarn.scaling.type = RopeType::Yarn;
  yarn.scaling.factor = 4.0;
  yarn.scaling.original_max_position_embeddings = 16;
  const at::Tensor ids = at::tensor({7, 0, 3, 2, 2, 9}, at::kLong).view({B, T});
  const std::vector<RopeCase> cases = {
      {"halfsplit BTHD", cfg_of(PairLayout::HalfSplit, 0), false, pt::PositionArg::at_offset(0), true},
      {"interleaved BHTD", cfg_of(PairLayout::Interleaved, 0), true, pt::PositionArg::at_offset(0), true},
      {"halfsplit partial r=4 BTHD offset 5", cfg_of(PairLayout::HalfSplit, 4), false,
       pt::PositionArg::at_offset(5), false},
      {"halfsplit partial r=4 BHTD", cfg_of(PairLayout::HalfSplit, 4), true, pt::PositionArg::at_offset(0),
       true},
      {"interleaved partial r=4 BHTD ids", cfg_of(PairLayout::Interleaved, 4), true,
       pt::PositionArg::from_ids(ids), false},
      {"linear x2 BTHD ids", linear, false, pt::PositionArg::from_ids(ids), false},
      {"linear x2 BHTD", linear, true, pt::PositionArg::at_offset(0), true},
      {"yarn x4 BHTD offset 2", yarn, true, pt::PositionArg::at_offset(2), false},
  };
  for (const auto& c : cases) {
    const posenc::RopeFrequencies f = posenc::rope_frequencies(c.cfg, 0);
    std::vector<double> w = f.inv_freq;
    if (c.cfg.scaling.type == RopeType::Default || c.cfg.scaling.type == RopeType::Linear) {
      // Independent frequencies; they must agree with the core's.
      w = plain_inv_freq(c.cfg);
      ASSERT_EQ(w.size(), f.inv_freq.size());
      for (size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(w[i], f.inv_freq[i], 1e-15 * w[i]) << c.name;
      EXPECT_EQ(f.attention_scaling, 1.0);
    } else {
      EXPECT_GT(f.attention_scaling, 1.0) << "YaRN with factor 4 scales attention";
    }
    const at::Tensor pos = positions_tensor(c.pos, B, T);
    const Fn posenc_fn = [&](const Tensors& in) {
      auto [qo, ko] = pt::rope(in[0], in[1], c.cfg, c.pos, c.heads_first);
      return Tensors{qo, ko};
    };
    const Fn ref = [&](const Tensors& in) {
      return Tensors{
          ref_rope_one(in[0], pos, w, f.attention_scaling, c.cfg.layout, c.cfg.rot(), c.heads_first),
          ref_rope_one(in[1], pos, w, f.attention_scaling, c.cfg.layout, c.cfg.rot(), c.heads_first)};
    };
    const auto shape = [&](int64_t H) {
      return c.heads_first ? std::vector<int64_t>{B, H, T, D} : std::vector<int64_t>{B, T, H, D};
    };
    // Exact cos/sin are within 1 ulp of fp32 (times attention_scaling) plus the fp32 rotation's roundings.
    const double tol = 1e-6 * std::max(1.0, f.attention_scaling);
    check_gradients("rope " + c.name, posenc_fn, ref, {grid(shape(Hq)), grid(shape(Hk))}, tol);
    if (c.with_eager) {
      // eager::rope in float64 (HF's float32 angles, cast): angles off by <= 0.5 ulp(T * omega) ~ 1e-7.
      check_gradients(
          "rope vs eager float64 " + c.name, posenc_fn,
          [&](const Tensors& in) {
            auto [qo, ko] = pt::eager::rope(in[0], in[1], c.cfg, c.heads_first);
            return Tensors{qo, ko};
          },
          {grid(shape(Hq)), grid(shape(Hk))}, 1e-6);
    }
    // q only (k undefined).
    check_gradients(
        "rope q only " + c.name,
        [&](const Tensors& in) {
          return Tensors{pt::rope(in[0], at::Tensor(), c.cfg, c.pos, c.heads_first).first};
        },
        [&](const Tensors& in) {
          return Tensors{
              ref_rope_one(in[0], pos, w, f.attention_scaling, c.cfg.layout, c.cfg.rot(), c.heads_first)};
        },
        {grid(shape(Hq))}, tol);
  }
}

TEST_F(Adapter, RopeGradientWhenOnlyQIsUsed) {
  // A loss of q' alone leaves k''s gradient undefined: the backward must still run and give dk = 0.
  RopeConfig cfg;
  cfg.head_dim = 8;
  const at::Tensor q = at::randn({1, 3, 2, 8}).requires_grad_(true),
                   k = at::randn({1, 3, 1, 8}).requires_grad_(true);
  auto [qo, ko] = pt::rope(q, k, cfg);
  (qo * qo).sum().backward();
  ASSERT_TRUE(q.grad().defined());
  // |rotate(q)|^2 = |q|^2 (attention_scaling 1), so d/dq = 2q.
  EXPECT_TRUE(at::allclose(q.grad(), 2 * q.detach(), 1e-5, 1e-6));
  if (k.grad().defined()) {
    EXPECT_EQ(max_abs(k.grad()), 0.0);
  }
}

TEST_F(Adapter, RopeWithCacheEqualsRopeWithoutIt) {
  // The cached overload (cos/sin built once per forward, as the Transformer does) gives the same
  // values and gradients, bit for bit, as the call that builds them itself; an empty cache is an error.
  RopeConfig cfg;
  cfg.head_dim = 16;
  cfg.scaling.type = RopeType::Dynamic;
  cfg.scaling.factor = 2.0;
  cfg.max_position_embeddings = 4;
  const at::Tensor q0 = at::randn({2, 6, 4, 16}), k0 = at::randn({2, 6, 2, 16});
  const at::Tensor gq = at::randn_like(q0), gk = at::randn_like(k0);
  const posenc::RopeCache cache = posenc::make_rope_cache(cfg, posenc::Positions::offset(0), 2, 6, 6);
  Tensors got[2];
  for (int c = 0; c < 2; ++c) {
    const at::Tensor q = q0.clone().requires_grad_(true), k = k0.clone().requires_grad_(true);
    auto [qo, ko] = c == 0 ? pt::rope(q, k, cfg, {}, false, 6) : pt::rope(q, k, cache);
    ((qo * gq).sum() + (ko * gk).sum()).backward();
    got[c] = {qo.detach(), ko.detach(), q.grad(), k.grad()};
  }
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(at::equal(got[0][i], got[1][i])) << i;
  EXPECT_THROW(pt::rope(q0, k0, posenc::RopeCache{}), posenc::Error);
  EXPECT_THROW(pt::rope(q0.narrow(1, 0, 5), k0.narrow(1, 0, 5), cache), posenc::Error);  // T differs
}

TEST_F(Adapter, T5BiasGradient) {
  const int64_t H = 3, Tq = 4, Tk = 5;
  for (const bool bidirectional : {true, false}) {
    T5BiasConfig cfg;
    cfg.num_buckets = 8;
    cfg.max_distance = 6;
    cfg.bidirectional = bidirectional;
    const std::string name = bidirectional ? "bidirectional" : "causal";
    check_gradients(
        "t5_bias " + name, [&](const Tensors& in) { return Tensors{pt::t5_bias(in[0], cfg, Tq, Tk)}; },
        [&](const Tensors& in) { return Tensors{pt::eager::t5_bias(in[0], cfg, Tq, Tk)}; },
        {grid({cfg.num_buckets, H})}, 0.0);  // a gather and a sum of ones: exact
    check_gradients(
        "t5_bias q_offset 2 " + name,
        [&](const Tensors& in) { return Tensors{pt::t5_bias(in[0], cfg, Tq, Tk, 2)}; },
        [&](const Tensors& in) { return Tensors{ref_t5(in[0], cfg, Tq, Tk, 2)}; },
        {grid({cfg.num_buckets, H})}, 0.0);
  }
}

TEST_F(Adapter, GradientsWithRandomUpstreamAgainstFloat64) {
  // Larger shapes than the full Jacobians: <dout, J dx> through a random dout, posenc (fp32 sums) vs
  // float64 autograd; each summed gradient collects <= B*T terms of size <= 1, so fp32 error <= ~1e-5.
  const int64_t B = 3, T = 17, V = 7, C = 16, P = 40;
  const at::Tensor ids = at::randint(0, V, {B, T}, at::kLong);
  const at::Tensor E = at::randn({V, C}, at::kDouble), W = at::randn({P, C}, at::kDouble);
  const at::Tensor u = at::randn({B, T, C}, at::kDouble);
  const auto pos = pt::PositionArg::from_ids(at::randint(0, P, {B, T}, at::kLong));
  const float scale = posenc::embed_scale(posenc::EmbedScale::SqrtC, C);
  const at::Tensor Ef = E.to(at::kFloat).requires_grad_(true), Wf = W.to(at::kFloat).requires_grad_(true);
  pt::embed(ids, Ef, Wf, std::nullopt, scale, pos).backward(u.to(at::kFloat));
  const at::Tensor Ed = E.clone().requires_grad_(true), Wd = W.clone().requires_grad_(true);
  (at::embedding(Ed, ids) * static_cast<double>(scale) +
   Wd.index_select(0, pos.ids.reshape(-1)).view({B, T, C}))
      .backward(u);
  EXPECT_LE(max_abs(Ef.grad().to(at::kDouble) - Ed.grad()), 1e-4);
  EXPECT_LE(max_abs(Wf.grad().to(at::kDouble) - Wd.grad()), 1e-4);
  EXPECT_GT(max_abs(Ed.grad()), 1.0);

  T5BiasConfig cfg;  // 32 buckets, max distance 128: logarithmic buckets in play
  const int64_t H = 4, Tq = 50, Tk = 60;
  const at::Tensor tab = at::randn({cfg.num_buckets, H}, at::kDouble),
                   g = at::randn({H, Tq, Tk}, at::kDouble);
  const at::Tensor tf = tab.to(at::kFloat).requires_grad_(true), td = tab.clone().requires_grad_(true);
  pt::t5_bias(tf, cfg, Tq, Tk, 7).backward(g.to(at::kFloat));
  ref_t5(td, cfg, Tq, Tk, 7).backward(g);
  EXPECT_LE(max_abs(tf.grad().to(at::kDouble) - td.grad()), 1e-4);
  EXPECT_GT(max_abs(td.grad()), 1.0);
}

// =============================== 2. forward equality with the eager formulas ================================

TEST_F(Adapter, RopeForwardMatchesEager) {
  const int64_t B = 2, T = 8, Hq = 4, Hk = 2, D = 16;
  for (const auto layout : {PairLayout::HalfSplit, PairLayout::Interleaved})
    for (const auto precision : {Precision::HfCompat, Precision::Exact})
      for (const bool heads_first : {false, true}) {
        RopeConfig cfg;
        cfg.head_dim = D;
        cfg.layout = layout;
        cfg.precision = precision;
        const std::string name = std::string(layout == PairLayout::HalfSplit ? "halfsplit" : "interleaved") +
                                 (precision == Precision::Exact ? " exact" : " hfcompat") +
                                 (heads_first ? " BHTD" : " BTHD");
        SCOPED_TRACE(name);
        const auto shape = [&](int64_t H) {
          return heads_first ? std::vector<int64_t>{B, H, T, D} : std::vector<int64_t>{B, T, H, D};
        };
        const at::Tensor q = at::rand(shape(Hq)) * 2 - 1, k = at::rand(shape(Hk)) * 2 - 1;
        auto [qp, kp] = pt::rope(q, k, cfg, {}, heads_first);
        auto [qe, ke] = pt::eager::rope(q, k, cfg, heads_first);
        const double dq = max_abs(qp - qe), dk = max_abs(kp - ke);
        const int64_t n_diff = (qp != qe).sum().item<int64_t>() + (kp != ke).sum().item<int64_t>();
        if (precision == Precision::HfCompat) {
          // Same float32 angles; torch's vectorised float32 cos/sin (Sleef, 1 ulp) and the core's
          // correctly rounded ones may differ by 1 ulp: |out| <= sqrt(2), so <= 2 ulp(1) = 2.4e-7.
          EXPECT_LE(dq, 2.4e-7);
          EXPECT_LE(dk, 2.4e-7);
        } else {
          // |x|, |y| <= 1, angles <= 7: eager's float32 angle is off by <= 0.5 ulp(7) = 2.4e-7 rad.
          EXPECT_LE(dq, 1e-6);
          EXPECT_LE(dk, 1e-6);
        }
        std::printf("rope forward vs eager, %s: max |diff| %.3g, %lld of %lld elements differ\n",
                    name.c_str(), std::max(dq, dk), static_cast<long long>(n_diff),
                    static_cast<long long>(qp.numel() + kp.numel()));
        // With the core's own cos/sin tables ([T, r], HF layout), HF's formula in torch float32 ops
        // (q * cos + rotate(q) * sin) gives the adapter's bits exactly: the same roundings, no fma.
        at::Tensor cos = at::empty({T, D}), sin = at::empty({T, D});
        std::vector<int64_t> positions(T);
        for (int64_t t = 0; t < T; ++t) positions[static_cast<size_t>(t)] = t;
        posenc::rope_cos_sin(pt::view(cos, "cos"), pt::view(sin, "sin"), cfg, positions);
        if (!heads_first) {
          cos = cos.unsqueeze(1);
          sin = sin.unsqueeze(1);
        }
        auto hf = [&](const at::Tensor& x) {
          const at::Tensor rot =
              layout == PairLayout::HalfSplit
                  ? at::cat({-x.slice(-1, D / 2), x.slice(-1, 0, D / 2)}, -1)
                  : at::stack({-x.slice(-1, 1, D, 2), x.slice(-1, 0, D, 2)}, -1).flatten(-2);
          return x * cos + rot * sin;
        };
        EXPECT_TRUE(at::equal(qp, hf(q))) << max_abs(qp - hf(q));
        EXPECT_TRUE(at::equal(kp, hf(k))) << max_abs(kp - hf(k));
      }
}

TEST_F(Adapter, RopeStridedInputsMatchContiguous) {
  // q and k sliced out of a fused qkv projection [B, T, 3, H, D] and viewed [B, H, T, D]: any strides.
  const int64_t B = 2, T = 5, H = 2, D = 8;
  RopeConfig cfg;
  cfg.head_dim = D;
  const at::Tensor qkv = at::randn({B, T, 3, H, D});
  const at::Tensor q = qkv.select(2, 0).transpose(1, 2), k = qkv.select(2, 1).transpose(1, 2);
  ASSERT_FALSE(q.is_contiguous());
  const auto pos = pt::PositionArg::at_offset(3);
  auto [qs, ks] = pt::rope(q, k, cfg, pos, true);
  auto [qc, kc] = pt::rope(q.contiguous(), k.contiguous(), cfg, pos, true);
  EXPECT_TRUE(at::equal(qs, qc));
  EXPECT_TRUE(at::equal(ks, kc));
  // Backward through the strided views lands in the fused tensor.
  const at::Tensor leaf = qkv.clone().requires_grad_(true);
  auto [qo, ko] =
      pt::rope(leaf.select(2, 0).transpose(1, 2), leaf.select(2, 1).transpose(1, 2), cfg, pos, true);
  const at::Tensor gq = at::randn_like(qo), gk = at::randn_like(ko);
  torch::autograd::backward({qo, ko}, {gq, gk});
  const at::Tensor qc2 = q.contiguous().requires_grad_(true), kc2 = k.contiguous().requires_grad_(true);
  auto [qo2, ko2] = pt::rope(qc2, kc2, cfg, pos, true);
  torch::autograd::backward({qo2, ko2}, {gq, gk});
  EXPECT_TRUE(at::equal(leaf.grad().select(2, 0).transpose(1, 2), qc2.grad()));
  EXPECT_TRUE(at::equal(leaf.grad().select(2, 1).transpose(1, 2), kc2.grad()));
  EXPECT_EQ(max_abs(leaf.grad().select(2, 2)), 0.0);
}

TEST_F(Adapter, EmbedForwardMatchesEager) {
  const int64_t B = 3, T = 9, V = 11, C = 12, P = 16;
  const at::Tensor ids = at::randint(0, V, {B, T}, at::kLong);
  const at::Tensor E = at::randn({V, C}), W = at::randn({P, C});
  for (const float scale : {1.0f, posenc::embed_scale(posenc::EmbedScale::SqrtC, C)}) {
    // Learned: E[ids] * scale + W[0 .. T-1], the same two fp32 roundings: bit-equal.
    EXPECT_TRUE(at::equal(pt::embed(ids, E, W, std::nullopt, scale), pt::eager::embed(ids, E, W, scale)));
    EXPECT_TRUE(at::equal(pt::embed(ids, E, at::Tensor(), std::nullopt, scale),
                          pt::eager::embed(ids, E, at::Tensor(), scale)));
    // Sinusoidal on the fly vs the eager recipe over the core's cached table: bit-equal.
    SinusoidalConfig cfg;
    cfg.dim = C;
    EXPECT_TRUE(at::equal(pt::embed(ids, E, at::Tensor(), cfg, scale),
                          pt::eager::embed(ids, E, core_sinusoidal(cfg, T), scale)));
    // int32 ids give the same.
    EXPECT_TRUE(at::equal(pt::embed(ids.to(at::kInt), E, W, std::nullopt, scale),
                          pt::eager::embed(ids, E, W, scale)));
  }
  // The eager float32 sinusoidal recipe vs the core's Exact table: close (float32 exp/products), not equal.
  SinusoidalConfig cfg;
  cfg.dim = C;
  EXPECT_LE(max_abs(pt::eager::sinusoidal_table(64, C) - core_sinusoidal(cfg, 64)), 2e-5);
  // sinusoidal_add vs x + table.
  const at::Tensor x = at::randn({B, T, C});
  EXPECT_TRUE(at::equal(pt::sinusoidal_add(x, cfg, pt::PositionArg::at_offset(4)),
                        x + core_sinusoidal(cfg, T + 4).slice(0, 4)));
  EXPECT_TRUE(at::equal(pt::learned_add(x, W, pt::PositionArg::at_offset(2)), x + W.slice(0, 2, 2 + T)));
}

TEST_F(Adapter, T5BiasForwardMatchesEager) {
  const at::Tensor table = at::randn({32, 6});
  for (const bool bidirectional : {true, false})
    for (const int64_t max_distance : {20, 128}) {
      T5BiasConfig cfg;
      cfg.bidirectional = bidirectional;
      cfg.max_distance = max_distance;
      EXPECT_TRUE(at::equal(pt::t5_bias(table, cfg, 70, 90), pt::eager::t5_bias(table, cfg, 70, 90)))
          << bidirectional << " " << max_distance;
      EXPECT_TRUE(
          at::equal(pt::t5_bias(table, cfg, 1, 90, 89), pt::eager::t5_bias(table, cfg, 90, 90).slice(1, 89)))
          << "decode step";
    }
}

// =============================== 3. modules ================================================================

TEST_F(Adapter, TokenEmbeddingParametersAndSgdStep) {
  pt::TokenEmbeddingOptions o;
  o.vocab_size = 10;
  o.dim = 8;
  o.max_positions = 12;
  o.scale = posenc::EmbedScale::SqrtC;
  for (const auto pe : {pt::EmbedPe::None, pt::EmbedPe::Sinusoidal, pt::EmbedPe::Learned}) {
    o.pe = pe;
    pt::TokenEmbedding m(o);
    const auto named = m->named_parameters();
    std::vector<std::string> keys;
    for (const auto& kv : named) keys.push_back(kv.key());
    if (pe == pt::EmbedPe::Learned) {
      EXPECT_EQ(keys, (std::vector<std::string>{"weight", "pe_weight"}));
      EXPECT_EQ(m->pe_weight.sizes(), (std::vector<int64_t>{12, 8}));
    } else {
      EXPECT_EQ(keys, (std::vector<std::string>{"weight"}));
      EXPECT_FALSE(m->pe_weight.defined());
    }
    EXPECT_EQ(m->weight.sizes(), (std::vector<int64_t>{10, 8}));
    const at::Tensor ids = at::tensor({1, 4, 4, 7, 1, 2}, at::kLong).view({2, 3});
    const auto pos = pt::PositionArg::at_offset(4);
    // Forward = E[ids] * sqrt(C) + PE(pos).
    at::Tensor expect = at::embedding(m->weight.detach(), ids) * std::sqrt(8.0f);
    if (pe == pt::EmbedPe::Learned) expect = expect + m->pe_weight.detach().slice(0, 4, 7);
    SinusoidalConfig sc;
    sc.dim = 8;
    if (pe == pt::EmbedPe::Sinusoidal) expect = expect + core_sinusoidal(sc, 7).slice(0, 4);
    const at::Tensor out = m->forward(ids, pos);
    EXPECT_TRUE(at::allclose(out, expect, 1e-6, 1e-6));

    // clone() (torch::nn::Cloneable) copies the parameters into new storage under the same names.
    const auto copy = std::dynamic_pointer_cast<pt::TokenEmbeddingImpl>(m->clone());
    ASSERT_TRUE(copy);
    EXPECT_EQ(copy->named_parameters().size(), named.size());
    EXPECT_TRUE(at::equal(copy->weight, m->weight));
    EXPECT_NE(copy->weight.data_ptr(), m->weight.data_ptr());
    if (pe == pt::EmbedPe::Learned) {
      EXPECT_TRUE(at::equal(copy->pe_weight, m->pe_weight));
    }
    EXPECT_TRUE(at::equal(copy->forward(ids, pos), out));

    const at::Tensor w0 = m->weight.detach().clone();
    const at::Tensor p0 = pe == pt::EmbedPe::Learned ? m->pe_weight.detach().clone() : at::Tensor();
    torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.1));
    opt.zero_grad();
    (out * at::randn_like(out)).sum().backward();
    opt.step();
    const at::Tensor w_changed = (m->weight.detach() != w0).any(1);
    for (int64_t v = 0; v < 10; ++v) {
      const bool used = v == 1 || v == 2 || v == 4 || v == 7;
      EXPECT_EQ(w_changed[v].item<bool>(), used) << "weight row " << v;
    }
    if (pe == pt::EmbedPe::Learned) {
      const at::Tensor p_changed = (m->pe_weight.detach() != p0).any(1);
      for (int64_t p = 0; p < 12; ++p)
        EXPECT_EQ(p_changed[p].item<bool>(), p >= 4 && p < 7) << "pe_weight row " << p;
    }
  }
}

TEST_F(Adapter, LearnedEncodingModule) {
  pt::LearnedEncoding m(10, 8);
  const auto named = m->named_parameters();
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named.begin()->key(), "weight");
  EXPECT_EQ(m->weight.sizes(), (std::vector<int64_t>{10, 8}));
  EXPECT_GT(max_abs(m->weight), 0.0);
  const at::Tensor x = at::randn({2, 4, 8}).requires_grad_(true);
  const at::Tensor ids = at::tensor({9, 0, 3, 3, 1, 1, 1, 2}, at::kLong).view({2, 4});
  const at::Tensor out = m->forward(x, pt::PositionArg::from_ids(ids));
  EXPECT_TRUE(at::equal(out, x.detach() + m->weight.detach().index_select(0, ids.view(-1)).view({2, 4, 8})));
  const at::Tensor g = at::randn({2, 4, 8});
  out.backward(g);
  EXPECT_TRUE(at::equal(x.grad(), g));
  const at::Tensor expect = at::zeros({10, 8}).index_add_(0, ids.view(-1), g.view({8, 8}));
  EXPECT_TRUE(at::allclose(m->weight.grad(), expect, 1e-6, 1e-6));
  EXPECT_EQ(max_abs(m->weight.grad().slice(0, 4, 9)), 0.0);
}

TEST_F(Adapter, RotaryEmbeddingModule) {
  RopeConfig cfg;
  cfg.head_dim = 8;
  cfg.rotary_dim = 4;
  pt::RotaryEmbedding m(cfg);
  EXPECT_TRUE(m->parameters().empty());
  const at::Tensor q = at::randn({2, 3, 5, 8}), k = at::randn({2, 1, 5, 8});  // [B, H, T, D]
  auto [qm, km] = m->forward(q, k, pt::PositionArg::at_offset(2), true);
  auto [qf, kf] = pt::rope(q, k, cfg, pt::PositionArg::at_offset(2), true);
  EXPECT_TRUE(at::equal(qm, qf));
  EXPECT_TRUE(at::equal(km, kf));
  EXPECT_TRUE(at::equal(qm.slice(-1, 4), q.slice(-1, 4)));  // pass-through dims
  EXPECT_FALSE(at::equal(qm.slice(-1, 0, 4), q.slice(-1, 0, 4)));
  // Rotations keep the norm of each pair.
  EXPECT_TRUE(at::allclose(qm.slice(-1, 0, 4).norm(2, -1), q.slice(-1, 0, 4).norm(2, -1), 1e-5, 1e-6));
}

TEST_F(Adapter, T5RelativeBiasModuleGetsGradient) {
  T5BiasConfig cfg;
  cfg.num_buckets = 16;
  cfg.max_distance = 32;
  pt::T5RelativeBias m(cfg, 4);
  EXPECT_EQ(m->weight.sizes(), (std::vector<int64_t>{16, 4}));
  EXPECT_EQ(m->named_parameters().begin()->key(), "weight");
  const at::Tensor bias = m->forward(6, 6);
  EXPECT_EQ(bias.sizes(), (std::vector<int64_t>{4, 6, 6}));
  bias.sum().backward();
  ASSERT_TRUE(m->weight.grad().defined());
  // dW[b, h] = number of (i, j) pairs in bucket b, for every head.
  std::vector<double> count(16, 0.0);
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 6; ++j) count[static_cast<size_t>(posenc::t5_relative_bucket(j - i, cfg))] += 1;
  const at::Tensor expect = at::tensor(count, at::kDouble).to(at::kFloat).unsqueeze(1).expand({16, 4});
  EXPECT_TRUE(at::equal(m->weight.grad(), expect));
}

TEST_F(Adapter, AlibiBiasModuleSigns) {
  posenc::AlibiConfig cfg;
  cfg.num_heads = 6;  // not a power of two
  pt::AlibiBias m(cfg);
  EXPECT_TRUE(m->parameters().empty());
  const at::Tensor b = m->forward(5, 5);
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{6, 5, 5}));
  EXPECT_EQ(b.scalar_type(), at::kFloat);
  const std::vector<double> slopes = posenc::alibi_slopes(6);
  for (int64_t h = 0; h < 6; ++h) {
    EXPECT_GT(slopes[static_cast<size_t>(h)], 0.0);
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t j = 0; j < 5; ++j) {
        const float v = b[h][i][j].item<float>();
        if (i == j)
          EXPECT_EQ(v, 0.0f);
        else
          EXPECT_LT(v, 0.0f) << h << " " << i << " " << j;
        EXPECT_EQ(v,
                  static_cast<float>(-slopes[static_cast<size_t>(h)] * std::abs(static_cast<double>(i - j))));
      }
  }
  // Farther keys get a larger penalty; KeyPosition is +slope * k (BLOOM), Causal masks j > i.
  EXPECT_LT(b[0][4][0].item<float>(), b[0][4][3].item<float>());
  cfg.form = posenc::AlibiForm::KeyPosition;
  cfg.mask = posenc::AlibiMask::Causal;
  const at::Tensor kb = pt::AlibiBias(cfg)->forward(1, 5, 4);
  for (int64_t j = 0; j < 5; ++j)
    EXPECT_EQ(kb[0][0][j].item<float>(), static_cast<float>(slopes[0] * static_cast<double>(j)));
  const at::Tensor cb = pt::alibi_bias(cfg, 3, 3);
  EXPECT_TRUE(std::isinf(cb[0][0][1].item<float>()) && cb[0][0][1].item<float>() < 0);
}

// =============================== 4. f16 / bf16 =============================================================

TEST_F(Adapter, HalfAndBFloat16) {
  const int64_t B = 2, T = 5, C = 8, P = 8, V = 6;
  for (const auto dt : {at::kBFloat16, at::kHalf}) {
    SCOPED_TRACE(c10::toString(dt));
    const double u = dt == at::kBFloat16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11);  // unit roundoff
    // Inputs with <= 7 significant bits: exact in both formats, so the float32 run sees the same values and
    // the low-precision result is that float32 result rounded once.
    auto small = [](at::IntArrayRef s) { return at::randint(-64, 65, s, at::kFloat) / 64.0; };
    auto close = [&](const at::Tensor& lo, const at::Tensor& ref, const char* what) {
      EXPECT_EQ(lo.scalar_type(), dt) << what;
      EXPECT_TRUE((lo.to(at::kFloat) - ref).abs().le(ref.abs() * u + 1e-6).all().item<bool>())
          << what << ": max |diff| " << max_abs(lo.to(at::kFloat) - ref);
    };
    SinusoidalConfig sc;
    sc.dim = C;
    const at::Tensor x = small({B, T, C}), W = small({P, C}), E = small({V, C}), g = small({B, T, C});
    const at::Tensor ids = at::randint(0, V, {B, T}, at::kLong);
    {
      const at::Tensor xl = x.to(dt).requires_grad_(true);
      const at::Tensor out = pt::sinusoidal_add(xl, sc, pt::PositionArg::at_offset(1));
      close(out, pt::sinusoidal_add(x, sc, pt::PositionArg::at_offset(1)), "sinusoidal_add");
      out.backward(g.to(dt));
      EXPECT_EQ(xl.grad().scalar_type(), dt);
    }
    {
      const at::Tensor xl = x.to(dt).requires_grad_(true), Wl = W.to(dt).requires_grad_(true);
      const at::Tensor xf = x.clone().requires_grad_(true), Wf = W.clone().requires_grad_(true);
      const at::Tensor out = pt::learned_add(xl, Wl, pt::PositionArg::at_offset(2));
      const at::Tensor ref = pt::learned_add(xf, Wf, pt::PositionArg::at_offset(2));
      close(out, ref.detach(), "learned_add");
      out.backward(g.to(dt));
      ref.backward(g);
      close(xl.grad(), xf.grad(), "learned_add dx");
      close(Wl.grad(), Wf.grad(), "learned_add dW");
    }
    {
      const float scale = posenc::embed_scale(posenc::EmbedScale::SqrtC, C);
      const at::Tensor El = E.to(dt).requires_grad_(true), Wl = W.to(dt).requires_grad_(true);
      const at::Tensor Ef = E.clone().requires_grad_(true), Wf = W.clone().requires_grad_(true);
      const at::Tensor out = pt::embed(ids, El, Wl, std::nullopt, scale, pt::PositionArg::at_offset(1));
      const at::Tensor ref = pt::embed(ids, Ef, Wf, std::nullopt, scale, pt::PositionArg::at_offset(1));
      close(out, ref.detach(), "embed learned");
      out.backward(g.to(dt));
      ref.backward(g);
      close(El.grad(), Ef.grad(), "embed dE");
      close(Wl.grad(), Wf.grad(), "embed dW");
      const at::Tensor El2 = E.to(dt).requires_grad_(true);
      const at::Tensor out2 = pt::embed(ids, El2, at::Tensor(), sc, scale);
      close(out2, pt::embed(ids, E, at::Tensor(), sc, scale), "embed sinusoidal");
      out2.backward(g.to(dt));
      EXPECT_EQ(El2.grad().scalar_type(), dt);
    }
    for (const bool heads_first : {false, true}) {
      RopeConfig rc;
      rc.head_dim = C;
      rc.rotary_dim = 6;
      const auto shape = [&](int64_t H) {
        return heads_first ? std::vector<int64_t>{B, H, T, C} : std::vector<int64_t>{B, T, H, C};
      };
      const at::Tensor q = small(shape(4)), k = small(shape(2)), gq = small(shape(4)), gk = small(shape(2));
      const at::Tensor ql = q.to(dt).requires_grad_(true), kl = k.to(dt).requires_grad_(true);
      const at::Tensor qf = q.clone().requires_grad_(true), kf = k.clone().requires_grad_(true);
      auto [qo, ko] = pt::rope(ql, kl, rc, pt::PositionArg::at_offset(3), heads_first);
      auto [qr, kr] = pt::rope(qf, kf, rc, pt::PositionArg::at_offset(3), heads_first);
      close(qo, qr.detach(), "rope q");
      close(ko, kr.detach(), "rope k");
      torch::autograd::backward({qo, ko}, {gq.to(dt), gk.to(dt)});
      torch::autograd::backward({qr, kr}, {gq, gk});
      close(ql.grad(), qf.grad(), "rope dq");
      close(kl.grad(), kf.grad(), "rope dk");
    }
    {
      T5BiasConfig tc;
      const at::Tensor tl = small({32, 3}).to(dt).requires_grad_(true);
      const at::Tensor tf = tl.detach().to(at::kFloat).requires_grad_(true);
      const at::Tensor out = pt::t5_bias(tl, tc, 6, 7), ref = pt::t5_bias(tf, tc, 6, 7);
      EXPECT_TRUE(at::equal(out.to(at::kFloat), ref.detach()));  // a gather: exact
      const at::Tensor gt = small({3, 6, 7});
      out.backward(gt.to(dt));
      ref.backward(gt);
      close(tl.grad(), tf.grad(), "t5 dW");
    }
  }
}

// =============================== 5. errors ================================================================

TEST_F(Adapter, Errors) {
  const at::Tensor x = at::randn({2, 3, 8}), W = at::randn({4, 8}), E = at::randn({5, 8});
  const at::Tensor ids = at::tensor({0, 1, 2, 3, 4, 0}, at::kLong).view({2, 3});
  RopeConfig rc;
  rc.head_dim = 8;
  SinusoidalConfig sc;
  sc.dim = 8;
  T5BiasConfig tc;
  posenc::AlibiConfig ac;
  ac.num_heads = 2;
  const at::Tensor q = at::randn({2, 3, 2, 8}), k = at::randn({2, 3, 1, 8});

  // float64 is never converted silently.
  expect_posenc_error([&] { pt::view(at::zeros({2}, at::kDouble), "foo"); }, "foo.dtype");
  expect_posenc_error([&] { pt::rope(q.to(at::kDouble), k, rc); }, "q.dtype");
  expect_posenc_error([&] { pt::rope(q, k.to(at::kDouble), rc); }, "k.dtype");
  expect_posenc_error([&] { pt::sinusoidal_add(x.to(at::kDouble), sc); }, "x.dtype");
  expect_posenc_error([&] { pt::learned_add(x, W.to(at::kDouble), pt::PositionArg::at_offset(0)); },
                      "table.dtype");
  expect_posenc_error([&] { pt::embed(ids, E.to(at::kDouble), at::Tensor(), sc, 1.0f); }, "E.dtype");
  expect_posenc_error([&] { pt::t5_bias(at::randn({32, 2}, at::kDouble), tc, 2, 2); }, "table.dtype");
  expect_posenc_error([&] { pt::view(at::zeros({2}, at::kBool), "mask"); }, "mask.dtype");
  // Positions beyond a learned table: table has 4 rows, T = 3.
  expect_posenc_error([&] { pt::learned_add(x, W, pt::PositionArg::at_offset(2)); }, "offset");
  expect_posenc_error(
      [&] {
        pt::learned_add(x, W,
                        pt::PositionArg::from_ids(at::tensor({0, 1, 2, 3, 4, 0}, at::kLong).view({2, 3})));
      },
      "position ids[1, 1]");
  expect_posenc_error([&] { pt::embed(ids, E, W, std::nullopt, 1.0f, pt::PositionArg::at_offset(2)); },
                      "offset");
  // Token ids.
  expect_posenc_error(
      [&] {
        pt::embed(at::tensor({0, 5}, at::kLong).view({1, 2}), E, W, std::nullopt, 1.0f);
      },
      "ids[0, 1]");
  expect_posenc_error(
      [&] {
        pt::embed(at::tensor({-1, 0}, at::kLong).view({1, 2}), E, W, std::nullopt, 1.0f);
      },
      "ids[0, 0]");
  expect_posenc_error([&] { pt::embed(ids.view({6}), E, W, std::nullopt, 1.0f); }, "ids.dim()");
  expect_posenc_error([&] { pt::embed(ids.view({1, 2, 3}), E, W, std::nullopt, 1.0f); }, "ids.dim()");
  expect_posenc_error([&] { pt::embed(ids, E.view({40}), W, std::nullopt, 1.0f); }, "E.dim()");
  // Position ids of the wrong dtype.
  expect_posenc_error([&] { pt::learned_add(x, W, pt::PositionArg::from_ids(ids.to(at::kFloat))); },
                      "position_ids.dtype");
  // RoPE shapes.
  expect_posenc_error([&] { pt::rope(q.view({6, 2, 8}), k, rc); }, "q.dim()");
  expect_posenc_error([&] { pt::rope(q, k.view({6, 8}), rc); }, "k.dim()");
  expect_posenc_error([&] { pt::rope(q, at::randn({2, 3, 3, 8}), rc); }, "k.shape[2]");  // Hq % Hk != 0
  // Negative offsets.
  expect_posenc_error([&] { pt::rope(q, k, rc, pt::PositionArg::at_offset(-1)); }, "offset");
  expect_posenc_error([&] { pt::sinusoidal_add(x, sc, pt::PositionArg::at_offset(-3)); }, "offset");
  expect_posenc_error([&] { pt::learned_add(x, W, pt::PositionArg::at_offset(-1)); }, "offset");
  expect_posenc_error([&] { pt::t5_bias(at::randn({32, 2}), tc, 2, 2, -1); }, "q_offset");
  expect_posenc_error([&] { pt::alibi_bias(ac, 2, 2, -1); }, "q_offset");
  // Empty lengths.
  expect_posenc_error([&] { pt::t5_bias(at::randn({32, 2}), tc, 0, 4); }, "Tq");
  expect_posenc_error([&] { pt::t5_bias(at::randn({32, 2}), tc, 4, 0); }, "Tk");
  expect_posenc_error([&] { pt::alibi_bias(ac, 0, 4); }, "Tq");
  expect_posenc_error([&] { pt::alibi_bias(ac, 4, 0); }, "Tk");
  // Undefined tensors.
  expect_posenc_error([&] { pt::view(at::Tensor(), "nothing"); }, "nothing");
  expect_posenc_error([&] { pt::sinusoidal_add(at::Tensor(), sc); }, "x");
  expect_posenc_error([&] { pt::learned_add(at::Tensor(), W); }, "x");
  expect_posenc_error([&] { pt::learned_add(x, at::Tensor()); }, "table");
  expect_posenc_error([&] { pt::embed(ids, at::Tensor(), W, std::nullopt, 1.0f); }, "E");
  expect_posenc_error([&] { pt::embed(at::Tensor(), E, W, std::nullopt, 1.0f); }, "ids");
  expect_posenc_error([&] { pt::rope(at::Tensor(), k, rc); }, "q");
  expect_posenc_error([&] { pt::t5_bias(at::Tensor(), tc, 2, 2); }, "table");
  // Module options.
  expect_posenc_error([] { pt::LearnedEncoding(0, 8); }, "max_positions");
  expect_posenc_error(
      [] {
        pt::TokenEmbeddingOptions o;
        o.vocab_size = 4;
        o.dim = 8;
        o.pe = pt::EmbedPe::Learned;
        pt::TokenEmbedding m(o);
      },
      "max_positions");
  expect_posenc_error([&] { pt::T5RelativeBias(tc, 0); }, "num_heads");
}

// =============================== 6. determinism ============================================================

struct Grads {
  at::Tensor dE, dW, dx, dWl, dT;
};

Grads run_backwards(const at::Tensor& ids, const at::Tensor& E, const at::Tensor& W, const at::Tensor& x,
                    const at::Tensor& pos_ids, const at::Tensor& g, const at::Tensor& tab,
                    const at::Tensor& gt) {
  const auto pos = pt::PositionArg::from_ids(pos_ids);
  const at::Tensor Er = E.clone().requires_grad_(true), Wr = W.clone().requires_grad_(true);
  pt::embed(ids, Er, Wr, std::nullopt, 2.0f, pos).backward(g);
  const at::Tensor xr = x.clone().requires_grad_(true), Wl = W.clone().requires_grad_(true);
  pt::learned_add(xr, Wl, pos).backward(g);
  const at::Tensor tr = tab.clone().requires_grad_(true);
  T5BiasConfig tc;
  pt::t5_bias(tr, tc, gt.size(1), gt.size(2)).backward(gt);
  return {Er.grad(), Wr.grad(), xr.grad(), Wl.grad(), tr.grad()};
}

void expect_same_bits(const Grads& a, const Grads& b, const std::string& what) {
  EXPECT_TRUE(at::equal(a.dE, b.dE)) << what << " dE";
  EXPECT_TRUE(at::equal(a.dW, b.dW)) << what << " dW (embed)";
  EXPECT_TRUE(at::equal(a.dx, b.dx)) << what << " dx";
  EXPECT_TRUE(at::equal(a.dWl, b.dWl)) << what << " dW (learned_add)";
  EXPECT_TRUE(at::equal(a.dT, b.dT)) << what << " dT (t5)";
}

TEST_F(Adapter, DeterministicBackward) {
  // Many tokens per row (V = 16, P = 32 over 4096 tokens) so sums are long and order matters in fp32.
  const int64_t B = 8, T = 512, C = 64, V = 16, P = 32;
  const at::Tensor ids = at::randint(0, V, {B, T}, at::kLong), pos_ids = at::randint(0, P, {B, T}, at::kLong);
  const at::Tensor E = at::randn({V, C}), W = at::randn({P, C}), x = at::randn({B, T, C});
  const at::Tensor g = at::randn({B, T, C}) * 1000;  // wide range of magnitudes
  const at::Tensor tab = at::randn({32, 8}), gt = at::randn({8, 300, 300});
  const int at_threads = at::get_num_threads(), pe_threads = posenc::num_threads();

  const Grads base = run_backwards(ids, E, W, x, pos_ids, g, tab, gt);
  expect_same_bits(base, run_backwards(ids, E, W, x, pos_ids, g, tab, gt), "twice");
  for (const int n : {1, 2}) {
    at::set_num_threads(n);
    expect_same_bits(base, run_backwards(ids, E, W, x, pos_ids, g, tab, gt),
                     "at threads " + std::to_string(n));
  }
  at::set_num_threads(at_threads);
  for (const int n : {1, 2, 3}) {
    posenc::set_num_threads(n);
    expect_same_bits(base, run_backwards(ids, E, W, x, pos_ids, g, tab, gt),
                     "posenc threads " + std::to_string(n));
  }
  posenc::set_num_threads(pe_threads);
  // The fp32 sums are in token order: dW[p] equals a sequential float32 sum of its tokens.
  const at::Tensor flat_pos = pos_ids.reshape(-1), flat_g = g.reshape({B * T, C});
  at::Tensor seq = at::zeros({P, C});
  auto acc = seq.accessor<float, 2>();
  const auto ga = flat_g.accessor<float, 2>();
  const auto pa = flat_pos.accessor<int64_t, 1>();
  for (int64_t n = 0; n < B * T; ++n)
    for (int64_t c = 0; c < C; ++c) acc[pa[n]][c] += ga[n][c];
  EXPECT_TRUE(at::equal(base.dWl, seq));
}

}  // namespace
