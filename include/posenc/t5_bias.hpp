// posenc/t5_bias.hpp — T5's learned relative attention bias (Raffel et al. 2020; HF
// T5Attention._relative_position_bucket and compute_bias).
//
// Each (query, key) pair falls in a bucket of r = k - q (key position minus query position); a
// learned table W [num_buckets, H] holds one scalar per bucket and head, added to the scores:
//   forward:   out[h, i, j]  = W[bucket(k_j - q_i), h]
//   backward:  dW[b, h]     += sum over (i, j) with bucket(k_j - q_i) = b of dout[h, i, j]
//
// bucket(r), exactly as HF (N = num_buckets, D = max_distance):
//   bidirectional (encoders):  N' = N / 2 (floor); offset = N' if r > 0 else 0; d = |r|
//   causal (decoders):         N' = N;             offset = 0;                 d = max(-r, 0)
//                              (keys after the query share bucket 0 with r = 0)
//   max_exact E = N' / 2 (floor)
//   d < E:  bucket = offset + d                                                 (exact distances)
//   d >= E: x = f32(log(d / E)) / f32(ln(D / E)) * f32(N' - E)
//           bucket = offset + min(E + trunc(x), N' - 1)                  (logarithmic up to D)
// with HF's float32 steps: float(d) / float(E) in float32; log of that in float32; ln(D / E) in
// double (Python), rounded to float32; float32 division and product; truncation toward zero. The
// float32 log here is correctly rounded; torch's (Sleef / MKL on CPU, CUDA's logf) is within 1 ulp,
// and glibc's logf, a faithful log like torch's, gave the same buckets for every N' <= 130,
// D <= 1100, d <= 3000 checked. This is torch's CPU recipe; torch's CUDA kernel multiplies by a
// float32 reciprocal of the divisor instead, which gave the same buckets over that range too. The
// float32 recipe differs from exact math where the log ratio lands on an integer (causal, N = 5,
// D = 686, d = 14: real 1.0, float32 0.99999994, bucket 2 instead of 3); buckets follow HF there.
// Odd N with bidirectional: HF uses 2 * floor(N / 2) buckets; the last row of W is never read and
// its gradient is never written.
//
// Layout: W / dW [num_buckets, H] (HF's relative_attention_bias.weight), out / dout [H, Tq, Tk];
// any float dtypes and strides; query_positions has Tq entries and key_positions Tk, in
// [0, 2^31 - 1] (a KV-cache decode step is Tq = 1, query position = cache length).
// Backward: each (b, h) is summed in fp32 in a fixed order and added to dW once, so the bits never
// depend on the thread count or the SIMD target: when the distances k_j - q_i span at most Tq * Tk
// values (always for contiguous positions), first per distance (its pairs in i-major, then j order),
// then the bucket's distance sums in increasing distance; otherwise the bucket's pairs in i-major,
// then j order. Buckets that no pair falls in are not touched (zero dW once, as PyTorch does for
// .grad). Cost: forward a copy of out's bytes (each row a slice of a per-head row of values for
// contiguous keys); backward one read of dout plus H * (Tq + Tk) additions.
#pragma once

#include <cstdint>
#include <span>

#include "posenc/tensor.hpp"

namespace posenc {

struct T5BiasConfig {
  int64_t num_buckets = 32;    // N: >= 2 (causal) or >= 4 (bidirectional), <= 2^31 - 1
  int64_t max_distance = 128;  // D: > max_exact E (see above), <= 2^31 - 1
  bool bidirectional = true;   // HF: not is_decoder (encoder self-attention true, decoder false)
};

// Throws posenc::Error naming the field. The bounds keep every bucket well defined: HF itself
// accepts N' = 1 or D <= E and then computes log(0 / 0) or divides by log(1) = 0.
void validate(const T5BiasConfig& cfg, const char* where = "posenc::T5BiasConfig");

// The bucket of relative_position = key - query, |relative_position| <= 2^31 - 1.
int64_t t5_relative_bucket(int64_t relative_position, const T5BiasConfig& cfg);

// out [H, Tq, Tk] = table [num_buckets, H] gathered by bucket.
void t5_bias_forward(TensorView out, const TensorView& table, const T5BiasConfig& cfg,
                     std::span<const int64_t> query_positions, std::span<const int64_t> key_positions);
// dtable [num_buckets, H] += dout [H, Tq, Tk] summed by bucket (deterministic, see above).
void t5_bias_backward(TensorView dtable, const TensorView& dout, const T5BiasConfig& cfg,
                      std::span<const int64_t> query_positions, std::span<const int64_t> key_positions);

}  // namespace posenc
