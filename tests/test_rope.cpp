// RoPE kernels: the fused rotation against HF's formula applied with the cos/sin cache (bit for bit
// in fp32), both pair layouts, partial rotary, GQA, in/out of place, [B, H, T, D] strides, every
// way of giving positions, f16/bf16, the backward as the adjoint (and finite differences),
// thread-count independence, and bad input. Frequencies and scalings are tested in
// test_rope_freq.cpp and test_golden_rope.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cuda/rope_items.hpp"
#include "posenc/posenc.hpp"
#include "test_util.hpp"

using namespace posenc;

namespace {
RopeConfig config(int64_t D, int64_t r, PairLayout layout) {
  RopeConfig c;
  c.head_dim = D;
  c.rotary_dim = r;
  c.layout = layout;
  c.base = 10000.0;
  c.max_position_embeddings = 4096;
  return c;
}

TensorView v4(std::vector<float>& x, int64_t B, int64_t T, int64_t H, int64_t D) {
  return TensorView::contiguous(x.data(), DType::F32, {B, T, H, D});
}

// HF's apply_rotary_pos_emb in fp32 with the cos/sin of rope_cos_sin: out = x * cos + rotate(x) *
// sin, where rotate pairs as the layout says (rotate_half for HalfSplit, (-x1, x0) per pair for
// Interleaved).
std::vector<float> hf_apply(const std::vector<float>& x, int64_t B, int64_t T, int64_t H, int64_t D,
                            const RopeConfig& cfg, const std::vector<int64_t>& pos /*[B*T]*/) {
  const int64_t r = cfg.rot();
  std::vector<float> cos(static_cast<size_t>(B * T * r)), sin(cos.size());
  rope_cos_sin(TensorView::contiguous(cos.data(), DType::F32, {B * T, r}),
               TensorView::contiguous(sin.data(), DType::F32, {B * T, r}), cfg, pos,
               *std::max_element(pos.begin(), pos.end()) + 1);
  std::vector<float> out(x);
  for (int64_t n = 0; n < B * T; ++n)
    for (int64_t h = 0; h < H; ++h) {
      const float* xp = x.data() + (n * H + h) * D;
      float* op = out.data() + (n * H + h) * D;
      for (int64_t d = 0; d < r; ++d) {
        float rot;
        if (cfg.layout == PairLayout::HalfSplit)
          rot = d < r / 2 ? -xp[d + r / 2] : xp[d - r / 2];
        else
          rot = d % 2 == 0 ? -xp[d + 1] : xp[d - 1];
        op[d] = xp[d] * cos[static_cast<size_t>(n * r + d)] + rot * sin[static_cast<size_t>(n * r + d)];
      }
    }
  return out;
}
}  // namespace

TEST(Rope, CosSinCacheFollowsTheFormula) {
  for (PairLayout layout : {PairLayout::HalfSplit, PairLayout::Interleaved}) {
    const RopeConfig cfg = config(64, 64, layout);
    const std::vector<int64_t> pos{0, 1, 7, 1000, 123456};
    std::vector<float> cos(pos.size() * 64), sin(cos.size());
    rope_cos_sin(TensorView::contiguous(cos.data(), DType::F32, {5, 64}),
                 TensorView::contiguous(sin.data(), DType::F32, {5, 64}), cfg, pos);
    for (size_t n = 0; n < pos.size(); ++n)
      for (int64_t d = 0; d < 64; ++d) {
        const int64_t i = layout == PairLayout::HalfSplit ? d % 32 : d / 2;
        // Independent double evaluation; |angle| < 1.3e5, so double's angle error is < 3e-11, far
        // below the fp32 rounding (6e-8) that the 1.2e-7 bound allows for.
        const double a =
            static_cast<double>(pos[n]) * std::pow(10000.0, -2.0 * static_cast<double>(i) / 64.0);
        ASSERT_NEAR(cos[n * 64 + static_cast<size_t>(d)], std::cos(a), 1.2e-7);
        ASSERT_NEAR(sin[n * 64 + static_cast<size_t>(d)], std::sin(a), 1.2e-7);
      }
  }
}

