// T5 relative attention bias: buckets against HF's golden vectors and an independent float32
// re-implementation over relative positions -5000..5000, cases where HF's float32 recipe departs
// from exact math, the forward gather against direct indexing, the backward against a scalar
// reference (bitwise, on every Highway target) and finite differences, thread-count determinism, dtypes, and errors.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "cpu/t5_bias.hpp"
#include "golden.hpp"
#include "posenc/posenc.hpp"
#include "test_util.hpp"

using namespace posenc;

namespace {
using I = std::vector<int64_t>;

using posenc::test::golden_cases;

// HF's _relative_position_bucket written out step by step as torch runs it on one element: the
// float32 ops in order, glibc's logf for torch.log (a different log than the library's), both
// torch.where branches evaluated, .to(torch.long) truncating toward zero.
int64_t hf_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets, int64_t max_distance) {
  int64_t relative_buckets = 0;
  if (bidirectional) {
    num_buckets /= 2;
    relative_buckets += (relative_position > 0 ? 1 : 0) * num_buckets;
    relative_position = relative_position < 0 ? -relative_position : relative_position;
  } else {
    relative_position = -std::min<int64_t>(relative_position, 0);
  }
  const int64_t max_exact = num_buckets / 2;
  const bool is_small = relative_position < max_exact;
  const float rp = static_cast<float>(relative_position);  // .float()
  const float a = rp / static_cast<float>(max_exact);      // tensor / int
  const float l = logf(a);                                 // torch.log, float32
  const float b = static_cast<float>(std::log(double(max_distance) / double(max_exact)));
  const float c = l / b * static_cast<float>(num_buckets - max_exact);
  int64_t if_large = is_small ? 0 : max_exact + static_cast<int64_t>(c);
  if_large = std::min<int64_t>(if_large, num_buckets - 1);
  return relative_buckets + (is_small ? relative_position : if_large);
}

T5BiasConfig config(int64_t N, int64_t D, bool bidirectional) {
  T5BiasConfig c;
  c.num_buckets = N;
  c.max_distance = D;
  c.bidirectional = bidirectional;
  return c;
}

I iota(int64_t n, int64_t first = 0) {
  I v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), first);
  return v;
}

template <typename F>
void expect_error(F&& f, const std::string& argument) {
  try {
    f();
    ADD_FAILURE() << "no error for " << argument;
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), argument) << e.what();
    EXPECT_FALSE(e.allowed().empty()) << e.what();
  }
}

// Scattered positions: their differences span more values than Tq * Tk (the kernels' matrix path).
const I kScatteredQ = {0, 5, 1000, 70000, 3, 2147483647, 12};
const I kScatteredK = {9, 0, 131072, 64, 1000, 2147483000, 40, 8, 7};
}  // namespace

TEST(T5Bias, GoldenBuckets) {
  for (const auto& c : golden_cases("t5_bucket")) {
    const auto cfg = config(c.at("num_buckets").get<int64_t>(), c.at("max_distance").get<int64_t>(),
                            c.at("bidirectional").get<bool>());
    const auto rel = c.at("relative_position").get<I>();
    const auto want = c.at("bucket").get<I>();
    ASSERT_EQ(rel.size(), want.size());
    for (size_t n = 0; n < rel.size(); ++n)
      EXPECT_EQ(t5_relative_bucket(rel[n], cfg), want[n]) << c.at("name") << " r=" << rel[n];
  }
}

