// src/cpu/rope_simd.cpp — the RoPE rotation with Highway, compiled once per target (foreach_target.h
// re-includes this file) and dispatched at run time. See rope_simd.h for the contract: the bits of
// the scalar kernel in rope.cpp on every target.
//
// Per token row and head: pairs are taken a vector of N pairs at a time (HalfSplit: N x-lanes at i
// and N y-lanes at i + r/2; Interleaved: 2N elements at 2i, split into x and y by
// LoadInterleaved2 for f32 and by 16-bit halves of 32-bit lanes for bf16/f16), rotated in fp32 with
// x' = x c - y s, y' = y c + x s (two products, then one sub / add, exactly as the scalar code), and
// stored back; the last r/2 mod N pairs and the pass-through dims' tail go through the same scalar
// code as rope.cpp.
#include "cpu/rope_simd.h"

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "cpu/sincos_simd.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/rope_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace posenc::detail::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DU = hn::RebindToUnsigned<DF>;
using DI = hn::RebindToSigned<DF>;
using D16 = hn::Rebind<uint16_t, DF>;  // half-width: as many u16 lanes as DF has f32 lanes
using VF = hn::Vec<DF>;
using VU = hn::Vec<DU>;

// ---- conversions, lane for lane the functions of posenc/dtype.hpp ----

// f16 bits (low 16 bits of each u32 lane) -> f32, as f16_bits_to_f32.
HWY_INLINE VF F16ToF32(VU h) {
  const DF df;
  const DU du;
  const DI di;
  const VU sign = hn::ShiftLeft<16>(hn::And(h, hn::Set(du, 0x8000u)));
  const VU exp = hn::And(hn::ShiftRight<10>(h), hn::Set(du, 0x1fu));
  const VU mant = hn::And(h, hn::Set(du, 0x3ffu));
  const VU m13 = hn::ShiftLeft<13>(mant);
  const VU normal = hn::Or(sign, hn::Or(hn::ShiftLeft<23>(hn::Add(exp, hn::Set(du, 112u))), m13));
  const VU special = hn::Or(sign, hn::Or(hn::Set(du, 0x7f800000u), m13));
  // Zero or subnormal: mant * 2^-24 (exact), then the sign.
  const VF subf = hn::Mul(hn::ConvertTo(df, hn::BitCast(di, mant)), hn::Set(df, 5.9604644775390625e-08f));
  const VU sub = hn::Or(hn::BitCast(du, subf), sign);
  const VU r =
      hn::IfThenElse(exp == hn::Zero(du), sub, hn::IfThenElse(exp == hn::Set(du, 31u), special, normal));
  return hn::BitCast(df, r);
}

// f32 -> f16 bits in the low 16 bits of each u32 lane, as f32_to_f16_bits.
HWY_INLINE VU F32ToF16(VF v) {
  const DF df;
  const DU du;
  const DI di;
  const VU u = hn::BitCast(du, v);
  const VU sign = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 0x8000u));
  const VU a = hn::And(u, hn::Set(du, 0x7fffffffu));
  const auto ai = hn::BitCast(di, a);  // a < 2^31: signed compares are unsigned ones
  const auto is_nan = hn::RebindMask(du, ai > hn::Set(di, 0x7f800000));
  const auto is_inf = hn::RebindMask(du, ai > hn::Set(di, 0x477ff000 - 1));
  const auto is_sub = hn::RebindMask(du, hn::Set(di, 0x38800000) > ai);
  // Below the smallest normal: add 0.5 so the FPU rounds the subnormal mantissa to nearest-even.
  const VU sub =
      hn::Sub(hn::BitCast(du, hn::Add(hn::BitCast(df, a), hn::Set(df, 0.5f))), hn::Set(du, 0x3f000000u));
  const VU mant_odd = hn::And(hn::ShiftRight<13>(a), hn::Set(du, 1u));
  const VU norm = hn::ShiftRight<13>(hn::Add(hn::Add(a, hn::Set(du, 0xc8000fffu)), mant_odd));
  VU r = hn::IfThenElse(is_sub, sub, norm);
  r = hn::IfThenElse(is_inf, hn::Set(du, 0x7c00u), r);
  r = hn::IfThenElse(is_nan, hn::Set(du, 0x7e00u), r);
  return hn::Or(r, sign);
}