TEST(Rope, ForwardEqualsHfFormulaBitForBit) {
  const int64_t B = 2, T = 9, H = 3;
  for (PairLayout layout : {PairLayout::HalfSplit, PairLayout::Interleaved})
    for (auto [D, r] : {std::pair<int64_t, int64_t>{32, 32}, {40, 16}, {6, 2}})
      for (Precision pr : {Precision::Exact, Precision::HfCompat}) {
        RopeConfig cfg = config(D, r, layout);
        cfg.precision = pr;
        const std::vector<float> x = test::random_floats(static_cast<size_t>(B * T * H * D), 31);
        const std::vector<int64_t> off{3, 70000};
        std::vector<int64_t> pos;
        for (int64_t b = 0; b < B; ++b)
          for (int64_t t = 0; t < T; ++t) pos.push_back(off[static_cast<size_t>(b)] + t);
        std::vector<float> in = x, out(x.size());
        RopeTensors t{v4(in, B, T, H, D), TensorView{}, v4(out, B, T, H, D), TensorView{}};
        rope_forward(t, cfg, Positions::offsets(off));
        EXPECT_TRUE(test::bits_equal(out, hf_apply(x, B, T, H, D, cfg, pos)))
            << "layout " << int(layout) << " D " << D << " r " << r << " precision " << int(pr);
        EXPECT_TRUE(test::bits_equal(in, x));  // out of place leaves the input alone
        rope_forward(RopeTensors{v4(in, B, T, H, D)}, cfg, Positions::offsets(off));  // in place
        EXPECT_TRUE(test::bits_equal(in, out));
      }
}

// rope_forward remembers the frequencies of the last 4 configs per thread (decode steps were 80% frequency
// math): configs that differ in one field each, more of them than the cache holds, twice around, each call
// bit for bit as HF's formula with rope_cos_sin (which computes the frequencies afresh).
TEST(Rope, RememberedFrequenciesFollowEveryConfigChange) {
  std::vector<RopeConfig> cfgs(9, config(16, 16, PairLayout::HalfSplit));
  cfgs[1].base = 500000.0;
  cfgs[2].rotary_dim = 8;
  cfgs[3].precision = Precision::HfCompat;
  cfgs[4].layout = PairLayout::Interleaved;
  cfgs[5].scaling.type = RopeType::Linear;
  cfgs[5].scaling.factor = 2.0;
  cfgs[6] = cfgs[5];
  cfgs[6].scaling.factor = 4.0;
  cfgs[7].scaling.type = RopeType::Llama3;
  cfgs[7].scaling.factor = 8.0;
  cfgs[7].scaling.original_max_position_embeddings = 1024;
  // Dynamic NTK: the frequencies depend on seq_len (here max position + 1: 3, then 9003).
  cfgs[8].scaling.type = RopeType::Dynamic;
  cfgs[8].scaling.factor = 2.0;
  cfgs[8].scaling.original_max_position_embeddings = 1024;
  const int64_t B = 1, T = 3, H = 2, D = 16;
  const std::vector<float> x = test::random_floats(static_cast<size_t>(B * T * H * D), 5);
  for (int round = 0; round < 2; ++round)
    for (size_t c = 0; c < cfgs.size(); ++c)
      for (int64_t start : {int64_t{0}, int64_t{9000}}) {
        std::vector<float> in = x;
        rope_forward(RopeTensors{v4(in, B, T, H, D)}, cfgs[c], Positions::offset(start));
        EXPECT_TRUE(test::bits_equal(in, hf_apply(x, B, T, H, D, cfgs[c], {start, start + 1, start + 2})))
            << "config " << c << " round " << round << " start " << start;
      }
}

