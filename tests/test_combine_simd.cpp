// The vectorised row kernels of the embedding step (src/cpu/combine_simd.cpp) on every Highway target
// this binary was built with and this CPU runs, against the scalar kernels (combine_rows_scalar,
// scatter_add_rows_scalar) bit for bit: every f32 / f16 / bf16 triple, each mode (embed, accumulate,
// gather), row lengths around the vector sizes, padded and transposed outer strides, misaligned rows,
// repeated and out-of-order rows and ids, special values (NaN payloads, infinities, subnormals, huge
// values, bf16 rounding ties), streaming stores, one and two threads.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/combine_simd.h"
#include "cpu/kernels.hpp"
#include "cpu/row_copy.hpp"
#include "dispatch.hpp"
#include "posenc/posenc.hpp"
#include "simd_variants.hpp"
#include "sinusoidal_plan.hpp"
#include "test_util.hpp"

using namespace posenc;
using detail::cpu::CombineMode;

namespace {

const DType kTypes[] = {DType::F32, DType::BF16, DType::F16};
const int64_t kCs[] = {1, 3, 7, 8, 17, 47, 64, 130, 200};

// A buffer of n elements of dtype t, starting `shift` elements into its bytes (misaligned rows).
struct Buf {
  std::vector<unsigned char> bytes;
  DType t = DType::F32;
  int64_t shift = 0;
  void* data() { return bytes.data() + shift * dtype_size(t); }
};

// Random values of every kind the dtype holds, specials included, in every element (gaps too).
Buf make_buf(DType t, int64_t n, int64_t shift, uint32_t seed) {
  Buf b;
  b.t = t;
  b.shift = shift;
  b.bytes.resize(static_cast<size_t>((n + shift) * dtype_size(t)));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const float scales[] = {1.0f, 1e-6f, 7e4f, 3e38f, 1e-40f, 65504.0f};
  for (int64_t i = 0; i < n + shift; ++i) {
    const uint32_t kind = rng() % 16;
    if (t == DType::F32) {
      uint32_t w;
      if (kind == 0) {
        w = rng();  // any bits: NaNs with payloads, infinities, subnormals
      } else if (kind == 1) {
        w = rng() & 0x807fffffu;  // f32 subnormals
      } else if (kind == 2) {
        w = 0x7f800000u | (rng() & 0x807fffffu);  // NaN / inf
      } else {
        w = std::bit_cast<uint32_t>(u(rng) * scales[kind % 6]);
        if (kind == 3) w = (w & 0xffff0000u) | 0x8000u | (rng() & 1u);  // a bf16 tie, or one ulp off
      }
      std::memcpy(&b.bytes[static_cast<size_t>(i * 4)], &w, 4);
    } else {
      uint16_t h;
      if (kind < 3)
        h = static_cast<uint16_t>(rng());  // any bits
      else if (t == DType::BF16)
        h = f32_to_bf16_bits(u(rng) * scales[kind % 6]);
      else
        h = f32_to_f16_bits(u(rng) * (kind == 4 ? 1e-5f : kind == 5 ? 6e4f : 1.0f));
      std::memcpy(&b.bytes[static_cast<size_t>(i * 2)], &h, 2);
    }
  }
  return b;
}

float load_as_f32(const Buf& b, int64_t i) {
  return detail::dispatch_float(b.t, [&](auto tag) {
    constexpr DType T = decltype(tag)::value;
    typename Elem<T>::storage v;
    std::memcpy(&v, &b.bytes[static_cast<size_t>((b.shift + i) * dtype_size(b.t))], sizeof v);
    return Elem<T>::load(&v);
  });
}

bool is_nan_bits(DType t, uint32_t b) {
  if (t == DType::F32) return (b & 0x7fffffffu) > 0x7f800000u;
  return (b & 0x7fffu) > (t == DType::BF16 ? 0x7f80u : 0x7c00u);
}

// "" when both buffers hold the same bytes, else the first differing element. Elements listed in
// any_nan (offsets from data()) may hold any NaN where want holds a NaN: there the result is a sum of
// two NaNs, and neither IEEE 754 nor C++ says which one it returns (x86 returns the first operand, and
// the compiler may swap the operands of a commutative add: the scalar kernel's own choice differs
// between its loops and between compilers).
std::string first_difference(const Buf& got, const Buf& want, std::vector<int64_t> any_nan = {}) {
  if (got.bytes == want.bytes) return "";
  std::sort(any_nan.begin(), any_nan.end());
  const auto es = static_cast<size_t>(dtype_size(got.t));
  for (size_t e = 0; e + es <= got.bytes.size(); e += es) {
    uint32_t g = 0, w = 0;
    std::memcpy(&g, &got.bytes[e], es);
    std::memcpy(&w, &want.bytes[e], es);
    if (g == w) continue;
    const auto i = static_cast<int64_t>(e / es) - got.shift;
    if (is_nan_bits(got.t, g) && is_nan_bits(got.t, w) &&
        std::binary_search(any_nan.begin(), any_nan.end(), i))
      continue;
    char msg[128];
    std::snprintf(msg, sizeof msg, "element %zu (%s): got 0x%08x, want 0x%08x", e / es,
                  std::string(dtype_name(got.t)).c_str(), g, w);
    return msg;
  }
  return got.bytes.size() == want.bytes.size() ? "" : "sizes differ";
}

// Outer layouts of out / src [B, T, C] (last dim contiguous): padded rows and batches, or [T, B, C]
// (token-major) with padded rows.
enum class Layout { Contiguous, Padded, Transposed };

struct Shape {
  int64_t B, T, C;
  Layout layout;
  int64_t strides[3] = {};
  int64_t numel = 0;
  Shape(int64_t b, int64_t t, int64_t c, Layout l) : B(b), T(t), C(c), layout(l) {
    const int64_t row = l == Layout::Contiguous ? C : C + 3;
    if (l == Layout::Transposed)
      strides[0] = row, strides[1] = B * row;
    else
      strides[1] = row, strides[0] = T * row + (l == Layout::Padded ? 5 : 0);
    strides[2] = 1;
    numel = (B - 1) * strides[0] + (T - 1) * strides[1] + C;
  }
  TensorView view(void* data, DType t) const {
    return TensorView::strided(data, t, {B, T, C}, {strides[0], strides[1], 1});
  }
};

// Row indices in [0, R): random (repeats, any order), with a repeat and a descending run forced.
std::vector<int64_t> random_rows(int64_t n, int64_t R, uint32_t seed) {
  std::vector<int64_t> r = test::random_ints(static_cast<size_t>(n), R, seed);
  if (n > 2) r[2] = r[0];
  for (int64_t i = 3; i < std::min<int64_t>(n, 7); ++i) r[static_cast<size_t>(i)] = (R - 1 - i % R);
  return r;
}

// The elements of out (offsets from data()) that combine forms as a sum of two NaNs (see
// first_difference).
std::vector<int64_t> nan_sums(CombineMode mode, const Shape& s, const Buf& out0, const Buf& P, int64_t prow,
                              const Buf* E, int64_t erow, const std::vector<int64_t>& rows,
                              const std::vector<int64_t>& ids, float scale) {
  std::vector<int64_t> r;
  if (mode == CombineMode::Gather) return r;
  for (int64_t n = 0; n < s.B * s.T; ++n)
    for (int64_t c = 0; c < s.C; ++c) {
      const int64_t o = n / s.T * s.strides[0] + n % s.T * s.strides[1] + c;
      const float p = load_as_f32(P, rows[static_cast<size_t>(n)] * prow + c);
      const float a = mode == CombineMode::Accumulate
                          ? load_as_f32(out0, o)
                          : load_as_f32(*E, ids[static_cast<size_t>(n)] * erow + c) * scale;
      if (std::isnan(a) && std::isnan(p)) r.push_back(o);
    }
  return r;
}

// The arguments combine_rows builds, with streaming forced on (any size).
detail::cpu::CombineRowsArgs streamed_args(const detail::cpu::RowCombine& op) {
  detail::cpu::CombineRowsArgs a;
  a.mode = op.E != nullptr ? CombineMode::Embed
           : op.accumulate ? CombineMode::Accumulate
                           : CombineMode::Gather;
  a.out = op.out.data;
  a.P = op.P.data;
  a.ot = op.out.dtype;
  a.pt = op.P.dtype;
  a.T = op.out.size(1);
  a.C = op.out.size(2);
  a.os[0] = op.out.stride(0);
  a.os[1] = op.out.stride(1);
  a.ps = op.P.stride(0);
  a.rows = op.rows;
  a.scale = op.scale;
  if (op.E != nullptr) {
    a.E = op.E->data;
    a.et = op.E->dtype;
    a.es = op.E->stride(0);
    a.ids = op.ids;
  }
  a.stream = a.mode != CombineMode::Accumulate;
  return a;
}

// One combine case: combine_rows (1 and 2 threads) and combine_rows_simd with streaming stores must
// give combine_rows_scalar's bytes in all of out's buffer (its gaps untouched).
void check_combine(CombineMode mode, DType ot, DType pt, DType et, const Shape& s, uint32_t seed) {
  const int64_t R = 1 + seed % 9, V = 1 + seed % 13;
  const int64_t prow = s.C + static_cast<int64_t>(seed % 3), erow = s.C + static_cast<int64_t>(seed % 2) * 4;
  Buf P = make_buf(pt, R * prow, seed % 5, seed * 11 + 1);
  Buf E = make_buf(et, V * erow, seed % 7, seed * 11 + 2);
  Buf out0 = make_buf(ot, s.numel, seed % 11, seed * 11 + 3);
  const std::vector<int64_t> rows = random_rows(s.B * s.T, R, seed * 11 + 4);
  const std::vector<int64_t> ids = random_rows(s.B * s.T, V, seed * 11 + 5);
  const TensorView Ev = TensorView::strided(E.data(), et, {V, s.C}, {erow, 1});
  const float scales[] = {1.0f, 45.254833995939045f, 0.125f, -3.7f, 6e4f};
  const float scale = scales[seed % 5];

  auto op_for = [&](Buf& out) {
    detail::cpu::RowCombine op;
    op.out = s.view(out.data(), ot);
    op.P = TensorView::strided(P.data(), pt, {R, s.C}, {prow, 1});
    op.rows = rows.data();
    if (mode == CombineMode::Embed) op.E = &Ev, op.ids = ids.data(), op.scale = scale;
    op.accumulate = mode == CombineMode::Accumulate;
    return op;
  };
  Buf want = out0;
  detail::cpu::combine_rows_scalar(op_for(want));
  const std::vector<int64_t> any_nan =
      nan_sums(mode, s, out0, P, prow, mode == CombineMode::Embed ? &E : nullptr, erow, rows, ids, scale);
  const std::string name =
      "mode " + std::to_string(static_cast<int>(mode)) + " out " + std::string(dtype_name(ot)) + " P " +
      std::string(dtype_name(pt)) + " E " + std::string(dtype_name(et)) + " C=" + std::to_string(s.C) +
      " layout=" + std::to_string(static_cast<int>(s.layout)) + " seed " + std::to_string(seed);
  for (int threads : {1, 2}) {
    Buf got = out0;
    test::with_threads(threads, [&] { detail::cpu::combine_rows(op_for(got)); });
    ASSERT_EQ(first_difference(got, want, any_nan), "") << name << ", threads " << threads;
  }
  Buf got = out0;
  const detail::cpu::RowCombine op = op_for(got);
  detail::cpu::combine_rows_simd(streamed_args(op), 0, s.B * s.T);
  ASSERT_EQ(first_difference(got, want, any_nan), "") << name << ", streamed";
}

// One scatter case: scatter_add_rows (1 and 2 threads) must give scatter_add_rows_scalar's bytes in all
// of dst's buffer (rows without a key and gaps untouched).
void check_scatter(DType dt, DType st, const Shape& s, int64_t K, uint32_t seed) {
  const int64_t drow = s.C + static_cast<int64_t>(seed % 3);
  Buf src = make_buf(st, s.numel, seed % 5, seed * 13 + 1);
  Buf dst0 = make_buf(dt, K * drow, seed % 7, seed * 13 + 2);
  const std::vector<int64_t> keys = random_rows(s.B * s.T, K, seed * 13 + 3);
  const float scales[] = {1.0f, 45.254833995939045f, 0.125f, -3.7f};
  const float scale = scales[seed % 4];
  auto run = [&](Buf& dst, bool scalar) {
    const TensorView d = TensorView::strided(dst.data(), dt, {K, s.C}, {drow, 1});
    const TensorView sv = s.view(src.data(), st);
    if (scalar)
      detail::cpu::scatter_add_rows_scalar(d, sv, keys.data(), scale);
    else
      detail::cpu::scatter_add_rows(d, sv, keys.data(), scale);
  };
  Buf want = dst0;
  run(want, true);
  // The elements whose sum adds two NaNs somewhere (see first_difference).
  std::vector<int64_t> any_nan;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < s.C; ++c) {
      float acc = 0.0f;
      bool both = false, any = false;
      for (int64_t n = 0; n < s.B * s.T; ++n) {
        if (keys[static_cast<size_t>(n)] != k) continue;
        const float x = load_as_f32(src, n / s.T * s.strides[0] + n % s.T * s.strides[1] + c);
        both = both || (std::isnan(acc) && std::isnan(x));
        acc = acc + x;
        any = true;
      }
      const float d = load_as_f32(dst0, k * drow + c);
      both = both || (std::isnan(d) && std::isnan(scale * acc));
      if (any && both) any_nan.push_back(k * drow + c);
    }
  for (int threads : {1, 2}) {
    Buf got = dst0;
    test::with_threads(threads, [&] { run(got, false); });
    ASSERT_EQ(first_difference(got, want, any_nan), "")
        << "dst " << dtype_name(dt) << " src " << dtype_name(st) << " C=" << s.C << " K=" << K
        << " layout=" << static_cast<int>(s.layout) << " seed " << seed << ", threads " << threads;
  }
}

