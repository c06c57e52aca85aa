// tests/test_exact_mpfr.cpp — Precision::Exact against MPFR: every fp32 value within 1 ulp of the
// correctly rounded value of the real-number formula at positions in [0, 2^31 - 1]; the
// double-double exp/log and sincos_pos underneath; HfCompat differing; f16/bf16 storage; strided
// output views.
//
// The reference (tests/mpfr_reference.hpp) evaluates the formulas of posenc/sinusoidal.hpp in MPFR
// at 256 bits and rounds once to fp32 (correctly rounded). Sweep sizes are fixed (the same in every
// build type): about 3M MPFR sin/cos pairs in all, ~5 us each, so the sweeps take ~15-25 s in
// Release and stay well inside the ASan budget (MPFR itself is not instrumented; the library's
// share of the time is small).
#include <gtest/gtest.h>
#include <mpfr.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <limits>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "exact/dd.hpp"
#include "exact/sincos.hpp"
#include "mpfr_reference.hpp"
#include "posenc/dtype.hpp"
#include "posenc/positions.hpp"
#include "posenc/precision.hpp"
#include "posenc/sinusoidal.hpp"
#include "posenc/tensor.hpp"

namespace {

using posenc::DType;
using posenc::Precision;
using posenc::SinusoidalConfig;
using posenc::SinusoidalPreset;
using posenc::TensorView;
using posenc_test::Column;
using posenc_test::Mp;

constexpr int64_t kMaxPos = posenc::kMaxPosition;

const char* preset_name(SinusoidalPreset p) {
  switch (p) {
    case SinusoidalPreset::Vaswani:
      return "Vaswani";
    case SinusoidalPreset::Fairseq:
      return "Fairseq";
    case SinusoidalPreset::Tensor2Tensor:
      return "Tensor2Tensor";
    case SinusoidalPreset::Marian:
      return "Marian";
  }
  return "?";
}

std::string describe(const SinusoidalConfig& cfg) {
  std::ostringstream s;
  s << preset_name(cfg.preset) << " d=" << cfg.dim << " base=" << cfg.base;
  return s.str();
}

SinusoidalConfig make_cfg(SinusoidalPreset preset, double base, int64_t dim,
                          Precision precision = Precision::Exact) {
  SinusoidalConfig cfg;
  cfg.dim = dim;
  cfg.base = base;
  cfg.preset = preset;
  cfg.precision = precision;
  return cfg;
}

// omega_0 .. omega_{h-1} of the config at 256 bits.
std::deque<Mp> ref_frequencies(const SinusoidalConfig& cfg) {
  std::deque<Mp> om;
  const int64_t h = posenc_test::ref_num_frequencies(cfg.preset, cfg.dim);
  for (int64_t i = 0; i < h; ++i) {
    om.emplace_back();
    posenc_test::ref_frequency(om.back(), cfg.preset, cfg.base, cfg.dim, i);
  }
  return om;
}

// The positions of a sweep: 0 and small ones, powers of two and their neighbours up to 2^31 - 1,
// powers of ten, the positions closest to multiples of pi/2 for a few frequencies (continued
// fractions), and n_random uniform positions in [0, 2^31 - 1] plus n_random / 4 in [0, 65535] (the
// usual range).
std::vector<int64_t> sweep_positions(const std::deque<Mp>& om, int64_t n_random, uint64_t seed) {
  std::vector<int64_t> p;
  for (int64_t q = 0; q <= 16; ++q) p.push_back(q);
  for (int k = 5; k <= 31; ++k) {
    const int64_t t = int64_t{1} << k;
    for (int64_t q : {t - 1, t, t + 1})
      if (q <= kMaxPos) p.push_back(q);
  }
  for (int64_t t = 1000; t <= kMaxPos; t *= 10) p.push_back(t);
  p.push_back(kMaxPos - 1);
  const int64_t h = static_cast<int64_t>(om.size());
  for (int64_t i : {int64_t{0}, int64_t{1}, h / 2, h - 1}) {
    if (i < 0 || i >= h) continue;
    for (int64_t q : posenc_test::near_multiples_of_half_pi(om[static_cast<size_t>(i)], kMaxPos))
      p.push_back(q);
  }
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> any(0, kMaxPos), small(0, 65535);
  for (int64_t n = 0; n < n_random; ++n) p.push_back(any(rng));
  for (int64_t n = 0; n < n_random / 4; ++n) p.push_back(small(rng));
  std::sort(p.begin(), p.end());
  p.erase(std::unique(p.begin(), p.end()), p.end());
  return p;
}

struct SweepStats {
  int64_t values = 0;
  int64_t not_correctly_rounded = 0;  // got != cr (reported, not asserted)
  int64_t failures = 0;               // more than 1 ulp off (asserted)
  int64_t max_steps = 0;
  std::string first_failures;
};

// The check of the library's promise for one value. Two forms of "within 1 ulp", both asserted:
//   |got - cr| <= ulp(cr), ulp = the float spacing at cr (2^-149 at 0 and below 2^-126, so a zero
//   must be exact and subnormals are held to their own spacing), and got is cr or one of its two
//   neighbouring floats (ulp_steps <= 1). This is the same bound stated on the float line; it
//   differs from the first only just below a power of two, where it is the stricter one.
void check_value(float got, float cr, SweepStats& st, const std::string& where) {
  ++st.values;
  const int64_t steps = posenc_test::ulp_steps(got, cr);
  const bool ok = !std::isnan(got) &&
                  std::fabs(static_cast<double>(got) - static_cast<double>(cr)) <= posenc_test::ulp_f32(cr) &&
                  steps <= 1;
  if (got != cr) ++st.not_correctly_rounded;
  if (!std::isnan(got)) st.max_steps = std::max(st.max_steps, steps);
  if (!ok) {
    if (++st.failures <= 8) {
      char buf[160];
      std::snprintf(buf, sizeof buf, ": got %.9g (0x%08x), correctly rounded %.9g (0x%08x), %lld ulp\n",
                    static_cast<double>(got), std::bit_cast<uint32_t>(got), static_cast<double>(cr),
                    std::bit_cast<uint32_t>(cr), static_cast<long long>(steps));
      st.first_failures += where + buf;
    }
  }
}

// Every column of every position of the config against the MPFR reference.
void check_table_against_mpfr(const SinusoidalConfig& cfg, std::span<const int64_t> positions,
                              const std::deque<Mp>& om, SweepStats& st) {
  const int64_t n_pos = static_cast<int64_t>(positions.size()), d = cfg.dim;
  std::vector<float> out(static_cast<size_t>(n_pos * d), std::numeric_limits<float>::quiet_NaN());
  posenc::sinusoidal_table(TensorView::contiguous(out.data(), DType::F32, {n_pos, d}), cfg, positions);
  const int64_t h = static_cast<int64_t>(om.size());
  std::vector<posenc_test::SinCosF> ref(static_cast<size_t>(h));
  for (int64_t n = 0; n < n_pos; ++n) {
    const int64_t pos = positions[static_cast<size_t>(n)];
    for (int64_t i = 0; i < h; ++i)
      ref[static_cast<size_t>(i)] = posenc_test::ref_sincos_f32(om[static_cast<size_t>(i)], pos);
    for (int64_t j = 0; j < d; ++j) {
      const Column c = posenc_test::ref_column(cfg.preset, d, j);
      const float cr = c.kind == Column::Zero  ? 0.0f
                       : c.kind == Column::Sin ? ref[static_cast<size_t>(c.freq)].sin
                                               : ref[static_cast<size_t>(c.freq)].cos;
      const float got = out[static_cast<size_t>(n * d + j)];
      if (got == cr && c.kind != Column::Zero) {  // fast path of check_value for the common case
        ++st.values;
        continue;
      }
      const std::string where = describe(cfg) + " pos=" + std::to_string(pos) + " col=" + std::to_string(j);
      if (c.kind == Column::Zero && got != 0.0f) {  // the padding column of odd dims: exactly zero
        ++st.values;
        ++st.not_correctly_rounded;
        if (++st.failures <= 8) st.first_failures += where + ": zero column holds a nonzero value\n";
        continue;
      }
      check_value(got, cr, st, where);
    }
  }
}

// Sweeps configs; the number of random positions shrinks with the number of frequencies so that
// each config costs at most ~2e5 MPFR sin/cos pairs (1024 columns: ~240 random positions, <= 128:
// 2000).
void run_sweep(const std::vector<SinusoidalConfig>& cfgs, uint64_t seed) {
  SweepStats total;
  for (const SinusoidalConfig& cfg : cfgs) {
    const std::deque<Mp> om = ref_frequencies(cfg);
    const int64_t h = std::max<int64_t>(static_cast<int64_t>(om.size()), 1);
    const int64_t n_random = std::clamp<int64_t>(120000 / h, 100, 2000);
    const std::vector<int64_t> positions = sweep_positions(om, n_random, seed++);
    SweepStats st;
    check_table_against_mpfr(cfg, positions, om, st);
    std::printf(
        "[ sweep    ] %-32s %6zu positions %8lld values: %lld not correctly rounded, max %lld "
        "ulp\n",
        describe(cfg).c_str(), positions.size(), static_cast<long long>(st.values),
        static_cast<long long>(st.not_correctly_rounded), static_cast<long long>(st.max_steps));
    EXPECT_EQ(st.failures, 0) << describe(cfg) << ": " << st.failures
                              << " values more than 1 ulp from the correctly rounded value, e.g.\n"
                              << st.first_failures;
    total.values += st.values;
    total.not_correctly_rounded += st.not_correctly_rounded;
  }
  std::printf("[ sweep    ] total %lld values, %lld not correctly rounded\n",
              static_cast<long long>(total.values), static_cast<long long>(total.not_correctly_rounded));
}

std::vector<SinusoidalConfig> vaswani_configs(double base) {
  std::vector<SinusoidalConfig> v;
  for (int64_t d : {2, 4, 64, 128, 1024}) v.push_back(make_cfg(SinusoidalPreset::Vaswani, base, d));
  return v;
}

TEST(ExactMpfr, VaswaniBase10000) {
  run_sweep(vaswani_configs(10000.0), 100);
}
TEST(ExactMpfr, VaswaniBase500000) {
  run_sweep(vaswani_configs(500000.0), 200);
}
TEST(ExactMpfr, VaswaniNonIntegerBase) {
  run_sweep(vaswani_configs(1234.5), 300);
}

TEST(ExactMpfr, Marian) {
  std::vector<SinusoidalConfig> v;
  for (int64_t d : {2, 3, 63, 64, 1024}) v.push_back(make_cfg(SinusoidalPreset::Marian, 10000.0, d));
  v.push_back(make_cfg(SinusoidalPreset::Marian, 500000.0, 127));
  v.push_back(make_cfg(SinusoidalPreset::Marian, 1234.5, 65));
  run_sweep(v, 400);
}

TEST(ExactMpfr, Fairseq) {
  std::vector<SinusoidalConfig> v;
  for (int64_t d : {2, 3, 4, 64, 65, 128, 1024}) v.push_back(make_cfg(SinusoidalPreset::Fairseq, 10000.0, d));
  v.push_back(make_cfg(SinusoidalPreset::Fairseq, 500000.0, 128));
  v.push_back(make_cfg(SinusoidalPreset::Fairseq, 1234.5, 129));
  run_sweep(v, 500);
}

TEST(ExactMpfr, Tensor2Tensor) {
  run_sweep({make_cfg(SinusoidalPreset::Tensor2Tensor, 10000.0, 63),
             make_cfg(SinusoidalPreset::Tensor2Tensor, 500000.0, 1024)},
            600);
}

// Bases at the ends of the allowed range (> 1, finite): a base near 1 (all frequencies near 1) and
// a huge base, whose ln(base) ~ 690 brings the double-double exp/log near the bottom of the double
// range.
TEST(ExactMpfr, ExtremeBases) {
  std::vector<SinusoidalConfig> v;
  for (double base : {1.0001, 1e300}) {
    v.push_back(make_cfg(SinusoidalPreset::Vaswani, base, 1024));
    v.push_back(make_cfg(SinusoidalPreset::Fairseq, base, 64));
  }
  run_sweep(v, 700);
}

// A base near the largest double: still a valid base, so the promise holds there too. (ln(base) ~
// 709: exact::log evaluates exp(-709.7), whose double-double is subnormal; see DdLogHugeArguments.)
TEST(ExactMpfr, BaseNearDoubleMax) {
  run_sweep(
      {make_cfg(SinusoidalPreset::Vaswani, 1.7e308, 1024), make_cfg(SinusoidalPreset::Fairseq, 1.7e308, 64)},
      800);
}

// ---- frequencies and the double-double layer
// ------------------------------------------------------------

// omega_i as a double: the double nearest a double-double value within 2^-98 of omega_i is within
// half an ulp plus 2^-98 relative; we accept 1 ulp (2^-52 relative) so that the test does not
// depend on how the library rounds its double-double to double, and report how many are not the
// nearest double.
TEST(ExactMpfr, FrequenciesMatchMpfr) {
  int64_t checked = 0, not_nearest = 0;
  for (SinusoidalPreset preset : {SinusoidalPreset::Vaswani, SinusoidalPreset::Marian,
                                  SinusoidalPreset::Fairseq, SinusoidalPreset::Tensor2Tensor}) {
    for (double base : {1.0001, 2.0, 1234.5, 10000.0, 500000.0, 1e12, 1e300}) {
      for (int64_t d : {2, 3, 4, 63, 64, 128, 1024}) {
        if (preset == SinusoidalPreset::Vaswani && d % 2 != 0) continue;
        const SinusoidalConfig cfg = make_cfg(preset, base, d);
        const int64_t h = posenc_test::ref_num_frequencies(preset, d);
        ASSERT_EQ(posenc::sinusoidal_num_frequencies(cfg), h) << describe(cfg);
        for (int64_t i = 0; i < h; ++i) {
          Mp ref, err;
          posenc_test::ref_frequency(ref, preset, base, d, i);
          const double got = posenc::sinusoidal_frequency(cfg, i);
          mpfr_sub_d(err, ref, got, MPFR_RNDN);
          mpfr_div(err, err, ref, MPFR_RNDN);
          const double rel = std::fabs(mpfr_get_d(err, MPFR_RNDN));
          ++checked;
          if (got != mpfr_get_d(ref, MPFR_RNDN)) ++not_nearest;
          EXPECT_LE(rel, 0x1p-52) << describe(cfg) << " i=" << i << " got " << got;
        }
      }
    }
  }
  std::printf("[ freq     ] %lld frequencies, %lld not the nearest double\n", static_cast<long long>(checked),
              static_cast<long long>(not_nearest));
}

// |dd - ref| of a double-double against an MPFR value (exact: hi + lo is formed at 256 bits).
double dd_abs_error(posenc::exact::DD v, mpfr_srcptr ref) {
  Mp g;
  mpfr_set_d(g, v.hi, MPFR_RNDN);
  mpfr_add_d(g, g, v.lo, MPFR_RNDN);
  mpfr_sub(g, g, ref, MPFR_RNDN);
  return std::fabs(mpfr_get_d(g, MPFR_RNDN));
}

// A normalized double-double near x: lo is a random fraction of half an ulp of hi.
posenc::exact::DD random_dd(double x, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  const double hi = x;
  const double lo = hi == 0.0 ? 0.0 : u(rng) * std::ldexp(1.0, std::ilogb(hi) - 52);
  return {hi, lo};
}

// exp: dd.hpp states ~2^-98 relative; we assert 2^-95. What the angles need: with omega (<= 1) to
// 2^-95 relative, pos * omega is off by <= 2^31 * 2^-95 = 2^-64 rad, i.e. 2^-31 relative even for a
// sin/cos value 1e-10 from a zero, far below an fp32 ulp. A double-double whose hi is below 2^-968
// cannot hold 106 bits (its lo is subnormal, spacing 2^-1074), hence the absolute term 2^-1074.
TEST(ExactMpfr, DdExpMatchesMpfr) {
  std::mt19937_64 rng(11);
  std::vector<double> args;
  std::uniform_real_distribution<double> wide(-744.0, 709.0), mid(-40.0, 40.0), tiny(-1e-6, 1e-6);
  for (int n = 0; n < 3000; ++n) args.push_back(wide(rng));
  for (int n = 0; n < 3000; ++n) args.push_back(mid(rng));
  for (int n = 0; n < 500; ++n) args.push_back(tiny(rng));
  for (double b : {1.0001, 1234.5, 10000.0, 500000.0})  // the exponents a Fairseq table of d = 128 uses
    for (int i = 0; i < 64; ++i) args.push_back(-i * std::log(b) / 63.0);
  double worst = 0;
  for (double x : args) {
    const posenc::exact::DD a = random_dd(x, rng);
    Mp ma, ref;
    mpfr_set_d(ma, a.hi, MPFR_RNDN);
    mpfr_add_d(ma, ma, a.lo, MPFR_RNDN);
    mpfr_exp(ref, ma, MPFR_RNDN);
    const double r = std::fabs(mpfr_get_d(ref, MPFR_RNDN));
    const double err = dd_abs_error(posenc::exact::exp(a), ref);
    EXPECT_LE(err, 0x1p-95 * r + 0x1p-1074) << "exp(" << a.hi << " + " << a.lo << ")";
    if (r > 0x1p-968) worst = std::max(worst, err / r);
  }
  std::printf("[ dd exp   ] worst relative error 2^%.1f\n", std::log2(worst));
}

// log: what the frequencies need is the absolute error of ln(base) (omega = exp(-c ln base), c in
// [0, 1]: its relative error is c times that absolute error), so the bound is 2^-95 * max(|ln a|,
// 1): relative 2^-95 away from a = 1, absolute 2^-95 near it (a relative bound cannot hold there:
// ln a -> 0).
void check_dd_log(double lo_exp, double hi_exp, uint64_t seed, int n) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> e(lo_exp, hi_exp);
  double worst = 0;
  int failures = 0;
  for (int k = 0; k < n; ++k) {
    const posenc::exact::DD a = random_dd(std::exp2(e(rng)), rng);
    Mp ma, ref;
    mpfr_set_d(ma, a.hi, MPFR_RNDN);
    mpfr_add_d(ma, ma, a.lo, MPFR_RNDN);
    mpfr_log(ref, ma, MPFR_RNDN);
    const double scale = std::max(std::fabs(mpfr_get_d(ref, MPFR_RNDN)), 1.0);
    const double err = dd_abs_error(posenc::exact::log(a), ref) / scale;
    worst = std::max(worst, err);
    if (err > 0x1p-95 && ++failures <= 5)
      ADD_FAILURE() << "log(" << a.hi << " + " << a.lo << "): error 2^" << std::log2(err)
                    << " of max(|ln a|, 1)";
  }
  EXPECT_EQ(failures, 0);
  std::printf("[ dd log   ] a in [2^%g, 2^%g]: worst error 2^%.1f of max(|ln a|, 1)\n", lo_exp, hi_exp,
              std::log2(worst));
}

