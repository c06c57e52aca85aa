// posenc/dtype.hpp — element types, devices and the fp16/bf16 <-> fp32 conversions.
//
// Storage may be f32, f16 (IEEE binary16) or bf16 (bfloat16); all math is fp32 (or wider). Conversions to
// f16/bf16 round to nearest, ties to even; NaN stays NaN; values past the f16 range become +-inf.
// i32/i64 are for token ids and position ids.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace posenc {

enum class DType : uint8_t { F32, F16, BF16, I32, I64 };
enum class Device : uint8_t { CPU, CUDA };

constexpr int64_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
    case DType::F16:
      return 2;
    case DType::BF16:
      return 2;
    case DType::I32:
      return 4;
    case DType::I64:
      return 8;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "f32";
    case DType::F16:
      return "f16";
    case DType::BF16:
      return "bf16";
    case DType::I32:
      return "i32";
    case DType::I64:
      return "i64";
  }
  return "?";
}

constexpr bool is_float(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16;
}
constexpr bool is_int(DType t) {
  return t == DType::I32 || t == DType::I64;
}

inline uint16_t f32_to_bf16_bits(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float bf16_bits_to_f32(uint16_t h) {
  return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

inline uint16_t f32_to_f16_bits(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds past 65504: inf
  if (a < 0x38800000u) {  // below the smallest normal f16 (2^-14): subnormal or zero
    // Add 0.5 (as a float) so the hardware rounds the subnormal mantissa to nearest-even for us.
    const float shifted = std::bit_cast<float>(a) + 0.5f;
    return static_cast<uint16_t>(sign | (std::bit_cast<uint32_t>(shifted) - 0x3f000000u));
  }
  const uint32_t mant_odd = (a >> 13) & 1u;
  const uint32_t r = a + 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round to nearest-even
  return static_cast<uint16_t>(sign | (r >> 13));
}

inline float f16_bits_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
    return std::bit_cast<float>(std::bit_cast<uint32_t>(v) | sign);
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

// Load element i of a float buffer of type T as fp32, and store fp32 into it (rounding to T).
template <DType T>
struct Elem;
template <>
struct Elem<DType::F32> {
  using storage = float;
  static float load(const storage* p) { return *p; }
  static void store(storage* p, float v) { *p = v; }
};
template <>
struct Elem<DType::F16> {
  using storage = uint16_t;
  static float load(const storage* p) { return f16_bits_to_f32(*p); }
  static void store(storage* p, float v) { *p = f32_to_f16_bits(v); }
};
template <>
struct Elem<DType::BF16> {
  using storage = uint16_t;
  static float load(const storage* p) { return bf16_bits_to_f32(*p); }
  static void store(storage* p, float v) { *p = f32_to_bf16_bits(v); }
};

// Round a float to what storing it as T and loading it back gives.
inline float round_to(DType t, float v) {
  switch (t) {
    case DType::F16:
      return f16_bits_to_f32(f32_to_f16_bits(v));
    case DType::BF16:
      return bf16_bits_to_f32(f32_to_bf16_bits(v));
    default:
      return v;
  }
}

}  // namespace posenc
