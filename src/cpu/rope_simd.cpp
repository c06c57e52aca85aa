// src/cpu/rope_simd.cpp — the RoPE rotation with Highway, compiled once per target (foreach_target.h
// re-includes this file) and dispatched at run time. See rope_simd.h for the contract: the bits of
// the scalar kernel in rope.cpp on every target.
//
// Per token row and head: pairs are taken a vector of N pairs at a time (HalfSplit: N x-lanes at i
// and N y-lanes at i + r/2; Interleaved: 2N elements at 2i, split into x and y by
// LoadInterleaved2 for f32 and by 16-bit halves of 32-bit lanes for bf16/f16), rotated in fp32 with
// x' = x c - y s, y' = y c + x s (two products, then one sub / add, exactly as the scalar code), and
// stored back; the last r/2 mod N pairs and the pass-through dims' tail go through the same scalar
// code as rope.cpp. HalfSplit with bf16/f16 x and out takes 2N pairs at a time as adjacent-element
// pairs of each half (see kSplitPairs in Rows): fewer conversion ops, the same operations per element.
#include "cpu/rope_simd.h"

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cpu/sincos_simd.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/rope_simd.cpp"
#include <hwy/cache_control.h>
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "cpu/simd_io-inl.h"

HWY_BEFORE_NAMESPACE();
namespace posenc::detail::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ---- the rotation ----

// Software prefetch distance along x, in bytes. Measured (GQA shape, cached, AVX3, 2 threads,
// BENCHMARKS.md): 512 to 4096 all faster than none, 2048 among the best for both dtypes; posenc bench
// rows, old and new interleaved: f32 cached 51-64 -> 70-76 GB/s, bf16 cached 48-49 -> 50-52, out of
// place +8-11%.
constexpr int64_t kPrefetchBytes = 2048;

