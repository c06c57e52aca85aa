// ALiBi: slopes against BLOOM's golden vectors and an independent long-double re-derivation of
// MPT's gen_slopes for 1..64 heads, slope properties, bias values of both forms with and without
// the causal mask, KV-cache decode rows, dtypes, strides, threads, and errors.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "cpu/alibi.hpp"
#include "golden.hpp"
#include "posenc/posenc.hpp"
#include "simd_variants.hpp"
#include "test_util.hpp"

using namespace posenc;

namespace {
using I = std::vector<int64_t>;

using posenc::test::golden_cases;

// MPT's gen_slopes, re-derived in long double: N = 2^ceil(log2 H), s_m = 2^(-m * max_bias / N)
// for m = 1..N, and for H < N the concatenation s[1::2] + s[::2] cut to H entries.
std::vector<long double> mpt_slopes(int64_t H, long double max_bias) {
  int64_t N = 1;
  while (N < H) N *= 2;
  std::vector<long double> s;
  for (int64_t m = 1; m <= N; ++m) s.push_back(1.0L / std::pow(2.0L, m * (max_bias / N)));
  if (N == H) return s;
  std::vector<long double> r;
  for (size_t m = 1; m < s.size(); m += 2) r.push_back(s[m]);
  for (size_t m = 0; m < s.size(); m += 2) r.push_back(s[m]);
  r.resize(static_cast<size_t>(H));
  return r;
}

std::vector<int64_t> iota(int64_t n, int64_t first = 0) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), first);
  return v;
}

std::vector<float> bias(const AlibiConfig& cfg, const std::vector<int64_t>& q,
                        const std::vector<int64_t>& k) {
  const int64_t H = cfg.num_heads, Tq = static_cast<int64_t>(q.size()), Tk = static_cast<int64_t>(k.size());
  std::vector<float> out(static_cast<size_t>(H * Tq * Tk));
  alibi_bias(TensorView::contiguous(out.data(), DType::F32, {H, Tq, Tk}), cfg, q, k);
  return out;
}

AlibiConfig config(int64_t H, AlibiForm form, AlibiMask mask) {
  AlibiConfig c;
  c.num_heads = H;
  c.form = form;
  c.mask = mask;
  return c;
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
}  // namespace

TEST(Alibi, GoldenBloomSlopesAndKeyPositionRows) {
  for (const auto& c : golden_cases("alibi")) {
    const int64_t H = c.at("num_heads").get<int64_t>(), T = c.at("seq").get<int64_t>();
    const auto ref_s = c.at("slopes").get<std::vector<double>>();
    const auto ref_b = c.at("bias_row").get<std::vector<std::vector<double>>>();
    const std::vector<double> s = alibi_slopes(H);
    ASSERT_EQ(s.size(), ref_s.size()) << c.at("name");
    // BLOOM raises a float32-rounded base to integer powers p <= 2H in float32: relative error
    // <= p * 2^-24 (4.2e-7 for the extra heads of H = 12), under 1e-6.
    for (size_t h = 0; h < s.size(); ++h) EXPECT_NEAR(s[h], ref_s[h], 1e-6 * ref_s[h]) << h;
    // BLOOM's row is slope * key position for every query; take the last query (no key masked).
    const std::vector<float> out =
        bias(config(H, AlibiForm::KeyPosition, AlibiMask::Causal), {T - 1}, iota(T));
    for (int64_t h = 0; h < H; ++h)
      for (int64_t j = 0; j < T; ++j) {
        const double ref = ref_b[static_cast<size_t>(h)][static_cast<size_t>(j)];
        // Same slope error as above times an exact j, plus fp32 rounding of the product.
        EXPECT_NEAR(out[static_cast<size_t>(h * T + j)], ref, 1e-6 * std::fabs(ref) + 1e-7)
            << c.at("name") << " h=" << h << " j=" << j;
      }
  }
}

