// tests/test_golden_fairseq.cpp — the Fairseq preset against Hugging Face's M2M100 / fairseq
// SinusoidalPositionalEmbedding.get_embedding (reference vectors in
// ../shared/golden/hf_reference.json, cases of kind "sinusoidal_concat"; see that folder's README).
//
// HF's recipe, in float32 (torch):  e = ln(10000) / (h - 1)            (h = floor(dim / 2))
//                                   omega_i = exp(i * -e)              (float32 product, float32
//                                   exp) angle = float(r) * omega_i         (float32 product) row r
//                                   = [sin(angle_i)... | cos(angle_i)... | 0 if dim is odd] row
//                                   padding_idx = 0
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "golden.hpp"
#include "posenc/precision.hpp"
#include "posenc/sinusoidal.hpp"

namespace {

using posenc::Precision;
using posenc::SinusoidalConfig;
using posenc::SinusoidalPreset;

constexpr double kBase = 10000.0;  // the README's formula: frequency i = exp(-i ln(10000) / (dim/2 - 1))

std::vector<nlohmann::json> sinusoidal_cases() {
  return posenc::test::golden_cases("sinusoidal_concat");
}

struct Case {
  std::string name;
  int64_t dim, num_embeddings, padding_idx;
  std::vector<std::vector<double>> table;  // [num_embeddings][dim]
};

Case parse(const nlohmann::json& c) {
  Case k{c.at("name").get<std::string>(), c.at("dim").get<int64_t>(), c.at("num_embeddings").get<int64_t>(),
         c.at("padding_idx").is_null() ? -1 : c.at("padding_idx").get<int64_t>(),
         c.at("table").get<std::vector<std::vector<double>>>()};
  return k;
}

std::vector<float> posenc_table(const Case& k, Precision precision) {
  SinusoidalConfig cfg;
  cfg.dim = k.dim;
  cfg.base = kBase;
  cfg.preset = SinusoidalPreset::Fairseq;
  cfg.precision = precision;
  cfg.padding_idx = k.padding_idx;
  return posenc::sinusoidal_table(cfg, k.num_embeddings);
}

// Row r, column j of the real-number formula: (frequency index, angle r * omega_i) in double, used
// only to size the Exact tolerance below.
struct ColumnInfo {
  int64_t i;
  double angle;
};
ColumnInfo column_info(int64_t dim, int64_t r, int64_t j) {
  const int64_t h = dim / 2;
  const int64_t i = j < h ? j : j - h;
  const double e = std::log(kBase) / static_cast<double>(std::max<int64_t>(h - 1, 1));
  return {i, static_cast<double>(r) * std::exp(-static_cast<double>(i) * e)};
}

// Shape, padding row (exactly zero) and the zero last column of odd dims, common to both
// precisions.
void check_shape_and_zeros(const Case& k, const std::vector<float>& got, const char* mode) {
  ASSERT_EQ(static_cast<int64_t>(k.table.size()), k.num_embeddings) << k.name;
  ASSERT_EQ(static_cast<int64_t>(got.size()), k.num_embeddings * k.dim) << k.name;
  for (const auto& row : k.table) ASSERT_EQ(static_cast<int64_t>(row.size()), k.dim) << k.name;
  ASSERT_LT(k.padding_idx, k.num_embeddings) << k.name;
  if (k.padding_idx >= 0) {
    for (int64_t j = 0; j < k.dim; ++j) {
      ASSERT_EQ(k.table[static_cast<size_t>(k.padding_idx)][static_cast<size_t>(j)], 0.0)
          << k.name << ": the reference's padding row is not zero";
      EXPECT_EQ(got[static_cast<size_t>(k.padding_idx * k.dim + j)], 0.0f)
          << k.name << " " << mode << ": padding row " << k.padding_idx << " column " << j;
    }
  }
  if (k.dim % 2 != 0) {
    for (int64_t r = 0; r < k.num_embeddings; ++r)
      EXPECT_EQ(got[static_cast<size_t>(r * k.dim + k.dim - 1)], 0.0f)
          << k.name << " " << mode << ": odd dim, last column of row " << r;
  }
}

// HfCompat runs the same float32 operations as HF. What may differ is only the float32 exp and
// sin/cos implementations, each within 1 ulp of the correctly rounded value (torch's Sleef u10
// kernels and glibc's expf/sinf/cosf), so a value may differ by 2 ulp of a number in [-1, 1]: 2 *
// 2^-23 = 2^-22 (2.4e-7). This presumes the float32 omega_i and angle come out identical (a
// correctly rounded float32 simulation of the recipe agrees with this file to 6e-8); a 1-ulp
// different omega_i would show up here as an error of up to r * ulp(omega_i) ~ 2e-6, and that is a
// parity failure worth seeing. (The exact values differ from this file by up to 1.6e-6, so the
// bound also tells HfCompat from Exact.)
TEST(GoldenFairseq, HfCompatMatchesHuggingFace) {
  for (const nlohmann::json& c : sinusoidal_cases()) {
    const Case k = parse(c);
    const std::vector<float> got = posenc_table(k, Precision::HfCompat);
    check_shape_and_zeros(k, got, "HfCompat");
    if (::testing::Test::HasFatalFailure()) return;  // shapes differ: do not index past the end
    double worst = 0;
    for (int64_t r = 0; r < k.num_embeddings; ++r) {
      for (int64_t j = 0; j < k.dim; ++j) {
        const double g = got[static_cast<size_t>(r * k.dim + j)];
        const double want = k.table[static_cast<size_t>(r)][static_cast<size_t>(j)];
        worst = std::max(worst, std::fabs(g - want));
        EXPECT_LE(std::fabs(g - want), 0x1p-22)
            << k.name << " HfCompat row " << r << " column " << j << ": got " << g << ", HF " << want;
      }
    }
    std::printf("[ golden   ] %s HfCompat: max |posenc - HF| = %.3g\n", k.name.c_str(), worst);
  }
}

// Exact differs from HF by HF's own float32 error, which grows with the angle x = r * omega_i:
//   the float32 e = ln(10000)/(h-1) and the product i * -e carry 2^-24 relative each, so the
//   exponent is off by <= i*e * 2^-23, and omega_i by that much relative; float32 exp adds <= 1 ulp
//   (2^-23 relative); the angle product adds 2^-24 relative. So HF's angle is off by <= |x| * (i*e
//   + 1.5) * 2^-23 (i*e <= ln 10000 = 9.2), and sin/cos pass that on with slope <= 1. HF's float32
//   sin/cos and the two fp32 roundings add
//   <= 2 ulp of a value in [-1, 1]: 2^-22. (The brief's simpler |x| * 2^-23 + 2.4e-7 counts only
//   the angle's own rounding; this file happens to meet it too, at 55% of it, but it is not a
//   bound.)
TEST(GoldenFairseq, ExactMatchesHuggingFaceWithinItsFloat32Error) {
  for (const nlohmann::json& c : sinusoidal_cases()) {
    const Case k = parse(c);
    const std::vector<float> got = posenc_table(k, Precision::Exact);
    check_shape_and_zeros(k, got, "Exact");
    if (::testing::Test::HasFatalFailure()) return;
    const int64_t h = k.dim / 2;
    const double e = std::log(kBase) / static_cast<double>(std::max<int64_t>(h - 1, 1));
    double worst_ratio = 0;
    for (int64_t r = 0; r < k.num_embeddings; ++r) {
      if (r == k.padding_idx) continue;
      for (int64_t j = 0; j < 2 * h; ++j) {
        const ColumnInfo ci = column_info(k.dim, r, j);
        const double tol = std::fabs(ci.angle) * (static_cast<double>(ci.i) * e + 1.5) * 0x1p-23 + 0x1p-22;
        const double g = got[static_cast<size_t>(r * k.dim + j)];
        const double want = k.table[static_cast<size_t>(r)][static_cast<size_t>(j)];
        worst_ratio = std::max(worst_ratio, std::fabs(g - want) / tol);
        EXPECT_LE(std::fabs(g - want), tol)
            << k.name << " Exact row " << r << " column " << j << ": got " << g << ", HF " << want;
      }
    }
    std::printf("[ golden   ] %s Exact: max |posenc - HF| / tolerance = %.3f\n", k.name.c_str(), worst_ratio);
  }
}

}  // namespace