template <DType X, DType O, PairLayout L, bool kStream>
void RowsT(const RopeRowsArgs& a, int64_t n_begin, int64_t n_end) {
  using XS = typename Elem<X>::storage;
  using OS = typename Elem<O>::storage;
  const DF df;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t half = a.rot / 2, nv = half / N * N;
  const int64_t rest = a.in_place ? a.D : a.rot + (a.D - a.rot) / N * N;  // pass-through by vectors
  const VF sgn = hn::Set(df, a.sign);
  const auto* x = static_cast<const XS*>(a.x);
  auto* out = static_cast<OS*>(a.out);
  // HalfSplit with 16-bit x and out: 2N pairs at a time, each half read and written as N 32-bit
  // lanes of two adjacent elements (the Interleaved loads and stores: two integer ops to split or
  // join 2N elements instead of a widening and a narrowing per N), rotated against a per-token copy
  // of cos and sign * sin split the same way into even and odd elements (built once per token,
  // used by all H heads). Per chunk of 2N pairs at pc = 2 * i: ce, co, se, so (N floats each).
  constexpr bool kSplitPairs = L == PairLayout::HalfSplit && sizeof(XS) == 2 && sizeof(OS) == 2;
  const int64_t nv2 = kSplitPairs ? half / (2 * N) * (2 * N) : 0;
  std::vector<float> split(static_cast<size_t>(2 * nv2));
  for (int64_t n = n_begin; n < n_end; ++n) {
    const int64_t b = n / a.T, t = n % a.T;
    const int64_t row = a.rows != nullptr ? a.rows[n] : n - a.row_origin;
    const float* c = a.cos + row * half;
    const float* s = a.sin + row * half;
    if constexpr (kSplitPairs)
      for (int64_t i = 0; i < nv2; i += 2 * N) {
        VF ce, co, se, so;
        hn::LoadInterleaved2(df, c + i, ce, co);
        hn::LoadInterleaved2(df, s + i, se, so);
        float* pc = split.data() + 2 * i;
        hn::StoreU(ce, df, pc);
        hn::StoreU(co, df, pc + N);
        hn::StoreU(hn::Mul(sgn, se), df, pc + 2 * N);
        hn::StoreU(hn::Mul(sgn, so), df, pc + 3 * N);
      }
    for (int64_t h = 0; h < a.H; ++h) {
      const XS* xp = x + b * a.xs[0] + t * a.xs[1] + h * a.xs[2];
      OS* op = out + b * a.os[0] + t * a.os[1] + h * a.os[2];
      // x's lines kPrefetchBytes ahead of this head row (the next head rows, or with heads first the
      // same head some tokens on): the hardware prefetchers alone left the loads waiting.
      // (Address arithmetic in integers: the lines may lie past x's end, where a prefetch is harmless.)
      const uintptr_t ahead = reinterpret_cast<uintptr_t>(xp) + kPrefetchBytes;
      for (int64_t bt = 0; bt < a.D * static_cast<int64_t>(sizeof(XS)); bt += 64)
        hwy::Prefetch(reinterpret_cast<const char*>(ahead + static_cast<uintptr_t>(bt)));
      int64_t i = 0;
      if constexpr (kSplitPairs)
        for (; i < nv2; i += 2 * N) {
          VF ae, ao, be, bo;  // x[i + 2j], x[i + 2j + 1], and the same at i + half
          Io<X>::LoadPairs(xp + i, ae, ao);
          Io<X>::LoadPairs(xp + i + half, be, bo);
          const float* pc = split.data() + 2 * i;
          const VF ce = hn::LoadU(df, pc), co = hn::LoadU(df, pc + N);
          const VF se = hn::LoadU(df, pc + 2 * N), so = hn::LoadU(df, pc + 3 * N);
          Io<O>::template StorePairs<kStream>(hn::Sub(hn::Mul(ae, ce), hn::Mul(be, se)),
                                              hn::Sub(hn::Mul(ao, co), hn::Mul(bo, so)), op + i);
          Io<O>::template StorePairs<kStream>(hn::Add(hn::Mul(be, ce), hn::Mul(ae, se)),
                                              hn::Add(hn::Mul(bo, co), hn::Mul(ao, so)), op + i + half);
        }
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
          Io<O>::template Store<kStream>(ya, op + i);
          Io<O>::template Store<kStream>(yb, op + i + half);
        } else {
          Io<O>::template StorePairs<kStream>(ya, yb, op + 2 * i);
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
        for (; d < rest; d += N) Io<O>::template Store<kStream>(Io<X>::Load(xp + d), op + d);
        for (; d < a.D; ++d) Elem<O>::store(op + d, Elem<X>::load(xp + d));
      }
    }
  }
}

// Streams (a.stream) when every full-vector store lands on an aligned address: out's base and strides
// at multiples of a vector's bytes, and r/2 elements too (the second half of HalfSplit, the
// pass-through dims from r). The full-vector stores are then f32 vectors of N elements at multiples
// of N, and N pairs at multiples of 2N elements, from an aligned head row; 16-bit vectors of N
// elements and the scalar tails use ordinary stores (simd_io-inl.h).
template <DType X, DType O, PairLayout L>
void Rows(const RopeRowsArgs& a, int64_t n_begin, int64_t n_end) {
  using OS = typename Elem<O>::storage;
  const auto vbytes = static_cast<int64_t>(hn::Lanes(DF()) * sizeof(float));
  bool stream = HWY_TARGET != HWY_SCALAR && a.stream &&
                reinterpret_cast<uintptr_t>(a.out) % static_cast<uintptr_t>(vbytes) == 0 &&
                a.rot / 2 * static_cast<int64_t>(sizeof(OS)) % vbytes == 0;
  for (int64_t s : a.os) stream = stream && s * static_cast<int64_t>(sizeof(OS)) % vbytes == 0;
  if (stream) {
    RowsT<X, O, L, true>(a, n_begin, n_end);
    hwy::FlushStream();  // streaming stores are weakly ordered
  } else {
    RowsT<X, O, L, false>(a, n_begin, n_end);
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
