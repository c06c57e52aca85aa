// The threaded sinusoidal kernels against the scalar reference (ref/reference.cpp), bit for bit, for
// every preset, both precisions, odd dims, strided outputs, f16/bf16 storage and in-place addition.
// (Exactness itself is tested against MPFR in test_exact_mpfr.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "posenc/posenc.hpp"
#include "ref/reference.hpp"
#include "test_util.hpp"

using namespace posenc;

namespace {
struct Case {
  SinusoidalPreset preset;
  int64_t dim;
  Precision precision;
  int64_t padding_idx = -1;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  for (Precision pr : {Precision::Exact, Precision::HfCompat}) {
    out.push_back({SinusoidalPreset::Vaswani, 2, pr});
    out.push_back({SinusoidalPreset::Vaswani, 64, pr});
    out.push_back({SinusoidalPreset::Marian, 64, pr});
    out.push_back({SinusoidalPreset::Marian, 7, pr});
    out.push_back({SinusoidalPreset::Fairseq, 64, pr, 1});
    out.push_back({SinusoidalPreset::Fairseq, 9, pr, 0});
    out.push_back({SinusoidalPreset::Tensor2Tensor, 10, pr});
    out.push_back({SinusoidalPreset::Tensor2Tensor, 3, pr});
  }
  return out;
}

SinusoidalConfig config(const Case& c) {
  SinusoidalConfig cfg;
  cfg.preset = c.preset;
  cfg.dim = c.dim;
  cfg.precision = c.precision;
  cfg.padding_idx = c.padding_idx;
  return cfg;
}

const std::vector<int64_t> kPositions{0, 1, 2, 3, 17, 255, 4096, 100000, 1 << 24, 123456789, 2147483647};
}  // namespace

TEST(Sinusoidal, TableMatchesScalarReferenceBitForBit) {
  for (const Case& c : cases()) {
    const SinusoidalConfig cfg = config(c);
    const auto N = static_cast<int64_t>(kPositions.size());
    std::vector<float> got(static_cast<size_t>(N * c.dim));
    sinusoidal_table(TensorView::contiguous(got.data(), DType::F32, {N, c.dim}), cfg, kPositions);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t col = 0; col < c.dim; ++col)
        ASSERT_EQ(
            std::bit_cast<uint32_t>(got[static_cast<size_t>(n * c.dim + col)]),
            std::bit_cast<uint32_t>(ref::sinusoidal_value(cfg, kPositions[static_cast<size_t>(n)], col)))
            << "preset " << int(c.preset) << " dim " << c.dim << " precision " << int(c.precision) << " pos "
            << kPositions[static_cast<size_t>(n)] << " col " << col;
  }
}

TEST(Sinusoidal, PaddingRowAndOddColumnAreZero) {
  SinusoidalConfig cfg;
  cfg.preset = SinusoidalPreset::Fairseq;
  cfg.dim = 9;
  cfg.padding_idx = 2;
  const std::vector<float> t = sinusoidal_table(cfg, 6);
  for (int64_t p = 0; p < 6; ++p) {
    EXPECT_EQ(t[static_cast<size_t>(p * 9 + 8)], 0.0f);
    for (int64_t c = 0; c < 9 && p == 2; ++c) EXPECT_EQ(t[static_cast<size_t>(p * 9 + c)], 0.0f);
  }
  EXPECT_NE(t[static_cast<size_t>(3 * 9)], 0.0f);
}

TEST(Sinusoidal, StridedAndLowPrecisionOutputs) {
  SinusoidalConfig cfg;
  cfg.dim = 16;
  const int64_t N = 40;
  const std::vector<float> ref = sinusoidal_table(cfg, N);
  // Transposed view [N, d] with strides {1, N}, inside a buffer with guard values around it.
  std::vector<float> buf(static_cast<size_t>(N * 16 + 8), 42.0f);
  sinusoidal_table(TensorView::strided(buf.data() + 4, DType::F32, {N, 16}, {1, N}), cfg, 0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < 16; ++c)
      ASSERT_EQ(buf[static_cast<size_t>(4 + c * N + n)], ref[static_cast<size_t>(n * 16 + c)]);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(buf[static_cast<size_t>(i)], 42.0f);
  for (size_t i = buf.size() - 4; i < buf.size(); ++i) EXPECT_EQ(buf[i], 42.0f);
  for (DType dt : {DType::F16, DType::BF16}) {
    std::vector<uint16_t> h(static_cast<size_t>(N * 16));
    sinusoidal_table(TensorView::contiguous(h.data(), dt, {N, 16}), cfg, 0);
    for (size_t i = 0; i < h.size(); ++i) {
      const float want = round_to(dt, ref[i]);
      const float got = dt == DType::F16 ? f16_bits_to_f32(h[i]) : bf16_bits_to_f32(h[i]);
      ASSERT_EQ(got, want) << dtype_name(dt) << " element " << i;
    }
  }
}

TEST(Sinusoidal, AddInPlaceEqualsTablePlusX) {
  SinusoidalConfig cfg;
  cfg.dim = 32;
  const int64_t B = 3, T = 17, C = 32;
  const std::vector<int64_t> off{0, 5, 1000000};
  std::vector<float> x = test::random_floats(static_cast<size_t>(B * T * C), 1);
  const std::vector<float> x0 = x;
  sinusoidal_add(TensorView::contiguous(x.data(), DType::F32, {B, T, C}), cfg, Positions::offsets(off));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < C; ++c) {
        const size_t i = static_cast<size_t>((b * T + t) * C + c);
        ASSERT_EQ(x[i], x0[i] + ref::sinusoidal_value(cfg, off[static_cast<size_t>(b)] + t, c));
      }
}