TEST(T5Bias, SweepMatchesIndependentFloat32Recipe) {
  const T5BiasConfig cfgs[] = {config(32, 128, true),    config(32, 128, false), config(64, 256, true),
                               config(128, 1024, false), config(20, 100, true),  config(33, 128, true),
                               config(31, 100, false),   config(2, 5, false),    config(4, 3, true),
                               config(5, 686, false),    config(10, 4394, true), config(48, 200, true)};
  for (const auto& cfg : cfgs) {
    int64_t top = 0;
    for (int64_t r = -5000; r <= 5000; ++r) {
      const int64_t b = t5_relative_bucket(r, cfg);
      ASSERT_EQ(b, hf_bucket(r, cfg.bidirectional, cfg.num_buckets, cfg.max_distance))
          << "N=" << cfg.num_buckets << " D=" << cfg.max_distance << " bidirectional=" << cfg.bidirectional
          << " r=" << r;
      top = std::max(top, b);
    }
    // Every bucket index stays inside the table (odd N with bidirectional never uses the last).
    EXPECT_LT(top, cfg.bidirectional ? cfg.num_buckets / 2 * 2 : cfg.num_buckets);
  }
}

TEST(T5Bias, Float32RecipeNotRealNumbers) {
  // Causal, N = 5 (E = 2, 3 log buckets), D = 686 = 2 * 7^3: at d = 14 and 98, log(d/E)/log(D/E)*3
  // is exactly 1 and 2 in real numbers, but 0.99999994 and 1.99999988 in HF's float32 steps.
  const T5BiasConfig c = config(5, 686, false);
  EXPECT_EQ(t5_relative_bucket(-14, c), 2);  // real numbers: 3
  EXPECT_EQ(t5_relative_bucket(-98, c), 3);  // real numbers: 4
  EXPECT_EQ(t5_relative_bucket(-13, c), 2);
  EXPECT_EQ(t5_relative_bucket(-99, c), 4);
  // The same per direction when bidirectional (N = 10: each half is the N = 5 table).
  const T5BiasConfig b = config(10, 686, true);
  EXPECT_EQ(t5_relative_bucket(14, b), 5 + 2);
  EXPECT_EQ(t5_relative_bucket(-14, b), 2);
  // The test's premise: exact math would give the other bucket.
  const long double x = std::log(14.0L / 2) / std::log(686.0L / 2) * 3;
  EXPECT_NEAR(static_cast<double>(x), 1.0, 1e-15);
}

TEST(T5Bias, ExtremeDistancesUseTheLastBucket) {
  const T5BiasConfig bi = config(32, 128, true), causal = config(32, 128, false);
  EXPECT_EQ(t5_relative_bucket(kMaxPosition, bi), 31);
  EXPECT_EQ(t5_relative_bucket(-kMaxPosition, bi), 15);
  EXPECT_EQ(t5_relative_bucket(-kMaxPosition, causal), 31);
  EXPECT_EQ(t5_relative_bucket(kMaxPosition, causal), 0);  // future keys share bucket 0
  // 2e6 buckets whose log part reaches max_distance = 2^31 - 1 exactly at the largest distance.
  EXPECT_EQ(t5_relative_bucket(-kMaxPosition, config(2000000, kMaxPosition, false)), 1999999);
}

