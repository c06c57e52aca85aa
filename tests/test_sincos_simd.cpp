// Exact sin/cos at speed: exact::sincos_turns (src/exact/sincos_turns.hpp) against MPFR, including
// the hardest positions (near multiples of pi/2, where the angle's error matters most), and its
// vectorised form (src/cpu/sincos_simd.cpp) against it, bit for bit, on every Highway target this
// binary was compiled for and this CPU supports.
#include <gtest/gtest.h>
#include <hwy/targets.h>
#include <mpfr.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/sincos_simd.h"
#include "exact/dd.hpp"
#include "exact/sincos_turns.hpp"

namespace {

using posenc::exact::DD;

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

struct Freqs {
  std::vector<double> hi, lo;
  std::vector<DD> omega;
  void add(DD w) {
    omega.push_back(w);
    const DD q = posenc::exact::quarter_turns(w);
    hi.push_back(q.hi);
    lo.push_back(q.lo);
  }
};

// RoPE-like frequencies base^(-2i/r) in double-double, and random ones over (2^-30, 2^16].
Freqs make_freqs(std::mt19937_64& rng, int64_t n) {
  Freqs f;
  std::uniform_real_distribution<double> e(-30.0, 16.0);
  for (int64_t i = 0; i < n; ++i) {
    if (i % 2 == 0) {
      const DD ln = posenc::exact::log(DD{10000.0, 0.0});
      f.add(posenc::exact::exp(-((ln * static_cast<double>(i)) / static_cast<double>(n))));
    } else {
      const double w = std::exp2(e(rng));
      f.add(DD{w, std::ldexp(w, -60) * (static_cast<double>(rng() % 1000) / 1000.0)});
    }
  }
  return f;
}

std::vector<int64_t> make_positions(std::mt19937_64& rng, int64_t n) {
  std::vector<int64_t> p = {0, 1, 2, 3, 4095, 65535, 1 << 20, 2147483647, 2147483646};
  std::uniform_int_distribution<int64_t> any(0, 2147483647), small(0, 70000);
  while (static_cast<int64_t>(p.size()) < n) p.push_back(p.size() % 2 ? any(rng) : small(rng));
  return p;
}

void scalar_rows(const std::vector<int64_t>& pos, const Freqs& f, double scale, std::vector<float>& s,
                 std::vector<float>& c) {
  const size_t n = f.hi.size();
  s.assign(pos.size() * n, 0.0f);
  c.assign(pos.size() * n, 0.0f);
  for (size_t u = 0; u < pos.size(); ++u)
    for (size_t i = 0; i < n; ++i) {
      const auto r = posenc::exact::sincos_turns(static_cast<double>(pos[u]), f.hi[i], f.lo[i]);
      s[u * n + i] = static_cast<float>(r.sin * scale);
      c[u * n + i] = static_cast<float>(r.cos * scale);
    }
}

// Every compiled target that this CPU runs: the dispatch must switch (sincos_simd_target) and each
// must give the scalar function's bits, for widths that leave every possible vector tail.
TEST(SinCosSimd, EveryTargetMatchesTheScalarFunctionBitForBit) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  std::mt19937_64 rng(7);
  const std::vector<int64_t> pos = make_positions(rng, 300);
  for (int64_t n : {1, 2, 3, 5, 8, 9, 17, 64, 67}) {
    const Freqs f = make_freqs(rng, n);
    for (double scale : {1.0, 1.0986122886681098, 0.25}) {
      std::vector<float> rs, rc;
      scalar_rows(pos, f, scale, rs, rc);
      for (int64_t target : targets) {
        hwy::SetSupportedTargetsForTest(target);
        ASSERT_EQ(posenc::detail::cpu::sincos_simd_target(), target) << hwy::TargetName(target);
        // Rows 3 .. end - 2 only, with a row stride wider than n: untouched elements stay poisoned.
        const int64_t ld = n + 3, U = static_cast<int64_t>(pos.size());
        std::vector<float> s(static_cast<size_t>(U * ld), -7.0f), c(s.size(), -7.0f);
        posenc::detail::cpu::sincos_rows_simd(pos.data(), 3, U - 2, f.hi.data(), f.lo.data(), n, scale,
                                              s.data(), c.data(), ld);
        for (int64_t u = 0; u < U; ++u)
          for (int64_t i = 0; i < ld; ++i) {
            const size_t k = static_cast<size_t>(u * ld + i);
            const bool written = u >= 3 && u < U - 2 && i < n;
            const float ws = written ? rs[static_cast<size_t>(u * n + i)] : -7.0f;
            const float wc = written ? rc[static_cast<size_t>(u * n + i)] : -7.0f;
            ASSERT_EQ(bits(s[k]), bits(ws)) << hwy::TargetName(target) << " n " << n << " pos " << pos[u]
                                            << " i " << i << " sin " << s[k] << " want " << ws;
            ASSERT_EQ(bits(c[k]), bits(wc)) << hwy::TargetName(target) << " n " << n << " pos " << pos[u]
                                            << " i " << i << " cos " << c[k] << " want " << wc;
          }
      }
      hwy::SetSupportedTargetsForTest(0);
    }
  }
}