TEST(Alibi, SlopesMatchMptFormulaForHeads1To64) {
  for (double mb : {8.0, 16.0, 4.5, 1.0, 0.3}) {
    for (int64_t H = 1; H <= 64; ++H) {
      const std::vector<double> s = alibi_slopes(H, mb);
      const std::vector<long double> r = mpt_slopes(H, mb);
      ASSERT_EQ(s.size(), r.size());
      // One rounding of the exponent (error <= |e| 2^-53 with |e| <= max_bias, i.e. a relative
      // slope error <= max_bias ln2 2^-53) plus exp2 within 1 ulp (2^-52).
      const long double tol = (mb * 0.7 + 1.0) * 0x1p-52;
      for (size_t h = 0; h < s.size(); ++h)
        EXPECT_LE(std::fabs((s[h] - r[h]) / r[h]), tol) << "H=" << H << " h=" << h << " mb=" << mb;
    }
  }
}

TEST(Alibi, PowerOfTwoSlopesAreGeometric) {
  // max_bias = 8, H = 8: exactly 1/2, 1/4, ..., 1/256 (exp2 of integers is exact).
  const std::vector<double> s8 = alibi_slopes(8);
  for (int h = 0; h < 8; ++h) EXPECT_EQ(s8[static_cast<size_t>(h)], std::ldexp(1.0, -(h + 1)));
  for (double mb : {8.0, 3.0}) {
    for (int64_t H = 1; H <= 256; H *= 2) {
      const std::vector<double> s = alibi_slopes(H, mb);
      const double ratio = std::exp2(-mb / static_cast<double>(H));
      EXPECT_NEAR(s[0], ratio, 4e-16 * ratio);  // slope_0 = ratio, exp2 within 1 ulp each
      // Consecutive ratios: two slopes each within ~1 ulp plus their quotient's rounding.
      for (size_t h = 1; h < s.size(); ++h) EXPECT_NEAR(s[h] / s[h - 1], ratio, 1e-15) << H;
    }
  }
}

TEST(Alibi, NonPowerOfTwoTakesPrefixAndEveryOtherSlopeOfTheNextPower) {
  for (double mb : {8.0, 5.0}) {
    for (int64_t H = 3; H <= 100; ++H) {
      int64_t n = 1;
      while (n * 2 <= H) n *= 2;
      if (n == H) continue;
      const std::vector<double> s = alibi_slopes(H, mb), p = alibi_slopes(n, mb), q = alibi_slopes(2 * n, mb);
      for (int64_t h = 0; h < n; ++h) EXPECT_EQ(s[h], p[h]) << H << " " << h;  // bitwise
      for (int64_t h = n; h < H; ++h) EXPECT_EQ(s[h], q[2 * (h - n)]) << H << " " << h;
      for (double v : s) EXPECT_TRUE(v > 0.0 && v < 1.0);
    }
  }
}

TEST(Alibi, BiasValuesOfBothFormsAndMasks) {
  const int64_t H = 5;
  const std::vector<int64_t> q = {0, 3, 7, 7, 100, 2}, k = {0, 1, 2, 3, 5, 7, 8, 64, 101};
  const std::vector<double> s = alibi_slopes(H);
  for (AlibiForm form : {AlibiForm::Relative, AlibiForm::KeyPosition})
    for (AlibiMask mask : {AlibiMask::None, AlibiMask::Causal}) {
      AlibiConfig cfg = config(H, form, mask);
      cfg.masked_value = mask == AlibiMask::Causal ? -1e4f : cfg.masked_value;
      const std::vector<float> out = bias(cfg, q, k);
      size_t n = 0;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t qi : q)
          for (int64_t kj : k) {
            const double d = form == AlibiForm::Relative ? -std::fabs(double(qi - kj)) : double(kj);
            const float want = mask == AlibiMask::Causal && kj > qi
                                   ? -1e4f
                                   : static_cast<float>(s[static_cast<size_t>(h)] * d);
            // The kernel rounds the exact double product once: bitwise equal.
            ASSERT_EQ(out[n++], want) << "h=" << h << " q=" << qi << " k=" << kj;
          }
    }
  // The diagonal is +0, not -0, and the default mask value is -inf.
  const std::vector<float> c = bias(config(2, AlibiForm::Relative, AlibiMask::Causal), {1}, {1, 2});
  EXPECT_FALSE(std::signbit(c[0]));
  EXPECT_EQ(c[1], -std::numeric_limits<float>::infinity());
}