TEST(T5Bias, ForwardGathersByBucket) {
  const T5BiasConfig cfg = config(32, 128, true);
  const int64_t N = 32, H = 6;
  const std::vector<float> W = test::random_floats(static_cast<size_t>(N * H), 7);
  I reversed = iota(300);
  std::reverse(reversed.begin(), reversed.end());
  for (const auto& [q, k] : {std::pair{iota(9, 200), iota(300)}, std::pair{kScatteredQ, kScatteredK},
                             std::pair{I{299}, iota(300)}, std::pair{iota(9, 200), reversed}}) {
    const int64_t Tq = static_cast<int64_t>(q.size()), Tk = static_cast<int64_t>(k.size());
    // The table viewed [N, H] inside memory laid out [H, N]; the output in f32, bf16 and f16.
    std::vector<float> Wt(W.size());
    for (int64_t b = 0; b < N; ++b)
      for (int64_t h = 0; h < H; ++h) Wt[static_cast<size_t>(h * N + b)] = W[static_cast<size_t>(b * H + h)];
    const TensorView wt = TensorView::strided(Wt.data(), DType::F32, {N, H}, {1, N});
    std::vector<float> out(static_cast<size_t>(H * Tq * Tk));
    t5_bias_forward(TensorView::contiguous(out.data(), DType::F32, {H, Tq, Tk}), wt, cfg, q, k);
    std::vector<uint16_t> o16(out.size()), ob16(out.size());
    t5_bias_forward(TensorView::contiguous(o16.data(), DType::F16, {H, Tq, Tk}), wt, cfg, q, k);
    t5_bias_forward(TensorView::contiguous(ob16.data(), DType::BF16, {H, Tq, Tk}), wt, cfg, q, k);
    size_t n = 0;
    for (int64_t h = 0; h < H; ++h)
      for (int64_t qi : q)
        for (int64_t kj : k) {
          const float want = W[static_cast<size_t>(t5_relative_bucket(kj - qi, cfg) * H + h)];
          ASSERT_EQ(out[n], want);  // a gather: bitwise
          ASSERT_EQ(f16_bits_to_f32(o16[n]), round_to(DType::F16, want));
          ASSERT_EQ(bf16_bits_to_f32(ob16[n]), round_to(DType::BF16, want));
          ++n;
        }
  }
}

namespace {
// dW [N, H] += dout [H, Tq, Tk] by bucket, in the order the header specifies: when the distances
// k - q span at most Tq * Tk values, one element at a time into per-distance sums in i-major order,
// then per bucket the distance sums in increasing distance; otherwise one element at a time into
// the bucket's sum in i-major order.
void reference_backward(std::vector<float>& dW, const std::vector<float>& dout, int64_t H,
                        const T5BiasConfig& cfg, const I& q, const I& k) {
  const int64_t Tq = static_cast<int64_t>(q.size()), Tk = static_cast<int64_t>(k.size());
  const int64_t lo = *std::min_element(k.begin(), k.end()) - *std::max_element(q.begin(), q.end());
  const int64_t span = *std::max_element(k.begin(), k.end()) - *std::min_element(q.begin(), q.end()) - lo + 1;
  const bool by_distance = span <= Tq * Tk;
  std::vector<float> acc(dW.size(), 0.0f);
  std::vector<bool> hit(dW.size(), false);
  for (int64_t h = 0; h < H; ++h) {
    std::vector<float> dist(by_distance ? static_cast<size_t>(span) : 0, 0.0f);
    std::vector<bool> seen(dist.size(), false);
    for (int64_t i = 0; i < Tq; ++i)
      for (int64_t j = 0; j < Tk; ++j) {
        const float g = dout[static_cast<size_t>((h * Tq + i) * Tk + j)];
        if (by_distance) {
          dist[static_cast<size_t>(k[j] - q[i] - lo)] += g;
          seen[static_cast<size_t>(k[j] - q[i] - lo)] = true;
        } else {
          const size_t b = static_cast<size_t>(t5_relative_bucket(k[j] - q[i], cfg) * H + h);
          acc[b] += g;
          hit[b] = true;
        }
      }
    for (int64_t d = 0; d < static_cast<int64_t>(dist.size()); ++d)
      if (seen[static_cast<size_t>(d)]) {
        const size_t b = static_cast<size_t>(t5_relative_bucket(d + lo, cfg) * H + h);
        acc[b] += dist[static_cast<size_t>(d)];
        hit[b] = true;
      }
  }
  for (size_t b = 0; b < dW.size(); ++b)
    if (hit[b]) dW[b] = dW[b] + acc[b];
}

std::vector<float> backward(const std::vector<float>& dW0, const std::vector<float>& dout, int64_t N,
                            int64_t H, const T5BiasConfig& cfg, const I& q, const I& k) {
  std::vector<float> dW = dW0;
  const int64_t Tq = static_cast<int64_t>(q.size()), Tk = static_cast<int64_t>(k.size());
  t5_bias_backward(TensorView::contiguous(dW.data(), DType::F32, {N, H}),
                   TensorView::contiguous(dout.data(), DType::F32, {H, Tq, Tk}), cfg, q, k);
  return dW;
}

// Position layouts that reach every path of the kernels: keys a run (row copies and row adds), a
// decode step, keys reversed and with gaps (by distance, element by element), scattered (per pair).
std::vector<std::pair<I, I>> layouts() {
  I reversed = iota(170);
  std::reverse(reversed.begin(), reversed.end());
  I gaps = iota(60);
  for (auto& v : gaps) v = v * 3 + (v % 2);
  return {{iota(40, 10), iota(170)},
          {I{169}, iota(170)},
          {iota(25, 30), reversed},
          {iota(33, 5), gaps},
          {kScatteredQ, kScatteredK}};
}
}  // namespace