// seq_len below max position + 1 would scale Dynamic/LongRoPE frequencies for a shorter sequence than
// the one rotated: an error for those two; the other scalings do not read it.
TEST(Rope, SeqLenBelowThePositionsIsAnErrorWhereItMatters) {
  RopeConfig cfg;
  cfg.head_dim = 8;
  cfg.max_position_embeddings = 16;
  const int64_t B = 1, T = 32, H = 1, D = 8;
  std::vector<float> q(static_cast<size_t>(B * T * H * D), 1.0f);
  for (RopeType type : {RopeType::Default, RopeType::Linear, RopeType::Dynamic}) {
    cfg.scaling.type = type;
    cfg.scaling.factor = type == RopeType::Default ? 1.0 : 2.0;
    const bool by_len = type == RopeType::Dynamic;
    const auto run = [&](int64_t seq_len) {
      rope_forward(RopeTensors{v4(q, B, T, H, D)}, cfg, Positions::offset(0), seq_len);
    };
    if (by_len) {
      try {
        run(8);
        ADD_FAILURE() << "seq_len 8 for positions 0 .. 31 accepted";
      } catch (const Error& e) {
        EXPECT_EQ(e.argument(), "seq_len");
        EXPECT_EQ(e.value(), "8");
        EXPECT_EQ(e.allowed(), ">= max position + 1 = 32 (or 0 for that)");
      }
      EXPECT_THROW(make_rope_cache(cfg, Positions::offset(0), B, T, 31), Error);
      // A grid whose token count overflows is named too (a huge one that does not: std::bad_alloc
      // becomes the same error, not tested here: ASan aborts on such allocations).
      try {
        make_rope_cache(cfg, Positions::offset(0), int64_t{1} << 40, int64_t{1} << 30);
        ADD_FAILURE() << "a 2^70-token cache accepted";
      } catch (const Error& e) {
        EXPECT_EQ(e.argument(), "batch x seq");
      }
    } else {
      EXPECT_NO_THROW(run(8));
    }
    EXPECT_NO_THROW(run(32));
    EXPECT_NO_THROW(run(0));
    EXPECT_NO_THROW(run(100));
  }
}

TEST(Rope, QueriesAndKeysWithGqaAndBhtdLayout) {
  const int64_t B = 2, T = 5, Hq = 8, Hk = 2, D = 16;
  const RopeConfig cfg = config(D, D, PairLayout::HalfSplit);
  const std::vector<float> q0 = test::random_floats(static_cast<size_t>(B * T * Hq * D), 32);
  const std::vector<float> k0 = test::random_floats(static_cast<size_t>(B * T * Hk * D), 33);
  std::vector<float> q = q0, k = k0;
  rope_forward(RopeTensors{v4(q, B, T, Hq, D), v4(k, B, T, Hk, D)}, cfg, Positions::offset(11));
  std::vector<float> qs = q0, ks = k0;  // separately, one at a time
  rope_forward(RopeTensors{v4(qs, B, T, Hq, D)}, cfg, Positions::offset(11));
  rope_forward(RopeTensors{v4(ks, B, T, Hk, D)}, cfg, Positions::offset(11));
  EXPECT_TRUE(test::bits_equal(q, qs));
  EXPECT_TRUE(test::bits_equal(k, ks));
  // The same queries stored [B, H, T, D].
  std::vector<float> qh(q0.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < Hq; ++h)
        for (int64_t d = 0; d < D; ++d)
          qh[static_cast<size_t>(((b * Hq + h) * T + t) * D + d)] =
              q0[static_cast<size_t>(((b * T + t) * Hq + h) * D + d)];
  rope_forward(RopeTensors{bhtd(TensorView::contiguous(qh.data(), DType::F32, {B, Hq, T, D}))}, cfg,
               Positions::offset(11));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < Hq; ++h)
        for (int64_t d = 0; d < D; ++d)
          ASSERT_EQ(qh[static_cast<size_t>(((b * Hq + h) * T + t) * D + d)],
                    q[static_cast<size_t>(((b * T + t) * Hq + h) * D + d)]);
}