// f32 -> bf16 bits in the low 16 bits of each u32 lane, as f32_to_bf16_bits (nearest-even; NaN
// quieted).
HWY_INLINE VU F32ToBF16(VF v) {
  const DU du;
  const DI di;
  const VU u = hn::BitCast(du, v);
  const auto is_nan =
      hn::RebindMask(du, hn::BitCast(di, hn::And(u, hn::Set(du, 0x7fffffffu))) > hn::Set(di, 0x7f800000));
  const VU hi = hn::ShiftRight<16>(u);
  const VU rounded =
      hn::ShiftRight<16>(hn::Add(u, hn::Add(hn::Set(du, 0x7fffu), hn::And(hi, hn::Set(du, 1u)))));
  return hn::IfThenElse(is_nan, hn::Or(hi, hn::Set(du, 0x40u)), rounded);
}

// ---- loads and stores of one dtype: N elements, or N pairs (2N elements, interleaved) ----

template <DType T>
struct Io;

template <>
struct Io<DType::F32> {
  using S = float;
  static HWY_INLINE VF Load(const S* p) { return hn::LoadU(DF(), p); }
  static HWY_INLINE void Store(VF v, S* p) { hn::StoreU(v, DF(), p); }
  static HWY_INLINE void LoadPairs(const S* p, VF& a, VF& b) { hn::LoadInterleaved2(DF(), p, a, b); }
  static HWY_INLINE void StorePairs(VF a, VF b, S* p) { hn::StoreInterleaved2(a, b, DF(), p); }
};

template <DType T>
struct Io16 {
  using S = uint16_t;
  static HWY_INLINE VF FromBits(VU h) {
    if constexpr (T == DType::BF16)
      return hn::BitCast(DF(), hn::ShiftLeft<16>(h));
    else
      return F16ToF32(h);
  }
  static HWY_INLINE VU ToBits(VF v) {
    if constexpr (T == DType::BF16)
      return F32ToBF16(v);
    else
      return F32ToF16(v);
  }
  static HWY_INLINE VF Load(const S* p) { return FromBits(hn::PromoteTo(DU(), hn::LoadU(D16(), p))); }
  // The bits are < 2^16: the saturating i32 -> u16 demotion keeps them.
  static HWY_INLINE void Store(VF v, S* p) {
    hn::StoreU(hn::DemoteTo(D16(), hn::BitCast(DI(), ToBits(v))), D16(), p);
  }
  // Pair i is one 32-bit lane: element 2i in its low half (little endian), 2i + 1 in its high half.
  static HWY_INLINE void LoadPairs(const S* p, VF& a, VF& b) {
    const DU du;
    const VU w = hn::LoadU(du, reinterpret_cast<const uint32_t*>(p));
    const VU lo = hn::And(w, hn::Set(du, 0xffffu)), hi = hn::ShiftRight<16>(w);
    if constexpr (std::endian::native == std::endian::little) {
      a = FromBits(lo);
      b = FromBits(hi);
    } else {
      a = FromBits(hi);
      b = FromBits(lo);
    }
  }
  static HWY_INLINE void StorePairs(VF a, VF b, S* p) {
    const VU ba = ToBits(a), bb = ToBits(b);
    const VU w = std::endian::native == std::endian::little ? hn::Or(ba, hn::ShiftLeft<16>(bb))
                                                            : hn::Or(bb, hn::ShiftLeft<16>(ba));
    hn::StoreU(w, DU(), reinterpret_cast<uint32_t*>(p));
  }
};
template <>
struct Io<DType::BF16> : Io16<DType::BF16> {};
template <>
struct Io<DType::F16> : Io16<DType::F16> {};

// ---- the rotation ----