TEST(T5Bias, BackwardMatchesScalarReferenceBitwise) {
  const int64_t N = 33, H = 5;  // odd N, bidirectional: row 32 is never touched
  const T5BiasConfig cfg = config(N, 128, true);
  for (const auto& [q, k] : layouts()) {
    const int64_t Tq = static_cast<int64_t>(q.size()), Tk = static_cast<int64_t>(k.size());
    const std::vector<float> dout = test::random_floats(static_cast<size_t>(H * Tq * Tk), 11);
    std::vector<float> ref = test::random_floats(static_cast<size_t>(N * H), 12);
    const std::vector<float> dW0 = ref;
    reference_backward(ref, dout, H, cfg, q, k);
    const std::vector<float> got = backward(dW0, dout, N, H, cfg, q, k);
    EXPECT_TRUE(test::bits_equal(got, ref)) << "Tq " << Tq << " Tk " << Tk;
    for (int64_t h = 0; h < H; ++h)
      EXPECT_EQ(got[static_cast<size_t>(32 * H + h)], dW0[static_cast<size_t>(32 * H + h)]);
  }
}

// The vectorised row add (src/cpu/t5_bias_simd.cpp) on every Highway target compiled in and
// supported here, for f32, bf16 and f16 dout, contiguous and strided: the reference's bits.
TEST(T5Bias, EveryTargetMatchesTheReferenceBitForBit) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  const int64_t N = 32, H = 3;
  const T5BiasConfig cfg = config(N, 64, false);
  for (const auto& [q, k] : layouts())
    for (DType t : {DType::F32, DType::BF16, DType::F16})
      for (int64_t stride : {1, 2}) {
        const int64_t Tq = static_cast<int64_t>(q.size()), Tk = static_cast<int64_t>(k.size());
        // dout stored in dtype t with its last dim strided; the reference sees the rounded values.
        const std::vector<float> g = test::random_floats(static_cast<size_t>(H * Tq * Tk), 51);
        std::vector<float> rounded(g.size());
        std::vector<float> s32(g.size() * static_cast<size_t>(stride));
        std::vector<uint16_t> s16(g.size() * static_cast<size_t>(stride));
        for (size_t n = 0; n < g.size(); ++n) {
          rounded[n] = round_to(t, g[n]);
          s32[n * static_cast<size_t>(stride)] = g[n];
          s16[n * static_cast<size_t>(stride)] =
              t == DType::BF16 ? f32_to_bf16_bits(g[n]) : f32_to_f16_bits(g[n]);
        }
        void* data = t == DType::F32 ? static_cast<void*>(s32.data()) : static_cast<void*>(s16.data());
        const TensorView dout =
            TensorView::strided(data, t, {H, Tq, Tk}, {Tq * Tk * stride, Tk * stride, stride});
        std::vector<float> ref = test::random_floats(static_cast<size_t>(N * H), 52);
        const std::vector<float> dW0 = ref;
        reference_backward(ref, rounded, H, cfg, q, k);
        for (int64_t target : targets) {
          hwy::SetSupportedTargetsForTest(target);
          ASSERT_EQ(detail::cpu::t5_simd_target(), target) << hwy::TargetName(target);
          std::vector<float> got = dW0;
          t5_bias_backward(TensorView::contiguous(got.data(), DType::F32, {N, H}), dout, cfg, q, k);
          EXPECT_TRUE(test::bits_equal(got, ref))
              << hwy::TargetName(target) << " " << dtype_name(t) << " stride " << stride << " Tq " << Tq;
        }
        hwy::SetSupportedTargetsForTest(0);
      }
}