TEST(ExactMpfr, DdLogMatchesMpfr) {
  check_dd_log(-1000, 900, 21, 4000);
  check_dd_log(-1e-6, 1e-6, 22, 500);  // a within 1e-6 of 1
  check_dd_log(0, 30, 23, 1000);       // bases used in practice: 1 .. 1e9
}

// ln(a) for a above 2^900 up to the largest double: any base > 1 is allowed, so 1e300 is a valid
// base.
TEST(ExactMpfr, DdLogHugeArguments) {
  check_dd_log(900, 1023.99, 24, 1000);
}

// sincos_pos(pos, omega) against MPFR sin/cos of pos * (omega.hi + omega.lo), the exact angle of
// the given double-double. Error budget: the angle is formed and reduced in double-double with an
// absolute error of ~2^-73 for pos <= 2^31 (omega.lo * pos is rounded once: 2^-53 * 2^-53 * 2^31 *
// omega, omega <= 1, and the reduction's DD subtractions add a few 2^-106 of the result); sin/cos
// of the reduced angle in double and the correction terms add a few ulp of double (<= 4 ulp = 2^-50
// relative). So we assert
//   |err| <= 2^-50 |ref| + 2^-70,
// where the absolute term matters only near zeros of sin/cos (|ref| ~ 1e-10 at the
// continued-fraction positions, where the relative error alone can be ~2^-45). That is ~2^-20 of an
// fp32 ulp, which is what the final rounding to float needs.
TEST(ExactMpfr, SincosPosMatchesMpfr) {
  double worst_rel = 0;
  int failures = 0;
  for (SinusoidalConfig cfg :
       {make_cfg(SinusoidalPreset::Vaswani, 10000.0, 128), make_cfg(SinusoidalPreset::Fairseq, 500000.0, 64),
        make_cfg(SinusoidalPreset::Vaswani, 1234.5, 16)}) {
    const std::deque<Mp> om = ref_frequencies(cfg);
    const std::vector<int64_t> positions = sweep_positions(om, 60, 31);
    for (const Mp& w : om) {
      const posenc::exact::DD omega{mpfr_get_d(w, MPFR_RNDN), 0.0};
      Mp lo, x, s, c, e;
      mpfr_sub_d(lo, w, omega.hi, MPFR_RNDN);
      const posenc::exact::DD om_dd{omega.hi, mpfr_get_d(lo, MPFR_RNDN)};
      for (int64_t pos : positions) {
        mpfr_set_d(x, om_dd.hi, MPFR_RNDN);
        mpfr_add_d(x, x, om_dd.lo, MPFR_RNDN);
        mpfr_mul_si(x, x, static_cast<long>(pos), MPFR_RNDN);
        mpfr_sin_cos(s, c, x, MPFR_RNDN);
        const posenc::exact::SinCos got = posenc::exact::sincos_pos(pos, om_dd);
        for (auto [g, r] : {std::pair<double, mpfr_srcptr>{got.sin, s}, {got.cos, c}}) {
          mpfr_sub_d(e, r, g, MPFR_RNDN);
          const double err = std::fabs(mpfr_get_d(e, MPFR_RNDN));
          const double ref = std::fabs(mpfr_get_d(r, MPFR_RNDN));
          if (ref > 0) worst_rel = std::max(worst_rel, err / ref);
          if (err > 0x1p-50 * ref + 0x1p-70 && ++failures <= 5)
            ADD_FAILURE() << "sincos_pos(" << pos << ", " << om_dd.hi << " + " << om_dd.lo << "): got " << g
                          << ", error " << err;
        }
      }
    }
  }
  EXPECT_EQ(failures, 0);
  std::printf("[ sincos   ] worst relative error 2^%.1f\n", std::log2(worst_rel));
}

