// src/cpu/sincos_simd.cpp — exact::sincos_turns on vectors of doubles, compiled once per Highway target
// (foreach_target.h re-includes this file) and dispatched at run time. See sincos_simd.h for the
// contract: the bits of the scalar function on every target. Frequencies are vectorised (one row's
// consecutive i), the position is broadcast; the last n mod lanes frequencies use the scalar function.
#include "cpu/sincos_simd.h"

#include <cstddef>
#include <cstdint>

#include "exact/sincos_turns.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/sincos_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace posenc::detail::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DD_ = hn::ScalableTag<double>;
using DU_ = hn::RebindToUnsigned<DD_>;
using DF_ = hn::Rebind<float, DD_>;
using VD = hn::Vec<DD_>;

// a * b - p exactly, for p = fl(a * b) (no overflow or underflow in the ranges used here).
HWY_INLINE VD ProductError(VD a, VD b, VD p) {
#if HWY_NATIVE_FMA
  return hn::MulSub(a, b, p);
#else
  // Dekker: split into 26-bit halves with 2^27 + 1; each partial product is exact.
  const DD_ d;
  const VD split = hn::Set(d, 134217729.0);
  const VD ca = hn::Mul(a, split), cb = hn::Mul(b, split);
  const VD ah = hn::Sub(ca, hn::Sub(ca, a)), bh = hn::Sub(cb, hn::Sub(cb, b));
  const VD al = hn::Sub(a, ah), bl = hn::Sub(b, bh);
  VD e = hn::Sub(hn::Mul(ah, bh), p);
  e = hn::Add(e, hn::Mul(ah, bl));
  e = hn::Add(e, hn::Mul(al, bh));
  return hn::Add(e, hn::Mul(al, bl));
#endif
}

// The body of exact::sincos_turns, operation for operation.
HWY_INLINE void SinCosTurns(VD pos, VD w_hi, VD w_lo, VD& sin_out, VD& cos_out) {
  const DD_ d;
  const DU_ du;
  namespace ex = posenc::exact;
  const VD p = hn::Mul(pos, w_hi);
  const VD pe = hn::Add(ProductError(pos, w_hi, p), hn::Mul(pos, w_lo));
  const VD t_hi = hn::Add(p, pe);
  const VD t_lo = hn::Sub(pe, hn::Sub(t_hi, p));
  const VD big = hn::Add(t_hi, hn::Set(d, ex::kRoundMagic));
  const VD k = hn::Sub(big, hn::Set(d, ex::kRoundMagic));
  const auto q = hn::And(hn::BitCast(du, big), hn::Set(du, 3u));
  const VD f0 = hn::Sub(t_hi, k);
  const VD f_hi = hn::Add(f0, t_lo);
  const VD f_lo = hn::Sub(t_lo, hn::Sub(f_hi, f0));
  const VD pio2_hi = hn::Set(d, ex::kPiOverTwoHi);
  const VD r0 = hn::Mul(f_hi, pio2_hi);
  const VD re = hn::Add(ProductError(f_hi, pio2_hi, r0),
                        hn::Add(hn::Mul(f_hi, hn::Set(d, ex::kPiOverTwoLo)), hn::Mul(f_lo, pio2_hi)));
  const VD r_hi = hn::Add(r0, re);
  const VD r_lo = hn::Sub(re, hn::Sub(r_hi, r0));
  const VD z = hn::Mul(r_hi, r_hi);
  VD ps = hn::Set(d, ex::kSinC[7]), pc = hn::Set(d, ex::kCosC[7]);
  for (int j = 6; j >= 0; --j) {
    ps = hn::Add(hn::Mul(ps, z), hn::Set(d, ex::kSinC[j]));
    pc = hn::Add(hn::Mul(pc, z), hn::Set(d, ex::kCosC[j]));
  }
  const VD s0 = hn::Add(r_hi, hn::Mul(hn::Mul(r_hi, z), ps));
  const VD c0 = hn::Add(hn::Sub(hn::Set(d, 1.0), hn::Mul(hn::Set(d, 0.5), z)), hn::Mul(hn::Mul(z, z), pc));
  const VD s = hn::Add(s0, hn::Mul(c0, r_lo));
  const VD c = hn::Sub(c0, hn::Mul(s0, r_lo));
  // Quadrant: swap for odd q, then flip sign bits (unary minus is a sign-bit flip too).
  const auto odd = hn::RebindMask(d, hn::Eq(hn::And(q, hn::Set(du, 1u)), hn::Set(du, 1u)));
  const VD sw_s = hn::IfThenElse(odd, c, s);
  const VD sw_c = hn::IfThenElse(odd, s, c);
  const auto sign_s = hn::ShiftLeft<62>(hn::And(q, hn::Set(du, 2u)));
  const auto sign_c = hn::ShiftLeft<62>(hn::And(hn::Add(q, hn::Set(du, 1u)), hn::Set(du, 2u)));
  sin_out = hn::Xor(sw_s, hn::BitCast(d, sign_s));
  cos_out = hn::Xor(sw_c, hn::BitCast(d, sign_c));
}

void SinCosRows(const int64_t* pos, int64_t u0, int64_t u1, const double* w_hi, const double* w_lo, int64_t n,
                double scale, float* sin_out, float* cos_out, int64_t ld) {
  const DD_ d;
  const DF_ df;
  const auto N = static_cast<int64_t>(hn::Lanes(d));
  const VD vscale = hn::Set(d, scale);
  for (int64_t u = u0; u < u1; ++u) {
    const auto pd = static_cast<double>(pos[u]);
    const VD vp = hn::Set(d, pd);
    float* so = sin_out + u * ld;
    float* co = cos_out + u * ld;
    int64_t i = 0;
    for (; i + N <= n; i += N) {
      VD s, c;
      SinCosTurns(vp, hn::LoadU(d, w_hi + i), hn::LoadU(d, w_lo + i), s, c);
      hn::StoreU(hn::DemoteTo(df, hn::Mul(s, vscale)), df, so + i);
      hn::StoreU(hn::DemoteTo(df, hn::Mul(c, vscale)), df, co + i);
    }
    for (; i < n; ++i) {
      const exact::SinCosD r = exact::sincos_turns(pd, w_hi[i], w_lo[i]);
      so[i] = static_cast<float>(r.sin * scale);
      co[i] = static_cast<float>(r.cos * scale);
    }
  }
}

int64_t SinCosTarget() {
  return HWY_TARGET;
}

}  // namespace posenc::detail::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace posenc::detail::cpu {

HWY_EXPORT(SinCosRows);
HWY_EXPORT(SinCosTarget);

void sincos_rows_simd(const int64_t* pos, int64_t u_begin, int64_t u_end, const double* w_hi,
                      const double* w_lo, int64_t n, double scale, float* sin_out, float* cos_out,
                      int64_t ld) {
  HWY_DYNAMIC_DISPATCH(SinCosRows)(pos, u_begin, u_end, w_hi, w_lo, n, scale, sin_out, cos_out, ld);
}

int64_t sincos_simd_target() {
  return HWY_DYNAMIC_DISPATCH(SinCosTarget)();
}

}  // namespace posenc::detail::cpu
#endif  // HWY_ONCE
