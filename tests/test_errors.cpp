// Bad input gets a posenc::Error whose message names the argument, its value and the allowed range.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "posenc/posenc.hpp"

using namespace posenc;

namespace {
// Runs f, expects a posenc::Error, and checks the argument it names and that value/allowed are stated.
template <typename F>
void expect_error(F&& f, const std::string& argument, const std::string& value_substr = "") {
  try {
    f();
    ADD_FAILURE() << "no error for " << argument;
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), argument) << e.what();
    if (!value_substr.empty()) EXPECT_NE(e.value().find(value_substr), std::string::npos) << e.what();
    EXPECT_FALSE(e.allowed().empty()) << e.what();
    const std::string msg = e.what();
    EXPECT_NE(msg.find(argument), std::string::npos) << msg;
    EXPECT_NE(msg.find("allowed"), std::string::npos) << msg;
  }
}

SinusoidalConfig cfg_dim(int64_t d, SinusoidalPreset p = SinusoidalPreset::Vaswani) {
  SinusoidalConfig c;
  c.dim = d;
  c.preset = p;
  return c;
}
}  // namespace

TEST(Errors, SinusoidalConfig) {
  expect_error([] { sinusoidal_table(cfg_dim(0), 4); }, "dim", "0");
  expect_error([] { sinusoidal_table(cfg_dim(-8), 4); }, "dim", "-8");
  expect_error([] { sinusoidal_table(cfg_dim(7), 4); }, "dim", "7");
  // Presets that pad or split odd dims accept them.
  EXPECT_NO_THROW(sinusoidal_table(cfg_dim(7, SinusoidalPreset::Fairseq), 4));
  EXPECT_NO_THROW(sinusoidal_table(cfg_dim(7, SinusoidalPreset::Tensor2Tensor), 4));
  EXPECT_NO_THROW(sinusoidal_table(cfg_dim(7, SinusoidalPreset::Marian), 4));
  SinusoidalConfig c = cfg_dim(8);
  c.base = 1.0;
  expect_error([&] { sinusoidal_table(c, 4); }, "base", "1");
  c.base = 0.9999999;  // printed so that it round-trips, not as "1.000000"
  expect_error([&] { sinusoidal_table(c, 4); }, "base", "0.9999999");
  c.base = std::numeric_limits<double>::quiet_NaN();
  expect_error([&] { sinusoidal_table(c, 4); }, "base", "nan");
  c = cfg_dim(8);
  c.padding_idx = 1;  // only fairseq has a padding row
  expect_error([&] { sinusoidal_table(c, 4); }, "padding_idx", "1");
  c.preset = SinusoidalPreset::Fairseq;
  c.padding_idx = -2;
  expect_error([&] { sinusoidal_table(c, 4); }, "padding_idx", "-2");
}

TEST(Errors, Positions) {
  const SinusoidalConfig c = cfg_dim(8);
  std::vector<float> out(3 * 8);
  const TensorView v = TensorView::contiguous(out.data(), DType::F32, {3, 8});
  const std::vector<int64_t> neg{0, -5, 2};
  expect_error([&] { sinusoidal_table(v, c, neg); }, "positions[1]", "-5");
  const std::vector<int64_t> huge{0, 1, int64_t{1} << 31};
  expect_error([&] { sinusoidal_table(v, c, huge); }, "positions[2]", "2147483648");
  expect_error([&] { sinusoidal_table(v, c, int64_t{-1}); }, "first", "-1");
  expect_error([&] { sinusoidal_table(v, c, kMaxPosition - 1); },
               "first");  // last row would be 2^31
  std::vector<float> x(2 * 4 * 8);
  const TensorView xv = TensorView::contiguous(x.data(), DType::F32, {2, 4, 8});
  expect_error([&] { sinusoidal_add(xv, c, Positions::offset(-3)); }, "offset", "-3");
  const std::vector<int64_t> ids{0, 1, 2, -1, 0, 1, 2, 3};
  expect_error(
      [&] {
        sinusoidal_add(xv, c, Positions::ids(TensorView::contiguous(ids.data(), DType::I64, {2, 4})));
      },
      "position ids[0, 3]", "-1");
}