// ---- HfCompat really is the float32 recipe
// --------------------------------------------------------------

// At pos = 1e5 the float32 angle float(pos) * float(omega) is off by up to ~1e5 * 2^-24 * omega ~
// 6e-3 * omega (the rounding of omega alone), i.e. thousands of ulps of sin/cos for most columns.
// Requiring some value to be >= 1000 ulp away shows HfCompat is not silently the exact path (and
// Exact is checked alongside).
TEST(ExactMpfr, HfCompatIsNotExactAtLargePositions) {
  const int64_t pos[] = {100000};
  for (SinusoidalPreset preset : {SinusoidalPreset::Vaswani, SinusoidalPreset::Fairseq}) {
    const SinusoidalConfig exact = make_cfg(preset, 10000.0, 128);
    const SinusoidalConfig hf = make_cfg(preset, 10000.0, 128, Precision::HfCompat);
    std::vector<float> a(128), b(128);
    posenc::sinusoidal_table(TensorView::contiguous(a.data(), DType::F32, {1, 128}), exact, pos);
    posenc::sinusoidal_table(TensorView::contiguous(b.data(), DType::F32, {1, 128}), hf, pos);
    const std::deque<Mp> om = ref_frequencies(exact);
    int64_t max_exact = 0, max_hf = 0;
    for (int64_t j = 0; j < 128; ++j) {
      const Column c = posenc_test::ref_column(preset, 128, j);
      const posenc_test::SinCosF r = posenc_test::ref_sincos_f32(om[static_cast<size_t>(c.freq)], 100000);
      const float cr = c.kind == Column::Sin ? r.sin : r.cos;
      max_exact = std::max(max_exact, posenc_test::ulp_steps(a[static_cast<size_t>(j)], cr));
      max_hf = std::max(max_hf, posenc_test::ulp_steps(b[static_cast<size_t>(j)], cr));
    }
    EXPECT_LE(max_exact, 1) << preset_name(preset);
    EXPECT_GE(max_hf, 1000) << preset_name(preset) << ": HfCompat at pos 1e5 is within " << max_hf
                            << " ulp of the exact value; the float32 recipe cannot be";
  }
}

