// CPU kernel for the row combinations of the forward passes (embed + PE, PE add, learned gather):
// one template for every dtype triple, threads over tokens so each streams through contiguous rows.
// Rows contiguous along C take the vectorised kernel (combine_simd.cpp, same bits); other strides
// take the scalar template below.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/combine_simd.h"
#include "cpu/kernels.hpp"
#include "cpu/row_copy.hpp"
#include "dispatch.hpp"
#include "overlap.hpp"

namespace posenc::detail::cpu {

namespace {
using Mode = CombineMode;

template <Mode M, DType O, DType P, DType E>
void combine(const RowCombine& op) {
  using OS = typename Elem<O>::storage;
  using PS = typename Elem<P>::storage;
  using ES = typename Elem<E>::storage;
  const int64_t T = op.out.size(1), C = op.out.size(2), N = op.out.size(0) * T;
  const int64_t so = op.out.stride(2), sp = op.P.stride(1);
  const int64_t se = M == Mode::Embed ? op.E->stride(1) : 1;
  const bool unit = so == 1 && sp == 1 && se == 1;
  const float scale = op.scale;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    OS* o = op.out.at<OS>({n / T, n % T, 0});
    const PS* p = op.P.at<const PS>({op.rows[n], 0});
    const ES* e = nullptr;
    if constexpr (M == Mode::Embed) e = op.E->at<const ES>({op.ids[n], 0});
    // The two branches are the same formula; the unit-stride one lets the compiler vectorise.
    if (unit) {
      for (int64_t c = 0; c < C; ++c) {
        float v = Elem<P>::load(p + c);
        if constexpr (M == Mode::Accumulate) v = Elem<O>::load(o + c) + v;
        if constexpr (M == Mode::Embed) v = Elem<E>::load(e + c) * scale + v;
        Elem<O>::store(o + c, v);
      }
    } else {
      for (int64_t c = 0; c < C; ++c) {
        float v = Elem<P>::load(p + c * sp);
        if constexpr (M == Mode::Accumulate) v = Elem<O>::load(o + c * so) + v;
        if constexpr (M == Mode::Embed) v = Elem<E>::load(e + c * se) * scale + v;
        Elem<O>::store(o + c * so, v);
      }
    }
  }
}

template <Mode M, DType E>
void dispatch_out_p(const RowCombine& op) {
  dispatch_float(op.out.dtype, [&](auto o) {
    dispatch_float(op.P.dtype, [&](auto p) { combine<M, decltype(o)::value, decltype(p)::value, E>(op); });
  });
}

}  // namespace

void combine_rows_scalar(const RowCombine& op) {
  if (op.E != nullptr) {
    dispatch_float(op.E->dtype, [&](auto e) { dispatch_out_p<Mode::Embed, decltype(e)::value>(op); });
  } else if (op.accumulate) {
    dispatch_out_p<Mode::Accumulate, DType::F32>(op);
  } else {
    dispatch_out_p<Mode::Gather, DType::F32>(op);
  }
}

namespace {
// The vectorised kernel's arguments for op (unit strides along C) but P's (P, pt, ps, rows); stream
// when out is large and apart from E (the caller checks P).
CombineRowsArgs combine_args(const RowCombine& op) {
  CombineRowsArgs a;
  a.mode = op.E != nullptr ? CombineMode::Embed
           : op.accumulate ? CombineMode::Accumulate
                           : CombineMode::Gather;
  a.out = op.out.data;
  a.ot = op.out.dtype;
  a.T = op.out.size(1);
  a.C = op.out.size(2);
  a.os[0] = op.out.stride(0);
  a.os[1] = op.out.stride(1);
  a.scale = op.scale;
  if (op.E != nullptr) {
    a.E = op.E->data;
    a.et = op.E->dtype;
    a.es = op.E->stride(0);
    a.ids = op.ids;
  }
  const int64_t N = op.out.size(0) * a.T;
  // Accumulate reads out: ordinary stores there.
  a.stream = a.mode != CombineMode::Accumulate && stream_output(N * a.C * dtype_size(a.ot)) &&
             (op.E == nullptr || !byte_ranges_intersect(op.out, *op.E));
  return a;
}
}  // namespace

