// bench/proto_rope.hpp — prototypes of RoPE's CPU kernels (src/cpu/rope.cpp), kept in bench/ only
// to measure what a change to them would buy. Rotation, HalfSplit pairs, forward (sign = +1):
//   x'[i]     = x[i] * c[i] - x[i + r/2] * (sign * s[i])
//   x'[i+r/2] = x[i + r/2] * c[i] + x[i] * (sign * s[i])      i < r/2, fp32, no fma (the core's
//                                                               roundings)
// c, s = the token's row of a cos/sin table [R, r/2] fp32 that the caller computed once, outside
// the timed loop (posenc computes it in every call). Threads over tokens with a static schedule, as
// the core does. Every prototype writes the same bits as posenc (the benchmark checks with memcmp).
#pragma once

#include <cstdint>
#include <vector>

#include "posenc/rope.hpp"
#include "posenc/tensor.hpp"

namespace posenc_bench {

// cos, sin [num_rows, half]; rows [N]: the row of token n.
struct ProtoRopeTable {
  const float* cos = nullptr;
  const float* sin = nullptr;
  const int64_t* rows = nullptr;
  int64_t half = 0;
};

// How the rotation is built. x, out [B, T, H, D] f32 or bf16 (same dtype), out may alias x.
enum class ProtoRope {
  // src/cpu/rope.cpp's apply<X, O> verbatim: any strides, the pair layout a runtime value
  // (a = i * step, b = a + second), runtime sign. Only the table is given.
  Verbatim,
  // The same loop with the layout fixed at compile time (HalfSplit: a = i, b = i + r/2).
  HalfSplit,
  // HalfSplit, in place, contiguous [B*T, H, D], 8 (f32) or 16 (bf16) pairs per step with AVX2
  // (a target attribute, not a build flag: the rest of the binary stays baseline x86-64).
  Avx2,
};

// layout and sign are runtime arguments, as in the core (Verbatim reads layout; HalfSplit and Avx2
// assume HalfSplit). false when kind == Avx2 and the CPU has no AVX2 (then nothing is written).
bool proto_rope(ProtoRope kind, const posenc::TensorView& x, const posenc::TensorView& out,
                const ProtoRopeTable& tab, posenc::PairLayout layout, float sign);

// The HfCompat table as src/cpu/rope.cpp's make_rope_table computes it for positions 0 .. N-1,
// with the per-pair work inlined into the loop instead of one out-of-line rope_angle call (and its
// precision branch) per pair: a = float(pos) * inv_freq_f32[i]; c = float(cos(double(a))) * att.
// cos, sin [N, half].
void proto_rope_table_hf(std::vector<float>& cos, std::vector<float>& sin, int64_t N,
                         const std::vector<float>& inv_freq_f32, float attention_scaling);

}  // namespace posenc_bench