// ---- f16 / bf16 storage
// ---------------------------------------------------------------------------------

// Independent round-to-nearest-even of a float to binary16 / bfloat16 bits, by scaling to an
// integer significand in double (exact: powers of two) and nearbyint (ties to even in the default
// rounding mode).
uint16_t ref_f16_bits(float f) {
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(f));
  if (a == 0) return sign;
  const int e = std::ilogb(a);
  const double q = std::ldexp(1.0, std::max(e, -14) - 10);  // spacing of f16 at a (2^-24 if subnormal)
  const double r = std::nearbyint(a / q) * q;
  if (r >= 65520.0) return sign | 0x7c00;  // unreachable for |values| <= 1, kept for completeness
  if (r == 0) return sign;
  const int e2 = std::ilogb(r);
  if (e2 < -14) return sign | static_cast<uint16_t>(r / 0x1p-24);
  const uint32_t mant = static_cast<uint32_t>(r / std::ldexp(1.0, e2 - 10)) - 1024u;
  return sign | static_cast<uint16_t>((static_cast<uint32_t>(e2 + 15) << 10) | mant);
}

uint16_t ref_bf16_bits(float f) {
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(f));
  if (a == 0) return sign;
  const double q = std::ldexp(1.0, std::max(std::ilogb(a), -126) - 7);
  const float r = static_cast<float>(std::nearbyint(a / q) * q);  // exact: a bf16 value is a float
  return sign | static_cast<uint16_t>(std::bit_cast<uint32_t>(r) >> 16);
}