TEST(Rope, PositionsAsIdsAndPackedSequences) {
  const int64_t T = 7, H = 2, D = 8;
  const RopeConfig cfg = config(D, D, PairLayout::Interleaved);
  const std::vector<float> x = test::random_floats(static_cast<size_t>(T * H * D), 34);
  const std::vector<int64_t> cu{0, 3, 7};
  const std::vector<int64_t> ids{0, 1, 2, 0, 1, 2, 3};
  std::vector<float> a = x, b = x;
  rope_forward(RopeTensors{v4(a, 1, T, H, D)}, cfg, Positions::packed(cu));
  rope_forward(RopeTensors{v4(b, 1, T, H, D)}, cfg,
               Positions::ids(TensorView::contiguous(ids.data(), DType::I64, {1, T})));
  EXPECT_TRUE(test::bits_equal(a, b));
  EXPECT_TRUE(test::bits_equal(a, hf_apply(x, 1, T, H, D, cfg, ids)));
}

TEST(Rope, LowPrecisionStorageRoundsOnce) {
  const int64_t T = 6, H = 2, D = 16;
  const RopeConfig cfg = config(D, 8, PairLayout::HalfSplit);
  const std::vector<float> xf = test::random_floats(static_cast<size_t>(T * H * D), 35);
  for (DType dt : {DType::BF16, DType::F16}) {
    std::vector<uint16_t> xs(xf.size());
    std::vector<float> xr(xf.size());
    for (size_t i = 0; i < xf.size(); ++i) {
      xs[i] = dt == DType::BF16 ? f32_to_bf16_bits(xf[i]) : f32_to_f16_bits(xf[i]);
      xr[i] = round_to(dt, xf[i]);
    }
    rope_forward(RopeTensors{TensorView::contiguous(xs.data(), dt, {1, T, H, D})}, cfg, Positions::offset(0));
    std::vector<int64_t> pos(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) pos[static_cast<size_t>(t)] = t;
    const std::vector<float> want = hf_apply(xr, 1, T, H, D, cfg, pos);
    for (size_t i = 0; i < xs.size(); ++i)
      ASSERT_EQ(dt == DType::BF16 ? bf16_bits_to_f32(xs[i]) : f16_bits_to_f32(xs[i]), round_to(dt, want[i]))
          << i;
  }
}

TEST(Rope, BackwardIsTheAdjointAndMatchesFiniteDifferences) {
  const int64_t B = 1, T = 4, H = 2, D = 12;
  for (PairLayout layout : {PairLayout::HalfSplit, PairLayout::Interleaved}) {
    RopeConfig cfg = config(D, 8, layout);
    cfg.scaling.type = RopeType::Yarn;  // attention_scaling != 1 must be in both directions
    cfg.scaling.factor = 4.0;
    cfg.scaling.original_max_position_embeddings = 1024;
    const std::vector<float> x = test::random_floats(static_cast<size_t>(B * T * H * D), 36);
    const std::vector<float> G = test::random_floats(x.size(), 37);
    std::vector<float> dx = G;
    rope_backward(RopeTensors{v4(dx, B, T, H, D)}, cfg, Positions::offset(5), 16);
    // L(x) = <G, rope(x)> is linear, so central differences (h = 0.5, 2h = 1) carry only fp32
    // rounding: the <= 2 outputs that change, rounded in both L(x+h) and L(x-h) (|out| < 2: <=
    // 2^-23 each, |G| < 1), x +- h itself, and dx's own rounding: below 1e-6 together, so 2e-6 is a
    // bound with margin.
    auto loss = [&](std::vector<float> v) {
      rope_forward(RopeTensors{v4(v, B, T, H, D)}, cfg, Positions::offset(5), 16);
      double l = 0;
      for (size_t i = 0; i < v.size(); ++i) l += double(G[i]) * v[i];
      return l;
    };
    for (size_t i = 0; i < x.size(); ++i) {
      std::vector<float> p = x, m = x;
      p[i] += 0.5f;
      m[i] -= 0.5f;
      ASSERT_NEAR(dx[i], loss(p) - loss(m), 2e-6) << "layout " << int(layout) << " element " << i;
    }
    // Backward then forward is the identity times attention_scaling^2 (rotation R(-t) R(t) = 1).
    std::vector<float> y = x;
    rope_forward(RopeTensors{v4(y, B, T, H, D)}, cfg, Positions::offset(5), 16);
    rope_backward(RopeTensors{v4(y, B, T, H, D)}, cfg, Positions::offset(5), 16);
    const double s2 = std::pow(rope_frequencies(cfg, 16).attention_scaling, 2);
    for (int64_t n = 0; n < B * T * H; ++n)
      for (int64_t d = 0; d < D; ++d) {
        const size_t i = static_cast<size_t>(n * D + d);
        ASSERT_NEAR(y[i], x[i] * (d < 8 ? s2 : 1.0), 1e-6);
      }
  }
}

