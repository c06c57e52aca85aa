// src/cpu/avx512_bf16.hpp — whether the kernels' AVX-512 targets convert f32 to bf16 with the CPU's
// AVX512_BF16 instructions (vcvtne2ps2bf16 / vcvtneps2bf16; simd_io-inl.h) instead of integer ops.
// Both give the bits of f32_to_bf16_bits (posenc/dtype.hpp): the instructions round to nearest even and
// quiet NaNs the same way, and the vectors they cannot convert (a subnormal lane, which they flush to
// zero) take the integer path.
#pragma once

#include <atomic>

namespace posenc::detail::cpu {

// On when CPUID reports AVX512_BF16 (the AVX-512 targets themselves run only where Highway found the
// OS's AVX-512 support); read by the kernels on every vector of bf16 output.
extern std::atomic<bool> g_avx512_bf16;

bool cpu_has_avx512_bf16();
// Tests run the integer conversion on the same target by switching this off; on is honoured only where
// the CPU has the instructions. Process-wide: not for use outside tests.
void set_avx512_bf16_for_test(bool on);

}  // namespace posenc::detail::cpu