TEST(Errors, ShapesStridesDtypesDevices) {
  const SinusoidalConfig c = cfg_dim(8);
  std::vector<float> out(4 * 8);
  expect_error(
      [&] {
        sinusoidal_table(TensorView::contiguous(out.data(), DType::F32, {4, 6}), c, 0);
      },
      "out.shape[1]", "6");
  expect_error(
      [&] {
        sinusoidal_table(TensorView::contiguous(out.data(), DType::I32, {4, 8}), c, 0);
      },
      "out.dtype", "i32");
  expect_error([&] { sinusoidal_table(TensorView::contiguous(out.data(), DType::F32, {32}), c, 0); },
               "out.ndim", "1");
  expect_error(
      [&] {
        sinusoidal_table(TensorView::contiguous(out.data(), DType::F32, {4, 8}, Device::CUDA), c, 0);
      },
      "out.device", "cuda");
  expect_error(
      [&] {
        sinusoidal_table(TensorView::contiguous(nullptr, DType::F32, {4, 8}), c, 0);
      },
      "out.data");
  const std::vector<int64_t> pos{0, 1, 2};
  expect_error(
      [&] {
        sinusoidal_table(TensorView::contiguous(out.data(), DType::F32, {4, 8}), c, pos);
      },
      "out.shape[0]", "4");
  // An output whose rows overlap (stride 4 < 8 columns) would be written twice: refused.
  expect_error(
      [&] {
        sinusoidal_table(TensorView::strided(out.data(), DType::F32, {4, 8}, {4, 1}), c, 0);
      },
      "out.strides");
  std::vector<float> x(2 * 4 * 8);
  expect_error(
      [&] {
        sinusoidal_add(TensorView::contiguous(x.data(), DType::F32, {2, 4, 16}), c, Positions::offset());
      },
      "x.shape[2]", "16");
  expect_error([] { set_num_threads(0); }, "n", "0");
  expect_error([] { set_num_threads(kMaxThreads + 1); }, "n", std::to_string(kMaxThreads + 1));
}

TEST(Errors, EscapeBytesKeepsPrintableAsciiOnly) {
  EXPECT_EQ(posenc::escape_bytes(std::string("ok \x01\xd3z\n\\", 8)), "ok \\x01\\xd3z\\x0a\\x5c");
  EXPECT_EQ(posenc::escape_bytes("abcdef", 3), "abc...");
  EXPECT_EQ(posenc::escape_bytes(std::string_view("\0", 1)), "\\x00");
  EXPECT_EQ(posenc::escape_bytes(""), "");
}

TEST(Errors, MessageFormat) {
  try {
    sinusoidal_table(cfg_dim(0), 4);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "posenc::sinusoidal_table");
    EXPECT_EQ(std::string(e.what()),
              "posenc::sinusoidal_table: dim = 0 is invalid (allowed: even integer >= 2; the "
              "vaswani layout needs "
              "(sin, cos) pairs, the fairseq and tensor2tensor presets pad odd dims)");
  }
}

// A long value (a 1 MB string from a config, say) is shortened in the message, with its length; value()
// keeps it whole.
TEST(Errors, LongValuesAreShortenedInTheMessage) {
  const std::string v(100000, 'x');
  const Error e("posenc::f", "model_type", v, "a short name");
  const std::string what = e.what();
  EXPECT_LT(what.size(), 400u) << what.substr(0, 400);
  EXPECT_NE(what.find("... (100000 characters) is invalid (allowed: a short name)"), std::string::npos)
      << what;
  EXPECT_EQ(e.value(), v);
  const Error short_one("posenc::f", "a", std::string(240, 'y'), "b");
  EXPECT_NE(std::string(short_one.what()).find(std::string(240, 'y') + " is invalid"), std::string::npos);
}

// ---- found by tests/fuzz/fuzz_core_ops (2026-11-29); each of these crashed, read out of bounds or threw
// something other than posenc::Error before the fix ----