TEST(Rope, SameBitsForAnyThreadCount) {
  const int64_t B = 3, T = 33, H = 4, D = 64;
  const RopeConfig cfg = config(D, D, PairLayout::HalfSplit);
  const std::vector<float> x = test::random_floats(static_cast<size_t>(B * T * H * D), 38);
  std::vector<float> a = x, b = x;
  test::with_threads(1, [&] { rope_forward(RopeTensors{v4(a, B, T, H, D)}, cfg, Positions::offset(100)); });
  test::with_threads(3, [&] { rope_forward(RopeTensors{v4(b, B, T, H, D)}, cfg, Positions::offset(100)); });
  EXPECT_TRUE(test::bits_equal(a, b));
}

TEST(Rope, BadInputIsAnError) {
  std::vector<float> q(2 * 3 * 4 * 8), k(2 * 3 * 3 * 8), o(q.size());
  const TensorView qv = v4(q, 2, 3, 4, 8), kv = v4(k, 2, 3, 3, 8);
  auto run = [&](RopeConfig cfg, RopeTensors t, const Positions& p = Positions::offset(0)) {
    rope_forward(t, cfg, p);
  };
  EXPECT_THROW(run(config(8, 7, PairLayout::HalfSplit), RopeTensors{qv}), Error);  // odd rotary dim
  EXPECT_THROW(run(config(8, 10, PairLayout::HalfSplit), RopeTensors{qv}),
               Error);  // rotary > head dim
  EXPECT_THROW(run(config(16, 16, PairLayout::HalfSplit), RopeTensors{qv}),
               Error);  // head dim mismatch
  try {
    run(config(8, 8, PairLayout::HalfSplit), RopeTensors{qv, kv});  // 4 query heads, 3 key heads
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), "k.shape[2] (key heads)");
  }
  std::vector<float> k2(1 * 3 * 2 * 8);
  EXPECT_THROW(run(config(8, 8, PairLayout::HalfSplit), RopeTensors{qv, v4(k2, 1, 3, 2, 8)}),
               Error);  // B differs
  EXPECT_THROW(run(config(8, 8, PairLayout::HalfSplit), RopeTensors{qv, TensorView{}, v4(o, 2, 3, 2, 16)}),
               Error);
  EXPECT_THROW(run(config(8, 8, PairLayout::HalfSplit), RopeTensors{qv}, Positions::offset(-1)), Error);
  EXPECT_THROW(run(config(8, 8, PairLayout::HalfSplit), RopeTensors{qv, TensorView{}, TensorView{}, kv}),
               Error);
  std::vector<float> c(3 * 8), s(3 * 8);
  const std::vector<int64_t> pos{0, 1, 2};
  EXPECT_THROW(rope_cos_sin(TensorView::contiguous(c.data(), DType::F32, {3, 6}),
                            TensorView::contiguous(s.data(), DType::F32, {3, 8}),
                            config(8, 8, PairLayout::HalfSplit), pos),
               Error);
}

