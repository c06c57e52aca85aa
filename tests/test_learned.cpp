// Learned absolute encodings: initialisations, gather/add against direct indexing, the deterministic
// backward against the scalar reference and against finite differences, and range errors.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "posenc/posenc.hpp"
#include "ref/reference.hpp"
#include "test_util.hpp"

using namespace posenc;

namespace {
TensorView view2(std::vector<float>& v, int64_t a, int64_t b) {
  return TensorView::contiguous(v.data(), DType::F32, {a, b});
}
TensorView view3(std::vector<float>& v, int64_t a, int64_t b, int64_t c) {
  return TensorView::contiguous(v.data(), DType::F32, {a, b, c});
}
}  // namespace

TEST(Learned, NormalInitHasTheRequestedMomentsAndIsReproducible) {
  const int64_t P = 512, C = 256;
  std::vector<float> a(static_cast<size_t>(P * C)), b(a.size()), c(a.size());
  LearnedInitOptions o;
  o.seed = 1234;
  test::with_threads(1, [&] { learned_init(view2(a, P, C), o); });
  test::with_threads(2, [&] { learned_init(view2(b, P, C), o); });
  EXPECT_TRUE(test::bits_equal(a, b));
  o.seed = 1235;
  learned_init(view2(c, P, C), o);
  EXPECT_FALSE(test::bits_equal(a, c));
  double sum = 0, sq = 0;
  int64_t beyond3 = 0;
  for (float v : a) {
    sum += v;
    sq += double(v) * v;
    beyond3 += std::fabs(v) > 3 * 0.02f;
  }
  const double n = static_cast<double>(a.size()), mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
  // 131072 samples: the standard error of the mean is 0.02/362 = 5.5e-5 and of the sd ~ 3.9e-5; bounds are
  // ~5 standard errors. A normal has 0.27% of its mass beyond 3 sd (expected 354, sd ~19).
  EXPECT_NEAR(mean, 0.0, 3e-4);
  EXPECT_NEAR(sd, 0.02, 2e-4);
  EXPECT_NEAR(static_cast<double>(beyond3), 0.0027 * n, 120.0);
}