// Offsets that do not fit in int64: the kernels formed wrapped pointers (a segfault, or reads of other
// elements of the buffer).
TEST(Errors, ViewsWhoseOffsetsOverflowInt64) {
  std::vector<float> x(64, 0.0f);
  std::vector<uint16_t> table(16, 0);
  const int64_t huge = int64_t{3} << 61;
  expect_error(
      [&] {
        sinusoidal_add(TensorView::strided(x.data(), DType::F32, {1, 3, 8}, {24, huge, 1}), cfg_dim(8),
                       Positions::offset(0));
      },
      "x.strides");
  expect_error(
      [&] {
        learned_add(
            TensorView::contiguous(x.data(), DType::F32, {1, 2, 4}),
            TensorView::strided(table.data(), DType::BF16, {2, 4}, {4, -std::numeric_limits<int64_t>::max()}),
            Positions::offset(0));
      },
      "table.strides");
  // (2^40 - 1) * 2^40 elements: past int64.
  const int64_t t40 = int64_t{1} << 40;
  RopeConfig rc;
  rc.head_dim = 4;
  expect_error(
      [&] {
        rope_forward({TensorView::strided(x.data(), DType::F32, {1, 1, t40, 4}, {4, 4, t40, 1})}, rc,
                     Positions::offset(0));
      },
      "q.strides");
  // 2^61 elements fit in int64, their 2^63 bytes do not: the byte span is checked too.
  expect_error(
      [&] {
        rope_forward({TensorView::strided(x.data(), DType::F32, {1, 1, 3, 4}, {4, 4, int64_t{1} << 60, 1})},
                     rc, Positions::offset(0));
      },
      "q.strides");
}

TEST(Errors, NegativeSizesNameTheDim) {
  std::vector<float> x(64, 0.0f);
  TensorView v = TensorView::contiguous(x.data(), DType::F32, {1, 3, 8});
  v.shape[1] = -1;  // the factories reject this; the fields are public
  expect_error([&] { sinusoidal_add(v, cfg_dim(8), Positions::offset(0)); }, "x.shape[1]", "-1");
  RopeConfig rc;
  rc.head_dim = 4;
  TensorView q = TensorView::contiguous(x.data(), DType::F32, {1, 3, 1, 4});
  q.shape[0] = -1;
  expect_error([&] { rope_forward({q}, rc, Positions::offset(0)); }, "q.shape[0]", "-1");
  std::vector<int64_t> out;
  expect_error([&] { Positions::offset(0).resolve(-1, 3, 100, "test", out); },
               "B x T (batch x sequence length)");
}

// cu_seqlens {0, 3, 2} with T = 2: the first sequence (3 tokens) was written into a 2-element vector before
// the decreasing entry was seen (ASan: heap-buffer-overflow in the asan preset).
TEST(Errors, PackedPositionsAreCheckedBeforeAnythingIsWritten) {
  const std::vector<int64_t> cu = {0, 3, 2};
  std::vector<int64_t> out;
  expect_error([&] { Positions::packed(cu).resolve(1, 2, 100, "test", out); }, "cu_seqlens[2]", "2");
}

// Empty batches and empty rows are no-ops: the sinusoidal scan read pos[t] of an empty list (a segfault);
// views without elements may have null data, from which the kernels formed element pointers (UBSan).
TEST(Errors, EmptyTensorsAreNoOps) {
  std::vector<float> none;
  sinusoidal_add(TensorView::contiguous(none.data(), DType::F32, {0, 3, 8}), cfg_dim(8),
                 Positions::offset(0));
  std::vector<float> e(24, 1.0f), out(1, 0.0f);
  std::vector<int32_t> ids = {0, 2};
  const TensorView id = TensorView::contiguous(ids.data(), DType::I32, {1, 2});
  embed_forward(TensorView::contiguous(nullptr, DType::F32, {1, 2, 0}), id,
                TensorView::contiguous(nullptr, DType::F32, {3, 0}),
                PeSource::table(TensorView::contiguous(nullptr, DType::F32, {4, 0})), Positions::offset(0),
                1.0f);
  embed_forward(TensorView::contiguous(none.data(), DType::F32, {0, 2, 8}),
                TensorView::contiguous(nullptr, DType::I32, {0, 2}),
                TensorView::contiguous(e.data(), DType::F32, {3, 8}), PeSource::sinusoidal(cfg_dim(8)),
                Positions::offset(0), 1.0f);
  embed_backward(TensorView::contiguous(nullptr, DType::F32, {3, 0}), TensorView{},
                 TensorView::contiguous(out.data(), DType::F32, {1, 2, 0}), id, Positions::offset(0), 1.0f);
  // Ids are still checked when there is nothing to write.
  ids[1] = 3;
  expect_error(
      [&] {
        embed_forward(TensorView::contiguous(nullptr, DType::F32, {1, 2, 0}), id,
                      TensorView::contiguous(nullptr, DType::F32, {3, 0}),
                      PeSource::table(TensorView::contiguous(nullptr, DType::F32, {4, 0})),
                      Positions::offset(0), 1.0f);
      },
      "ids[0, 1]");
}

