// The fused embedding step: forward against the unfused formula and the scalar reference (bit for bit in
// fp32), every PE source, dtypes, strides; backward against the reference, across thread counts, and
// against finite differences; bad ids and shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "posenc/posenc.hpp"
#include "ref/reference.hpp"
#include "test_util.hpp"

using namespace posenc;

namespace {
struct Fixture {
  int64_t V = 97, C = 24, P = 64, B = 3, T = 20;
  float scale = 0;
  std::vector<float> E, PE;
  std::vector<int64_t> ids, pos;
  Fixture() {
    scale = embed_scale(EmbedScale::SqrtC, C);
    E = test::random_floats(static_cast<size_t>(V * C), 21);
    PE = test::random_floats(static_cast<size_t>(P * C), 22);
    ids = test::random_ints(static_cast<size_t>(B * T), V, 23);
    ids[5] = ids[6] = ids[40] = 11;  // repeated ids: several tokens sum into one dE row
    pos = test::random_ints(static_cast<size_t>(B * T), P, 24);
  }
  TensorView Ev() { return TensorView::contiguous(E.data(), DType::F32, {V, C}); }
  TensorView PEv() { return TensorView::contiguous(PE.data(), DType::F32, {P, C}); }
  TensorView idv() const { return TensorView::contiguous(ids.data(), DType::I64, {B, T}); }
  Positions positions() const {
    return Positions::ids(TensorView::contiguous(pos.data(), DType::I64, {B, T}));
  }
  std::vector<float> forward() {
    std::vector<float> out(static_cast<size_t>(B * T * C));
    embed_forward(TensorView::contiguous(out.data(), DType::F32, {B, T, C}), idv(), Ev(),
                  PeSource::table(PEv()), positions(), scale);
    return out;
  }
};
}  // namespace

TEST(Embed, ForwardEqualsUnfusedEmbeddingPlusTableToTheLastBit) {
  Fixture s;
  const std::vector<float> out = s.forward();
  for (int64_t n = 0; n < s.B * s.T; ++n)
    for (int64_t c = 0; c < s.C; ++c) {
      // The unfused computation a user would write: emb = E[id] * scale; out = emb + PE[pos].
      const float emb = s.E[static_cast<size_t>(s.ids[static_cast<size_t>(n)] * s.C + c)] * s.scale;
      const float want = emb + s.PE[static_cast<size_t>(s.pos[static_cast<size_t>(n)] * s.C + c)];
      ASSERT_EQ(std::bit_cast<uint32_t>(out[static_cast<size_t>(n * s.C + c)]),
                std::bit_cast<uint32_t>(want));
    }
  std::vector<float> ref(out.size());
  ref::embed_forward(ref.data(), s.E.data(), s.ids.data(), s.scale, s.PE.data(), s.pos.data(), s.B * s.T,
                     s.C);
  EXPECT_TRUE(test::bits_equal(out, ref));
}

TEST(Embed, SinusoidalOnTheFlyEqualsCachedTable) {
  Fixture s;
  SinusoidalConfig cfg;
  cfg.dim = s.C;
  const std::vector<int64_t> off{0, 7, 30};
  std::vector<float> table = sinusoidal_table(cfg, 30 + s.T);
  std::vector<float> a(static_cast<size_t>(s.B * s.T * s.C)), b(a.size());
  const auto outv = [&](std::vector<float>& o) {
    return TensorView::contiguous(o.data(), DType::F32, {s.B, s.T, s.C});
  };
  embed_forward(outv(a), s.idv(), s.Ev(), PeSource::sinusoidal(cfg), Positions::offsets(off), s.scale);
  embed_forward(outv(b), s.idv(), s.Ev(),
                PeSource::table(TensorView::contiguous(table.data(), DType::F32, {30 + s.T, s.C})),
                Positions::offsets(off), s.scale);
  EXPECT_TRUE(test::bits_equal(a, b));
}

