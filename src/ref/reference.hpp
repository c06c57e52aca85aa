// src/ref/reference.hpp — plain scalar reference implementations (one loop, fp32 contiguous buffers,
// no threads). The fast kernels are tested against these bit for bit; the exact math itself is tested
// against MPFR.
#pragma once

#include <cstdint>

#include "posenc/sinusoidal.hpp"

namespace posenc::ref {

// PE(pos, c) of cfg, column by column from the formulas in posenc/sinusoidal.hpp.
float sinusoidal_value(const SinusoidalConfig& cfg, int64_t pos, int64_t c);

// out [N*C] = E[ids[n]] * scale + P[rows[n]]   (E [V*C], P [R*C]; E may be null: out = P[rows[n]])
void embed_forward(float* out, const float* E, const int64_t* ids, float scale, const float* P,
                   const int64_t* rows, int64_t N, int64_t C);

// dst[keys[n]] += scale * sum_n src[n] over tokens in order, per key (dst [K*C], src [N*C]).
void scatter_add(float* dst, int64_t K, const float* src, const int64_t* keys, int64_t N, int64_t C,
                 float scale);

}  // namespace posenc::ref