// Three rounds of shapes, layouts, alignments and values per case.
void check_all_combine() {
  uint32_t seed = 1;
  for (int round = 0; round < 3; ++round)
    for (CombineMode mode : {CombineMode::Embed, CombineMode::Accumulate, CombineMode::Gather})
      for (DType ot : kTypes)
        for (DType pt : kTypes)
          for (DType et : kTypes) {
            if (mode != CombineMode::Embed && et != DType::F32) continue;
            for (int64_t C : kCs) {
              const auto layout = static_cast<Layout>(seed % 3);
              check_combine(mode, ot, pt, et, Shape(1 + seed % 3, 2 + seed % 5, C, layout), seed);
              ++seed;
              if (testing::Test::HasFatalFailure()) return;
            }
          }
}

void check_all_scatter() {
  uint32_t seed = 1;
  for (int round = 0; round < 3; ++round)
    for (DType dt : kTypes)
      for (DType st : kTypes)
        for (int64_t C : kCs)
          for (int64_t K : {int64_t{1}, int64_t{4}, int64_t{50}}) {  // one group, a few, mostly single tokens
            const auto layout = static_cast<Layout>(seed % 3);
            check_scatter(dt, st, Shape(1 + seed % 3, 3 + seed % 6, C, layout), K, seed);
            ++seed;
            if (testing::Test::HasFatalFailure()) return;
          }
}

}  // namespace