// The reference converters themselves, on values whose encodings follow from the IEEE formats.
TEST(ExactMpfr, ReferenceConvertersAreRight) {
  EXPECT_EQ(ref_f16_bits(1.0f), 0x3c00);
  EXPECT_EQ(ref_f16_bits(-2.0f), 0xc000);
  EXPECT_EQ(ref_f16_bits(65504.0f), 0x7bff);
  EXPECT_EQ(ref_f16_bits(0x1p-24f), 0x0001);             // smallest subnormal
  EXPECT_EQ(ref_f16_bits(0x1p-25f), 0x0000);             // tie to even: 0
  EXPECT_EQ(ref_f16_bits(0x1.8p-25f), 0x0001);           // above the tie
  EXPECT_EQ(ref_f16_bits(0x1p-14f), 0x0400);             // smallest normal
  EXPECT_EQ(ref_f16_bits(1.0f + 0x1p-11f), 0x3c00);      // tie to even (down)
  EXPECT_EQ(ref_f16_bits(1.0f + 3 * 0x1p-11f), 0x3c02);  // tie to even (up)
  EXPECT_EQ(ref_f16_bits(2.0f - 0x1p-12f), 0x4000);      // rounds into the next binade
  EXPECT_EQ(ref_bf16_bits(1.0f), 0x3f80);
  EXPECT_EQ(ref_bf16_bits(1.0f + 0x1p-8f), 0x3f80);      // tie to even (down)
  EXPECT_EQ(ref_bf16_bits(1.0f + 3 * 0x1p-8f), 0x3f82);  // tie to even (up)
  EXPECT_EQ(ref_bf16_bits(-0.0f), 0x8000);
#if defined(__FLT16_MAX__) && !defined(__clang__)
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int n = 0; n < 100000; ++n) {
    const float f = u(rng) * std::ldexp(1.0f, -static_cast<int>(rng() % 30));
    EXPECT_EQ(ref_f16_bits(f), std::bit_cast<uint16_t>(static_cast<_Float16>(f))) << f;
  }
