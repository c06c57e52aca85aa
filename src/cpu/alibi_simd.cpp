// src/cpu/alibi_simd.cpp — ALiBi bias rows with Highway, compiled once per target (foreach_target.h
// re-includes this file) and dispatched at run time. Per row (h, i): N keys at a time, in double
// (two halves of N/2 lanes): d = key form ? kd[j] : -|q_i - kd[j]| (exact: integers < 2^31), v =
// float(slope_h * d), masked where causal and kd[j] > q_i, then one rounding to the storage dtype
// (simd_io-inl.h). The last Tk mod N keys go through the scalar code of alibi.cpp, so every target
// gives the scalar kernel's bits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "cpu/alibi.hpp"
#include "dispatch.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/alibi_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "cpu/simd_io-inl.h"

HWY_BEFORE_NAMESPACE();
namespace posenc::detail::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D64 = hn::Repartition<double, DF>;  // N/2 doubles: half as many lanes as DF
using DH = hn::Rebind<float, D64>;        // N/2 floats: the demoted half of a DF vector

// Keys 0 .. Tk - Tk mod N of row (slope, q_i) into o; returns the first key left for the scalar code.
template <DType O>
int64_t VectorKeys(const AlibiRowsArgs& a, typename Elem<O>::storage* o, double slope, int64_t qi) {
#if HWY_TARGET == HWY_SCALAR  // one lane: no halves to combine; the scalar code does it all
  (void)a, (void)o, (void)slope, (void)qi;
  return 0;
#else
  const DF df;
  const D64 dd;
  const DH dh;
  const auto N = static_cast<int64_t>(hn::Lanes(df)), NH = static_cast<int64_t>(hn::Lanes(dd));
  const int64_t nv = a.Tk / N * N;
  const VF masked = hn::Set(df, a.masked_value);
  const auto qd = hn::Set(dd, static_cast<double>(qi));
  const auto sv = hn::Set(dd, slope);
  for (int64_t j = 0; j < nv; j += N) {
    // k - q and q - k are exact (integers < 2^31); -|q - k| = min(k - q, q - k), which is +0 (like
    // the scalar code's double(-0)) when they are equal.
    const auto k_lo = hn::LoadU(dd, a.kd + j), k_hi = hn::LoadU(dd, a.kd + j + NH);
    const auto f_lo = hn::Sub(k_lo, qd), f_hi = hn::Sub(k_hi, qd);
    const auto d_lo = a.key_form ? k_lo : hn::Min(f_lo, hn::Sub(qd, k_lo));
    const auto d_hi = a.key_form ? k_hi : hn::Min(f_hi, hn::Sub(qd, k_hi));
    const VF v = hn::Combine(df, hn::DemoteTo(dh, hn::Mul(sv, d_hi)), hn::DemoteTo(dh, hn::Mul(sv, d_lo)));
    if (a.causal) {
      // Future keys, k_j > q_i: the sign of k - q survives the demotion (|k - q| >= 1 or 0).
      const VF ahead = hn::Combine(df, hn::DemoteTo(dh, f_hi), hn::DemoteTo(dh, f_lo));
      Io<O>::Store(hn::IfThenElse(hn::Gt(ahead, hn::Zero(df)), masked, v), o + j);
    } else {
      Io<O>::Store(v, o + j);
    }
  }
  return nv;
#endif
}

template <DType O>
void Rows(const AlibiRowsArgs& a, int64_t r0, int64_t r1) {
  using OS = typename Elem<O>::storage;
  auto* out = static_cast<OS*>(a.out);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r / a.Tq, i = r % a.Tq;
    OS* o = out + h * a.os[0] + i * a.os[1];
    const double slope = a.slopes[h];
    const int64_t qi = a.q[i];
    for (int64_t j = VectorKeys<O>(a, o, slope, qi); j < a.Tk; ++j) {  // the scalar kernel's code
      float v;
      if (a.causal && a.k[j] > qi)
        v = a.masked_value;
      else
        v = static_cast<float>(slope * static_cast<double>(a.key_form ? a.k[j] : -std::abs(qi - a.k[j])));
      Elem<O>::store(o + j, v);
    }
  }
}

void AlibiRows(const AlibiRowsArgs& a, int64_t r0, int64_t r1) {
  switch (a.ot) {
    case DType::F16:
      return Rows<DType::F16>(a, r0, r1);
    case DType::BF16:
      return Rows<DType::BF16>(a, r0, r1);
    default:
      return Rows<DType::F32>(a, r0, r1);
  }
}

int64_t AlibiTarget() {
  return HWY_TARGET;
}

}  // namespace posenc::detail::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace posenc::detail::cpu {

HWY_EXPORT(AlibiRows);
HWY_EXPORT(AlibiTarget);

void alibi_rows_simd(const AlibiRowsArgs& a, int64_t r_begin, int64_t r_end) {
  HWY_DYNAMIC_DISPATCH(AlibiRows)(a, r_begin, r_end);
}

int64_t alibi_simd_target() {
  return HWY_DYNAMIC_DISPATCH(AlibiTarget)();
}

}  // namespace posenc::detail::cpu
#endif  // HWY_ONCE
