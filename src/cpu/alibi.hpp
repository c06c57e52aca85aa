// src/cpu/alibi.hpp — the CPU kernels of ALiBi biases (cpu/alibi.cpp, cpu/alibi_simd.cpp).
#pragma once

#include <cstdint>

#include "posenc/alibi.hpp"
#include "posenc/tensor.hpp"

namespace posenc::detail::cpu {

// out [H, Tq, Tk]; slopes [H]; q [Tq]; k [Tk]; all checked. When out's last dim is contiguous: row
// copies out of per-head values (alibi.cpp, cpu/row_copy.hpp) when the keys are a run, else vectorised
// rows (alibi_simd.cpp, the best Highway target of the CPU); the scalar kernel otherwise. All give the
// same bits: each value is float(slope * distance) with the distance an exact double.
void alibi_bias(TensorView out, const AlibiConfig& cfg, const double* slopes, const int64_t* q,
                const int64_t* k);
void alibi_bias_scalar(TensorView out, const AlibiConfig& cfg, const double* slopes, const int64_t* q,
                       const int64_t* k);

// One block of rows r = h * Tq + i (r_begin .. r_end - 1) of a contiguous-last-dim out, on the best
// target. kd: the key positions as doubles [Tk].
struct AlibiRowsArgs {
  void* out = nullptr;
  DType ot = DType::F32;
  int64_t Tq = 0, Tk = 0;
  int64_t os[2] = {};  // element strides of out's dims 0 and 1
  const double* slopes = nullptr;
  const int64_t* q = nullptr;
  const int64_t* k = nullptr;
  const double* kd = nullptr;
  bool causal = false, key_form = false;
  float masked_value = 0.0f;
};
void alibi_rows_simd(const AlibiRowsArgs& a, int64_t r_begin, int64_t r_end);
int64_t alibi_simd_target();

}  // namespace posenc::detail::cpu
