// src/cpu/simd_io-inl.h — Highway loads, stores and conversions of posenc's storage dtypes, shared by
// the vectorised kernels (rope_simd.cpp, alibi_simd.cpp, ...). Included once per target after
// <hwy/highway.h> (the usual Highway "-inl.h" include guard that toggles per target).
//
// The conversions are lane for lane the functions of posenc/dtype.hpp (round to nearest even; NaN
// handling included), done with integer vector ops, because Highway 1.0's DemoteTo truncates bf16:
// every kernel that uses them gives the bits of the scalar code on every target.
//   DF / DU / DI / D16   f32 lanes, their u32 / i32 view, and as many u16 lanes (half width)
//   Io<T>::Load/Store    N elements of storage dtype T <-> N f32 lanes (stores optionally streamed)
//   Io<T>::LoadPairs/StorePairs   N interleaved pairs (2N elements) <-> two vectors
//   Io<T>::Concat                 two vectors as 2N consecutive 16-bit elements (one full u16 vector)
//   Avx512Bf16Pack / Avx512Bf16One  on the AVX-512 targets, bf16 by the CPU's AVX512_BF16 instructions
//   F16cOne / F16cLoad            on the AVX2 and AVX-512 targets, f16 by F16C's vcvtps2ph / vcvtph2ps
#if defined(POSENC_CPU_SIMD_IO_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef POSENC_CPU_SIMD_IO_INL_H_
#undef POSENC_CPU_SIMD_IO_INL_H_
#else
#define POSENC_CPU_SIMD_IO_INL_H_
#endif

#include <hwy/highway.h>

#include <bit>
#include <cstdint>

#include "cpu/avx512_bf16.hpp"
#include "posenc/dtype.hpp"

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

#undef POSENC_AVX512_BF16  // defined anew for each target
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define POSENC_AVX512_BF16 1
// AVX512_BF16 (g_avx512_bf16, avx512_bf16.hpp): one instruction converts 32 lanes where F32ToBF16 takes
// about 9 integer ops per 16 (the bf16 RoPE rotation is compute-bound on them). Written as asm because
// Highway 1.0 has no target that enables the instructions. The instructions flush subnormal inputs to
// zero, so a vector with a subnormal lane (fpclass 0x20) returns false and takes the integer path;
// NaNs come out as F32ToBF16's (the high half, quieted). r: a's 16 bf16 in the low 256 bits, b's in the
// high 256 bits.
HWY_INLINE bool Avx512Bf16Pack(VF a, VF b, __m512i& r) {
  if (!g_avx512_bf16.load(std::memory_order_relaxed)) return false;
  if ((_mm512_fpclass_ps_mask(a.raw, 0x20) | _mm512_fpclass_ps_mask(b.raw, 0x20)) != 0) return false;
  asm("vcvtne2ps2bf16 %2, %1, %0" : "=v"(r) : "v"(b.raw), "v"(a.raw));
  return true;
}
HWY_INLINE bool Avx512Bf16One(VF a, __m256i& r) {
  if (!g_avx512_bf16.load(std::memory_order_relaxed)) return false;
  if (_mm512_fpclass_ps_mask(a.raw, 0x20) != 0) return false;
  asm("vcvtneps2bf16 %1, %0" : "=v"(r) : "v"(a.raw));
  return true;
}
#endif

