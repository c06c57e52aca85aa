// src/cpu/sincos_simd.h — exact sin/cos tables at speed (src/cpu/sincos_simd.cpp): the operations of
// exact::sincos_turns (src/exact/sincos_turns.hpp) on vectors of doubles, one Highway source compiled
// for every target (SSSE3, SSE4, AVX2, AVX-512, EMU128) and picked at run time. Every target gives the
// bits of the scalar function: the same double operations in the same order, no contraction, and the
// exact products (fma where the target has it natively, Dekker's split otherwise: both are exact, so
// both give the same double).
#pragma once

#include <cstdint>

namespace posenc::detail::cpu {

// For rows u = u_begin .. u_end - 1 and frequencies i < n:
//   sin_out[u * ld + i] = float(sin(pos[u] * omega_i) * scale)
//   cos_out[u * ld + i] = float(cos(pos[u] * omega_i) * scale)
// with sin/cos from exact::sincos_turns, the product by `scale` in double and one rounding to fp32.
// w_hi / w_lo: the quarter-turn frequencies (exact::quarter_turns(omega_i)) split into two arrays.
// Single-threaded: the caller splits rows over threads.
void sincos_rows_simd(const int64_t* pos, int64_t u_begin, int64_t u_end, const double* w_hi,
                      const double* w_lo, int64_t n, double scale, float* sin_out, float* cos_out,
                      int64_t ld);

// The Highway target (an HWY_* bit) sincos_rows_simd runs on now.
int64_t sincos_simd_target();

}  // namespace posenc::detail::cpu
