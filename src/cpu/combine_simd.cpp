// src/cpu/combine_simd.cpp — the embedding step's row kernels with Highway, compiled once per target
// (foreach_target.h re-includes this file) and dispatched at run time. See combine_simd.h for the
// contract: the bits of the scalar kernels in gather_add.cpp and scatter_grad.cpp on every target.
//
// combine: per token row, 2N columns at a time (N = f32 lanes) in fp32 with the scalar formula
// (E * scale, then + P; or out + P), rounded to out's dtype and stored as two f32 vectors or one full
// vector of 16-bit bits; then one N-vector, then the scalar code for the last C mod N columns. With
// `stream`, the columns before the first vector-aligned address of the row go through the scalar
// code and the vectors are written with non-temporal stores (hn::Stream), fenced at the end.
//
// scatter: per group of tokens, the first tokens' rows are summed into the fp32 acc (the first one
// as 0 + src, the scalar kernel's zero fill then +=) and the last token's row is added to acc while
// dst is updated, in the same pass: a group of one token (most of an embedding's) reads its src row
// and dst row once and never touches acc. Per column, the additions are those of the scalar kernel
// in the same order.
#include "cpu/combine_simd.h"

#include <cstddef>
#include <cstdint>

#include "dispatch.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/combine_simd.cpp"
#include <hwy/cache_control.h>
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "cpu/simd_io-inl.h"