// An output sharing memory with an input (other than exactly in place) is an error on every device: the
// kernels read inputs after writing outputs. (The CPU computed garbage for these before; only the CUDA
// path refused them.)
TEST(Errors, OutputsSharingMemoryWithInputs) {
  std::vector<float> buf(2 * 4 * 3 * 2 * 8, 0.5f);
  float* p = buf.data();
  RopeConfig rc;
  rc.head_dim = 8;
  const TensorView q = TensorView::contiguous(p, DType::F32, {2, 4, 2, 8});
  const TensorView q_shift = TensorView::contiguous(p + 8, DType::F32, {2, 4, 2, 8});
  expect_error(
      [&] {
        rope_forward({q, {}, q_shift}, rc, Positions::offset(0));
      },
      "q_out", "sharing memory with q");
  expect_error(
      [&] {
        rope_forward({q, q_shift}, rc, Positions::offset(0));
      },
      "k (in place)", "sharing memory with q");
  // q and k of one fused [B, T, 3, H, D] buffer, in place: interleaved, disjoint elements.
  const auto part = [&](int j) {
    return TensorView::strided(p + j * 16, DType::F32, {2, 4, 2, 8}, {4 * 48, 48, 8, 1});
  };
  EXPECT_NO_THROW(rope_forward({part(0), part(1)}, rc, Positions::offset(0)));
  EXPECT_NO_THROW(rope_forward({part(0), part(1), part(2), {}}, rc, Positions::offset(0)))
      << "q into v, k in place";
  // With GQA the head counts differ: q = heads 0..3, k = heads 4..5 of a [B, T, 4 + 2 + 2, D] buffer
  // (found by fuzz_core_ops: the overlap test was precise only for views of one shape). The same bits
  // as q and k rotated separately.
  {
    const int64_t B = 2, T = 3, D = 8, Hs = 8;
    std::vector<float> qkv(static_cast<size_t>(B * T * Hs * D));
    for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = static_cast<float>(i % 97) / 97.0f - 0.5f;
    std::vector<float> q_sep(static_cast<size_t>(B * T * 4 * D)), k_sep(static_cast<size_t>(B * T * 2 * D));
    for (int64_t n = 0; n < B * T; ++n)
      for (int64_t c = 0; c < 6 * D; ++c)
        (c < 4 * D ? q_sep[static_cast<size_t>(n * 4 * D + c)]
                   : k_sep[static_cast<size_t>(n * 2 * D + c - 4 * D)]) =
            qkv[static_cast<size_t>(n * Hs * D + c)];
    const auto heads = [&](int64_t first, int64_t count) {
      return TensorView::strided(qkv.data() + first * D, DType::F32, {B, T, count, D},
                                 {T * Hs * D, Hs * D, D, 1});
    };
    EXPECT_NO_THROW(rope_forward({heads(0, 4), heads(4, 2)}, rc, Positions::offset(5)));
    rope_forward({TensorView::contiguous(q_sep.data(), DType::F32, {B, T, 4, D}),
                  TensorView::contiguous(k_sep.data(), DType::F32, {B, T, 2, D})},
                 rc, Positions::offset(5));
    for (int64_t n = 0; n < B * T; ++n)
      for (int64_t c = 0; c < 6 * D; ++c)
        ASSERT_EQ(qkv[static_cast<size_t>(n * Hs * D + c)],
                  c < 4 * D ? q_sep[static_cast<size_t>(n * 4 * D + c)]
                            : k_sep[static_cast<size_t>(n * 2 * D + c - 4 * D)])
            << "token " << n << " column " << c;
    // k one head further overlaps q's last head: still an error.
    expect_error(
        [&] {
          rope_forward({heads(0, 4), heads(3, 2)}, rc, Positions::offset(5));
        },
        "k (in place)", "sharing memory with q");
  }
  // rope_cos_sin: cos and sin must not share memory (the second write overwrote the first).
  {
    const std::vector<int64_t> pos = {0, 1};
    expect_error(
        [&] {
          rope_cos_sin(TensorView::contiguous(p, DType::F32, {2, 8}),
                       TensorView::contiguous(p + 4, DType::F32, {2, 8}), rc, pos, 0);
        },
        "sin", "sharing memory with cos");
  }

  std::vector<int32_t> ids = {0, 1};
  const TensorView id = TensorView::contiguous(ids.data(), DType::I32, {1, 2});
  const TensorView E = TensorView::contiguous(p, DType::F32, {4, 8});
  expect_error(
      [&] {
        embed_forward(TensorView::contiguous(p + 8, DType::F32, {1, 2, 8}), id, E,
                      PeSource::sinusoidal(cfg_dim(8)), Positions::offset(0), 1.0f);
      },
      "out", "sharing memory with E");
  expect_error(
      [&] {
        learned_add(TensorView::contiguous(p, DType::F32, {1, 2, 8}),
                    TensorView::contiguous(p + 8, DType::F32, {4, 8}), Positions::offset(0));
      },
      "x", "sharing memory with table");
  T5BiasConfig tc;
  const std::vector<int64_t> qp = {0, 1}, kp = {0, 1};
  expect_error(
      [&] {
        t5_bias_forward(TensorView::contiguous(p, DType::F32, {2, 2, 2}),
                        TensorView::contiguous(p, DType::F32, {32, 2}), tc, qp, kp);
      },
      "out", "sharing memory with table");
}