TEST(Embed, LowPrecisionAndStridedViews) {
  Fixture s;
  const std::vector<float> want = s.forward();
  // bf16 output: the fp32 result rounded once.
  std::vector<uint16_t> o16(want.size());
  embed_forward(TensorView::contiguous(o16.data(), DType::BF16, {s.B, s.T, s.C}), s.idv(), s.Ev(),
                PeSource::table(s.PEv()), s.positions(), s.scale);
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_EQ(bf16_bits_to_f32(o16[i]), round_to(DType::BF16, want[i]));
  // Output laid out [T, B, C] in memory but viewed as [B, T, C]; ids stored transposed as i32.
  std::vector<float> otb(want.size());
  std::vector<int32_t> ids_t(s.ids.size());
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < s.T; ++t)
      ids_t[static_cast<size_t>(t * s.B + b)] = static_cast<int32_t>(s.ids[static_cast<size_t>(b * s.T + t)]);
  embed_forward(TensorView::strided(otb.data(), DType::F32, {s.B, s.T, s.C}, {s.C, s.B * s.C, 1}),
                TensorView::strided(ids_t.data(), DType::I32, {s.B, s.T}, {1, s.B}), s.Ev(),
                PeSource::table(s.PEv()), s.positions(), s.scale);
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < s.T; ++t)
      for (int64_t c = 0; c < s.C; ++c)
        ASSERT_EQ(otb[static_cast<size_t>((t * s.B + b) * s.C + c)],
                  want[static_cast<size_t>((b * s.T + t) * s.C + c)]);
  // A channel stride of 2 (every other float of a wider buffer) for E.
  std::vector<float> E2(s.E.size() * 2, 99.0f);
  for (size_t i = 0; i < s.E.size(); ++i) E2[2 * i] = s.E[i];
  std::vector<float> o2(want.size());
  embed_forward(TensorView::contiguous(o2.data(), DType::F32, {s.B, s.T, s.C}), s.idv(),
                TensorView::strided(E2.data(), DType::F32, {s.V, s.C}, {2 * s.C, 2}),
                PeSource::table(s.PEv()), s.positions(), s.scale);
  EXPECT_TRUE(test::bits_equal(o2, want));
}

TEST(Embed, BackwardMatchesReferenceForAnyThreadCount) {
  Fixture s;
  const std::vector<float> dout = test::random_floats(static_cast<size_t>(s.B * s.T * s.C), 25);
  std::vector<float> dE_ref = test::random_floats(s.E.size(), 26), dPE_ref(s.PE.size(), 0.0f);
  const std::vector<float> dE0 = dE_ref;
  ref::scatter_add(dE_ref.data(), s.V, dout.data(), s.ids.data(), s.B * s.T, s.C, s.scale);
  ref::scatter_add(dPE_ref.data(), s.P, dout.data(), s.pos.data(), s.B * s.T, s.C, 1.0f);
  for (int threads : {1, 2, 5}) {
    std::vector<float> dE = dE0, dPE(s.PE.size(), 0.0f);
    test::with_threads(threads, [&] {
      embed_backward(TensorView::contiguous(dE.data(), DType::F32, {s.V, s.C}),
                     TensorView::contiguous(dPE.data(), DType::F32, {s.P, s.C}),
                     TensorView::contiguous(dout.data(), DType::F32, {s.B, s.T, s.C}), s.idv(), s.positions(),
                     s.scale);
    });
    EXPECT_TRUE(test::bits_equal(dE, dE_ref)) << threads << " threads";
    EXPECT_TRUE(test::bits_equal(dPE, dPE_ref)) << threads << " threads";
  }
  // Rows of ids that do not occur are untouched (no zero-fill).
  std::vector<float> dE = dE0;
  embed_backward(TensorView::contiguous(dE.data(), DType::F32, {s.V, s.C}), TensorView{},
                 TensorView::contiguous(dout.data(), DType::F32, {s.B, s.T, s.C}), s.idv(), s.positions(),
                 s.scale);
  for (int64_t v = 0; v < s.V; ++v) {
    if (std::find(s.ids.begin(), s.ids.end(), v) != s.ids.end()) continue;
    for (int64_t c = 0; c < s.C; ++c)
      ASSERT_EQ(dE[static_cast<size_t>(v * s.C + c)], dE0[static_cast<size_t>(v * s.C + c)]);
  }
}