// A RopeCache built once gives the bits of the uncached calls, forward and backward, for every
// scaling (Dynamic and LongRoPE with the cache's seq_len), GQA, ids positions, f32 and bf16, and
// can be reused by several calls (several layers).
TEST(Rope, CacheGivesTheBitsOfUncachedCalls) {
  const int64_t B = 2, T = 9, Hq = 4, Hk = 2, D = 16;
  std::vector<RopeConfig> cfgs;
  for (RopeType type : {RopeType::Default, RopeType::Linear, RopeType::Dynamic, RopeType::Yarn,
                        RopeType::Llama3, RopeType::LongRope})
    for (Precision p : {Precision::Exact, Precision::HfCompat}) {
      RopeConfig c = config(D, type == RopeType::Yarn ? 12 : D, PairLayout::HalfSplit);
      c.precision = p;
      c.max_position_embeddings = 8;
      c.scaling.type = type;
      c.scaling.factor = 2.0;
      if (type == RopeType::Llama3 || type == RopeType::Yarn || type == RopeType::LongRope)
        c.scaling.original_max_position_embeddings = 4;
      if (type == RopeType::LongRope) {
        c.scaling.factor = 1.0;
        const int64_t half = c.rot() / 2;
        for (int64_t i = 0; i < half; ++i) {
          c.scaling.short_factor.push_back(1.0 + 0.1 * static_cast<double>(i));
          c.scaling.long_factor.push_back(2.0 + 0.3 * static_cast<double>(i));
        }
      }
      cfgs.push_back(c);
    }
  cfgs.push_back(config(D, 8, PairLayout::Interleaved));
  std::vector<int64_t> ids(static_cast<size_t>(B * T));
  for (size_t n = 0; n < ids.size(); ++n) ids[n] = static_cast<int64_t>((n * 7) % 13);
  const Positions pos = Positions::ids(TensorView::contiguous(ids.data(), DType::I64, {B, T}));
  const std::vector<float> q0 = test::random_floats(static_cast<size_t>(B * T * Hq * D), 71);
  const std::vector<float> k0 = test::random_floats(static_cast<size_t>(B * T * Hk * D), 72);
  for (const RopeConfig& cfg : cfgs)
    for (int64_t seq_len : {int64_t{0}, int64_t{32}}) {
      SCOPED_TRACE(::testing::Message() << "rope_type " << static_cast<int>(cfg.scaling.type) << " precision "
                                        << static_cast<int>(cfg.precision) << " seq_len " << seq_len);
      const RopeCache cache = make_rope_cache(cfg, pos, B, T, seq_len);
      EXPECT_EQ(cache.batch(), B);
      EXPECT_EQ(cache.seq(), T);
      EXPECT_EQ(cache.seq_len(), seq_len == 0 ? 13 : seq_len);
      for (bool fwd : {true, false}) {
        std::vector<float> qa = q0, ka = k0, qb = q0, kb = k0;
        const RopeTensors ta{v4(qa, B, T, Hq, D), v4(ka, B, T, Hk, D)};
        const RopeTensors tb{v4(qb, B, T, Hq, D), v4(kb, B, T, Hk, D)};
        if (fwd) {
          rope_forward(ta, cfg, pos, seq_len);
          rope_forward(tb, cache);
        } else {
          rope_backward(ta, cfg, pos, seq_len);
          rope_backward(tb, cache);
        }
        ASSERT_TRUE(test::bits_equal(qa, qb));
        ASSERT_TRUE(test::bits_equal(ka, kb));
        // A second layer with the same cache: again the uncached bits.
        if (fwd) {
          rope_forward(ta, cfg, pos, seq_len);
          rope_forward(tb, cache);
          ASSERT_TRUE(test::bits_equal(qa, qb));
        }
      }
    }
  // bf16 storage, out of place.
  const RopeConfig cfg = config(D, D, PairLayout::HalfSplit);
  std::vector<uint16_t> qh(q0.size()), oa(q0.size()), ob(q0.size());
  for (size_t i = 0; i < q0.size(); ++i) qh[i] = f32_to_bf16_bits(q0[i]);
  const TensorView qv = TensorView::contiguous(qh.data(), DType::BF16, {B, T, Hq, D});
  rope_forward(RopeTensors{qv, {}, TensorView::contiguous(oa.data(), DType::BF16, {B, T, Hq, D})}, cfg, pos);
  rope_forward(RopeTensors{qv, {}, TensorView::contiguous(ob.data(), DType::BF16, {B, T, Hq, D})},
               make_rope_cache(cfg, pos, B, T));
  EXPECT_EQ(oa, ob);
}