// Every target compiled into the library that this CPU supports: the dispatch must really switch
// (combine_simd_target) and each must give the scalar kernel's bits.
TEST(CombineSimd, EveryTargetMatchesTheScalarKernelBitForBit) {
  const std::vector<test::SimdVariant> variants = test::simd_variants();
  ASSERT_FALSE(variants.empty());
  for (const test::SimdVariant& v : variants) {
    test::use_simd_variant(v);
    ASSERT_EQ(detail::cpu::combine_simd_target(), v.target) << v.name;
    std::printf("target %s\n", v.name.c_str());
    SCOPED_TRACE(v.name);
    check_all_combine();
    if (HasFatalFailure()) break;
    check_all_scatter();
    if (HasFatalFailure()) break;
  }
  test::use_default_simd();
}

// The public path with an output past the streaming threshold (f32: combine_rows streams; bf16: it
// does not), and an Embed in place (out is E's own rows): the scalar kernel's bits.
TEST(CombineSimd, LargeOutputsAndOverlap) {
  const int64_t T = 1031, C = 4099;  // 16.9 MB of f32 out, 8.5 MB of bf16
  const Shape s(1, T, C, Layout::Contiguous);
  for (DType t : {DType::F32, DType::BF16}) {
    Buf P = make_buf(t, 7 * C, 1, 3), E = make_buf(t, 11 * C, 0, 4), out0 = make_buf(t, s.numel, 3, 5);
    const std::vector<int64_t> rows = random_rows(T, 7, 6), ids = random_rows(T, 11, 7);
    const TensorView Ev = TensorView::strided(E.data(), t, {11, C}, {C, 1});
    auto run = [&](Buf& out, bool scalar) {
      detail::cpu::RowCombine op;
      op.out = s.view(out.data(), t);
      op.P = TensorView::strided(P.data(), t, {7, C}, {C, 1});
      op.rows = rows.data();
      op.E = &Ev, op.ids = ids.data(), op.scale = 64.0f;
      scalar ? detail::cpu::combine_rows_scalar(op) : detail::cpu::combine_rows(op);
    };
    Buf want = out0;
    run(want, true);
    const std::vector<int64_t> any_nan = nan_sums(CombineMode::Embed, s, out0, P, C, &E, C, rows, ids, 64.0f);
    for (int threads : {1, 2}) {
      Buf got = out0;
      test::with_threads(threads, [&] { run(got, false); });
      ASSERT_EQ(first_difference(got, want, any_nan), "") << dtype_name(t) << ", threads " << threads;
    }
  }
  // out is E's rows 2 .. 5 (in place: out[n] = E[ids[n]] * scale + P[rows[n]], ids[n] = 2 + n).
  Buf E = make_buf(DType::F32, 8 * 64, 0, 8), P = make_buf(DType::F32, 3 * 64, 0, 9);
  Buf want = E;
  const std::vector<int64_t> ids = {2, 3, 4, 5}, rows = {0, 2, 1, 0};
  auto run = [&](Buf& e, bool scalar) {
    const TensorView Ev = TensorView::strided(e.data(), DType::F32, {8, 64}, {64, 1});
    detail::cpu::RowCombine op;
    op.out =
        TensorView::strided(static_cast<float*>(e.data()) + 2 * 64, DType::F32, {1, 4, 64}, {256, 64, 1});
    op.P = TensorView::strided(P.data(), DType::F32, {3, 64}, {64, 1});
    op.rows = rows.data();
    op.E = &Ev, op.ids = ids.data(), op.scale = 2.0f;
    scalar ? detail::cpu::combine_rows_scalar(op) : detail::cpu::combine_rows(op);
  };
  run(want, true);
  std::vector<int64_t> any_nan;
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t c = 0; c < 64; ++c)
      if (std::isnan(load_as_f32(E, (2 + n) * 64 + c) * 2.0f) &&
          std::isnan(load_as_f32(P, rows[static_cast<size_t>(n)] * 64 + c)))
        any_nan.push_back((2 + n) * 64 + c);
  Buf got = E;
  run(got, false);
  ASSERT_EQ(first_difference(got, want, any_nan), "");
}

