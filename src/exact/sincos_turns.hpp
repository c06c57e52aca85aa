// src/exact/sincos_turns.hpp — sin and cos of pos * omega, exact to float32 rounding for pos in
// [0, 2^31 - 1], in plain double arithmetic that compiles the same for the CPU (scalar and, op for
// op, the Highway kernels of src/cpu/sincos_simd.cpp) and for CUDA (__host__ __device__), so every
// path gives the same bits.
//
// The frequency is given in quarter turns, w = omega * 2/pi as a double-double (quarter_turns(); relative
// error <= 2^-97 with omega's 2^-98). Then, in double arithmetic with one fma-exact product per step:
//   t = pos * w               double-double (t < 2^31 * w; absolute error <= t * 2^-97 <= 2^-66 for w < 1)
//   k = nearest integer to t  (ties to even: t.hi + 1.5 * 2^52 - 1.5 * 2^52, exact for |t| < 2^51),
//                             and its quadrant q = k mod 4, read from the low bits of t.hi + 1.5 * 2^52
//   f = t - k                 |f| <= 1/2; t.hi - k is exact (Sterbenz), the tail added with fast two-sum
//   r = f * pi/2              double-double product with pi/2 as a double-double (|r| <= pi/4)
//   sin r.hi, cos r.hi        Taylor polynomials to r^17 / r^18 (truncation < 2^-62 relative on
//                             |r| <= pi/4), then sin r = sin r.hi + cos r.hi * r.lo and
//                             cos r = cos r.hi - sin r.hi * r.lo
//   quadrant                  (s, c), (c, -s), (-s, -c), (-c, s) for q = 0 .. 3
// The double results carry a relative error of a few 2^-53 (near a zero of sin or cos, where the
// angle's 2^-66 absolute error counts, ~2^-45: positions <= 2^31 bring pos * omega no closer than ~1e-10
// to a multiple of pi/2); rounding them to float gives the correctly rounded float except within that
// distance of a rounding midpoint, so never more than 1 ulp off (tests/test_exact_mpfr.cpp checks
// ~10 million values against MPFR; tests/test_sincos_simd.cpp checks every SIMD target against this).
//
// Requires IEEE double arithmetic without contraction (the core builds with -ffp-contract=off; CUDA
// code that includes this must build with -fmad=false) and round-to-nearest.
#pragma once

#include <cstdint>
#include <cstring>

#include "exact/dd.hpp"

#if defined(__CUDACC__)
#define POSENC_HD __host__ __device__
#else
#define POSENC_HD
#endif

namespace posenc::exact {

// 2/pi and pi/2 as double-doubles (hi = the nearest double, lo = the nearest double of the rest).
inline constexpr double kTwoOverPiHi = 0x1.45f306dc9c883p-1, kTwoOverPiLo = -0x1.6b01ec5417056p-55;
inline constexpr double kPiOverTwoHi = 0x1.921fb54442d18p+0, kPiOverTwoLo = 0x1.1a62633145c07p-54;
inline constexpr double kRoundMagic = 0x1.8p52;  // x + 1.5 * 2^52 - 1.5 * 2^52 rounds x to an integer

// Taylor coefficients: kSinC[j] = (-1)^(j+1) / (2j + 3)!, kCosC[j] = (-1)^j / (2j + 4)! (the
// factorials are exact doubles up to 18!, so each coefficient is correctly rounded).
inline constexpr double kSinC[8] = {
    -1.0 / 6.0,        1.0 / 120.0,        -1.0 / 5040.0,          1.0 / 362880.0,
    -1.0 / 39916800.0, 1.0 / 6227020800.0, -1.0 / 1307674368000.0, 1.0 / 355687428096000.0};
inline constexpr double kCosC[8] = {
    1.0 / 24.0,        -1.0 / 720.0,         1.0 / 40320.0,          -1.0 / 3628800.0,
    1.0 / 479001600.0, -1.0 / 87178291200.0, 1.0 / 20922789888000.0, -1.0 / 6402373705728000.0};

// omega (double-double) in quarter turns: omega * 2/pi.
inline DD quarter_turns(DD omega) {
  return omega * DD{kTwoOverPiHi, kTwoOverPiLo};
}

POSENC_HD inline double fma_exact(double a, double b, double c) {
#if defined(__CUDA_ARCH__)
  return ::fma(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

POSENC_HD inline uint64_t low_bits(double x) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint64_t>(__double_as_longlong(x));
#else
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}

struct SinCosD {
  double sin, cos;
};

// sin and cos of pos * omega, w = quarter_turns(omega) = {w_hi, w_lo}; pos an integer in
// [0, 2^31 - 1] as a double, w_hi < 2^19. The Highway kernels repeat these operations in this order.
POSENC_HD inline SinCosD sincos_turns(double pos, double w_hi, double w_lo) {
  // t = pos * w
  const double p = pos * w_hi;
  const double pe = fma_exact(pos, w_hi, -p) + pos * w_lo;
  const double t_hi = p + pe;
  const double t_lo = pe - (t_hi - p);
  // k and its quadrant
  const double big = t_hi + kRoundMagic;
  const double k = big - kRoundMagic;
  const uint64_t q = low_bits(big) & 3u;
  // f = t - k
  const double f0 = t_hi - k;
  const double f_hi = f0 + t_lo;
  const double f_lo = t_lo - (f_hi - f0);
  // r = f * pi/2
  const double r0 = f_hi * kPiOverTwoHi;
  const double re = fma_exact(f_hi, kPiOverTwoHi, -r0) + (f_hi * kPiOverTwoLo + f_lo * kPiOverTwoHi);
  const double r_hi = r0 + re;
  const double r_lo = re - (r_hi - r0);
  // sin and cos of r
  const double z = r_hi * r_hi;
  // Local copies: CUDA device code cannot index namespace-scope constexpr arrays (same values).
  constexpr double sc[8] = {kSinC[0], kSinC[1], kSinC[2], kSinC[3], kSinC[4], kSinC[5], kSinC[6], kSinC[7]};
  constexpr double cc[8] = {kCosC[0], kCosC[1], kCosC[2], kCosC[3], kCosC[4], kCosC[5], kCosC[6], kCosC[7]};
  double ps = sc[7], pc = cc[7];
  for (int j = 6; j >= 0; --j) {
    ps = ps * z + sc[j];
    pc = pc * z + cc[j];
  }
  const double s0 = r_hi + (r_hi * z) * ps;
  const double c0 = (1.0 - 0.5 * z) + (z * z) * pc;
  const double s = s0 + c0 * r_lo;
  const double c = c0 - s0 * r_lo;
  // quadrant: swap for odd q; sin negated for q = 2, 3; cos for q = 1, 2
  const double sw_s = (q & 1u) != 0 ? c : s;
  const double sw_c = (q & 1u) != 0 ? s : c;
  return {(q & 2u) != 0 ? -sw_s : sw_s, ((q + 1u) & 2u) != 0 ? -sw_c : sw_c};
}

}  // namespace posenc::exact
