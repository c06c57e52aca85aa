// src/cpu/t5_bias.hpp — the CPU kernels of the T5 relative bias (cpu/t5_bias.cpp, cpu/t5_bias_simd.cpp).
#pragma once

#include <cstdint>

#include "posenc/t5_bias.hpp"
#include "posenc/tensor.hpp"

namespace posenc::detail::cpu {

// The config is validated; positions are in [0, kMaxPosition]; Tq, Tk >= 1.
int64_t t5_bucket(int64_t r, const T5BiasConfig& cfg);
// out[d] = t5_bucket(lo + d, cfg) for d < span (span >= 1): the same values, found run by run (the
// distances of one bucket form one interval) in O(num_buckets * log(span)) evaluations.
void t5_buckets_by_distance(const T5BiasConfig& cfg, int64_t lo, int64_t span, int32_t* out);
// out [H, Tq, Tk]; table [N, H]; q [Tq]; k [Tk].
void t5_bias_forward(TensorView out, const TensorView& table, const T5BiasConfig& cfg, const int64_t* q,
                     const int64_t* k);
// dtable [N, H]; dout [H, Tq, Tk]; q [Tq]; k [Tk].
void t5_bias_backward(TensorView dtable, const TensorView& dout, const T5BiasConfig& cfg, const int64_t* q,
                      const int64_t* k);

// acc[j] += float(g[j]) for j < n, g of float dtype t, on the best Highway target (t5_bias_simd.cpp):
// one fp32 addition per element, the bits of the scalar loop on every target.
void t5_accumulate_row(float* acc, const void* g, DType t, int64_t n);
int64_t t5_simd_target();

}  // namespace posenc::detail::cpu