TEST(Alibi, CausalFormsDifferByAPerRowConstant) {
  const int64_t H = 12, T = 40;
  const auto rel = bias(config(H, AlibiForm::Relative, AlibiMask::Causal), iota(T), iota(T));
  const auto key = bias(config(H, AlibiForm::KeyPosition, AlibiMask::Causal), iota(T), iota(T));
  const std::vector<double> s = alibi_slopes(H);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j <= i; ++j) {
        const size_t n = static_cast<size_t>((h * T + i) * T + j);
        // key - rel = slope * i exactly in reals; each side is rounded once to fp32.
        const double tol = 0x1p-24 * (std::fabs(key[n]) + std::fabs(rel[n]));
        EXPECT_NEAR(double(key[n]) - double(rel[n]), s[static_cast<size_t>(h)] * i, tol);
      }
}

TEST(Alibi, DecodeStepEqualsTheLastRowOfTheFullMatrix) {
  const int64_t H = 6, T = 33;
  for (AlibiForm form : {AlibiForm::Relative, AlibiForm::KeyPosition}) {
    const auto full = bias(config(H, form, AlibiMask::Causal), iota(T), iota(T));
    const auto step = bias(config(H, form, AlibiMask::Causal), {T - 1}, iota(T));
    for (int64_t h = 0; h < H; ++h)
      for (int64_t j = 0; j < T; ++j)
        ASSERT_EQ(step[static_cast<size_t>(h * T + j)], full[static_cast<size_t>((h * T + T - 1) * T + j)]);
  }
}

TEST(Alibi, LowPrecisionDtypesStridesAndThreads) {
  const int64_t H = 7, Tq = 9, Tk = 11;
  const auto q = iota(Tq, 3), k = iota(Tk);
  const AlibiConfig cfg = config(H, AlibiForm::Relative, AlibiMask::None);
  const std::vector<float> ref = bias(cfg, q, k);
  for (DType t : {DType::F16, DType::BF16}) {
    std::vector<uint16_t> o(ref.size());
    alibi_bias(TensorView::contiguous(o.data(), t, {H, Tq, Tk}), cfg, q, k);
    for (size_t n = 0; n < o.size(); ++n)
      ASSERT_EQ(t == DType::F16 ? f16_bits_to_f32(o[n]) : bf16_bits_to_f32(o[n]), round_to(t, ref[n]));
  }
  // [H, Tq, Tk] viewed inside memory laid out [Tk, Tq, H] (every stride non-unit but one).
  std::vector<float> m(ref.size());
  alibi_bias(TensorView::strided(m.data(), DType::F32, {H, Tq, Tk}, {1, H, H * Tq}), cfg, q, k);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < Tq; ++i)
      for (int64_t j = 0; j < Tk; ++j)
        ASSERT_EQ(m[static_cast<size_t>((j * Tq + i) * H + h)],
                  ref[static_cast<size_t>((h * Tq + i) * Tk + j)]);
  std::vector<float> a, b;
  test::with_threads(
      1, [&] { a = bias(config(16, AlibiForm::Relative, AlibiMask::Causal), iota(64), iota(64)); });
  test::with_threads(
      3, [&] { b = bias(config(16, AlibiForm::Relative, AlibiMask::Causal), iota(64), iota(64)); });
  EXPECT_TRUE(test::bits_equal(a, b));
}