#endif
}

// f16 / bf16 tables are the fp32 table rounded once to nearest even (sinusoidal.hpp): bitwise
// equality.
TEST(ExactMpfr, HalfPrecisionIsRoundedF32) {
  std::vector<int64_t> positions = {0, 1, 2, 3, 100, 4095, 65535, 100000, 1 << 24, kMaxPos};
  std::mt19937_64 rng(41);
  std::uniform_int_distribution<int64_t> any(0, kMaxPos);
  for (int n = 0; n < 200; ++n) positions.push_back(any(rng));
  const int64_t n_pos = static_cast<int64_t>(positions.size());
  for (SinusoidalConfig cfg :
       {make_cfg(SinusoidalPreset::Vaswani, 10000.0, 64), make_cfg(SinusoidalPreset::Marian, 500000.0, 63),
        make_cfg(SinusoidalPreset::Fairseq, 1234.5, 65)}) {
    for (Precision prec : {Precision::Exact, Precision::HfCompat}) {
      cfg.precision = prec;
      const int64_t d = cfg.dim;
      std::vector<float> f32(static_cast<size_t>(n_pos * d));
      std::vector<uint16_t> f16(f32.size(), 0xffff), bf16(f32.size(), 0xffff);
      posenc::sinusoidal_table(TensorView::contiguous(f32.data(), DType::F32, {n_pos, d}), cfg, positions);
      posenc::sinusoidal_table(TensorView::contiguous(f16.data(), DType::F16, {n_pos, d}), cfg, positions);
      posenc::sinusoidal_table(TensorView::contiguous(bf16.data(), DType::BF16, {n_pos, d}), cfg, positions);
      int bad = 0;
      for (size_t k = 0; k < f32.size() && bad < 5; ++k) {
        if (f16[k] != ref_f16_bits(f32[k]) || bf16[k] != ref_bf16_bits(f32[k])) {
          ++bad;
          ADD_FAILURE() << describe(cfg) << " precision " << static_cast<int>(prec) << " pos "
                        << positions[k / static_cast<size_t>(d)] << " col " << k % d << ": f32 " << f32[k]
                        << " -> f16 0x" << std::hex << f16[k] << " (expected 0x" << ref_f16_bits(f32[k])
                        << "), bf16 0x" << bf16[k] << " (expected 0x" << ref_bf16_bits(f32[k]) << ")"
                        << std::dec;
        }
      }
    }
  }
}