// ---- found by an API audit (/tmp/api_audit probes, 2026-12); each of these read out of bounds, overflowed,
// looped, threw std::bad_alloc or gave wrong values without a word before the fix ----

// A view with ndim outside 0 .. kMaxDims (a 7-d DLPack tensor copied field by field): describe() read past
// shape[6] and strides[6] while building the ndim error (a segfault for ndim 100000).
TEST(Errors, RankOutsideTheViewArraysIsNamedNotRead) {
  std::vector<float> table(16 * 4, 0.0f), out(2 * 3 * 4, 0.0f);
  for (const int nd : {7, 100000, -1}) {
    TensorView o = TensorView::contiguous(out.data(), DType::F32, {2, 3, 4});
    o.ndim = nd;
    expect_error(
        [&] {
          learned_forward(o, TensorView::contiguous(table.data(), DType::F32, {16, 4}), Positions::offset(0));
        },
        "out.ndim", std::to_string(nd));
    expect_error([&] { sinusoidal_add(o, cfg_dim(4), Positions::offset(0)); }, "x.ndim", std::to_string(nd));
    EXPECT_NE(o.describe().find("ndim " + std::to_string(nd)), std::string::npos) << o.describe();
    expect_error([&] { (void)o.numel(); }, "ndim", std::to_string(nd));
    EXPECT_FALSE(o.is_contiguous());
  }
}

// num_heads = 2^62: the search for the largest power of two <= H overflowed int64 and never ended; 2^40
// heads asked for 8 TB of slopes (std::bad_alloc).
TEST(Errors, AlibiHeadCountHasAnUpperBound) {
  expect_error([] { alibi_slopes(int64_t{1} << 40); }, "num_heads", "1099511627776");
  expect_error([] { alibi_slopes(int64_t{1} << 62); }, "num_heads", "4611686018427387904");
  expect_error([] { alibi_slopes(kMaxAlibiHeads + 1); }, "num_heads", "1048577");
  EXPECT_EQ(alibi_slopes(kMaxAlibiHeads).size(), static_cast<size_t>(kMaxAlibiHeads));
  AlibiConfig a;
  a.num_heads = int64_t{1} << 40;
  const std::vector<int64_t> q = {0};
  expect_error(
      [&] {
        alibi_bias(TensorView::contiguous(nullptr, DType::F32, {a.num_heads, 1, 0}), a, q, {});
      },
      "num_heads", "1099511627776");
  expect_error([&] { validate(a); }, "num_heads");
}

