// CPU kernels of RoPE: a table of cos/sin per distinct position, then one pass over tokens that
// rotates every head of the token with that row. One template for all dtypes and both directions
// (the backward is the forward with sin negated).
#include "cpu/rope.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "cpu/rope_simd.h"
#include "cpu/row_copy.hpp"
#include "dispatch.hpp"
#include "exact/sincos_turns.hpp"
#include "overlap.hpp"

namespace posenc::detail::cpu {

void rope_angle(const RopeFreqs& f, Precision precision, int64_t pos, int64_t i, float& c, float& s) {
  const auto k = static_cast<size_t>(i);
  if (precision == Precision::Exact) {
    // One rounding: cos * attention_scaling is formed in double.
    const exact::SinCosD r = exact::sincos_turns(static_cast<double>(pos), f.w_hi[k], f.w_lo[k]);
    c = static_cast<float>(r.cos * f.attention_scaling);
    s = static_cast<float>(r.sin * f.attention_scaling);
  } else {
    // HF: angle = float(pos) * inv_freq in float32; cos(angle) in float32; times attention_scaling
    // in float32.
    const float a = static_cast<float>(pos) * f.omega_f32[k];
    const auto att = static_cast<float>(f.attention_scaling);
    c = static_cast<float>(std::cos(static_cast<double>(a))) * att;
    s = static_cast<float>(std::sin(static_cast<double>(a))) * att;
  }
}

RopeTable make_rope_table(const RopeFreqs& f, Precision precision, int64_t half,
                          const std::vector<int64_t>& pos) {
  RopeTable t;
  fill_rope_table(t, f, precision, half, pos);
  return t;
}

void fill_rope_table(RopeTable& t, const RopeFreqs& f, Precision precision, int64_t half,
                     const std::vector<int64_t>& pos) {
  t.half = half;
  std::vector<int64_t> uniq(pos);
  std::sort(uniq.begin(), uniq.end());
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
  t.num_rows = static_cast<int64_t>(uniq.size());
  t.cos.resize(static_cast<size_t>(t.num_rows * half));
  t.sin.resize(t.cos.size());
  // rope_angle of every (row, frequency), compiled for the CPU's target (rope_simd.cpp: the precision
  // branch out of the loop; fma and roundsd inline instead of libm calls): 1.2x (Exact) and 1.15x
  // (HfCompat) on AVX2.
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), k = omp_get_thread_num();
    rope_table_rows_simd(f, precision, uniq.data(), t.num_rows * k / nt, t.num_rows * (k + 1) / nt, half,
                         t.cos.data(), t.sin.data());
  }
  t.rows.resize(pos.size());
  const auto n_tok = static_cast<int64_t>(pos.size());
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < n_tok; ++n)
    t.rows[static_cast<size_t>(n)] =
        std::lower_bound(uniq.begin(), uniq.end(), pos[static_cast<size_t>(n)]) - uniq.begin();
}

namespace {
// The pair layout is a compile-time policy: a runtime layout costs 1.4x (f32) to 1.8x (bf16) here
// (BENCHMARKS.md, RoPE prototypes).
template <DType X, DType O, PairLayout L>
void apply(const TensorView& x, const TensorView& out, const RopeTable& tab, int64_t rot, float sign) {
  using XS = typename Elem<X>::storage;
  using OS = typename Elem<O>::storage;
  const int64_t T = x.size(1), H = x.size(2), D = x.size(3), N = x.size(0) * T;
  const int64_t half = rot / 2;
  const int64_t sx = x.stride(3), so = out.stride(3);
  // Element offsets of the two members of pair i.
  const int64_t second = L == PairLayout::HalfSplit ? half : 1;
  constexpr int64_t step = L == PairLayout::HalfSplit ? 1 : 2;
  const bool in_place = x.data == out.data && x.strides == out.strides && X == O;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* c = tab.cos.data() + tab.rows[static_cast<size_t>(n)] * half;
    const float* s = tab.sin.data() + tab.rows[static_cast<size_t>(n)] * half;
    for (int64_t h = 0; h < H; ++h) {
      const XS* xp = x.at<const XS>({n / T, n % T, h, 0});
      OS* op = out.at<OS>({n / T, n % T, h, 0});
      for (int64_t i = 0; i < half; ++i) {
        const int64_t a = i * step, b = a + second;
        const float xa = Elem<X>::load(xp + a * sx), xb = Elem<X>::load(xp + b * sx);
        const float si = sign * s[i];
        // fp32, no fma: the same roundings as HF's q * cos + rotate_half(q) * sin.
        Elem<O>::store(op + a * so, xa * c[i] - xb * si);
        Elem<O>::store(op + b * so, xb * c[i] + xa * si);
      }
      if (!in_place)
        for (int64_t d = rot; d < D; ++d) Elem<O>::store(op + d * so, Elem<X>::load(xp + d * sx));
    }
  }
}
}  // namespace