void combine_rows(const RowCombine& op) {
  if (op.out.numel() == 0) return;  // (empty views may have null data: no element pointers to form)
  const bool unit = op.out.stride(2) == 1 && op.P.stride(1) == 1 && (op.E == nullptr || op.E->stride(1) == 1);
  if (!unit) return combine_rows_scalar(op);
  CombineRowsArgs a = combine_args(op);
  a.P = op.P.data;
  a.pt = op.P.dtype;
  a.ps = op.P.stride(0);
  a.rows = op.rows;
  a.stream = a.stream && !byte_ranges_intersect(op.out, op.P);
  const int64_t N = op.out.size(0) * a.T;
  // Contiguous blocks of tokens per thread, as schedule(static).
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    combine_rows_simd(a, N * t / nt, N * (t + 1) / nt);
  }
}

void combine_rows_sinusoidal(RowCombine op, const SinusoidalPlan& plan, const std::vector<int64_t>& pos) {
  const int64_t B = op.out.size(0), T = op.out.size(1), C = plan.cfg.dim;
  if (B == 0 || T == 0 || C == 0) return;  // (pos is empty then: the scan below would read past it)
  // Each batch row one sequence, the same in every row: positions strictly increase along t and
  // pos[b*T + t] = pos[t] (Positions::offset with any B, or one sequence). Then each PE row is
  // used once per batch row and computed once.
  bool shared = true;
  for (int64_t t = 1; t < T && shared; ++t)
    shared = pos[static_cast<size_t>(t)] > pos[static_cast<size_t>(t - 1)];
  for (size_t n = static_cast<size_t>(T); n < pos.size() && shared; ++n)
    shared = pos[n] == pos[n - static_cast<size_t>(T)];
  const bool unit = op.out.stride(2) == 1 && (op.E == nullptr || op.E->stride(1) == 1);
  if (!shared || !unit) {
    const PositionTable table = make_position_table(plan, pos);
    op.P = table.view();
    op.rows = table.rows.data();
    return combine_rows(op);
  }
  // Blocks of up to 16 positions: their rows in a buffer of about 64 KiB (one row when C > 16384), from
  // which the block's tokens of a batch row are combined (rows = nullptr: row n - row_origin). No [T, C] table: for T = C = 4096 it was 64 MiB of fresh
  // pages a call.
  const int64_t K = std::clamp<int64_t>(int64_t{16384} / std::max<int64_t>(C, 1), 1, 16);
  CombineRowsArgs a0 = combine_args(op);
  a0.pt = DType::F32;
  a0.ps = C;
  // Work items (block of t, batch row), block-major, split into contiguous ranges over the threads (a
  // thread computes each of its blocks' rows once; with few blocks the batch rows still spread).
  const int64_t blocks = (T + K - 1) / K, items = blocks * B;
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), th = omp_get_thread_num();
    const int64_t i0 = items * th / nt, i1 = items * (th + 1) / nt;
    std::vector<float> rows(static_cast<size_t>(std::min(K, T) * C));  // (zeroed: only what a block uses)
    CombineRowsArgs a = a0;
    a.P = rows.data();
    int64_t have = -1;  // the block whose rows `rows` holds
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t blk = item / B, b = item % B;
      const int64_t tb = blk * K, te = std::min(tb + K, T);
      if (blk != have) {
        for (int64_t t = tb; t < te; ++t) plan.row(pos[static_cast<size_t>(t)], rows.data() + (t - tb) * C);
        have = blk;
      }
      a.row_origin = b * T + tb;
      combine_rows_simd(a, b * T + tb, b * T + te);
    }
  }
}

}  // namespace posenc::detail::cpu
