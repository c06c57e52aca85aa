// src/cpu/kernels.hpp — the CPU kernels behind the entry points. Arguments are already checked; sizes and
// strides are 64-bit; threads come from OpenMP and never change a result's bits.
#pragma once

#include <cstdint>
#include <vector>

#include "posenc/tensor.hpp"
#include "sinusoidal_plan.hpp"

namespace posenc::detail::cpu {

// out[n, :] = PE(pos[n], :); out is [N, d], any float dtype and strides. (cpu/sinusoidal.cpp)
void sinusoidal_rows(const SinusoidalPlan& plan, const int64_t* pos, TensorView out);

// fp32 rows of PE for the distinct positions of a call, and each token's row. (cpu/sinusoidal.cpp)
struct PositionTable {
  std::vector<float> table;   // [num_rows, dim]
  std::vector<int64_t> rows;  // [B*T] index into table
  int64_t num_rows = 0, dim = 0;
  TensorView view() const { return TensorView::contiguous(table.data(), DType::F32, {num_rows, dim}); }
};
PositionTable make_position_table(const SinusoidalPlan& plan, const std::vector<int64_t>& pos);

// One pass over the tokens n = b*T + t of out [B, T, C] (cpu/gather_add.cpp):
//   accumulate:   out[n] = out[n] + P[rows[n]]
//   E != nullptr: out[n] = E[ids[n]] * scale + P[rows[n]]
//   otherwise:    out[n] = P[rows[n]]
// fp32 math in that order, one rounding to out's dtype.
struct RowCombine {
  TensorView out;                 // [B, T, C]
  const TensorView* E = nullptr;  // [V, C]
  const int64_t* ids = nullptr;   // [B*T]
  float scale = 1.0f;
  TensorView P;                   // [R, C]
  const int64_t* rows = nullptr;  // [B*T]
  bool accumulate = false;
};
void combine_rows(const RowCombine& op);
// combine_rows with P = the sinusoidal rows of pos (op.P and op.rows are ignored). When every batch
// row holds the same strictly increasing positions (one sequence per row, as Positions::offset gives),
// each thread computes the rows of a block of positions right before it combines those tokens of every
// batch row; other positions go through make_position_table. The same bits either way.
void combine_rows_sinusoidal(RowCombine op, const SinusoidalPlan& plan, const std::vector<int64_t>& pos);

// dst[k, :] += scale * (sum of src[n, :] over tokens n with keys[n] == k, in increasing n), fp32 sums;
// src is [B, T, C] (n = b*T + t), dst is [K, C]; only rows that occur are touched. (cpu/scatter_grad.cpp)
void scatter_add_rows(TensorView dst, const TensorView& src, const int64_t* keys, float scale);

}  // namespace posenc::detail::cpu