// ---- output views
// ---------------------------------------------------------------------------------------

constexpr uint32_t kSentinel32 = 0x7fc0dead;  // a NaN no kernel produces
constexpr uint16_t kSentinel16 = 0x7e5a;

template <typename T>
T sentinel() {
  if constexpr (sizeof(T) == 4)
    return std::bit_cast<T>(kSentinel32);
  else
    return kSentinel16;
}

template <typename T>
uint32_t bits_of(T v) {
  if constexpr (sizeof(T) == 4)
    return std::bit_cast<uint32_t>(v);
  else
    return v;
}

// Writes the table through a strided view into a buffer pre-filled with a sentinel; the view's
// elements must equal the contiguous table bitwise and every other element must keep the sentinel.
// The view is given by (offset of element [0, 0], stride of n, stride of j) into a buffer of
// buf_size.
template <typename T>
void check_strided(const SinusoidalConfig& cfg, DType dt, std::span<const int64_t> positions,
                   int64_t buf_size, int64_t offset, int64_t s_n, int64_t s_j, const char* what) {
  const int64_t n_pos = static_cast<int64_t>(positions.size()), d = cfg.dim;
  std::vector<T> ref(static_cast<size_t>(n_pos * d));
  posenc::sinusoidal_table(TensorView::contiguous(ref.data(), dt, {n_pos, d}), cfg, positions);
  std::vector<T> buf(static_cast<size_t>(buf_size), sentinel<T>());
  posenc::sinusoidal_table(TensorView::strided(buf.data() + offset, dt, {n_pos, d}, {s_n, s_j}), cfg,
                           positions);
  std::vector<bool> in_view(buf.size(), false);
  int bad = 0;
  for (int64_t n = 0; n < n_pos; ++n) {
    for (int64_t j = 0; j < d; ++j) {
      const int64_t k = offset + n * s_n + j * s_j;
      in_view[static_cast<size_t>(k)] = true;
      if (bits_of(buf[static_cast<size_t>(k)]) != bits_of(ref[static_cast<size_t>(n * d + j)]) && ++bad <= 5)
        ADD_FAILURE() << what << " " << describe(cfg) << " dtype " << posenc::dtype_name(dt) << ": element ["
                      << n << ", " << j << "] differs from the contiguous table";
    }
  }
  for (size_t k = 0; k < buf.size(); ++k)
    if (!in_view[k] && bits_of(buf[k]) != bits_of(sentinel<T>()) && ++bad <= 10)
      ADD_FAILURE() << what << " " << describe(cfg) << " dtype " << posenc::dtype_name(dt)
                    << ": buffer element " << k << " outside the view was written";
}

