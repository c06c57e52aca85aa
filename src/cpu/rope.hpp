// src/cpu/rope.hpp — CPU kernels of RoPE (src/cpu/rope.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "posenc/rope.hpp"
#include "rope_freq.hpp"

namespace posenc::detail::cpu {

// cos and sin (times attention_scaling, fp32) of each distinct position of a call, [num_rows, r/2]
// each, and each token's row: computed once per (position, frequency), shared by all heads and by q
// and k.
struct RopeTable {
  std::vector<float> cos, sin;
  std::vector<int64_t> rows;  // [B*T]
  int64_t half = 0, num_rows = 0;
};

// The cos/sin pair of frequency i at pos in cfg's precision, times attention_scaling, rounded to
// fp32.
void rope_angle(const RopeFreqs& f, Precision precision, int64_t pos, int64_t i, float& c, float& s);

RopeTable make_rope_table(const RopeFreqs& f, Precision precision, int64_t half,
                          const std::vector<int64_t>& pos);
// The same into t, reusing its buffers' capacity (no allocation when they are large enough).
void fill_rope_table(RopeTable& t, const RopeFreqs& f, Precision precision, int64_t half,
                     const std::vector<int64_t>& pos);

// out[b, t, h, :] = rotation of x[b, t, h, :] by the token's row of `table`, with sin negated when
// sign < 0 (the backward pass). x and out are [B, T, H, D]; out may alias x exactly (in place).
// Vectorised (rope_simd.cpp, the best Highway target of the CPU) when the last dims of x and out are
// contiguous; rope_apply_scalar otherwise. Both give the same bits.
void rope_apply(const TensorView& x, const TensorView& out, const RopeTable& table, PairLayout layout,
                int64_t rot, float sign);
// rope_apply of q -> qo and k -> ko (k may be null) without a table: each thread computes the cos / sin
// rows of a block of its tokens (rope_angle's values, as the table holds them) and rotates that block
// right away: no table to allocate, and the angles' arithmetic can overlap the rotation's memory
// traffic (it does for f32; bf16's rotation is compute-bound here, BENCHMARKS.md). Taken when every
// last dim is contiguous and the call's positions (pos[n], one per token n = b*T + t of q) either
// strictly increase over n (every row used once) or are the same strictly increasing positions in
// every batch row (each row computed once, used by that t of every batch row); returns false and does
// nothing otherwise. The same bits as make_rope_table + rope_apply.
bool rope_apply_fused(const TensorView& q, const TensorView& qo, const TensorView* k, const TensorView* ko,
                      const RopeFreqs& f, Precision precision, const std::vector<int64_t>& pos,
                      PairLayout layout, int64_t rot, float sign);
// The scalar kernel: one pair at a time, any strides.
void rope_apply_scalar(const TensorView& x, const TensorView& out, const RopeTable& table, PairLayout layout,
                       int64_t rot, float sign);

}  // namespace posenc::detail::cpu