HWY_BEFORE_NAMESPACE();
namespace posenc::detail::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
namespace {

// ---- stores of 2N elements (two vectors), optionally streamed (non-temporal; then p must be aligned
// to the vector size, hn::Lanes(DF()) * 4 bytes, which is also a full u16 vector's). Loads, stores
// and conversions of N elements are simd_io-inl.h's Io<T>. ----

template <DType T>
HWY_INLINE void Store2(VF a, VF b, typename Elem<T>::storage* p, bool stream) {
  if constexpr (T == DType::F32) {
    const DF df;
    if (stream) {
      hn::Stream(a, df, p);
      hn::Stream(b, df, p + hn::Lanes(df));
    } else {
      hn::StoreU(a, df, p);
      hn::StoreU(b, df, p + hn::Lanes(df));
    }
  } else {
#if HWY_TARGET == HWY_SCALAR  // one lane: no Combine (and never streamed)
    (void)stream;
    Io<T>::Store(a, p);
    Io<T>::Store(b, p + 1);
#else
    const hn::ScalableTag<uint16_t> dw;  // 2N lanes: a full vector
    const auto w = Io<T>::Concat(a, b);
    if (stream)
      hn::Stream(w, dw, p);
    else
      hn::StoreU(w, dw, p);
#endif
  }
}

// ---- combine ----

// Prefetches the cache lines of bytes [off, off + len) of row (none if row is null).
HWY_INLINE void PrefetchSpan(const char* row, size_t off, size_t len) {
  if (row == nullptr) return;
  for (size_t b = 0; b < len; b += 64) hwy::Prefetch(row + off + b);
}

// The formula of gather_add.cpp, on N columns from c (VecValue) or on column c (ScalarValue).
template <CombineMode M, DType O, DType P, DType E>
HWY_INLINE VF VecValue(const typename Elem<O>::storage* o, const typename Elem<P>::storage* p,
                       const typename Elem<E>::storage* e, int64_t c, VF scale) {
  VF v = Io<P>::Load(p + c);
  if constexpr (M == CombineMode::Accumulate) v = hn::Add(Io<O>::Load(o + c), v);
  if constexpr (M == CombineMode::Embed) v = hn::Add(hn::Mul(Io<E>::Load(e + c), scale), v);
  return v;
}
template <CombineMode M, DType O, DType P, DType E>
HWY_INLINE void ScalarValue(typename Elem<O>::storage* o, const typename Elem<P>::storage* p,
                            const typename Elem<E>::storage* e, int64_t c, float scale) {
  float v = Elem<P>::load(p + c);
  if constexpr (M == CombineMode::Accumulate) v = Elem<O>::load(o + c) + v;
  if constexpr (M == CombineMode::Embed) v = Elem<E>::load(e + c) * scale + v;
  Elem<O>::store(o + c, v);
}

template <CombineMode M, DType O, DType P, DType E>
void CombineTokens(const CombineRowsArgs& a, int64_t n0, int64_t n1) {
  using OS = typename Elem<O>::storage;
  using PS = typename Elem<P>::storage;
  using ES = typename Elem<E>::storage;
  const DF df;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  const auto align = static_cast<uintptr_t>(N) * sizeof(float);
  const bool stream = HWY_TARGET != HWY_SCALAR && M != CombineMode::Accumulate && a.stream;
  const int64_t C = a.C;
  const VF vscale = hn::Set(df, a.scale);
  auto* out = static_cast<OS*>(a.out);
  const auto* P0 = static_cast<const PS*>(a.P);
  const auto* E0 = static_cast<const ES*>(a.E);
  for (int64_t n = n0; n < n1; ++n) {
    OS* o = out + n / a.T * a.os[0] + n % a.T * a.os[1];
    const PS* p = P0 + (a.rows != nullptr ? a.rows[n] : n - a.row_origin) * a.ps;
    const ES* e = nullptr;
    // The next token's rows, fetched one cache line per 2N columns of this row when they are 16-bit:
    // E's is a random row of a large table, which the hardware prefetchers cannot predict, and they
    // stop at page boundaries inside P's. Measured (2 threads, bf16 [4096 x 4096], V = 32000): E's
    // prefetch +15-20%, P's +8% more; for f32 rows neither helped (E neutral, P 6-10% slower).
    const char* e_next = nullptr;
    const char* p_next = nullptr;
    if constexpr (M == CombineMode::Embed) {
      e = E0 + a.ids[n] * a.es;
      if (n + 1 < n1 && sizeof(ES) == 2) e_next = reinterpret_cast<const char*>(E0 + a.ids[n + 1] * a.es);
      if (n + 1 < n1 && sizeof(PS) == 2 && a.rows != nullptr)
        p_next = reinterpret_cast<const char*>(P0 + a.rows[n + 1] * a.ps);
    }
    int64_t c = 0;
    // Streaming: scalar columns up to the first aligned vector (none if out is not element-aligned).
    const bool st = stream && reinterpret_cast<uintptr_t>(o) % sizeof(OS) == 0;
    if (st)
      for (; c < C && reinterpret_cast<uintptr_t>(o + c) % align != 0; ++c)
        ScalarValue<M, O, P, E>(o, p, e, c, a.scale);
    for (; c + 2 * N <= C; c += 2 * N) {
      if constexpr (M == CombineMode::Embed) {
        PrefetchSpan(e_next, c * sizeof(ES), 2 * N * sizeof(ES));
        PrefetchSpan(p_next, c * sizeof(PS), 2 * N * sizeof(PS));
      }
      const VF v0 = VecValue<M, O, P, E>(o, p, e, c, vscale);
      const VF v1 = VecValue<M, O, P, E>(o, p, e, c + N, vscale);
      Store2<O>(v0, v1, o + c, st);
    }
    if (c + N <= C) {
      Io<O>::Store(VecValue<M, O, P, E>(o, p, e, c, vscale), o + c);
      c += N;
    }
    for (; c < C; ++c) ScalarValue<M, O, P, E>(o, p, e, c, a.scale);
  }
  if (stream) hwy::FlushStream();  // streaming stores are weakly ordered
}

template <CombineMode M, DType E>
void CombineByOutP(const CombineRowsArgs& a, int64_t n0, int64_t n1) {
  dispatch_float(a.ot, [&](auto o) {
    dispatch_float(a.pt,
                   [&](auto p) { CombineTokens<M, decltype(o)::value, decltype(p)::value, E>(a, n0, n1); });
  });
}

// ---- scatter ----

// acc = (first ? 0 : acc) + s, columns 0 .. C - 1.
template <DType S, bool kFirst>
void AccumulateRow(const typename Elem<S>::storage* s, float* acc, int64_t C) {
  const DF df;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  int64_t c = 0;
  for (; c + N <= C; c += N) {
    const VF prev = kFirst ? hn::Zero(df) : hn::LoadU(df, acc + c);
    hn::StoreU(hn::Add(prev, Io<S>::Load(s + c)), df, acc + c);
  }
  for (; c < C; ++c) acc[c] = (kFirst ? 0.0f : acc[c]) + Elem<S>::load(s + c);
}

// d = d + scale * ((single ? 0 : acc) + s): the group's last token and the update of its dst row.
template <DType D, DType S, bool kSingle>
void FinishRow(typename Elem<D>::storage* d, const typename Elem<S>::storage* s, const float* acc, int64_t C,
               float scale) {
  const DF df;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  const VF vscale = hn::Set(df, scale);
  int64_t c = 0;
  for (; c + N <= C; c += N) {
    const VF sum = hn::Add(kSingle ? hn::Zero(df) : hn::LoadU(df, acc + c), Io<S>::Load(s + c));
    Io<D>::Store(hn::Add(Io<D>::Load(d + c), hn::Mul(vscale, sum)), d + c);
  }
  for (; c < C; ++c) {
    const float sum = (kSingle ? 0.0f : acc[c]) + Elem<S>::load(s + c);
    Elem<D>::store(d + c, Elem<D>::load(d + c) + scale * sum);
  }
}

template <DType D, DType S>
void ScatterGroups(const ScatterRowsArgs& a, int64_t g0, int64_t g1, float* acc) {
  using DS = typename Elem<D>::storage;
  using SS = typename Elem<S>::storage;
  auto* dst = static_cast<DS*>(a.dst);
  const auto* src = static_cast<const SS*>(a.src);
  auto row = [&](int64_t j) {
    const int64_t n = a.order[j];
    return src + n / a.T * a.ss[0] + n % a.T * a.ss[1];
  };
  for (int64_t g = g0; g < g1; ++g) {
    const int64_t j0 = a.group_start[g], j1 = a.group_start[g + 1];
    for (int64_t j = j0; j + 1 < j1; ++j) {
      if (j == j0)
        AccumulateRow<S, true>(row(j), acc, a.C);
      else
        AccumulateRow<S, false>(row(j), acc, a.C);
    }
    DS* d = dst + a.keys[a.order[j0]] * a.ds;
    if (j1 - j0 == 1)
      FinishRow<D, S, true>(d, row(j1 - 1), acc, a.C, a.scale);
    else
      FinishRow<D, S, false>(d, row(j1 - 1), acc, a.C, a.scale);
  }
}

}  // namespace