template <DType X, DType O, PairLayout L>
void Rows(const RopeRowsArgs& a, int64_t n_begin, int64_t n_end) {
  using XS = typename Elem<X>::storage;
  using OS = typename Elem<O>::storage;
  const DF df;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t half = a.rot / 2, nv = half / N * N;
  const int64_t rest = a.in_place ? a.D : a.rot + (a.D - a.rot) / N * N;  // pass-through by vectors
  const VF sgn = hn::Set(df, a.sign);
  const auto* x = static_cast<const XS*>(a.x);
  auto* out = static_cast<OS*>(a.out);
  for (int64_t n = n_begin; n < n_end; ++n) {
    const int64_t b = n / a.T, t = n % a.T;
    const float* c = a.cos + a.rows[n] * half;
    const float* s = a.sin + a.rows[n] * half;
    for (int64_t h = 0; h < a.H; ++h) {
      const XS* xp = x + b * a.xs[0] + t * a.xs[1] + h * a.xs[2];
      OS* op = out + b * a.os[0] + t * a.os[1] + h * a.os[2];
      int64_t i = 0;
      for (; i < nv; i += N) {
        VF xa, xb;
        if constexpr (L == PairLayout::HalfSplit) {
          xa = Io<X>::Load(xp + i);
          xb = Io<X>::Load(xp + i + half);
        } else {
          Io<X>::LoadPairs(xp + 2 * i, xa, xb);
        }
        const VF cv = hn::LoadU(df, c + i);
        const VF sv = hn::Mul(sgn, hn::LoadU(df, s + i));
        // fp32, no fma: the same two roundings per output as the scalar kernel.
        const VF ya = hn::Sub(hn::Mul(xa, cv), hn::Mul(xb, sv));
        const VF yb = hn::Add(hn::Mul(xb, cv), hn::Mul(xa, sv));
        if constexpr (L == PairLayout::HalfSplit) {
          Io<O>::Store(ya, op + i);
          Io<O>::Store(yb, op + i + half);
        } else {
          Io<O>::StorePairs(ya, yb, op + 2 * i);
        }
      }
      constexpr int64_t step = L == PairLayout::HalfSplit ? 1 : 2;
      const int64_t second = L == PairLayout::HalfSplit ? half : 1;
      for (; i < half; ++i) {  // the scalar kernel's code, verbatim
        const int64_t ia = i * step, ib = ia + second;
        const float xa = Elem<X>::load(xp + ia), xb = Elem<X>::load(xp + ib);
        const float si = a.sign * s[i];
        Elem<O>::store(op + ia, xa * c[i] - xb * si);
        Elem<O>::store(op + ib, xb * c[i] + xa * si);
      }
      if (!a.in_place) {
        int64_t d = a.rot;
        for (; d < rest; d += N) Io<O>::Store(Io<X>::Load(xp + d), op + d);
        for (; d < a.D; ++d) Elem<O>::store(op + d, Elem<X>::load(xp + d));
      }
    }
  }
}

template <DType X, DType O>
void ByLayout(const RopeRowsArgs& a, int64_t n0, int64_t n1) {
  if (a.layout == PairLayout::HalfSplit)
    Rows<X, O, PairLayout::HalfSplit>(a, n0, n1);
  else
    Rows<X, O, PairLayout::Interleaved>(a, n0, n1);
}

template <DType X>
void ByOut(const RopeRowsArgs& a, int64_t n0, int64_t n1) {
  switch (a.ot) {
    case DType::F16:
      return ByLayout<X, DType::F16>(a, n0, n1);
    case DType::BF16:
      return ByLayout<X, DType::BF16>(a, n0, n1);
    default:
      return ByLayout<X, DType::F32>(a, n0, n1);
  }
}

void RopeRows(const RopeRowsArgs& a, int64_t n0, int64_t n1) {
  switch (a.xt) {
    case DType::F16:
      return ByOut<DType::F16>(a, n0, n1);
    case DType::BF16:
      return ByOut<DType::BF16>(a, n0, n1);
    default:
      return ByOut<DType::F32>(a, n0, n1);
  }
}

// ---- the cos / sin table: rope_angle (rope.cpp), verbatim but for the hoisted branch ----

void RopeTableRows(const RopeFreqs& f, Precision precision, const int64_t* pos, int64_t u0, int64_t u1,
                   int64_t half, float* cos, float* sin) {
  if (precision == Precision::Exact) {
    // Vectorised exact angles (sincos_simd.cpp), the bits of rope_angle.
    sincos_rows_simd(pos, u0, u1, f.w_hi.data(), f.w_lo.data(), half, f.attention_scaling, sin, cos, half);
  } else {
    const auto att = static_cast<float>(f.attention_scaling);
    for (int64_t u = u0; u < u1; ++u)
      for (int64_t i = 0; i < half; ++i) {
        const float a = static_cast<float>(pos[u]) * f.omega_f32[static_cast<size_t>(i)];
        cos[u * half + i] = static_cast<float>(std::cos(static_cast<double>(a))) * att;
        sin[u * half + i] = static_cast<float>(std::sin(static_cast<double>(a))) * att;
      }
  }
}

int64_t RopeTarget() {
  return HWY_TARGET;
}

}  // namespace posenc::detail::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace posenc::detail::cpu {

HWY_EXPORT(RopeRows);
HWY_EXPORT(RopeTarget);
HWY_EXPORT(RopeTableRows);

void rope_rows_simd(const RopeRowsArgs& a, int64_t n_begin, int64_t n_end) {
  HWY_DYNAMIC_DISPATCH(RopeRows)(a, n_begin, n_end);
}

void rope_table_rows_simd(const RopeFreqs& f, Precision precision, const int64_t* pos, int64_t u_begin,
                          int64_t u_end, int64_t half, float* cos, float* sin) {
  HWY_DYNAMIC_DISPATCH(RopeTableRows)(f, precision, pos, u_begin, u_end, half, cos, sin);
}

int64_t rope_simd_target() {
  return HWY_DYNAMIC_DISPATCH(RopeTarget)();
}

}  // namespace posenc::detail::cpu
#endif  // HWY_ONCE
