// posenc/torch/eager.hpp — the same encodings written in plain LibTorch eager ops, the way the Hugging
// Face / PyTorch code writes them (float32 recipes, several passes, autograd through torch ops).
// They are the baseline the benchmarks and the model's `--ops eager` compare against, and an independent
// reference in the tests. Shapes and arguments as in posenc/torch/functional.hpp.
//   sinusoidal_table   PyTorch tutorial / HF: div = exp(arange(0, d, 2) * -(ln(base) / d)) in float32,
//                      pe[:, 0::2] = sin(pos * div), pe[:, 1::2] = cos(pos * div)  (Vaswani layout only)
//   rope               HF apply_rotary_pos_emb: q * cos + rotate_half(q) * sin (HalfSplit), or the
//                      rotate_every_two form (Interleaved), cos/sin from HF's float32 inv_freq
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <utility>

#include "posenc/torch/functional.hpp"

namespace posenc::libtorch::eager {

at::Tensor sinusoidal_table(int64_t num_positions, int64_t dim, double base = 10000.0);
// E[ids] * scale + table[0 .. T-1] (table: a learned parameter or a precomputed sinusoidal buffer, as HF
// and the PyTorch tutorial keep it; undefined = no PE).
at::Tensor embed(const at::Tensor& ids, const at::Tensor& E, const at::Tensor& table, float scale);
std::pair<at::Tensor, at::Tensor> rope(const at::Tensor& q, const at::Tensor& k, const RopeConfig& cfg,
                                       bool heads_first = false);
at::Tensor t5_bias(const at::Tensor& table, const T5BiasConfig& cfg, int64_t Tq, int64_t Tk);

}  // namespace posenc::libtorch::eager
