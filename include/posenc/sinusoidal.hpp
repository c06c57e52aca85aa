// posenc/sinusoidal.hpp — the fixed sinusoidal encodings (Vaswani et al. 2017) and their variants.
//
// Formula (preset Vaswani, d = dim, i = 0 .. d/2 - 1, base = 10000 by default):
//   omega_i       = base^(-2i / d)
//   PE(pos, 2i)   = sin(pos * omega_i)
//   PE(pos, 2i+1) = cos(pos * omega_i)
// Column layouts of one row (h = number of frequencies):
//   Vaswani        [s0 c0 s1 c1 ... s_{h-1} c_{h-1}]        h = d/2, d must be even
//   Marian         [s0 s1 ... s_{h-1} | c0 ... c_{h'-1}]    Vaswani frequencies, h = ceil(d/2) sines and
//                                                           h' = floor(d/2) cosines (HF MarianSinusoidal...)
//   Fairseq, T2T   [s0 ... s_{h-1} | c0 ... c_{h-1} | 0?]   h = floor(d/2), omega_i = exp(-i ln(base) /
//                                                           max(h - 1, 1)); odd d gets a zero last column
// Fairseq rows are indexed as fairseq does: row r holds the encoding of angle multiplier r, and row
// padding_idx (if >= 0) is all zeros; fairseq's make_positions gives real tokens rows padding_idx + 1, ...
// Tensor2Tensor is the same table without a padding row.
//
// Precision: see posenc/precision.hpp. Exact: within 1 ulp of the correctly rounded fp32 value at every
// position in [0, 2^31 - 1]; storage in f16/bf16 rounds that fp32 value once more (round to nearest even).
// Values lie in [-1, 1].
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "posenc/positions.hpp"
#include "posenc/precision.hpp"
#include "posenc/tensor.hpp"

namespace posenc {

enum class SinusoidalPreset : uint8_t { Vaswani, Fairseq, Tensor2Tensor, Marian };

inline constexpr int64_t kMaxSinusoidalDim = int64_t{1} << 20;  // 1048576: the largest dim

struct SinusoidalConfig {
  int64_t dim = 0;        // d, number of columns: 2 .. kMaxSinusoidalDim
  double base = 10000.0;  // > 1
  SinusoidalPreset preset = SinusoidalPreset::Vaswani;
  Precision precision = Precision::Exact;
  int64_t padding_idx = -1;  // Fairseq preset only: this row is zero; -1 for none

  bool operator==(const SinusoidalConfig&) const = default;  // field by field (cached frequencies)
};

// Throws posenc::Error naming the field if the config is invalid (dim < 2 or > kMaxSinusoidalDim, odd dim
// for Vaswani, base <= 1 or not finite, padding_idx < -1 or set for a preset that has none).
void validate(const SinusoidalConfig& cfg, const char* where = "posenc::SinusoidalConfig");

// Number of distinct frequencies and frequency i (omega_i, as a double) of the layout.
int64_t sinusoidal_num_frequencies(const SinusoidalConfig& cfg);
double sinusoidal_frequency(const SinusoidalConfig& cfg, int64_t i);

// out[n, :] = PE(positions[n], :).  out is [N, d], any float dtype and strides; positions has N entries.
void sinusoidal_table(TensorView out, const SinusoidalConfig& cfg, std::span<const int64_t> positions);
// out[n, :] = PE(first + n, :) for n < N.
void sinusoidal_table(TensorView out, const SinusoidalConfig& cfg, int64_t first = 0);
// A contiguous fp32 table [num_positions, d] of positions 0 .. num_positions - 1.
std::vector<float> sinusoidal_table(const SinusoidalConfig& cfg, int64_t num_positions);

// x[b, t, :] += PE(pos[b, t], :) in place.  x is [B, T, d], any float dtype and strides; the sum is formed
// in fp32 and rounded once to x's dtype. Each distinct position is computed once per call.
void sinusoidal_add(TensorView x, const SinusoidalConfig& cfg, const Positions& positions);

}  // namespace posenc