// Every f16 and bf16 bit pattern and 2^20 f32 patterns, gathered into every dtype and added to every
// dtype: the conversions of every target against dtype.hpp's.
TEST(CombineSimd, EveryBitPatternConvertsLikeTheScalarCode) {
  for (const test::SimdVariant& v : test::simd_variants()) {
    test::use_simd_variant(v);
    for (DType pt : kTypes) {
      const int64_t C = pt == DType::F32 ? 1024 : 256, R = pt == DType::F32 ? 1024 : 256;
      Buf P = make_buf(pt, R * C, 0, 1);
      for (int64_t e = 0; e < R * C; ++e) {
        if (pt == DType::F32) {
          const uint32_t w = static_cast<uint32_t>(e) * 4099u + 0x1000u * static_cast<uint32_t>(e & 1);
          std::memcpy(&P.bytes[static_cast<size_t>(e * 4)], &w, 4);
        } else {
          const auto h = static_cast<uint16_t>(e);
          std::memcpy(&P.bytes[static_cast<size_t>(e * 2)], &h, 2);
        }
      }
      std::vector<int64_t> rows(static_cast<size_t>(R));
      for (int64_t r = 0; r < R; ++r) rows[static_cast<size_t>(r)] = r;
      for (DType ot : kTypes)
        for (bool acc : {false, true}) {
          const Shape s(1, R, C, Layout::Contiguous);
          Buf out0 = make_buf(ot, s.numel, 0, 2);
          auto run = [&](Buf& out, bool scalar) {
            detail::cpu::RowCombine op;
            op.out = s.view(out.data(), ot);
            op.P = TensorView::strided(P.data(), pt, {R, C}, {C, 1});
            op.rows = rows.data();
            op.accumulate = acc;
            scalar ? detail::cpu::combine_rows_scalar(op) : detail::cpu::combine_rows(op);
          };
          Buf want = out0, got = out0;
          run(want, true);
          run(got, false);
          const CombineMode mode = acc ? CombineMode::Accumulate : CombineMode::Gather;
          ASSERT_EQ(first_difference(got, want, nan_sums(mode, s, out0, P, C, nullptr, 0, rows, {}, 1.0f)),
                    "")
              << v.name << " " << dtype_name(pt) << "->" << dtype_name(ot) << " acc " << acc;
        }
    }
  }
  test::use_default_simd();
}

