// src/exact/sincos.hpp — sin and cos of pos * omega, exact to float32 rounding for pos in [0, 2^31
// - 1].
//
// omega is a double-double frequency (relative error <= 2^-98). The angle x = pos * omega is formed
// in double-double (absolute error <= 2^31 * 2^-97 = 2^-66), reduced by pi/2 held in three doubles
// (k * pi/2 is subtracted exactly with two_prod), and sin/cos of the reduced r = r.hi + r.lo (|r|
// <= pi/4) are sin(r.hi) + cos(r.hi) r.lo and cos(r.hi) - sin(r.hi) r.lo in double. The double
// results carry a relative error of a few 2^-53, rising to ~2^-45 next to zeros of sin/cos (the
// nearest a position p <= 2^31 brings p * omega to a multiple of pi/2 is ~1e-10, so 2^-66 of angle
// error stays far below fp32's 2^-24 of it); rounding them to float gives the correctly rounded
// float except within ~2^-45 of a rounding midpoint, and so never more than 1 ulp off
// (tests/test_exact_mpfr.cpp: 0 of ~9.7 million values off at all).
#pragma once

#include <cmath>
#include <cstdint>

#include "exact/dd.hpp"

namespace posenc::exact {

struct SinCos {
  double sin, cos;
};

inline SinCos sincos_pos(int64_t pos, DD omega) {
  constexpr double kPio2_1 = 1.5707963267948966;
  constexpr double kPio2_2 = 6.123233995736766e-17;
  constexpr double kPio2_3 = -1.4973849048591698e-33;
  constexpr double kTwoOverPi = 0.6366197723675814;
  const DD x = omega * static_cast<double>(pos);
  const double k = std::nearbyint(x.hi * kTwoOverPi);
  DD r = x - two_prod(k, kPio2_1);
  r = r - two_prod(k, kPio2_2);
  r = r - DD{k * kPio2_3, 0.0};
  const double s0 = std::sin(r.hi), c0 = std::cos(r.hi);
  const double s = s0 + c0 * r.lo, c = c0 - s0 * r.lo;
  switch (static_cast<int64_t>(k) & 3) {
    case 0:
      return {s, c};
    case 1:
      return {c, -s};
    case 2:
      return {-s, -c};
    default:
      return {-c, s};
  }
}

}  // namespace posenc::exact
