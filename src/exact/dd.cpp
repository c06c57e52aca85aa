// Double-double exp and log; see dd.hpp for the error bounds.
#include "exact/dd.hpp"

namespace posenc::exact {

namespace {
constexpr DD kLn2{0.6931471805599453, 2.3190468138462996e-17};
constexpr int kHalvings = 8;  // |r| <= ln2 / 2 / 2^8 < 1.4e-3 before the series
constexpr int kTerms = 11;    // r^12 / 12! < 1e-43: far below 2^-106 relative to expm1(r)
}  // namespace

DD exp(DD a) {
  if (a.hi > 709.0) return {HUGE_VAL, 0.0};
  if (a.hi < -745.0) return {0.0, 0.0};
  const double k = std::nearbyint(a.hi / kLn2.hi);
  DD r = ldexp(a - kLn2 * k, -kHalvings);
  // expm1(r) = r + r^2/2! + ... by accumulating terms t_n = t_{n-1} * r / n.
  DD s = r, t = r;
  for (int n = 2; n <= kTerms; ++n) {
    t = (t * r) / static_cast<double>(n);
    s = s + t;
  }
  // expm1(2x) = 2 expm1(x) + expm1(x)^2, undoing the halvings without losing the small value.
  for (int i = 0; i < kHalvings; ++i) s = s * 2.0 + s * s;
  return ldexp(DD{1.0, 0.0} + s, static_cast<int>(k));
}

DD log(DD a) {
  // log(a) = log(m) + e ln2 with a = m 2^e, m in [0.5, 1): keeps exp(-y0) below away from underflow
  // (for a > 2^965, exp(-log a) would be a subnormal with too few bits).
  int e = 0;
  std::frexp(a.hi, &e);
  const DD m = ldexp(a, -e);
  // y1 = y0 + m * exp(-y0) - 1 doubles the 53 correct bits of y0 = log(m.hi).
  const double y0 = std::log(m.hi);
  const DD t = m * exp(DD{-y0, 0.0}) - DD{1.0, 0.0};
  return (DD{y0, 0.0} + t) + kLn2 * static_cast<double>(e);
}

}  // namespace posenc::exact