TEST(T5Bias, BackwardMatchesFiniteDifferences) {
  const int64_t N = 8, H = 3, Tq = 12, Tk = 20;  // causal: E = 4 exact and 4 log buckets
  const T5BiasConfig cfg = config(N, 16, false);
  const I q = iota(Tq, 8), k = iota(Tk);
  std::vector<float> W = test::random_floats(static_cast<size_t>(N * H), 21);
  const std::vector<float> g = test::random_floats(static_cast<size_t>(H * Tq * Tk), 22);
  // L(W) = sum g * forward(W), in double.
  auto loss = [&] {
    std::vector<float> out(g.size());
    t5_bias_forward(TensorView::contiguous(out.data(), DType::F32, {H, Tq, Tk}),
                    TensorView::contiguous(W.data(), DType::F32, {N, H}), cfg, q, k);
    double s = 0;
    for (size_t n = 0; n < g.size(); ++n) s += double(g[n]) * out[n];
    return s;
  };
  // Per (b, h): the number of summed terms and the sum of their magnitudes.
  std::vector<double> count(W.size(), 0.0), mass(W.size(), 0.0);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < Tq; ++i)
      for (int64_t j = 0; j < Tk; ++j) {
        const size_t p = static_cast<size_t>(t5_relative_bucket(k[j] - q[i], cfg) * H + h);
        count[p] += 1;
        mass[p] += std::fabs(g[static_cast<size_t>((h * Tq + i) * Tk + j)]);
      }
  const std::vector<float> dW = backward(std::vector<float>(W.size(), 0.0f), g, N, H, cfg, q, k);
  const float eps = 0.0625f;
  int64_t used = 0;
  for (size_t p = 0; p < W.size(); ++p) {
    const float w = W[p];
    W[p] = w + eps;
    const double up = loss(), step_up = double(W[p]) - w;
    W[p] = w - eps;
    const double down = loss(), step_down = w - double(W[p]);
    W[p] = w;
    // L is linear in W, so the quotient over the steps actually taken is exact up to the double
    // sums (~1e-14); dW is an fp32 sum of count terms (any order): error <= count * 2^-24 * mass.
    const double tol = count[p] * 0x1p-24 * mass[p] + 1e-12;
    EXPECT_NEAR(dW[p], (up - down) / (step_up + step_down), tol) << "p=" << p;
    used += count[p] > 0;
  }
  EXPECT_EQ(used, N * H);  // every bucket of every head was exercised
}

TEST(T5Bias, DeterministicAcrossThreadCounts) {
  const int64_t N = 32, H = 8, T = 96;
  const T5BiasConfig cfg = config(N, 128, false);
  const std::vector<float> dout = test::random_floats(static_cast<size_t>(H * T * T), 31);
  const std::vector<float> W = test::random_floats(static_cast<size_t>(N * H), 32);
  std::vector<float> f1(dout.size()), f3(dout.size()), b1, b3;
  auto fwd = [&](std::vector<float>& out) {
    t5_bias_forward(TensorView::contiguous(out.data(), DType::F32, {H, T, T}),
                    TensorView::contiguous(W.data(), DType::F32, {N, H}), cfg, iota(T), iota(T));
  };
  const std::vector<float> zero(W.size(), 0.0f);
  test::with_threads(1, [&] {
    fwd(f1);
    b1 = backward(zero, dout, N, H, cfg, iota(T), iota(T));
  });
  test::with_threads(3, [&] {
    fwd(f3);
    b3 = backward(zero, dout, N, H, cfg, iota(T), iota(T));
  });
  EXPECT_TRUE(test::bits_equal(f1, f3));
  EXPECT_TRUE(test::bits_equal(b1, b3));
}

