// tests/mpfr_reference.hpp — an independent high-precision reference for the sinusoidal encodings.
//
// Everything here is re-derived from the formulas documented in posenc/sinusoidal.hpp, in MPFR at
// kPrec bits, without calling posenc: the frequencies omega_i, the column layout of each preset,
// correctly rounded fp32 values of sin/cos(pos * omega_i), and ulp distances between floats.
//
// Correct rounding: sin/cos are evaluated correctly rounded to kPrec = 256 bits and then rounded
// once more to fp32 (mpfr_get_flt, round to nearest even). The double rounding can differ from a
// single rounding only when the 256-bit value sits exactly on an fp32 midpoint, i.e. when the real
// value lies within 2^-256 (relative) of one: for these transcendental values that does not happen
// in any test here.
#pragma once

#include <mpfr.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "posenc/sinusoidal.hpp"

namespace posenc_test {

inline constexpr mpfr_prec_t kPrec = 256;

// RAII wrapper of one mpfr_t at kPrec bits (or a given precision).
class Mp {
 public:
  explicit Mp(mpfr_prec_t prec = kPrec) { mpfr_init2(v_, prec); }
  Mp(const Mp&) = delete;
  Mp& operator=(const Mp&) = delete;
  ~Mp() { mpfr_clear(v_); }
  mpfr_ptr get() { return v_; }
  mpfr_srcptr get() const { return v_; }
  operator mpfr_ptr() { return v_; }
  operator mpfr_srcptr() const { return v_; }