#undef POSENC_F16C  // defined anew for each target
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define POSENC_F16C 1
// F16C (part of Highway's AVX2 and AVX-512 targets): vcvtps2ph with the rounding in its immediate (to
// nearest even) gives f32_to_f16_bits for every input but NaN, whatever MXCSR's rounding mode and
// flush-to-zero (checked over all 2^32 inputs, and the subnormal range with FTZ and DAZ set); it keeps
// a NaN's payload bits where posenc writes sign | 0x7e00, so a vector with a NaN lane takes the integer
// path. One instruction for N lanes where F32ToF16 takes about 14 integer ops.
HWY_INLINE bool F16cOne(VF a, hn::VFromD<D16>& r) {
  if (!hn::AllFalse(DF(), hn::IsNaN(a))) return false;
#if HWY_TARGET == HWY_AVX2
  r = hn::VFromD<D16>{_mm256_cvtps_ph(a.raw, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
#else
  r = hn::VFromD<D16>{_mm512_cvtps_ph(a.raw, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
#endif
  return true;
}
// And back: vcvtph2ps gives f16_bits_to_f32 for every input but a signalling NaN, which it quiets
// (checked over all 2^16 inputs, with and without DAZ and FTZ); a vector with a NaN lane takes the
// integer path, which keeps the NaN's bits.
HWY_INLINE bool F16cLoad(hn::VFromD<D16> h, VF& r) {
#if HWY_TARGET == HWY_AVX2
  r = VF{_mm256_cvtph_ps(h.raw)};
#else
  r = VF{_mm512_cvtph_ps(h.raw)};
#endif
  return hn::AllFalse(DF(), hn::IsNaN(r));
}
#endif

// ---- loads and stores of one dtype: N elements, or N pairs (2N elements, interleaved) ----
// Stores take kStream: non-temporal stores (hn::Stream) of full vectors, for which p must be aligned to
// the vector's bytes (f32: N elements or N pairs; 16-bit: N pairs); the caller fences
// (hwy::FlushStream).

template <bool kStream, class D, class V, typename T>
HWY_INLINE void StoreVec(V v, D d, T* p) {
  if constexpr (kStream)
    hn::Stream(v, d, p);
  else
    hn::StoreU(v, d, p);
}

template <DType T>
struct Io;

template <>
struct Io<DType::F32> {
  using S = float;
  static HWY_INLINE VF Load(const S* p) { return hn::LoadU(DF(), p); }
  template <bool kStream = false>
  static HWY_INLINE void Store(VF v, S* p) {
    StoreVec<kStream>(v, DF(), p);
  }
  static HWY_INLINE void LoadPairs(const S* p, VF& a, VF& b) { hn::LoadInterleaved2(DF(), p, a, b); }
  template <bool kStream = false>
  static HWY_INLINE void StorePairs(VF a, VF b, S* p) {
    if constexpr (kStream) {  // interleaved through an aligned buffer: Highway has no streaming form
      const DF df;
      HWY_ALIGN float buf[2 * hn::MaxLanes(df)];
      hn::StoreInterleaved2(a, b, df, buf);
      hn::Stream(hn::Load(df, buf), df, p);
      hn::Stream(hn::Load(df, buf + hn::Lanes(df)), df, p + hn::Lanes(df));
    } else {
      hn::StoreInterleaved2(a, b, DF(), p);
    }
  }
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
  static HWY_INLINE VF Load(const S* p) {
    const auto h = hn::LoadU(D16(), p);
#ifdef POSENC_F16C
    if constexpr (T == DType::F16) {
      VF r;
      if (F16cLoad(h, r)) return r;
    }
#endif
    return FromBits(hn::PromoteTo(DU(), h));
  }
  // The bits are < 2^16: the saturating i32 -> u16 demotion keeps them.
  // kStream is ignored: N 16-bit elements are a partial vector, and Highway's Stream of a partial
  // vector writes a whole 16 bytes on the SSE targets. Only the full-vector stores stream.
  template <bool kStream = false>
  static HWY_INLINE void Store(VF v, S* p) {
#ifdef POSENC_AVX512_BF16
    if constexpr (T == DType::BF16) {
      __m256i r;
      if (Avx512Bf16One(v, r)) return hn::StoreU(hn::VFromD<D16>{r}, D16(), p);
    }
#endif
#ifdef POSENC_F16C
    if constexpr (T == DType::F16) {
      hn::VFromD<D16> r;
      if (F16cOne(v, r)) return hn::StoreU(r, D16(), p);
    }
#endif
    hn::StoreU(hn::DemoteTo(D16(), hn::BitCast(DI(), ToBits(v))), D16(), p);
  }
  // Pair i is one 32-bit lane: element 2i in its low half (little endian), 2i + 1 in its high half.
  static HWY_INLINE void LoadPairs(const S* p, VF& a, VF& b) {
    const DU du;
    const VU w = hn::LoadU(du, reinterpret_cast<const uint32_t*>(p));
    if constexpr (T == DType::BF16) {  // FromBits of each half in one op: a shift, or a mask
      const VU low_up = hn::ShiftLeft<16>(w), high = hn::And(w, hn::Set(du, 0xffff0000u));
      const bool le = std::endian::native == std::endian::little;
      a = hn::BitCast(DF(), le ? low_up : high);
      b = hn::BitCast(DF(), le ? high : low_up);
      return;
    }
    const VU lo = hn::And(w, hn::Set(du, 0xffffu)), hi = hn::ShiftRight<16>(w);
#ifdef POSENC_F16C
    if constexpr (T == DType::F16) {  // x86: little endian, element 2i in the low half
      // The halves narrowed to u16 lanes (they are < 2^16: the saturating demotion keeps them).
      if (F16cLoad(hn::DemoteTo(D16(), hn::BitCast(DI(), lo)), a) &&
          F16cLoad(hn::DemoteTo(D16(), hn::BitCast(DI(), hi)), b))
        return;
    }
#endif
    if constexpr (std::endian::native == std::endian::little) {
      a = FromBits(lo);
      b = FromBits(hi);
    } else {
      a = FromBits(hi);
      b = FromBits(lo);
    }
  }
  // bf16 of a lane that is not NaN: rounded = u + 0x7fff + lsb holds the nearest-even bits in its high
  // half (F32ToBF16's bits for every non-NaN lane, without its NaN select).
  static HWY_INLINE VU RoundedHigh(VF v) {
    const DU du;
    const VU u = hn::BitCast(du, v);
    return hn::Add(u, hn::Add(hn::Set(du, 0x7fffu), hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u))));
  }
  static HWY_INLINE bool AnyNaN(VF a, VF b) {
    return !hn::AllFalse(DF(), hn::Or(hn::IsNaN(a), hn::IsNaN(b)));
  }
#if HWY_TARGET != HWY_SCALAR  // one lane: no Combine
  // The 2N elements a then b as one full u16 vector: by the CPU's conversion instructions where the
  // target has them (AVX512_BF16, F16C), else by ToBits (bf16: one NaN branch for both vectors instead
  // of a select per lane) and a narrowing.
  static HWY_INLINE hn::Vec<hn::ScalableTag<uint16_t>> Concat(VF a, VF b) {
    using VW = hn::Vec<hn::ScalableTag<uint16_t>>;
    const hn::ScalableTag<uint16_t> dw;
#ifdef POSENC_AVX512_BF16
    if constexpr (T == DType::BF16) {
      __m512i r;
      if (Avx512Bf16Pack(a, b, r)) return VW{r};
    }
#endif
#ifdef POSENC_F16C
    if constexpr (T == DType::F16) {
      hn::VFromD<D16> ha, hb;
      if (F16cOne(a, ha) && F16cOne(b, hb)) return hn::Combine(dw, hb, ha);
    }
#endif
    VU ba, bb;
    if (T == DType::BF16 && !AnyNaN(a, b)) {
      ba = hn::ShiftRight<16>(RoundedHigh(a));
      bb = hn::ShiftRight<16>(RoundedHigh(b));
    } else {
      ba = ToBits(a);
      bb = ToBits(b);
    }
    // The bits are < 2^16: the saturating i32 -> u16 demotion keeps them.
    return hn::Combine(dw, hn::DemoteTo(D16(), hn::BitCast(DI(), bb)),
                       hn::DemoteTo(D16(), hn::BitCast(DI(), ba)));
  }
#endif
  // bf16 without NaNs: the high halves of RoundedHigh go to the low half of a 32-bit lane (element 2i)
  // by a shift and stay in its high half (element 2i + 1) by a mask, one op fewer than Concat's two
  // shifts (3% on the cached bf16 RoPE).
  template <bool kStream = false>
  static HWY_INLINE void StorePairs(VF a, VF b, S* p) {
    if constexpr (T == DType::BF16) {
#ifdef POSENC_AVX512_BF16
      __m512i r;
      if (Avx512Bf16Pack(a, b, r)) {  // a0..a15 b0..b15 -> a0 b0 a1 b1 ... (one vpermw)
        alignas(64) static constexpr uint16_t kZip[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                                          21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                                          11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
        const __m512i zip = _mm512_load_si512(kZip);
        const hn::ScalableTag<uint16_t> dw;
        return StoreVec<kStream>(hn::VFromD<decltype(dw)>{_mm512_permutexvar_epi16(zip, r)}, dw, p);
      }
#endif
      if (!AnyNaN(a, b)) {
        const DU du;
        const VU ra = RoundedHigh(a), rb = RoundedHigh(b);
        const VU w = std::endian::native == std::endian::little
                         ? hn::Or(hn::ShiftRight<16>(ra), hn::And(rb, hn::Set(du, 0xffff0000u)))
                         : hn::Or(hn::ShiftRight<16>(rb), hn::And(ra, hn::Set(du, 0xffff0000u)));
        StoreVec<kStream>(w, du, reinterpret_cast<uint32_t*>(p));
        return;
      }
    }
#ifdef POSENC_F16C
    if constexpr (T == DType::F16) {
      hn::VFromD<D16> ha, hb;
      if (F16cOne(a, ha) && F16cOne(b, hb)) {  // x86: little endian, element 2i in the low half
        const DU du;
        const VU w = hn::Or(hn::PromoteTo(du, ha), hn::ShiftLeft<16>(hn::PromoteTo(du, hb)));
        return StoreVec<kStream>(w, du, reinterpret_cast<uint32_t*>(p));
      }
    }
#endif
    const VU ba = ToBits(a), bb = ToBits(b);
    const VU w = std::endian::native == std::endian::little ? hn::Or(ba, hn::ShiftLeft<16>(bb))
                                                            : hn::Or(bb, hn::ShiftLeft<16>(ba));
    StoreVec<kStream>(w, DU(), reinterpret_cast<uint32_t*>(p));
  }
};
template <>
struct Io<DType::BF16> : Io16<DType::BF16> {};
template <>
struct Io<DType::F16> : Io16<DType::F16> {};

}  // namespace posenc::detail::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // POSENC_CPU_SIMD_IO_INL_H_