TEST(T5Bias, DecodeStepEqualsTheLastRowOfTheFullMatrix) {
  const int64_t N = 32, H = 4, T = 200;
  const T5BiasConfig cfg = config(N, 128, false);
  const std::vector<float> W = test::random_floats(static_cast<size_t>(N * H), 41);
  const TensorView w = TensorView::contiguous(W.data(), DType::F32, {N, H});
  std::vector<float> full(static_cast<size_t>(H * T * T)), step(static_cast<size_t>(H * T));
  t5_bias_forward(TensorView::contiguous(full.data(), DType::F32, {H, T, T}), w, cfg, iota(T), iota(T));
  t5_bias_forward(TensorView::contiguous(step.data(), DType::F32, {H, 1, T}), w, cfg, I{T - 1}, iota(T));
  for (int64_t h = 0; h < H; ++h)
    for (int64_t j = 0; j < T; ++j)
      ASSERT_EQ(step[static_cast<size_t>(h * T + j)], full[static_cast<size_t>((h * T + T - 1) * T + j)]);
}

TEST(T5Bias, Errors) {
  expect_error([] { t5_relative_bucket(0, config(1, 128, false)); }, "num_buckets");
  expect_error([] { t5_relative_bucket(0, config(3, 128, true)); }, "num_buckets");
  expect_error([] { t5_relative_bucket(0, config(kMaxPosition + 1, kMaxPosition, false)); }, "num_buckets");
  EXPECT_EQ(t5_relative_bucket(-1, config(2, 2, false)), 1);
  EXPECT_EQ(t5_relative_bucket(1, config(4, 2, true)), 3);                           // offset 2 + bucket 1
  expect_error([] { t5_relative_bucket(0, config(32, 8, true)); }, "max_distance");  // E = 8
  EXPECT_EQ(t5_relative_bucket(-9, config(32, 9, true)), 15);
  expect_error([] { t5_relative_bucket(0, config(32, 16, false)); }, "max_distance");  // E = 16
  expect_error([] { t5_relative_bucket(0, config(32, kMaxPosition + 1, false)); }, "max_distance");
  expect_error([] { t5_relative_bucket(kMaxPosition + 1, config(32, 128, true)); }, "relative_position");
  const int64_t N = 32, H = 4, Tq = 3, Tk = 5;
  std::vector<float> Wb(N * H), ob(H * Tq * Tk);
  const TensorView w = TensorView::contiguous(Wb.data(), DType::F32, {N, H});
  const TensorView o = TensorView::contiguous(ob.data(), DType::F32, {H, Tq, Tk});
  const T5BiasConfig cfg = config(N, 128, true);
  const I q = iota(Tq), k = iota(Tk);
  expect_error([&] { t5_bias_forward(o, w, config(30, 128, true), q, k); }, "table.shape[0]");
  expect_error(
      [&] {
        t5_bias_forward(TensorView::contiguous(ob.data(), DType::F32, {3, Tq, Tk}), w, cfg, q, k);
      },
      "out.shape[0]");
  expect_error([&] { t5_bias_forward(o, w, cfg, iota(4), k); }, "out.shape[1]");
  expect_error([&] { t5_bias_forward(o, w, cfg, q, iota(4)); }, "out.shape[2]");
  expect_error([&] { t5_bias_forward(o, w, cfg, I{0, 1, -2}, k); }, "query_positions[2]");
  expect_error([&] { t5_bias_forward(o, w, cfg, q, I{-1, 1, 2, 3, 4}); }, "key_positions[0]");
  expect_error(
      [&] {
        t5_bias_forward(o, TensorView::contiguous(Wb.data(), DType::I32, {N, H}), cfg, q, k);
      },
      "table.dtype");
  expect_error(
      [&] {
        t5_bias_forward(TensorView::strided(ob.data(), DType::F32, {H, Tq, Tk}, {0, Tk, 1}), w, cfg, q, k);
      },
      "out.strides");
  expect_error(
      [&] {
        t5_bias_backward(w, TensorView::contiguous(ob.data(), DType::F32, {H, Tq * Tk}), cfg, q, k);
      },
      "dout.ndim");
  expect_error(
      [&] {
        t5_bias_backward(TensorView::strided(Wb.data(), DType::F32, {N, H}, {0, 1}), o, cfg, q, k);
      },
      "dtable.strides");
  expect_error([&] { t5_bias_backward(w, o, cfg, q, I{0, 1, 2, 3, kMaxPosition + 1}); }, "key_positions[4]");
}

