// src/exact/dd.hpp — double-double arithmetic (about 106 significant bits), for exact angles.
//
// A DD value is hi + lo with |lo| <= ulp(hi) / 2. The algorithms are the classical error-free
// transformations (Knuth's two-sum, Dekker's product via fma); each operation below has a relative error
// of a few units of 2^-106. Requires IEEE double arithmetic without value-changing optimisations: the
// core is compiled with -ffp-contract=off and never with -ffast-math.
#pragma once

#include <cmath>

namespace posenc::exact {

struct DD {
  double hi = 0, lo = 0;
};

inline DD two_sum(double a, double b) {
  const double s = a + b;
  const double bb = s - a;
  return {s, (a - (s - bb)) + (b - bb)};
}

inline DD quick_two_sum(double a, double b) {  // requires |a| >= |b| (or a == 0)
  const double s = a + b;
  return {s, b - (s - a)};
}

inline DD two_prod(double a, double b) {
  const double p = a * b;
  return {p, std::fma(a, b, -p)};
}

inline DD operator-(DD a) {
  return {-a.hi, -a.lo};
}

inline DD operator+(DD a, DD b) {
  DD s = two_sum(a.hi, b.hi);
  const DD t = two_sum(a.lo, b.lo);
  s.lo += t.hi;
  s = quick_two_sum(s.hi, s.lo);
  s.lo += t.lo;
  return quick_two_sum(s.hi, s.lo);
}

inline DD operator-(DD a, DD b) {
  return a + (-b);
}

inline DD operator*(DD a, double b) {
  DD p = two_prod(a.hi, b);
  p.lo += a.lo * b;
  return quick_two_sum(p.hi, p.lo);
}

inline DD operator*(DD a, DD b) {
  DD p = two_prod(a.hi, b.hi);
  p.lo += a.hi * b.lo + a.lo * b.hi;
  return quick_two_sum(p.hi, p.lo);
}

inline DD operator/(DD a, double b) {
  const double q1 = a.hi / b;
  const DD p = two_prod(q1, b);
  DD s = two_sum(a.hi, -p.hi);
  s.lo -= p.lo;
  s.lo += a.lo;
  const double q2 = (s.hi + s.lo) / b;
  return quick_two_sum(q1, q2);
}

inline DD ldexp(DD a, int e) {
  return {std::ldexp(a.hi, e), std::ldexp(a.lo, e)};
}

// exp(a) to about 2^-96 relative (the 8 squarings amplify the series' 2^-106 by 2^8), for a <= 709
// (larger a returns +inf, though exp(a) is finite up to 709.78; posenc only calls it with a <= 0).
DD exp(DD a);
// log(a) for a > 0 (any finite double-double), to about 2^-95 max(|log a|, 1) absolute (relative
// near a = 1 it is only ~2^-67, but the absolute error, which is what the frequencies need, stays
// ~2^-100).
DD log(DD a);

}  // namespace posenc::exact