TEST(Alibi, Errors) {
  expect_error([] { alibi_slopes(0); }, "num_heads");
  for (double mb : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity(), 126.5, 1e19})
    expect_error([&] { alibi_slopes(4, mb); }, "max_bias");
  // The largest max_bias: the smallest slope is the smallest normal float32, still nonzero in a bias.
  const std::vector<double> s = alibi_slopes(1, kMaxAlibiBias);
  EXPECT_EQ(s[0], std::ldexp(1.0, -126));
  EXPECT_EQ(static_cast<float>(s[0]), std::numeric_limits<float>::min());
  std::vector<float> buf(4 * 3 * 5);
  const auto q = iota(3), k = iota(5);
  const TensorView out = TensorView::contiguous(buf.data(), DType::F32, {4, 3, 5});
  AlibiConfig cfg = config(4, AlibiForm::Relative, AlibiMask::Causal);
  expect_error([&] { alibi_bias(out, config(0, AlibiForm::Relative, AlibiMask::None), q, k); }, "num_heads");
  cfg.masked_value = std::nanf("");
  expect_error([&] { alibi_bias(out, cfg, q, k); }, "masked_value");
  cfg.masked_value = -1e9f;
  expect_error([&] { alibi_bias(out, config(3, AlibiForm::Relative, AlibiMask::None), q, k); },
               "out.shape[0]");
  expect_error([&] { alibi_bias(out, cfg, iota(4), k); }, "out.shape[1]");
  expect_error([&] { alibi_bias(out, cfg, q, iota(6)); }, "out.shape[2]");
  expect_error(
      [&] {
        alibi_bias(TensorView::contiguous(buf.data(), DType::F32, {4, 15}), cfg, q, k);
      },
      "out.ndim");
  expect_error(
      [&] {
        alibi_bias(TensorView::contiguous(buf.data(), DType::I32, {4, 3, 5}), cfg, q, k);
      },
      "out.dtype");
  expect_error([&] { alibi_bias(out, cfg, I{0, -1, 2}, k); }, "query_positions[1]");
  expect_error([&] { alibi_bias(out, cfg, q, I{0, 1, 2, 3, kMaxPosition + 1}); }, "key_positions[4]");
  expect_error(
      [&] {
        alibi_bias(TensorView::strided(buf.data(), DType::F32, {4, 3, 5}, {0, 5, 1}), cfg, q, k);
      },
      "out.strides");
  // f16: slope 1/2 (H = 1, max_bias = 1) at distance 131039 is 65519.5, which rounds to 65504;
  // one more step reaches 65520, which rounds to inf.
  AlibiConfig one = config(1, AlibiForm::Relative, AlibiMask::None);
  one.max_bias = 1.0;
  std::vector<uint16_t> h(1);
  const TensorView h16 = TensorView::contiguous(h.data(), DType::F16, {1, 1, 1});
  alibi_bias(h16, one, I{131039}, I{0});
  EXPECT_EQ(f16_bits_to_f32(h[0]), -65504.0f);
  expect_error([&] { alibi_bias(h16, one, I{131040}, I{0}); }, "out.dtype");
  one.mask = AlibiMask::Causal;  // masked keys do not count
  alibi_bias(h16, one, I{0}, I{131040});
  EXPECT_EQ(f16_bits_to_f32(h[0]), -std::numeric_limits<float>::infinity());
}