// Views whose address is not a multiple of their element size (f32 at raw + 1, bf16 at an odd address,
// i64 ids at raw + 4) ran through the CPU kernels: misaligned loads and stores (UB). The CUDA checks
// refused them already.
TEST(Errors, MisalignedDataIsRefusedOnEveryDevice) {
  alignas(64) static unsigned char raw[4096] = {};
  alignas(64) static float table[64 * 8] = {};
  const TensorView T = TensorView::contiguous(table, DType::F32, {64, 8});
  expect_error(
      [&] {
        learned_forward(TensorView::contiguous(raw + 1, DType::F32, {1, 4, 8}), T, Positions::offset(0));
      },
      "out.data", "1 byte past a multiple of 4");
  expect_error(
      [&] {
        learned_forward(TensorView::contiguous(raw + 1024, DType::F32, {1, 4, 8}),
                        TensorView::contiguous(raw + 2, DType::F32, {16, 8}), Positions::offset(0));
      },
      "table.data", "2 bytes past a multiple of 4");
  expect_error(
      [&] {
        sinusoidal_add(TensorView::contiguous(raw + 1, DType::BF16, {1, 4, 8}), cfg_dim(8),
                       Positions::offset(0));
      },
      "x.data", "1 byte past a multiple of 2");
  expect_error(
      [&] {
        learned_forward(TensorView::contiguous(raw + 1024, DType::F32, {1, 4, 8}), T,
                        Positions::ids(TensorView::contiguous(raw + 4, DType::I64, {1, 4})));
      },
      "position ids.data", "4 bytes past a multiple of 8");
  RopeConfig rc;
  rc.head_dim = 8;
  expect_error(
      [&] {
        rope_forward({TensorView::contiguous(raw + 2, DType::F32, {1, 4, 2, 8})}, rc, Positions::offset(3));
      },
      "q.data", "2 bytes past a multiple of 4");
  try {
    sinusoidal_add(TensorView::contiguous(raw + 3, DType::F16, {1, 2, 8}), cfg_dim(8), Positions::offset(0));
    ADD_FAILURE() << "misaligned f16 accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.allowed().find("multiple of 2 bytes"), std::string::npos) << e.what();
  }
  // Aligned to the element (not to 16 bytes): fine. An empty view's address is not read.
  EXPECT_NO_THROW(sinusoidal_add(TensorView::contiguous(raw + 6, DType::BF16, {1, 4, 8}), cfg_dim(8),
                                 Positions::offset(0)));
  EXPECT_NO_THROW(sinusoidal_add(TensorView::contiguous(raw + 1, DType::F32, {0, 4, 8}), cfg_dim(8),
                                 Positions::offset(0)));
}

// A table whose byte span (4 * (2^61 - 1)) fits in int64 but whose end, added to the address, does not:
// the sum wrapped (UB), the range looked empty, and an output sharing the table's row 0 was accepted and
// written (wrong values, silently).
TEST(Errors, OverlapOfViewsReachingPastTheTopOfTheAddressRange) {
  alignas(64) static float buf[64] = {1, 2, 3, 4, 5, 6, 7, 8};
  const TensorView E = TensorView::strided(buf, DType::F32, {2, 4}, {(int64_t{1} << 61) - 5, 1});
  const int64_t ids[1] = {0};
  static float pe[4 * 4] = {};
  expect_error(
      [&] {
        embed_forward(TensorView::contiguous(buf + 1, DType::F32, {1, 1, 4}),
                      TensorView::contiguous(ids, DType::I64, {1, 1}), E,
                      PeSource::table(TensorView::contiguous(pe, DType::F32, {4, 4})), Positions::offset(0),
                      1.0f);
      },
      "out", "sharing memory with E");
  expect_error(
      [&] {
        learned_add(TensorView::contiguous(buf + 1, DType::F32, {1, 1, 4}), E, Positions::offset(0));
      },
      "x", "sharing memory with table");
  EXPECT_EQ(buf[1], 2.0f);
  EXPECT_EQ(buf[4], 5.0f);
}