TEST(Learned, ZerosAndSinusoidalInit) {
  const int64_t P = 64, C = 16;
  std::vector<float> t(static_cast<size_t>(P * C), 5.0f);
  LearnedInitOptions o;
  o.kind = LearnedInit::Zeros;
  learned_init(view2(t, P, C), o);
  for (float v : t) ASSERT_EQ(v, 0.0f);
  o.kind = LearnedInit::Sinusoidal;
  learned_init(view2(t, P, C), o);
  SinusoidalConfig cfg;
  cfg.dim = C;
  EXPECT_TRUE(test::bits_equal(t, sinusoidal_table(cfg, P)));
  // Errors in learned_init's names (they named posenc::sinusoidal_table and its out view).
  const auto error = [&](LearnedInitOptions opt, int64_t cols) {
    std::vector<float> u(static_cast<size_t>(P * cols));
    try {
      learned_init(view2(u, P, cols), opt);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  o.sinusoidal.dim = 6;
  EXPECT_EQ(
      error(o, C),
      "posenc::learned_init: options.sinusoidal.dim = 6 is invalid (allowed: 0 or table.shape[1] = 16)");
  o.sinusoidal.dim = 0;
  EXPECT_NE(error(o, 7).find("posenc::learned_init: options.sinusoidal.dim = 7 (0: the table's columns)"),
            std::string::npos)
      << error(o, 7);
  o.sinusoidal.base = 0.5;
  EXPECT_NE(error(o, C).find("posenc::learned_init: options.sinusoidal.base = 0.5"), std::string::npos)
      << error(o, C);
}

TEST(Learned, ForwardGathersAndAddAdds) {
  const int64_t P = 50, C = 12, B = 2, T = 7;
  std::vector<float> table = test::random_floats(static_cast<size_t>(P * C), 3);
  const std::vector<int64_t> ids = test::random_ints(static_cast<size_t>(B * T), P, 4);
  const TensorView idv = TensorView::contiguous(ids.data(), DType::I64, {B, T});
  std::vector<float> out(static_cast<size_t>(B * T * C));
  learned_forward(view3(out, B, T, C), view2(table, P, C), Positions::ids(idv));
  std::vector<float> x = test::random_floats(out.size(), 5), x0 = x;
  learned_add(view3(x, B, T, C), view2(table, P, C), Positions::ids(idv));
  for (int64_t n = 0; n < B * T; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const size_t i = static_cast<size_t>(n * C + c);
      ASSERT_EQ(out[i], table[static_cast<size_t>(ids[static_cast<size_t>(n)] * C + c)]);
      ASSERT_EQ(x[i], x0[i] + out[i]);
    }
}

TEST(Learned, BackwardMatchesReferenceAndIsDeterministic) {
  const int64_t P = 300, C = 64, B = 4, T = 128;
  const std::vector<float> dout0 = test::random_floats(static_cast<size_t>(B * T * C), 6);
  std::vector<float> dout = dout0;
  // Many repeated positions so that each row sums several tokens (order matters for the bits).
  const std::vector<int64_t> pos = test::random_ints(static_cast<size_t>(B * T), 40, 7);
  const TensorView pv = TensorView::contiguous(pos.data(), DType::I64, {B, T});
  std::vector<float> want = test::random_floats(static_cast<size_t>(P * C), 8);  // existing grad
  std::vector<float> g1 = want, g2 = want, g3 = want;
  ref::scatter_add(want.data(), P, dout.data(), pos.data(), B * T, C, 1.0f);
  test::with_threads(1, [&] { learned_backward(view2(g1, P, C), view3(dout, B, T, C), Positions::ids(pv)); });
  test::with_threads(2, [&] { learned_backward(view2(g2, P, C), view3(dout, B, T, C), Positions::ids(pv)); });
  test::with_threads(7, [&] { learned_backward(view2(g3, P, C), view3(dout, B, T, C), Positions::ids(pv)); });
  EXPECT_TRUE(test::bits_equal(g1, want));
  EXPECT_TRUE(test::bits_equal(g2, want));
  EXPECT_TRUE(test::bits_equal(g3, want));
  EXPECT_TRUE(test::bits_equal(dout, dout0));  // input untouched
}

TEST(Learned, BackwardAgreesWithFiniteDifferences) {
  // L(W) = sum_{b,t,c} G[b,t,c] * forward(W)[b,t,c]; dL/dW[p,c] by central differences in double.
  const int64_t P = 10, C = 4, B = 2, T = 6;
  std::vector<float> W = test::random_floats(static_cast<size_t>(P * C), 9);
  std::vector<float> G = test::random_floats(static_cast<size_t>(B * T * C), 10);
  const std::vector<int64_t> off{0, 3};
  const Positions pos = Positions::offsets(off);
  auto loss = [&](std::vector<float>& w) {
    std::vector<float> out(static_cast<size_t>(B * T * C));
    learned_forward(view3(out, B, T, C), view2(w, P, C), pos);
    double l = 0;
    for (size_t i = 0; i < out.size(); ++i) l += double(G[i]) * out[i];
    return l;
  };
  std::vector<float> dW(static_cast<size_t>(P * C), 0.0f);
  learned_backward(view2(dW, P, C), view3(G, B, T, C), pos);
  // L is linear in W, so central differences have no truncation error; the only error is rounding W +- h
  // to fp32 (|W +- h| < 2: at most 2^-24 each), i.e. <= 2^-23 / (2h) per token at that row (<= B = 2).
  const float h = 0.5f;
  for (size_t k = 0; k < W.size(); ++k) {
    std::vector<float> wp = W, wm = W;
    wp[k] += h;
    wm[k] -= h;
    const double fd = (loss(wp) - loss(wm)) / (2.0 * h);
    ASSERT_NEAR(dW[k], fd, 1e-6) << "row " << k / C << " col " << k % C;
  }
}

TEST(Learned, PositionOutsideTableIsAnError) {
  const int64_t P = 8, C = 4;
  std::vector<float> table(static_cast<size_t>(P * C)), out(static_cast<size_t>(1 * 9 * C));
  try {
    learned_forward(view3(out, 1, 9, C), view2(table, P, C), Positions::offset(0));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("0 .. 7"), std::string::npos) << e.what();
  }
  const std::vector<int64_t> ids{3, 8};
  EXPECT_THROW(learned_forward(view3(out, 1, 2, C), view2(table, P, C),
                               Positions::ids(TensorView::contiguous(ids.data(), DType::I64, {1, 2}))),
               Error);
  EXPECT_THROW(learned_backward(view2(table, P, C), view3(out, 1, 9, C), Positions::offset(0)), Error);
  std::vector<float> wide(static_cast<size_t>(2 * 5));
  EXPECT_THROW(learned_forward(view3(wide, 1, 2, 5), view2(table, P, C), Positions::offset(0)), Error);
}