 private:
  mpfr_t v_;
};

// ---- frequencies
// ----------------------------------------------------------------------------------------

// Number of distinct frequencies of the layout (see the layout table in posenc/sinusoidal.hpp).
inline int64_t ref_num_frequencies(posenc::SinusoidalPreset preset, int64_t d) {
  switch (preset) {
    case posenc::SinusoidalPreset::Vaswani:
      return d / 2;
    case posenc::SinusoidalPreset::Marian:
      return (d + 1) / 2;  // ceil(d/2) sines
    case posenc::SinusoidalPreset::Fairseq:
    case posenc::SinusoidalPreset::Tensor2Tensor:
      return d / 2;
  }
  std::abort();
}

// out = omega_i of the preset at kPrec bits:
//   Vaswani, Marian:        base^(-2i/d)
//   Fairseq, Tensor2Tensor: exp(-i ln(base) / max(h - 1, 1)), h = floor(d/2)
inline void ref_frequency(mpfr_ptr out, posenc::SinusoidalPreset preset, double base, int64_t d, int64_t i) {
  Mp b, t;
  mpfr_set_d(b, base, MPFR_RNDN);  // base is a double: exact
  if (preset == posenc::SinusoidalPreset::Vaswani || preset == posenc::SinusoidalPreset::Marian) {
    mpfr_set_si(t, -2 * i, MPFR_RNDN);
    mpfr_div_si(t, t, d, MPFR_RNDN);
    mpfr_pow(out, b, t, MPFR_RNDN);
  } else {
    const int64_t h = d / 2;
    mpfr_log(t, b, MPFR_RNDN);
    mpfr_mul_si(t, t, -i, MPFR_RNDN);
    mpfr_div_si(t, t, std::max<int64_t>(h - 1, 1), MPFR_RNDN);
    mpfr_exp(out, t, MPFR_RNDN);
  }
}

// ---- column layout
// --------------------------------------------------------------------------------------

struct Column {
  enum Kind { Sin, Cos, Zero } kind;
  int64_t freq;  // frequency index i (unused for Zero)
};

// What column j of a row of width d holds, per the layout table in posenc/sinusoidal.hpp.
inline Column ref_column(posenc::SinusoidalPreset preset, int64_t d, int64_t j) {
  switch (preset) {
    case posenc::SinusoidalPreset::Vaswani:  // [s0 c0 s1 c1 ...]
      return {j % 2 == 0 ? Column::Sin : Column::Cos, j / 2};
    case posenc::SinusoidalPreset::Marian: {  // [s0 .. s_{ceil(d/2)-1} | c0 .. c_{floor(d/2)-1}]
      const int64_t h = (d + 1) / 2;
      return j < h ? Column{Column::Sin, j} : Column{Column::Cos, j - h};
    }
    case posenc::SinusoidalPreset::Fairseq:
    case posenc::SinusoidalPreset::Tensor2Tensor: {  // [s0 .. s_{h-1} | c0 .. c_{h-1} | 0?]
      const int64_t h = d / 2;
      if (j < h) return {Column::Sin, j};
      if (j < 2 * h) return {Column::Cos, j - h};
      return {Column::Zero, 0};
    }
  }
  std::abort();
}

// ---- correctly rounded values
// ---------------------------------------------------------------------------

struct SinCosF {
  float sin, cos;
};

// Correctly rounded fp32 sin and cos of pos * omega (omega at kPrec bits).
inline SinCosF ref_sincos_f32(mpfr_srcptr omega, int64_t pos) {
  Mp x, s, c;
  mpfr_mul_si(x, omega, static_cast<long>(pos), MPFR_RNDN);
  mpfr_sin_cos(s, c, x, MPFR_RNDN);
  return {mpfr_get_flt(s, MPFR_RNDN), mpfr_get_flt(c, MPFR_RNDN)};
}

// ---- float distances
// ------------------------------------------------------------------------------------

// The spacing of floats at |x| (the ulp of x as a float): 2^(e - 23) for 2^e <= |x| < 2^(e+1), and
// the subnormal spacing 2^-149 below 2^-126 and at 0.
inline double ulp_f32(float x) {
  const float a = std::fabs(x);
  if (a < 0x1p-126f) return 0x1p-149;
  return std::ldexp(1.0, std::ilogb(a) - 23);
}

// Position of a float on the line of all floats (+0 and -0 both 0): the difference of two such
// positions is the number of floats between them (ulp steps), also across 0 and binade boundaries.
inline int64_t float_ordinal(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const int64_t m = static_cast<int64_t>(u & 0x7fffffffu);
  return (u >> 31) ? -m : m;
}

inline int64_t ulp_steps(float a, float b) {
  return std::llabs(float_ordinal(a) - float_ordinal(b));
}

// ---- positions
// ------------------------------------------------------------------------------------------

// Numerators p <= max_p of the continued-fraction convergents p/q of x = (pi/2) / omega: the
// positions that bring p * omega closest to a multiple q * pi/2 (zeros of sin or cos), the hardest
// cases for range reduction. x is formed at kPrec bits, plenty for denominators below 2^31.
inline std::vector<int64_t> near_multiples_of_half_pi(mpfr_srcptr omega, int64_t max_p) {
  std::vector<int64_t> out;
  Mp x, fl, one;
  mpfr_const_pi(x, MPFR_RNDN);
  mpfr_div_2ui(x, x, 1, MPFR_RNDN);
  mpfr_div(x, x, omega, MPFR_RNDN);
  // p_{-2} = 0, p_{-1} = 1; p_n = a_n p_{n-1} + p_{n-2}.
  int64_t p2 = 0, p1 = 1;
  for (int n = 0; n < 64; ++n) {
    mpfr_floor(fl, x);
    if (mpfr_cmp_si(fl, max_p) > 0) break;
    const int64_t a = mpfr_get_si(fl, MPFR_RNDN);
    if (a != 0 && p1 > (max_p - p2) / a) break;
    const int64_t p = a * p1 + p2;
    if (p > max_p) break;
    if (p > 0) out.push_back(p);
    p2 = p1;
    p1 = p;
    mpfr_sub(x, x, fl, MPFR_RNDN);
    if (mpfr_zero_p(x)) break;
    mpfr_ui_div(x, 1, x, MPFR_RNDN);
  }
  return out;
}

}  // namespace posenc_test
