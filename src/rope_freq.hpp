// src/rope_freq.hpp — RoPE frequencies after scaling, in both precisions (src/rope_freq.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "exact/dd.hpp"
#include "posenc/rope.hpp"

namespace posenc::detail {

struct RopeFreqs {
  std::vector<exact::DD> omega;  // Exact: omega_i, i < r/2, in double-double
  std::vector<float> omega_f32;  // HfCompat: HF's float32 inv_freq, bit for bit where HF's ops allow
  double attention_scaling = 1.0;
  // Exact: omega_i in quarter turns (exact::quarter_turns), hi and lo parts, for exact::sincos_turns
  // and the vectorised table (cpu/sincos_simd.h).
  std::vector<double> w_hi, w_lo;
};

// Validates cfg (throws posenc::Error naming the field, with `where`) and computes the frequencies
// for sequences of length seq_len (dynamic NTK and LongRoPE depend on it; 0 = as HF before any
// forward: Dynamic unscaled, LongRoPE short factors).
RopeFreqs rope_freqs(const RopeConfig& cfg, int64_t seq_len, const char* where);

}  // namespace posenc::detail