TEST(Rope, CacheMisuseIsAnError) {
  const RopeConfig cfg = config(8, 8, PairLayout::HalfSplit);
  std::vector<float> q(2 * 3 * 4 * 8);
  auto arg_of = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.argument();
    }
    return "(no error)";
  };
  EXPECT_EQ(arg_of([&] { rope_forward(RopeTensors{v4(q, 2, 3, 4, 8)}, RopeCache{}); }), "cache");
  EXPECT_EQ(arg_of([&] { (void)RopeCache{}.config(); }), "cache");
  EXPECT_EQ(arg_of([&] { make_rope_cache(cfg, Positions::offset(0), 0, 3); }), "batch");
  EXPECT_EQ(arg_of([&] { make_rope_cache(cfg, Positions::offset(0), 2, 0); }), "seq");
  EXPECT_EQ(arg_of([&] { make_rope_cache(config(8, 7, PairLayout::HalfSplit), Positions::offset(0), 2, 3); }),
            "rotary_dim");
  const std::vector<int64_t> offs{0, 5, 9};  // 3 offsets for 2 sequences
  EXPECT_EQ(arg_of([&] { make_rope_cache(cfg, Positions::offsets(offs), 2, 3); }).substr(0, 7), "offsets");
  const RopeCache cache = make_rope_cache(cfg, Positions::offset(0), 2, 3);
  EXPECT_EQ(arg_of([&] { rope_forward(RopeTensors{v4(q, 1, 6, 4, 8)}, cache); }), "q.shape[0]");
  EXPECT_EQ(arg_of([&] { rope_backward(RopeTensors{v4(q, 2, 6, 2, 8)}, cache); }), "q.shape[1]");
  EXPECT_EQ(arg_of([&] { rope_forward(RopeTensors{v4(q, 2, 3, 2, 16)}, cache); }).substr(0, 7), "q.shape");
}

// The CUDA kernel's numbering of a block's work items (src/cuda/rope_items.hpp, host build): every
// (tensor, head, token, chunk) exactly once, and in memory order: with head_major, one head's tokens and
// chunks in turn (item = offset + lt * per_head + c), otherwise one token's heads in turn.
TEST(CudaRopeItems, EveryItemOnceInMemoryOrder) {
  struct Shape {
    int32_t tpb, H0, per0, H1, per1;
  };
  for (const Shape& s : {Shape{1, 32, 8, 32, 8}, Shape{8, 32, 8, 8, 8}, Shape{5, 3, 7, 1, 9},
                         Shape{4, 2, 3, 0, 0}, Shape{64, 1, 1, 1, 1}})
    for (bool head_major : {false, true}) {
      const int32_t items0 = s.H0 * s.per0, items1 = s.H1 * s.per1, total = s.tpb * (items0 + items1);
      std::vector<int> seen(static_cast<size_t>(total), 0);
      for (int32_t k = 0; k < total; ++k) {
        const auto it = detail::cuda::rope_item(k, s.tpb, head_major, items0, s.per0, items1, s.per1);
        const int32_t H = it.second ? s.H1 : s.H0, per = it.second ? s.per1 : s.per0;
        ASSERT_TRUE(it.h >= 0 && it.h < H && it.lt >= 0 && it.lt < s.tpb && it.c >= 0 && it.c < per) << k;
        // A dense index of (tensor, head, token, chunk), the same for both orders.
        const int32_t id = (it.second ? s.tpb * items0 : 0) + (it.h * s.tpb + it.lt) * per + it.c;
        ++seen[static_cast<size_t>(id)];
        if (head_major)
          EXPECT_EQ(id, k) << "head-major item " << k;
        else
          EXPECT_EQ(it.lt * (items0 + items1) + (it.second ? items0 : 0) + it.h * per + it.c, k)
              << "token-major item " << k;
      }
      for (int32_t i = 0; i < total; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)], 1) << "item " << i;
    }
}