// The correctly rounded float of sin / cos (pos * omega), omega = hi + lo exactly, by MPFR.
struct Mpfr {
  mpfr_t x, y, t;
  Mpfr() { mpfr_inits2(320, x, y, t, static_cast<mpfr_ptr>(nullptr)); }
  ~Mpfr() { mpfr_clears(x, y, t, static_cast<mpfr_ptr>(nullptr)); }
  void angle(int64_t pos, DD w) {
    mpfr_set_d(x, w.hi, MPFR_RNDN);
    mpfr_add_d(x, x, w.lo, MPFR_RNDN);  // exact at 320 bits
    mpfr_mul_si(x, x, static_cast<long>(pos), MPFR_RNDN);
  }
  float sin_f() {
    mpfr_sin(y, x, MPFR_RNDN);
    return mpfr_get_flt(y, MPFR_RNDN);
  }
  float cos_f() {
    mpfr_cos(y, x, MPFR_RNDN);
    return mpfr_get_flt(y, MPFR_RNDN);
  }
};

// The hardest positions for omega = 1: numerators p of the continued-fraction convergents p/q of
// k pi/2 (p is then within ~1/q of q pi/2: cos or sin nearly 0, where only the absolute error of
// the angle counts), and their small multiples.
std::vector<int64_t> near_quarter_turns(Mpfr& m) {
  std::vector<int64_t> out;
  mpfr_const_pi(m.t, MPFR_RNDN);
  mpfr_div_ui(m.t, m.t, 2, MPFR_RNDN);  // t = pi/2
  // Continued fraction of pi/2: h_k = a_k h_{k-1} + h_{k-2}.
  mpfr_set(m.y, m.t, MPFR_RNDN);
  int64_t h1 = 1, h2 = 0;
  for (int k = 0; k < 40; ++k) {
    mpfr_floor(m.x, m.y);
    const auto a = static_cast<int64_t>(mpfr_get_si(m.x, MPFR_RNDN));
    const int64_t h = a * h1 + h2;
    if (h > 2147483647) break;
    for (int64_t mult = 1; mult <= 3 && h * mult <= 2147483647; ++mult) out.push_back(h * mult);
    h2 = h1;
    h1 = h;
    mpfr_sub(m.y, m.y, m.x, MPFR_RNDN);
    if (mpfr_zero_p(m.y)) break;
    mpfr_ui_div(m.y, 1, m.y, MPFR_RNDN);
  }
  return out;
}

TEST(SinCosTurns, CorrectlyRoundedAgainstMpfr) {
  Mpfr m;
  std::mt19937_64 rng(11);
  const std::vector<int64_t> hard = near_quarter_turns(m);
  ASSERT_GE(hard.size(), 15u);
  int64_t checked = 0, off = 0, worst_ulps = 0;
  auto check = [&](int64_t pos, DD w) {
    const DD q = posenc::exact::quarter_turns(w);
    const auto r = posenc::exact::sincos_turns(static_cast<double>(pos), q.hi, q.lo);
    m.angle(pos, w);
    const float want[2] = {m.sin_f(), m.cos_f()};
    const float got[2] = {static_cast<float>(r.sin), static_cast<float>(r.cos)};
    for (int j = 0; j < 2; ++j) {
      ++checked;
      if (bits(got[j]) != bits(want[j])) {
        ++off;
        const auto d = static_cast<int64_t>(bits(got[j])) - static_cast<int64_t>(bits(want[j]));
        worst_ulps = std::max<int64_t>(worst_ulps, d < 0 ? -d : d);
        ADD_FAILURE() << "pos " << pos << " omega " << w.hi << (j ? " cos " : " sin ") << got[j] << " want "
                      << want[j];
      }
    }
  };
  for (int64_t p : hard) check(p, DD{1.0, 0.0});
  // Random omegas over the range RoPE and the sinusoidal tables use, positions over [0, 2^31).
  std::uniform_real_distribution<double> e(-30.0, 16.0);
  std::uniform_int_distribution<int64_t> any(0, 2147483647), small(0, 200000);
  for (int k = 0; k < 300000; ++k) {
    const double w = std::exp2(e(rng));
    const int64_t pos = k % 2 ? any(rng) : small(rng);
    check(pos, DD{w, 0.0});
  }
  std::printf("checked %lld values, %lld not correctly rounded (worst %lld ulp)\n",
              static_cast<long long>(checked), static_cast<long long>(off),
              static_cast<long long>(worst_ulps));
  EXPECT_GE(checked, 500000);
  EXPECT_EQ(off, 0);
}

}  // namespace