void CombineRows(const CombineRowsArgs& a, int64_t n0, int64_t n1) {
  switch (a.mode) {
    case CombineMode::Embed:
      return dispatch_float(
          a.et, [&](auto e) { CombineByOutP<CombineMode::Embed, decltype(e)::value>(a, n0, n1); });
    case CombineMode::Accumulate:
      return CombineByOutP<CombineMode::Accumulate, DType::F32>(a, n0, n1);
    case CombineMode::Gather:
      return CombineByOutP<CombineMode::Gather, DType::F32>(a, n0, n1);
  }
}

void ScatterRows(const ScatterRowsArgs& a, int64_t g0, int64_t g1, float* acc) {
  dispatch_float(a.dt, [&](auto d) {
    dispatch_float(a.st,
                   [&](auto s) { ScatterGroups<decltype(d)::value, decltype(s)::value>(a, g0, g1, acc); });
  });
}

int64_t CombineTarget() {
  return HWY_TARGET;
}

}  // namespace posenc::detail::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace posenc::detail::cpu {

HWY_EXPORT(CombineRows);
HWY_EXPORT(ScatterRows);
HWY_EXPORT(CombineTarget);

void combine_rows_simd(const CombineRowsArgs& a, int64_t n_begin, int64_t n_end) {
  HWY_DYNAMIC_DISPATCH(CombineRows)(a, n_begin, n_end);
}

void scatter_rows_simd(const ScatterRowsArgs& a, int64_t g_begin, int64_t g_end, float* acc) {
  HWY_DYNAMIC_DISPATCH(ScatterRows)(a, g_begin, g_end, acc);
}

int64_t combine_simd_target() {
  return HWY_DYNAMIC_DISPATCH(CombineTarget)();
}

}  // namespace posenc::detail::cpu
#endif  // HWY_ONCE