// combine_rows_sinusoidal with the same strictly increasing positions in every batch row (rows computed
// per block of positions by each thread, B = 1 and 3) and with positions that differ between batch
// rows (the table path), on every target, for embed and add, against combine_rows over the position
// table of the same positions: the same bytes, with threads 1 and 3 and with streaming stores forced.
TEST(CombineSimd, SinusoidalRowsPerBlockMatchTheTable) {
  SinusoidalConfig cfg;
  const int64_t T = 37, V = 19;
  std::vector<int64_t> gaps(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) gaps[static_cast<size_t>(t)] = 3 + t * t;  // increasing, with gaps
  std::vector<int64_t> ramp(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) ramp[static_cast<size_t>(t)] = 100000 + t;
  uint32_t seed = 1;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    for (int64_t C : {int64_t{24}, int64_t{1030}, int64_t{4096}}) {  // 16, 15 and 4 tokens a block
      cfg.dim = C;
      const detail::SinusoidalPlan plan(cfg, "test");
      for (DType ot : kTypes)
        for (DType et : {DType::F32, DType::BF16})
          for (bool embed : {true, false}) {
            if (!embed && et != DType::F32) continue;
            const std::vector<int64_t>& row = seed % 2 ? gaps : ramp;
            // B = 1; B = 3 with the row repeated (the block path); B = 2 with different rows (the table).
            const int64_t B = 1 + static_cast<int64_t>(seed % 3);
            std::vector<int64_t> pos;
            for (int64_t b = 0; b < B; ++b)
              for (int64_t p : row) pos.push_back(B == 2 && b == 1 ? p + 5 : p);
            const std::vector<int64_t> ids = test::random_ints(static_cast<size_t>(B * T), V, seed + 2);
            // Specials included: a NaN in E or out meets a finite PE value, so its bits are determined.
            Buf E = make_buf(et, V * C, 0, seed), out0 = make_buf(ot, B * T * C, seed % 3, seed + 1);
            const TensorView Ev = TensorView::contiguous(E.data(), et, {V, C});
            auto op_for = [&](Buf& out) {
              detail::cpu::RowCombine op;
              op.out = TensorView::contiguous(out.data(), ot, {B, T, C});
              if (embed) op.E = &Ev, op.ids = ids.data(), op.scale = 3.0f;
              op.accumulate = !embed;
              return op;
            };
            Buf want = out0;
            const detail::cpu::PositionTable table = detail::cpu::make_position_table(plan, pos);
            detail::cpu::RowCombine wop = op_for(want);
            wop.P = table.view();
            wop.rows = table.rows.data();
            detail::cpu::combine_rows(wop);
            for (int threads : {1, 3})
              for (bool stream : {false, true}) {
                Buf got = out0;
                detail::cpu::set_stream_min_bytes_for_test(stream ? 0 : -1);
                test::with_threads(threads,
                                   [&] { detail::cpu::combine_rows_sinusoidal(op_for(got), plan, pos); });
                detail::cpu::set_stream_min_bytes_for_test(-1);
                ASSERT_EQ(first_difference(got, want), "")
                    << "B=" << B << " C=" << C << " out " << dtype_name(ot) << " E " << dtype_name(et)
                    << (embed ? " embed" : " add") << " threads " << threads << (stream ? " streamed" : "");
              }
            ++seed;
          }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}