// A broadcast (stride-0) output of [2^19, 2^19, 4] (one element of memory): learned_* resolved 2^38
// positions (2 TiB) before the aliasing check and threw std::bad_alloc; sinusoidal_add named the view.
TEST(Errors, OutputsAreCheckedBeforePositionsAreResolved) {
  static float x[4], table[16 * 4];
  const int64_t n = int64_t{1} << 19;
  const TensorView X = TensorView::strided(x, DType::F32, {n, n, 4}, {0, 0, 1});
  const TensorView T = TensorView::contiguous(table, DType::F32, {16, 4});
  expect_error([&] { learned_forward(X, T, Positions::offset(0)); }, "out.strides");
  expect_error([&] { learned_add(X, T, Positions::offset(0)); }, "x.strides");
  // learned_backward: a broadcast dout is an input (fine), a broadcast dtable an output.
  expect_error(
      [&] {
        learned_backward(TensorView::strided(table, DType::F32, {16, 4}, {0, 1}), X, Positions::offset(0));
      },
      "dtable.strides");
  expect_error([&] { sinusoidal_add(X, cfg_dim(4), Positions::offset(0)); }, "x.strides");
}

// Positions::offsets of an empty span was taken as offset 0 for every sequence (a caller that forgot to
// fill the list got positions 0 .. T-1 without a word); the header says offsets has B entries.
TEST(Errors, EmptyOffsetsSpanIsNotOffsetZero) {
  const std::vector<int64_t> none;
  expect_error([&] { Positions::offsets(none).resolve(2, 3, 100, "test"); }, "offsets.size()", "0");
  std::vector<float> table(16 * 4, 0.0f), out(2 * 3 * 4, 0.0f);
  expect_error(
      [&] {
        learned_forward(TensorView::contiguous(out.data(), DType::F32, {2, 3, 4}),
                        TensorView::contiguous(table.data(), DType::F32, {16, 4}), Positions::offsets(none));
      },
      "offsets.size()", "0");
  EXPECT_TRUE(Positions::offsets(none).resolve(0, 3, 100, "test").empty());  // B = 0: no entries needed
  EXPECT_EQ(Positions::offset().resolve(2, 2, 100, "test"), (std::vector<int64_t>{0, 1, 0, 1}));
}

// Size arithmetic that overflowed int64 (UB): contiguous() strides of [2^40, 2^40, 2^40], numel() of
// [2^32, 2^32], and sinusoidal_table's dim x num_positions (its error then named a view the caller never
// passed).
TEST(Errors, SizesWhoseProductOverflowsInt64) {
  static float one[1];
  const int64_t t40 = int64_t{1} << 40, t32 = int64_t{1} << 32;
  expect_error([&] { TensorView::contiguous(one, DType::F32, {t40, t40, t40}); }, "shape", "1099511627776");
  expect_error(
      [&] {
        (void)TensorView::strided(one, DType::F32, {t32, t32}, {0, 0}).numel();
      },
      "shape", "4294967296");
  EXPECT_EQ(TensorView::strided(one, DType::F32, {t32, t32, 0}, {0, 0, 1}).numel(), 0);
  EXPECT_EQ(TensorView::contiguous(one, DType::F32, {t32, t32 / 4}).strides[0], t32 / 4);
  expect_error([] { sinusoidal_table(cfg_dim(t40), int64_t{1} << 31); }, "dim", "1099511627776");
}

