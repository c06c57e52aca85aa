// src/cpu/rope_simd.h — the vectorised RoPE rotation (src/cpu/rope_simd.cpp): one Highway source
// compiled for every x86/Arm target Highway 1.0 provides (SSSE3, SSE4, AVX2, AVX-512, ...; the
// portable EMU128 as the baseline) and picked at run time (HWY_DYNAMIC_DISPATCH). Every target gives
// the bits of the scalar kernel (rope.cpp): the same fp32 operations in the same order (mul, mul,
// sub / add; no fma) and the same conversions (dtype.hpp's round-to-nearest-even f16/bf16, NaN
// handling included), done with integer vector ops instead of Highway's DemoteTo (which truncates
// bf16 in 1.0).
#pragma once

#include <cstdint>

#include "posenc/dtype.hpp"
#include "posenc/rope.hpp"
#include "rope_freq.hpp"

namespace posenc::detail::cpu {

// One rope_apply call on tensors whose last dim is contiguous (stride 1 in x and out).
struct RopeRowsArgs {
  const void* x = nullptr;
  void* out = nullptr;
  DType xt = DType::F32, ot = DType::F32;
  PairLayout layout = PairLayout::HalfSplit;
  int64_t T = 0, H = 0, D = 0, rot = 0;
  int64_t xs[3] = {}, os[3] = {};  // element strides of dims 0 .. 2 ([B, T, H]) of x and out
  bool in_place = false;           // out is x: the pass-through dims are left alone
  bool stream = false;             // non-temporal stores where out's alignment allows (rope_simd.cpp)
  float sign = 1.0f;               // -1: the backward pass (sin negated)
  const float* cos = nullptr;      // [num_rows, rot / 2]
  const float* sin = nullptr;
  const int64_t* rows = nullptr;  // [B*T]: each token's row of cos / sin; null: row n - row_origin
  int64_t row_origin = 0;
};

// Rotates tokens n_begin .. n_end - 1 (n = b*T + t) on the best target of this CPU. Single-threaded:
// the caller splits the tokens over threads.
void rope_rows_simd(const RopeRowsArgs& a, int64_t n_begin, int64_t n_end);

// Rows u_begin .. u_end - 1 of the cos / sin table ([*, half] each) of the distinct positions pos[u],
// with rope_angle's values: Exact through sincos_rows_simd (vectorised exact angles), HfCompat the
// same scalar code as rope_angle compiled for the CPU's target, the precision branch out of the loop.
void rope_table_rows_simd(const RopeFreqs& f, Precision precision, const int64_t* pos, int64_t u_begin,
                          int64_t u_end, int64_t half, float* cos, float* sin);

// The Highway target (an HWY_* bit; hwy::TargetName names it) that rope_rows_simd runs on now, so a
// test can check that hwy::SetSupportedTargetsForTest took effect.
int64_t rope_simd_target();

}  // namespace posenc::detail::cpu