template <typename T>
void check_all_views(const SinusoidalConfig& cfg, DType dt, std::span<const int64_t> positions) {
  const int64_t n = static_cast<int64_t>(positions.size()), d = cfg.dim;
  check_strided<T>(cfg, dt, positions, 2 * n * d, 0, 2 * d, 1, "every other row");
  check_strided<T>(cfg, dt, positions, n * d, 0, 1, n, "transposed");
  check_strided<T>(cfg, dt, positions, n * d, (n - 1) * d, -d, 1, "rows reversed");
  check_strided<T>(cfg, dt, positions, 3 * n * d + 5, 2, 3 * d, 3, "column stride 3");
  check_strided<T>(cfg, dt, positions, n * d, d - 1, d, -1, "columns reversed");
}

TEST(ExactMpfr, StridedOutputViews) {
  std::vector<int64_t> positions;
  for (int64_t p = 0; p < 40; ++p) positions.push_back(p * 997 % 5000);
  positions.push_back(kMaxPos);
  for (SinusoidalConfig cfg :
       {make_cfg(SinusoidalPreset::Vaswani, 10000.0, 64), make_cfg(SinusoidalPreset::Fairseq, 10000.0, 65),
        make_cfg(SinusoidalPreset::Marian, 1234.5, 33)}) {
    check_all_views<float>(cfg, DType::F32, positions);
    check_all_views<uint16_t>(cfg, DType::F16, positions);
    check_all_views<uint16_t>(cfg, DType::BF16, positions);
    cfg.precision = Precision::HfCompat;
    check_all_views<float>(cfg, DType::F32, positions);
  }
}

// The three entry points of sinusoidal_table give the same values (positions, first + n, 0 .. N -
// 1).
TEST(ExactMpfr, EntryPointsAgree) {
  const SinusoidalConfig cfg = make_cfg(SinusoidalPreset::Vaswani, 10000.0, 64);
  const int64_t n_pos = 50, d = 64;
  for (int64_t first : {int64_t{0}, int64_t{12345}, kMaxPos - n_pos + 1}) {
    std::vector<int64_t> positions;
    for (int64_t n = 0; n < n_pos; ++n) positions.push_back(first + n);
    std::vector<float> a(static_cast<size_t>(n_pos * d)), b(a.size());
    posenc::sinusoidal_table(TensorView::contiguous(a.data(), DType::F32, {n_pos, d}), cfg, positions);
    posenc::sinusoidal_table(TensorView::contiguous(b.data(), DType::F32, {n_pos, d}), cfg, first);
    for (size_t k = 0; k < a.size(); ++k)
      ASSERT_EQ(std::bit_cast<uint32_t>(a[k]), std::bit_cast<uint32_t>(b[k]))
          << "first=" << first << " element " << k;
    if (first == 0) {
      const std::vector<float> c = posenc::sinusoidal_table(cfg, n_pos);
      ASSERT_EQ(c.size(), a.size());
      for (size_t k = 0; k < a.size(); ++k)
        ASSERT_EQ(std::bit_cast<uint32_t>(a[k]), std::bit_cast<uint32_t>(c[k])) << "element " << k;
    }
  }
}

}  // namespace
