// src/cuda/conv.hpp — f16/bf16 <-> f32 conversions with exactly the bits of posenc/dtype.hpp (round to
// nearest even; a NaN keeps its sign, and in bf16 its top payload bits, quieted; an f16 NaN becomes
// sign | 0x7e00), as __host__ __device__ functions: the GPU kernels use them instead of
// __float2bfloat16_rn / __float2half_rn, which return one canonical NaN.
// tests/cuda checks them against dtype.hpp on the host (all f16/bf16 inputs, a sweep of f32 inputs) and
// the device build against the host build on the GPU.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define POSENC_CONV_HD __host__ __device__ __forceinline__
#else
#define POSENC_CONV_HD inline
#endif

namespace posenc::detail::cuda::conv {

POSENC_CONV_HD uint32_t bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

POSENC_CONV_HD float from_bits(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

POSENC_CONV_HD uint16_t f32_to_bf16_bits(float f) {
  uint32_t u = bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

POSENC_CONV_HD float bf16_bits_to_f32(uint16_t h) {
  return from_bits(static_cast<uint32_t>(h) << 16);
}

POSENC_CONV_HD uint16_t f32_to_f16_bits(float f) {
  const uint32_t u = bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds past 65504: inf
  if (a < 0x38800000u) {  // below the smallest normal f16 (2^-14): subnormal or zero
    // |f| + 0.5 in fp32 rounds the subnormal f16 mantissa to nearest-even (fp32 add: no flush to zero,
    // posenc's CUDA code is never built with -ftz or fast math).
#if defined(__CUDA_ARCH__)
    const float shifted = __fadd_rn(from_bits(a), 0.5f);
#else
    const float shifted = from_bits(a) + 0.5f;
#endif
    return static_cast<uint16_t>(sign | (bits(shifted) - 0x3f000000u));
  }
  const uint32_t mant_odd = (a >> 13) & 1u;
  const uint32_t r = a + 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round to nearest-even
  return static_cast<uint16_t>(sign | (r >> 13));
}

POSENC_CONV_HD float f16_bits_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24 (exact)
#if defined(__CUDA_ARCH__)
    const float v = __fmul_rn(static_cast<float>(mant), 5.9604644775390625e-08f);
#else
    const float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
#endif
    return from_bits(bits(v) | sign);
  }
  if (exp == 31) return from_bits(sign | 0x7f800000u | (mant << 13));
  return from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

}  // namespace posenc::detail::cuda::conv