TEST(Sinusoidal, AddWithPackedSequencesAndBf16) {
  SinusoidalConfig cfg;
  cfg.dim = 8;
  const std::vector<int64_t> cu{0, 4, 9};
  std::vector<uint16_t> x(9 * 8);
  const std::vector<float> init = test::random_floats(x.size(), 2);
  for (size_t i = 0; i < x.size(); ++i) x[i] = f32_to_bf16_bits(init[i]);
  sinusoidal_add(TensorView::contiguous(x.data(), DType::BF16, {1, 9, 8}), cfg, Positions::packed(cu));
  for (int64_t t = 0; t < 9; ++t) {
    const int64_t pos = t < 4 ? t : t - 4;
    for (int64_t c = 0; c < 8; ++c) {
      const size_t i = static_cast<size_t>(t * 8 + c);
      const float want = round_to(
          DType::BF16, bf16_bits_to_f32(f32_to_bf16_bits(init[i])) + ref::sinusoidal_value(cfg, pos, c));
      ASSERT_EQ(bf16_bits_to_f32(x[i]), want);
    }
  }
}

TEST(Sinusoidal, SameBitsForAnyThreadCount) {
  SinusoidalConfig cfg;
  cfg.dim = 128;
  std::vector<float> a, b;
  test::with_threads(1, [&] { a = sinusoidal_table(cfg, 777); });
  test::with_threads(3, [&] { b = sinusoidal_table(cfg, 777); });
  EXPECT_TRUE(test::bits_equal(a, b));
}

TEST(Sinusoidal, FrequenciesFollowTheLayoutRule) {
  SinusoidalConfig v;
  v.dim = 8;
  EXPECT_EQ(sinusoidal_num_frequencies(v), 4);
  EXPECT_DOUBLE_EQ(sinusoidal_frequency(v, 0), 1.0);
  EXPECT_NEAR(sinusoidal_frequency(v, 2), std::pow(10000.0, -0.5), 1e-17);
  SinusoidalConfig f = v;
  f.preset = SinusoidalPreset::Fairseq;
  f.dim = 9;  // h = 4 frequencies, exp(-i ln(10000) / 3)
  EXPECT_EQ(sinusoidal_num_frequencies(f), 4);
  EXPECT_NEAR(sinusoidal_frequency(f, 3), 1e-4, 1e-19);
  SinusoidalConfig m = v;
  m.preset = SinusoidalPreset::Marian;
  m.dim = 7;  // ceil(7/2) = 4 sine columns
  EXPECT_EQ(sinusoidal_num_frequencies(m), 4);
  EXPECT_THROW(sinusoidal_frequency(v, 4), Error);
}

// The plan of a config (its frequencies) is remembered for the last 4 configs per thread (building it was
// ~99% of a one-token call): configs that differ in one field each, more of them than the cache holds,
// twice around, through both users of the cache (sinusoidal_add and a sinusoidal embed source), each
// call bit for bit against the scalar reference.
TEST(Sinusoidal, RememberedPlansFollowEveryConfigChange) {
  std::vector<SinusoidalConfig> cfgs(7, config({SinusoidalPreset::Vaswani, 8, Precision::Exact}));
  cfgs[1].base = 500.0;
  cfgs[2].dim = 6;
  cfgs[3].precision = Precision::HfCompat;
  cfgs[4].preset = SinusoidalPreset::Marian;
  cfgs[5].preset = SinusoidalPreset::Fairseq;
  cfgs[6] = cfgs[5];
  cfgs[6].padding_idx = 123456789;
  const int64_t pos = 123456789;  // (far enough out for the two precisions to differ)
  for (int round = 0; round < 2; ++round)
    for (size_t c = 0; c < cfgs.size(); ++c) {
      const SinusoidalConfig& cfg = cfgs[c];
      std::vector<float> x(static_cast<size_t>(cfg.dim), 0.0f);
      sinusoidal_add(TensorView::contiguous(x.data(), DType::F32, {1, 1, cfg.dim}), cfg,
                     Positions::offset(pos));
      std::vector<float> E(static_cast<size_t>(cfg.dim), 0.0f), e(x.size());
      const int32_t id = 0;
      embed_forward(TensorView::contiguous(e.data(), DType::F32, {1, 1, cfg.dim}),
                    TensorView::contiguous(&id, DType::I32, {1, 1}),
                    TensorView::contiguous(E.data(), DType::F32, {1, cfg.dim}), PeSource::sinusoidal(cfg),
                    Positions::offset(pos), 1.0f);
      for (int64_t col = 0; col < cfg.dim; ++col) {
        const float want = ref::sinusoidal_value(cfg, pos, col);
        ASSERT_EQ(std::bit_cast<uint32_t>(x[static_cast<size_t>(col)]), std::bit_cast<uint32_t>(want))
            << "config " << c << " round " << round << " col " << col;
        ASSERT_EQ(std::bit_cast<uint32_t>(e[static_cast<size_t>(col)]), std::bit_cast<uint32_t>(want))
            << "embed, config " << c << " round " << round << " col " << col;
      }
    }
}
