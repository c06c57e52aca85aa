// src/cpu/combine_simd.h — the vectorised row kernels of the embedding step (src/cpu/combine_simd.cpp):
// the forward's row combination (combine_rows) and the backward's grouped scatter (scatter_add_rows)
// on rows whose last dim C is contiguous. One Highway source compiled for every target Highway 1.0
// provides (SSSE3, SSE4, AVX2, AVX-512, ...; SCALAR or EMU128 as the baseline) and picked at run time.
//
//   combine:  out[n] = E[ids[n]] * scale + P[rows[n]]  |  out[n] + P[rows[n]]  |  P[rows[n]]
//   scatter:  dst[k] = dst[k] + scale * (((0 + src[n0]) + src[n1]) + ...),  n0 < n1 < ... the tokens of key k
//
// Every target gives the bits of the scalar kernels (gather_add.cpp, scatter_grad.cpp): the same fp32
// operations in the same order per element (mul then add, never fused), one rounding to the output
// dtype with dtype.hpp's conversions (round to nearest even, NaN quieted, f16 overflow to inf), done
// with integer vector ops. Error bound: that of the scalar formula, one fp32 rounding per operation
// plus the final rounding to the storage dtype.
#pragma once

#include <cstdint>

#include "cpu/kernels.hpp"
#include "posenc/dtype.hpp"

namespace posenc::detail::cpu {

enum class CombineMode : uint8_t { Gather, Accumulate, Embed };

// One combine_rows call on rows with stride 1 along C in out, P and E.
struct CombineRowsArgs {
  CombineMode mode = CombineMode::Gather;
  void* out = nullptr;      // [B, T, C]
  const void* P = nullptr;  // [R, C]
  const void* E = nullptr;  // [V, C] (Embed only)
  DType ot = DType::F32, pt = DType::F32, et = DType::F32;
  int64_t T = 0, C = 0;
  int64_t os[2] = {};             // element strides of dims 0, 1 of out
  int64_t ps = 0, es = 0;         // row strides of P and E
  const int64_t* rows = nullptr;  // [B*T]; null: row n - row_origin
  int64_t row_origin = 0;
  const int64_t* ids = nullptr;  // [B*T] (Embed only)
  float scale = 1.0f;
  bool stream = false;  // non-temporal stores (Gather / Embed; out must not overlap P or E)
};

// Tokens n_begin .. n_end - 1 (n = b*T + t) on the best target of this CPU. Single-threaded: the
// caller splits the tokens over threads.
void combine_rows_simd(const CombineRowsArgs& a, int64_t n_begin, int64_t n_end);

// One scatter_add_rows call on rows with stride 1 along C in dst and src, tokens already grouped:
// group g is the tokens order[group_start[g]] .. order[group_start[g + 1] - 1] (increasing n), all with
// the key keys[order[group_start[g]]].
struct ScatterRowsArgs {
  void* dst = nullptr;        // [K, C]
  const void* src = nullptr;  // [B, T, C]
  DType dt = DType::F32, st = DType::F32;
  int64_t T = 0, C = 0;
  int64_t ds = 0;      // row stride of dst
  int64_t ss[2] = {};  // element strides of dims 0, 1 of src
  const int64_t* order = nullptr;
  const int64_t* group_start = nullptr;
  const int64_t* keys = nullptr;
  float scale = 1.0f;
};

// Groups g_begin .. g_end - 1, single-threaded; acc is the caller's scratch of C floats.
void scatter_rows_simd(const ScatterRowsArgs& a, int64_t g_begin, int64_t g_end, float* acc);

// The Highway target (an HWY_* bit) these kernels run on now, so a test can check that
// hwy::SetSupportedTargetsForTest took effect.
int64_t combine_simd_target();

// The scalar kernels (any strides): the fallback of combine_rows / scatter_add_rows, and the bits the
// vectorised ones must give (tests/test_combine_simd.cpp).
void combine_rows_scalar(const RowCombine& op);
void scatter_add_rows_scalar(TensorView dst, const TensorView& src, const int64_t* keys, float scale);

}  // namespace posenc::detail::cpu