void rope_apply_scalar(const TensorView& x, const TensorView& out, const RopeTable& table, PairLayout layout,
                       int64_t rot, float sign) {
  dispatch_float(x.dtype, [&](auto xt) {
    dispatch_float(out.dtype, [&](auto ot) {
      constexpr DType X = decltype(xt)::value, O = decltype(ot)::value;
      if (layout == PairLayout::HalfSplit)
        apply<X, O, PairLayout::HalfSplit>(x, out, table, rot, sign);
      else
        apply<X, O, PairLayout::Interleaved>(x, out, table, rot, sign);
    });
  });
}

namespace {
RopeRowsArgs rows_args(const TensorView& x, const TensorView& out, PairLayout layout, int64_t rot,
                       float sign) {
  RopeRowsArgs a;
  a.x = x.data;
  a.out = out.data;
  a.xt = x.dtype;
  a.ot = out.dtype;
  a.layout = layout;
  a.T = x.size(1);
  a.H = x.size(2);
  a.D = x.size(3);
  a.rot = rot;
  for (int d = 0; d < 3; ++d) a.xs[d] = x.stride(d), a.os[d] = out.stride(d);
  a.in_place = x.data == out.data && x.strides == out.strides && x.dtype == out.dtype;
  a.sign = sign;
  // A large output apart from x is written with non-temporal stores: out of place, ordinary stores
  // read each output line before writing it (a third stream of traffic).
  a.stream = !a.in_place && stream_output(x.size(0) * a.T * a.H * a.D * dtype_size(out.dtype)) &&
             !byte_ranges_intersect(x, out);
  return a;
}
}  // namespace

bool rope_apply_fused(const TensorView& q, const TensorView& qo, const TensorView* k, const TensorView* ko,
                      const RopeFreqs& f, Precision precision, const std::vector<int64_t>& pos,
                      PairLayout layout, int64_t rot, float sign) {
  if (q.stride(3) != 1 || qo.stride(3) != 1) return false;
  if (k != nullptr && (k->stride(3) != 1 || ko->stride(3) != 1)) return false;
  // Blocks of positions: along all tokens when every position is used once (strictly increasing over
  // n = b*T + t), or along t when every batch row holds the same strictly increasing positions (each
  // block's rows then serve the same tokens of every batch row).
  const int64_t B = q.size(0), T = q.size(1), N = static_cast<int64_t>(pos.size());
  bool increasing = true, shared = B > 1;
  for (int64_t n = 1; n < N && (increasing || shared); ++n) {
    const int64_t p = pos[static_cast<size_t>(n)], prev = pos[static_cast<size_t>(n - 1)];
    increasing = increasing && p > prev;
    shared = shared && (n < T ? p > prev : p == pos[static_cast<size_t>(n - T)]);
  }
  if (!increasing && !shared) return false;
  const int64_t span = increasing ? N : T, rows_of = increasing ? 1 : B;
  // Positions per block: 16 rows of cos / sin stay in L1 (8 KiB for r = 128). Measured on the GQA bf16
  // shape (BENCHMARKS.md): 8, 16 and 32 within noise of each other, all faster than the table first.
  constexpr int64_t K = 16;
  const RopeRowsArgs aq0 = rows_args(q, qo, layout, rot, sign);
  RopeRowsArgs ak0;
  if (k != nullptr) ak0 = rows_args(*k, *ko, layout, rot, sign);
  const int64_t half = rot / 2;
  // Work items (block, batch row), block-major, split into contiguous ranges over the threads (a thread
  // computes each of its blocks' rows once; with few blocks, as in decoding, the batch rows still spread).
  const int64_t blocks = (span + K - 1) / K, items = blocks * rows_of;
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t i0 = items * t / nt, i1 = items * (t + 1) / nt;
    std::vector<float> cb(static_cast<size_t>(K * half)), sb(cb.size());
    RopeRowsArgs aq = aq0, ak = ak0;
    aq.cos = ak.cos = cb.data();
    aq.sin = ak.sin = sb.data();
    int64_t have = -1;  // the block whose rows cb / sb hold
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t blk = item / rows_of, b = item % rows_of;
      const int64_t ub = blk * K, ue = std::min(ub + K, span);
      if (blk != have) {
        rope_table_rows_simd(f, precision, pos.data() + ub, 0, ue - ub, half, cb.data(), sb.data());
        have = blk;
      }
      const int64_t n0 = b * T + ub, n1 = b * T + ue;  // increasing: rows_of = 1, b = 0
      aq.row_origin = ak.row_origin = n0;
      rope_rows_simd(aq, n0, n1);
      if (k != nullptr) rope_rows_simd(ak, n0, n1);
    }
  }
  return true;
}

void rope_apply(const TensorView& x, const TensorView& out, const RopeTable& table, PairLayout layout,
                int64_t rot, float sign) {
  // The vectorised kernel (rope_simd.cpp, same bits) needs a contiguous last dim.
  if (x.stride(3) != 1 || out.stride(3) != 1) return rope_apply_scalar(x, out, table, layout, rot, sign);
  RopeRowsArgs a = rows_args(x, out, layout, rot, sign);
  a.cos = table.cos.data();
  a.sin = table.sin.data();
  a.rows = table.rows.data();
  const int64_t N = x.size(0) * a.T;
  // Contiguous blocks of tokens per thread, as schedule(static).
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    rope_rows_simd(a, N * t / nt, N * (t + 1) / nt);
  }
}

}  // namespace posenc::detail::cpu