// Outputs past 16 MiB are written with non-temporal stores (cpu/row_copy.hpp): the same values, here in
// a view that starts one element past the allocation (rows off the vector alignment).
TEST(T5Bias, LargeOutputsStreamTheSameValues) {
  const int64_t N = 32, H = 4, Tq = 1001, Tk = 1100;  // 17.6 MB in f32
  const T5BiasConfig cfg = config(N, 128, true);
  const std::vector<float> W = test::random_floats(static_cast<size_t>(N * H), 61);
  std::vector<float> buf(static_cast<size_t>(H * Tq * Tk) + 2, 7.0f);
  const I q = iota(Tq, 50), k = iota(Tk);
  t5_bias_forward(TensorView::contiguous(buf.data() + 1, DType::F32, {H, Tq, Tk}),
                  TensorView::contiguous(W.data(), DType::F32, {N, H}), cfg, q, k);
  EXPECT_EQ(buf.front(), 7.0f);
  EXPECT_EQ(buf.back(), 7.0f);
  size_t n = 1, bad = 0;
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < Tq; ++i)
      for (int64_t j = 0; j < Tk; ++j, ++n)
        bad += buf[n] != W[static_cast<size_t>(t5_relative_bucket(k[j] - q[i], cfg) * H + h)];
  EXPECT_EQ(bad, 0u);
}

// The buckets of a range of distances are filled run by run (binary searches for where the bucket
// changes, relying on each bucket's distances forming one interval): every value equal to the bucket
// function's,
// for configs with few and many buckets, tiny and huge max distances, both directions, and ranges that
// lie left of 0, right of it, across it, far out and one long.
TEST(T5Bias, BucketsByDistanceEqualTheBucketFunction) {
  struct Cfg {
    int64_t n, d;
  };
  for (bool bidir : {true, false})
    for (Cfg c : {Cfg{4, 3}, Cfg{8, 5}, Cfg{32, 128}, Cfg{33, 1000}, Cfg{320, 100000}, Cfg{64, 2147483647}}) {
      T5BiasConfig cfg;
      cfg.num_buckets = c.n;
      cfg.max_distance = c.d;
      cfg.bidirectional = bidir;
      for (const auto& [lo, span] : std::vector<std::pair<int64_t, int64_t>>{{-5000, 1},
                                                                             {-5000, 4000},
                                                                             {-300, 301},
                                                                             {-300, 700},
                                                                             {0, 1},
                                                                             {1, 9000},
                                                                             {-40000, 80001},
                                                                             {-2147483647, 20000},
                                                                             {2147483000, 647}}) {
        std::vector<int32_t> got(static_cast<size_t>(span), -7);
        detail::cpu::t5_buckets_by_distance(cfg, lo, span, got.data());
        for (int64_t d = 0; d < span; ++d)
          ASSERT_EQ(got[static_cast<size_t>(d)], t5_relative_bucket(lo + d, cfg))
              << "N " << c.n << " D " << c.d << " bidirectional " << bidir << " lo " << lo << " span " << span
              << " r " << lo + d;
      }
    }
}
