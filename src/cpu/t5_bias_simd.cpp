// src/cpu/t5_bias_simd.cpp — the row accumulation of the T5 bias backward with Highway, compiled once
// per target (foreach_target.h re-includes this file) and dispatched at run time: acc[j] += g[j], N
// lanes at a time, g loaded as f32 (simd_io-inl.h); the last n mod N elements in scalar code. One fp32
// addition per element in either case, so every target gives the scalar loop's bits.
#include <cstdint>

#include "cpu/t5_bias.hpp"
#include "dispatch.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/t5_bias_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "cpu/simd_io-inl.h"

HWY_BEFORE_NAMESPACE();
namespace posenc::detail::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <DType G>
void AccumulateRowT(float* acc, const typename Elem<G>::storage* g, int64_t n) {
  const DF df;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  int64_t j = 0;
  for (; j + N <= n; j += N) hn::StoreU(hn::Add(hn::LoadU(df, acc + j), Io<G>::Load(g + j)), df, acc + j);
  for (; j < n; ++j) acc[j] += Elem<G>::load(g + j);
}

void AccumulateRow(float* acc, const void* g, DType t, int64_t n) {
  switch (t) {
    case DType::F16:
      return AccumulateRowT<DType::F16>(acc, static_cast<const uint16_t*>(g), n);
    case DType::BF16:
      return AccumulateRowT<DType::BF16>(acc, static_cast<const uint16_t*>(g), n);
    default:
      return AccumulateRowT<DType::F32>(acc, static_cast<const float*>(g), n);
  }
}

int64_t T5Target() {
  return HWY_TARGET;
}

}  // namespace posenc::detail::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace posenc::detail::cpu {

HWY_EXPORT(AccumulateRow);
HWY_EXPORT(T5Target);

void t5_accumulate_row(float* acc, const void* g, DType t, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AccumulateRow)(acc, g, t, n);
}

int64_t t5_simd_target() {
  return HWY_DYNAMIC_DISPATCH(T5Target)();
}

}  // namespace posenc::detail::cpu
#endif  // HWY_ONCE
