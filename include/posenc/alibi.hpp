// posenc/alibi.hpp — ALiBi, attention with linear biases (Press et al. 2022): no position vectors,
// a per-head linear penalty added to the attention scores before softmax.
//
// Slopes (H heads, max_bias = 8 in the paper, BLOOM and MPT; MPT's alibi_bias_max):
//   H a power of two:  slope_h = 2^(-max_bias * (h + 1) / H)                       h = 0 .. H-1
//   otherwise, with n = 2^floor(log2 H) (the power of two below H):
//                      slope_h = 2^(-max_bias * (h + 1) / n)                       h < n
//                      slope_h = 2^(-max_bias * (2(h - n) + 1) / (2n))             n <= h < H
//   i.e. the first n slopes of H = n, then every other slope (odd powers 1, 3, 5, ...) of the 2n
//   sequence. This is BLOOM's build_alibi_tensor (extra_base = 2^(-2^-(log2(2n) - 3)) is the
//   max_bias = 8 case) and exactly MPT's gen_slopes, which builds the 2n sequence and takes
//   concat(s[1::2], s[::2])[:H]. Slopes lie in [2^-max_bias, 1] (1 only when max_bias is so small that
//   2^-x rounds to 1); they are computed in double. max_bias is in (0, 126] (kMaxAlibiBias), so that the
//   smallest slope is a normal float32.
//
// Bias, out[h, i, j] for query position q_i and key position k_j (positions in [0, 2^31 - 1]):
//   AlibiForm::Relative     -slope_h * |q_i - k_j|           the paper's form; MPT with full=True
//                                                            (bidirectional / prefix-LM attention)
//   AlibiForm::KeyPosition  +slope_h * k_j                   BLOOM, Falcon (alibi=True): HF's
//                                                            build_alibi_tensor, key positions
//                                                            = cumsum(attention_mask) - 1
// For causal attention (k_j <= q_i) the two differ by slope_h * q_i, a constant along each softmax
// row, so they give the same attention weights; MPT's causal tensor slope_h * (k_j - (Tk - 1)) is
// a third member of that family. Without a causal mask they differ: KeyPosition then favours later
// keys instead of near ones. With AlibiMask::Causal, entries with k_j > q_i are set to
// masked_value (default -inf; use e.g. the dtype's lowest finite value if -inf is unwanted);
// AlibiMask::None writes the form's value everywhere (Relative is then symmetric in q - k).
//
// Layout: out is [H, Tq, Tk], any float dtype and strides, query_positions has Tq entries and
// key_positions Tk. A KV-cache decode step is Tq = 1 with query position = cache length. H is at most
// kMaxAlibiHeads = 2^20 (real models have <= 128 heads).
// Numerics: each value is slope * distance in double, rounded once to fp32 (then to f16/bf16
// storage); slope * distance < 2^31. For f16 output every unmasked value must stay finite
// (|bias| < 65520, e.g. slope 0.5 up to distance 131039): larger ones are an error, not +-inf.
// Cost: when the keys are a run (k_j = k_0 + j) each head's values are computed once and every row
// is a copy out of them (non-temporal stores past 16 MiB): the output's bytes written once.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "posenc/tensor.hpp"

namespace posenc {

inline constexpr double kMaxAlibiBias = 126.0;               // 2^-126: the smallest normal float32
inline constexpr int64_t kMaxAlibiHeads = int64_t{1} << 20;  // 1048576

enum class AlibiForm : uint8_t { Relative, KeyPosition };
enum class AlibiMask : uint8_t { None, Causal };

struct AlibiConfig {
  int64_t num_heads = 0;  // H in [1, kMaxAlibiHeads]
  double max_bias = 8.0;  // (0, kMaxAlibiBias]
  AlibiForm form = AlibiForm::Relative;
  AlibiMask mask = AlibiMask::None;
  float masked_value = -std::numeric_limits<float>::infinity();  // not NaN; used with Causal
};

// Throws posenc::Error naming the field (num_heads, max_bias, form, mask, masked_value).
void validate(const AlibiConfig& cfg, const char* where = "posenc::AlibiConfig");

// The H slopes above, in head order. num_heads in [1, kMaxAlibiHeads], max_bias in (0, kMaxAlibiBias].
std::vector<double> alibi_slopes(int64_t num_heads, double max_bias = 8.0);

// out [H, Tq, Tk] = the bias above for H = cfg.num_heads.
void alibi_bias(TensorView out, const AlibiConfig& cfg, std::span<const int64_t> query_positions,
                std::span<const int64_t> key_positions);

}  // namespace posenc