// Absurd sizes ended in std::bad_alloc / std::length_error (or allocated gigabytes) instead of a
// posenc::Error: head_dim 2^40, a sinusoidal dim of 2^62, an empty output of [2^40, 2^20, 0] whose ids and
// positions were copied into 2^60-entry buffers.
TEST(Errors, AbsurdSizesAreErrorsAndEmptyOutputsAllocateNothing) {
  RopeConfig rc;
  rc.head_dim = int64_t{1} << 40;
  expect_error([&] { rope_frequencies(rc); }, "head_dim", "1099511627776");
  rc.head_dim = kMaxRopeHeadDim + 2;
  expect_error([&] { validate(rc); }, "head_dim", "1048578");
  rc.head_dim = kMaxRopeHeadDim;
  EXPECT_NO_THROW(validate(rc));
  expect_error([] { sinusoidal_frequency(cfg_dim(int64_t{1} << 62), 0); }, "dim", "4611686018427387904");
  expect_error([] { validate(cfg_dim(kMaxSinusoidalDim + 2)); }, "dim", "1048578");
  EXPECT_NO_THROW(validate(cfg_dim(kMaxSinusoidalDim)));

  const int64_t B = int64_t{1} << 40, T = int64_t{1} << 20;
  static int64_t id[1] = {3};
  static float e[10], dpe[1];
  const TensorView ids = TensorView::strided(id, DType::I64, {B, T}, {0, 0});
  const TensorView E = TensorView::contiguous(e, DType::F32, {10, 0});
  EXPECT_NO_THROW(embed_forward(TensorView::contiguous(nullptr, DType::F32, {B, T, 0}), ids, E,
                                PeSource::table(TensorView::contiguous(nullptr, DType::F32, {T, 0})),
                                Positions::offset(0), 1.0f));
  EXPECT_NO_THROW(embed_backward(
      TensorView::contiguous(e, DType::F32, {10, 0}), TensorView::contiguous(dpe, DType::F32, {T, 0}),
      TensorView::contiguous(nullptr, DType::F32, {B, T, 0}), ids, Positions::offset(0), 1.0f));
  // Still checked: the ids (each distinct one once) and the positions.
  id[0] = 10;
  expect_error(
      [&] {
        embed_forward(TensorView::contiguous(nullptr, DType::F32, {B, T, 0}), ids, E,
                      PeSource::table(TensorView::contiguous(nullptr, DType::F32, {T, 0})),
                      Positions::offset(0), 1.0f);
      },
      "ids[0, 0]", "10");
  id[0] = 3;
  expect_error(
      [&] {
        embed_forward(TensorView::contiguous(nullptr, DType::F32, {B, T, 0}), ids, E,
                      PeSource::table(TensorView::contiguous(nullptr, DType::F32, {T - 1, 0})),
                      Positions::offset(0), 1.0f);
      },
      "offset + T - 1 (last position)");
}

// A view with device (Device)5 was taken for a CPU view and run; a dtype outside the enum was reported as
// "dtype = ?".
TEST(Errors, InvalidDeviceAndDtypeValuesAreNamed) {
  std::vector<float> out(6 * 4, 0.0f), table(16 * 4, 0.0f);
  TensorView o = TensorView::contiguous(out.data(), DType::F32, {6, 4});
  o.device = static_cast<Device>(5);
  expect_error([&] { sinusoidal_table(o, cfg_dim(4), 0); }, "out.device", "Device(5)");
  EXPECT_NE(o.describe().find("Device(5)"), std::string::npos) << o.describe();
  TensorView o3 = TensorView::contiguous(out.data(), DType::F32, {2, 3, 4});
  o3.device = static_cast<Device>(5);
  const TensorView T = TensorView::contiguous(table.data(), DType::F32, {16, 4});
  expect_error([&] { learned_forward(o3, T, Positions::offset(0)); }, "out.device", "Device(5)");
  const int64_t ids[6] = {};
  expect_error(
      [&] {
        embed_forward(o3, TensorView::contiguous(ids, DType::I64, {2, 3}), T, PeSource::table(T),
                      Positions::offset(0), 1.0f);
      },
      "out.device", "Device(5)");
  T5BiasConfig tc;
  const std::vector<int64_t> qp = {0, 1, 2}, kp = {0, 1, 2, 3};
  TensorView b = TensorView::contiguous(out.data(), DType::F32, {2, 3, 4});
  b.device = static_cast<Device>(5);
  expect_error(
      [&] {
        t5_bias_forward(b, TensorView::contiguous(table.data(), DType::F32, {32, 2}), tc, qp, kp);
      },
      "out.device", "Device(5)");
  try {
    sinusoidal_table(o, cfg_dim(4), 0);
    ADD_FAILURE() << "device 5 accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.allowed().find("cpu"), std::string::npos) << e.what();
    EXPECT_NE(e.allowed().find("cuda"), std::string::npos) << e.what();
  }
  o = TensorView::contiguous(out.data(), DType::F32, {6, 4});
  o.dtype = static_cast<DType>(9);
  expect_error([&] { sinusoidal_table(o, cfg_dim(4), 0); }, "out.dtype", "DType(9)");
  expect_error(
      [&] {
        sinusoidal_add(TensorView::contiguous(out.data(), DType::F32, {1, 6, 4}), cfg_dim(4),
                       Positions::ids(TensorView::strided(ids, static_cast<DType>(7), {1, 6}, {0, 1})));
      },
      "position ids.dtype", "DType(7)");
}