// The vectorised rows (src/cpu/alibi_simd.cpp, scattered keys) and the row copies (cpu/alibi.cpp's
// fill_by_rows, keys a run) on every Highway target compiled in and supported here: the scalar
// kernel's bits for both forms and masks, every storage dtype, widths that leave every vector tail,
// out-of-order and repeated positions (q = k gives +0, not -0), queries before, inside and after the
// key run, a finite masked value and -inf, and a padded row stride.
TEST(Alibi, EveryTargetMatchesTheScalarKernelBitForBit) {
  const int64_t H = 5, Tq = 7;
  const std::vector<test::SimdVariant> variants = test::simd_variants();
  ASSERT_FALSE(variants.empty());
  const std::vector<double> slopes = alibi_slopes(H);
  for (bool run : {false, true})
    for (int64_t Tk : {1, 3, 4, 5, 8, 9, 16, 17, 40}) {
      std::vector<int64_t> q(Tq), k(static_cast<size_t>(Tk));
      for (int64_t i = 0; i < Tq; ++i) q[static_cast<size_t>(i)] = (i * 5) % 11 + (i == 3 ? 2147483000 : 0);
      for (int64_t j = 0; j < Tk; ++j) k[static_cast<size_t>(j)] = (j * 3) % 13 + (j == 2 ? 2147483640 : 0);
      if (run) {  // keys 3 .. 3 + Tk - 1; queries 0 .. 10 in a scrambled order and one far after
        for (int64_t i = 0; i < Tq; ++i) q[static_cast<size_t>(i)] = (i * 5) % 11 + (i == 3 ? 5000 : 0);
        for (int64_t j = 0; j < Tk; ++j) k[static_cast<size_t>(j)] = 3 + j;
      }
      for (DType t : {DType::F32, DType::BF16, DType::F16})
        for (AlibiForm form : {AlibiForm::Relative, AlibiForm::KeyPosition})
          for (AlibiMask mask : {AlibiMask::None, AlibiMask::Causal})
            for (float mv : {-std::numeric_limits<float>::infinity(), -1234.5f}) {
              if (t == DType::F16 && !(form == AlibiForm::Relative && mask == AlibiMask::Causal)) continue;
              AlibiConfig cfg = config(H, form, mask);
              cfg.masked_value = mv;
              const size_t es = dtype_size(t), ld = static_cast<size_t>(Tk + 3);
              std::vector<unsigned char> want(static_cast<size_t>(H * Tq) * ld * es, 0xAB);
              std::vector<unsigned char> got(want.size());
              const TensorView wv =
                  TensorView::strided(want.data(), t, {H, Tq, Tk}, {Tq * (Tk + 3), Tk + 3, 1});
              // The f16 case keeps positions small enough for finite values (huge ones are an error).
              std::vector<int64_t> qq = q, kk = k;
              if (t == DType::F16) {
                for (auto& v : qq) v %= 1000;
                for (auto& v : kk) v %= 1000;
              }
              detail::cpu::alibi_bias_scalar(wv, cfg, slopes.data(), qq.data(), kk.data());
              for (const test::SimdVariant& v : variants) {
                test::use_simd_variant(v);
                ASSERT_EQ(detail::cpu::alibi_simd_target(), v.target) << v.name;
                std::fill(got.begin(), got.end(), 0xAB);
                TensorView gv = wv;
                gv.data = got.data();
                detail::cpu::alibi_bias(gv, cfg, slopes.data(), qq.data(), kk.data());
                ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0)
                    << v.name << " run " << run << " Tk " << Tk << " dtype " << static_cast<int>(t)
                    << " form " << static_cast<int>(form) << " mask " << static_cast<int>(mask) << " masked "
                    << mv;
              }
              test::use_default_simd();
            }
    }
}

// Outputs past 16 MiB are written with non-temporal stores (cpu/row_copy.hpp): the same bits, here with
// rows that start off the vector alignment (Tk odd) and the row copies of both forms.
TEST(Alibi, LargeOutputsStreamTheSameBits) {
  const int64_t H = 8, Tq = 701, Tk = 751;  // 16.8 MB in f32
  const std::vector<double> slopes = alibi_slopes(H);
  std::vector<int64_t> q(Tq), k(Tk);
  for (int64_t i = 0; i < Tq; ++i) q[static_cast<size_t>(i)] = 100 + i;
  for (int64_t j = 0; j < Tk; ++j) k[static_cast<size_t>(j)] = j;
  for (AlibiForm form : {AlibiForm::Relative, AlibiForm::KeyPosition}) {
    const AlibiConfig cfg = config(H, form, AlibiMask::Causal);
    std::vector<float> want(static_cast<size_t>(H * Tq * Tk), 1.0f), got(want.size(), 2.0f);
    detail::cpu::alibi_bias_scalar(TensorView::contiguous(want.data(), DType::F32, {H, Tq, Tk}), cfg,
                                   slopes.data(), q.data(), k.data());
    alibi_bias(TensorView::contiguous(got.data(), DType::F32, {H, Tq, Tk}), cfg, q, k);
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
        << "form " << static_cast<int>(form);
  }
}
