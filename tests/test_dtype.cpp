// fp16 / bf16 conversions against independent references: the compiler's _Float16 (IEEE binary16,
// round to nearest even) and a bf16 rounding written from its definition in long arithmetic.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>

#include "posenc/dtype.hpp"

using namespace posenc;

namespace {
bool same_float(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

// bf16 by definition: the nearest value with 8 significant bits (ties to even), computed with doubles.
float bf16_reference(float f) {
  if (std::isnan(f) || std::isinf(f) || f == 0.0f) return f;
  int e;
  std::frexp(static_cast<double>(f), &e);  // f = m * 2^e, 0.5 <= |m| < 1
  // spacing of 8-bit significands, but never below bf16's subnormal spacing 2^-133
  const double q = std::ldexp(1.0, std::max(e - 8, -133));
  const double r = static_cast<double>(f) / q;
  double n = std::nearbyint(r);  // ties to even (default rounding mode)
  const double v = n * q;
  if (std::fabs(v) > 3.3895313892515355e38) return std::copysign(INFINITY, f);  // past bf16 max
  return static_cast<float>(v);
}
}  // namespace

TEST(DType, F16RoundTripsEveryBitPattern) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_bits_to_f32(static_cast<uint16_t>(h));
    const _Float16 ref = std::bit_cast<_Float16>(static_cast<uint16_t>(h));
    ASSERT_TRUE(same_float(f, static_cast<float>(ref))) << "bits " << h;
    if (!std::isnan(f)) ASSERT_EQ(f32_to_f16_bits(f), h) << "bits " << h;
  }
}

TEST(DType, F16RoundingMatchesCompiler) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 2000000; ++i) {
    const float f = std::bit_cast<float>(bits(rng));
    if (std::isnan(f)) continue;
    const uint16_t ref = std::bit_cast<uint16_t>(static_cast<_Float16>(f));
    ASSERT_EQ(f32_to_f16_bits(f), ref) << f;
  }
  // Halfway cases between f16 neighbours round to even.
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    const float lo = f16_bits_to_f32(static_cast<uint16_t>(h)),
                hi = f16_bits_to_f32(static_cast<uint16_t>(h + 1));
    const float mid = static_cast<float>((static_cast<double>(lo) + hi) / 2);
    ASSERT_EQ(f32_to_f16_bits(mid), std::bit_cast<uint16_t>(static_cast<_Float16>(mid)));
  }
}

TEST(DType, Bf16MatchesDefinition) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 2000000; ++i) {
    const float f = std::bit_cast<float>(bits(rng));
    const float got = bf16_bits_to_f32(f32_to_bf16_bits(f));
    ASSERT_TRUE(same_float(got, bf16_reference(f))) << std::hexfloat << f << " got " << got;
  }
  EXPECT_TRUE(std::isnan(bf16_bits_to_f32(f32_to_bf16_bits(NAN))));
}

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::F32), 4);
  EXPECT_EQ(dtype_size(DType::BF16), 2);
  EXPECT_EQ(dtype_size(DType::I64), 8);
  EXPECT_EQ(dtype_name(DType::F16), "f16");
  EXPECT_TRUE(is_float(DType::BF16));
  EXPECT_FALSE(is_float(DType::I32));
}