TEST(Embed, BackwardAgreesWithFiniteDifferences) {
  Fixture s;
  const std::vector<float> G = test::random_floats(static_cast<size_t>(s.B * s.T * s.C), 27);
  auto loss = [&] {
    const std::vector<float> out = s.forward();
    double l = 0;
    for (size_t i = 0; i < out.size(); ++i) l += double(G[i]) * out[i];
    return l;
  };
  std::vector<float> dE(s.E.size(), 0.0f), dPE(s.PE.size(), 0.0f);
  embed_backward(TensorView::contiguous(dE.data(), DType::F32, {s.V, s.C}),
                 TensorView::contiguous(dPE.data(), DType::F32, {s.P, s.C}),
                 TensorView::contiguous(G.data(), DType::F32, {s.B, s.T, s.C}), s.idv(), s.positions(),
                 s.scale);
  // The loss is linear, so central differences are exact up to fp32 rounding of the perturbed values and
  // of E * scale + PE (|.| < 2 + sqrt(C)): about 2^-21 per token, times the <= 4 tokens sharing a row,
  // divided by 2h = 1: ~4e-6 for dE (outputs up to ~6 with scale = sqrt(24)) and ~1e-6 for dPE, so the
  // bounds 1e-4 and 1e-5 hold with margin.
  const float h = 0.5f;
  for (int64_t v : {s.ids[0], int64_t{11}})
    for (int64_t c = 0; c < s.C; ++c) {
      float& e = s.E[static_cast<size_t>(v * s.C + c)];
      const float e0 = e;
      e = e0 + h;
      const double lp = loss();
      e = e0 - h;
      const double lm = loss();
      e = e0;
      ASSERT_NEAR(dE[static_cast<size_t>(v * s.C + c)], (lp - lm) / (2.0 * h), 1e-4)
          << "v " << v << " c " << c;
    }
  for (int64_t p : {s.pos[0], s.pos[7]})
    for (int64_t c = 0; c < s.C; ++c) {
      float& w = s.PE[static_cast<size_t>(p * s.C + c)];
      const float w0 = w;
      w = w0 + h;
      const double lp = loss();
      w = w0 - h;
      const double lm = loss();
      w = w0;
      ASSERT_NEAR(dPE[static_cast<size_t>(p * s.C + c)], (lp - lm) / (2.0 * h), 1e-5)
          << "p " << p << " c " << c;
    }
}

TEST(Embed, BadIdsShapesAndDtypesAreErrors) {
  Fixture s;
  std::vector<float> out(static_cast<size_t>(s.B * s.T * s.C));
  const TensorView outv = TensorView::contiguous(out.data(), DType::F32, {s.B, s.T, s.C});
  std::vector<int64_t> bad = s.ids;
  bad[13] = s.V;  // one past the vocabulary
  try {
    embed_forward(outv, TensorView::contiguous(bad.data(), DType::I64, {s.B, s.T}), s.Ev(),
                  PeSource::table(s.PEv()), s.positions(), 1.0f);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), "ids[0, 13]");
    EXPECT_EQ(e.value(), std::to_string(s.V));
    EXPECT_NE(e.allowed().find("0 .. 96"), std::string::npos);
  }
  bad[13] = -1;
  EXPECT_THROW(embed_forward(outv, TensorView::contiguous(bad.data(), DType::I64, {s.B, s.T}), s.Ev(),
                             PeSource::table(s.PEv()), s.positions(), 1.0f),
               Error);
  // ids as floats, ids of the wrong shape, E with another C, a PE table with another C.
  EXPECT_THROW(embed_forward(outv, TensorView::contiguous(s.E.data(), DType::F32, {s.B, s.T}), s.Ev(),
                             PeSource::table(s.PEv()), s.positions(), 1.0f),
               Error);
  EXPECT_THROW(embed_forward(outv, TensorView::contiguous(s.ids.data(), DType::I64, {s.T, s.B}), s.Ev(),
                             PeSource::table(s.PEv()), s.positions(), 1.0f),
               Error);
  EXPECT_THROW(
      embed_forward(outv, s.idv(), TensorView::contiguous(s.E.data(), DType::F32, {s.V / 2, s.C * 2}),
                    PeSource::table(s.PEv()), s.positions(), 1.0f),
      Error);
  EXPECT_THROW(
      embed_forward(outv, s.idv(), s.Ev(),
                    PeSource::table(TensorView::contiguous(s.PE.data(), DType::F32, {s.P * 2, s.C / 2})),
                    s.positions(), 1.0f),
      Error);
  // A position past the table, a non-finite scale, an output that aliases itself.
  EXPECT_THROW(
      embed_forward(outv, s.idv(), s.Ev(), PeSource::table(s.PEv()), Positions::offset(s.P - s.T + 1), 1.0f),
      Error);
  EXPECT_THROW(embed_forward(outv, s.idv(), s.Ev(), PeSource::table(s.PEv()), s.positions(), NAN), Error);
  EXPECT_THROW(embed_forward(TensorView::strided(out.data(), DType::F32, {s.B, s.T, s.C}, {0, s.C, 1}),
                             s.idv(), s.Ev(), PeSource::table(s.PEv()), s.positions(), 1.0f),
               Error);
  // Backward: dE of another width; ids out of range.
  std::vector<float> dE(s.E.size());
  EXPECT_THROW(embed_backward(TensorView::contiguous(dE.data(), DType::F32, {s.V * 2, s.C / 2}), TensorView{},
                              outv, s.idv(), s.positions(), 1.0f),
               Error);
  EXPECT_THROW(
      embed_backward(TensorView::contiguous(dE.data(), DType::F32, {s.V, s.C}), TensorView{}, outv,
                     TensorView::contiguous(bad.data(), DType::I64, {s.B, s.T}), s.positions(), 1.0f),
      Error);
}
