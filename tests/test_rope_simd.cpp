// The vectorised RoPE rotation (src/cpu/rope_simd.cpp) on every Highway target this binary was
// built with and this CPU runs, against a plain scalar reference bit for bit: both pair layouts,
// partial rotary (rot not a multiple of any vector length), GQA and odd head counts, in place and
// out of place, strided views ([B, H, T, D], padded rows, a strided last dim that takes the scalar
// path), f32 / bf16 / f16 storage in every in/out combination, forward and backward, and special
// values (NaN with payloads, infinities, subnormals, f16 overflow, bf16 rounding ties).
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "cpu/rope.hpp"
#include "cpu/rope_simd.h"
#include "cpu/row_copy.hpp"
#include "dispatch.hpp"
#include "posenc/posenc.hpp"
#include "rope_freq.hpp"
#include "simd_variants.hpp"
#include "test_util.hpp"

using namespace posenc;

namespace {

float load_as_f32(DType t, const void* base, int64_t off) {
  return detail::dispatch_float(t, [&](auto tag) {
    constexpr DType T = decltype(tag)::value;
    return Elem<T>::load(static_cast<const typename Elem<T>::storage*>(base) + off);
  });
}
void store_f32(DType t, void* base, int64_t off, float v) {
  detail::dispatch_float(t, [&](auto tag) {
    constexpr DType T = decltype(tag)::value;
    Elem<T>::store(static_cast<typename Elem<T>::storage*>(base) + off, v);
  });
}

// Memory layouts of a [B, T, H, D] view.
enum class Strides { Contiguous, Bhtd, Padded, LastDim2 };

// 64-byte aligned storage: aligned views take the streaming stores (rope_simd.cpp) when they are on.
template <typename T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <typename U>
  Aligned64(const Aligned64<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{64})); }
  void deallocate(T* p, size_t) { ::operator delete (p, std::align_val_t{64}); }
  bool operator==(const Aligned64&) const { return true; }
};

struct Buf {
  std::vector<unsigned char, Aligned64<unsigned char>> bytes;
  TensorView view;
};

Buf make_buf(DType t, int64_t B, int64_t T, int64_t H, int64_t D, Strides k) {
  int64_t s[4];
  switch (k) {
    case Strides::Contiguous:
      s[3] = 1, s[2] = D, s[1] = H * D, s[0] = T * H * D;
      break;
    case Strides::Bhtd:
      s[3] = 1, s[1] = D, s[2] = T * D, s[0] = H * T * D;
      break;
    case Strides::Padded:  // rows of D + 3, tokens padded by 1, batches by 5
      s[3] = 1, s[2] = D + 3, s[1] = H * (D + 3) + 1, s[0] = T * s[1] + 5;
      break;
    case Strides::LastDim2:
      s[3] = 2, s[2] = 2 * D + 1, s[1] = H * s[2], s[0] = T * s[1];
      break;
  }
  const int64_t numel = (B - 1) * s[0] + (T - 1) * s[1] + (H - 1) * s[2] + (D - 1) * s[3] + 1;
  Buf b;
  b.bytes.assign(static_cast<size_t>(numel * dtype_size(t)), 0xa5);  // gaps must stay 0xa5
  b.view = TensorView::strided(b.bytes.data(), t, {B, T, H, D}, {s[0], s[1], s[2], s[3]});
  return b;
}

// Random values of every kind the dtype holds, specials included.
void fill(Buf& b, uint32_t seed) {
  std::mt19937 rng(seed);
  const TensorView& v = b.view;
  for (int64_t i0 = 0; i0 < v.size(0); ++i0)
    for (int64_t i1 = 0; i1 < v.size(1); ++i1)
      for (int64_t i2 = 0; i2 < v.size(2); ++i2)
        for (int64_t i3 = 0; i3 < v.size(3); ++i3) {
          const uint32_t r = rng();
          const uint32_t kind = r % 16;
          if (v.dtype == DType::F32) {
            auto* p = v.at<uint32_t>({i0, i1, i2, i3});
            if (kind == 0)
              *p = rng();  // any bits: NaNs with payloads, infinities, subnormals
            else if (kind == 1)
              *p = (rng() & 0x807fffffu);  // f32 subnormals
            else if (kind == 2)
              *p = 0x7f800000u | (rng() & 0x807fffffu);  // NaN / inf
            else {
              std::uniform_real_distribution<float> u(-1.0f, 1.0f);
              const float scales[] = {1.0f, 1e-6f, 7e4f, 3e38f, 1e-40f, 65504.0f};
              float f = u(rng) * scales[kind % 6];
              if (kind == 3) {  // a bf16 tie, then perhaps one ulp off
                uint32_t w = std::bit_cast<uint32_t>(f);
                w = (w & 0xffff0000u) | 0x8000u | (rng() & 1u);
                f = std::bit_cast<float>(w);
              }
              *p = std::bit_cast<uint32_t>(f);
            }
          } else {
            auto* p = v.at<uint16_t>({i0, i1, i2, i3});
            if (kind < 3) {
              *p = static_cast<uint16_t>(rng());  // any bits
            } else {
              std::uniform_real_distribution<float> u(-1.0f, 1.0f);
              *p = v.dtype == DType::BF16 ? f32_to_bf16_bits(u(rng)) : f32_to_f16_bits(u(rng));
            }
          }
        }
}

// The rotation, one pair at a time, with HF's cos / sin (rope_cos_sin: column a and column b of a
// pair hold the same value). Pass-through dims are copied (converted) out of place, untouched in
// place.
//
// Where both products of an output are NaN (NaN inputs, or inf times a zero cos / sin), neither C++
// nor IEEE 754 says which NaN the sum or difference returns: x86 returns its first operand, and the
// compiler may commute the operands of the add (the scalar kernel's own bits then differ between
// translation units and compilers). The reference marks those elements in `any_nan` (element offsets
// into out), where any NaN is accepted.
void reference(const TensorView& x, const TensorView& out, bool in_place, const RopeConfig& cfg,
               const std::vector<int64_t>& pos, float sign, std::vector<int64_t>* any_nan = nullptr) {
  const int64_t B = x.size(0), T = x.size(1), H = x.size(2), D = x.size(3), r = cfg.rot();
  std::vector<float> cos(static_cast<size_t>(B * T * r)), sin(cos.size());
  rope_cos_sin(TensorView::contiguous(cos.data(), DType::F32, {B * T, r}),
               TensorView::contiguous(sin.data(), DType::F32, {B * T, r}), cfg, pos,
               *std::max_element(pos.begin(), pos.end()) + 1);
  const bool split = cfg.layout == PairLayout::HalfSplit;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t n = b * T + t;
        const auto* xp = x.at<const unsigned char>({b, t, h, 0});
        auto* op = out.at<unsigned char>({b, t, h, 0});
        for (int64_t i = 0; i < r / 2; ++i) {
          const int64_t ia = split ? i : 2 * i, ib = split ? i + r / 2 : 2 * i + 1;
          const float c = cos[static_cast<size_t>(n * r + ia)];
          const float si = sign * sin[static_cast<size_t>(n * r + ia)];
          const float xa = load_as_f32(x.dtype, xp, ia * x.stride(3));
          const float xb = load_as_f32(x.dtype, xp, ib * x.stride(3));
          store_f32(out.dtype, op, ia * out.stride(3), xa * c - xb * si);
          store_f32(out.dtype, op, ib * out.stride(3), xb * c + xa * si);
          if (any_nan != nullptr) {
            const int64_t base = (op - static_cast<unsigned char*>(out.data)) / dtype_size(out.dtype);
            if (std::isnan(xa * c) && std::isnan(xb * si)) any_nan->push_back(base + ia * out.stride(3));
            if (std::isnan(xb * c) && std::isnan(xa * si)) any_nan->push_back(base + ib * out.stride(3));
          }
        }
        if (!in_place)
          for (int64_t d = r; d < D; ++d)
            store_f32(out.dtype, op, d * out.stride(3), load_as_f32(x.dtype, xp, d * x.stride(3)));
      }
}

struct Case {
  DType xt, ot;
  PairLayout layout;
  int64_t D, rot, Hq, Hk;
  bool in_place;
  Strides strides;
  bool forward;
  Precision precision;
  std::string name() const {
    return std::string(dtype_name(xt)) + "->" + std::string(dtype_name(ot)) +
           (layout == PairLayout::HalfSplit ? " halfsplit" : " interleaved") + " D=" + std::to_string(D) +
           " r=" + std::to_string(rot) + " Hq=" + std::to_string(Hq) + " Hk=" + std::to_string(Hk) +
           (in_place ? " in-place" : " out-of-place") +
           " strides=" + std::to_string(static_cast<int>(strides)) + (forward ? " fwd" : " bwd") +
           (precision == Precision::Exact ? " exact" : " hf");
  }
};

bool is_nan_bits(DType t, uint32_t b) {
  if (t == DType::F32) return (b & 0x7fffffffu) > 0x7f800000u;
  return (b & 0x7fffu) > (t == DType::BF16 ? 0x7f80u : 0x7c00u);
}

// "" when every byte is equal (elements listed in any_nan may hold any NaN where want holds a NaN),
// else the first differing element.
std::string first_difference(const Buf& got, const Buf& want, std::vector<int64_t> any_nan = {}) {
  if (got.bytes == want.bytes) return "";
  std::sort(any_nan.begin(), any_nan.end());
  const auto es = static_cast<size_t>(dtype_size(got.view.dtype));
  for (size_t e = 0; e + es <= got.bytes.size(); e += es) {
    uint32_t g = 0, w = 0;
    std::memcpy(&g, &got.bytes[e], es);
    std::memcpy(&w, &want.bytes[e], es);
    if (g == w) continue;
    const DType t = got.view.dtype;
    if (is_nan_bits(t, g) && is_nan_bits(t, w) &&
        std::binary_search(any_nan.begin(), any_nan.end(), static_cast<int64_t>(e / es)))
      continue;
    char msg[128];
    std::snprintf(msg, sizeof msg, "element %zu (%s): got 0x%08x, want 0x%08x", e / es,
                  std::string(dtype_name(t)).c_str(), g, w);
    return msg;
  }
  return got.bytes.size() == want.bytes.size() ? "" : "sizes differ";
}

// Runs one case through posenc::rope_forward / rope_backward (which dispatch to the current target)
// and through the reference; every byte of q, k and their outputs must agree.
void check_case(const Case& c, uint32_t seed) {
  const int64_t B = 2, T = 5;
  RopeConfig cfg;
  cfg.head_dim = c.D;
  cfg.rotary_dim = c.rot;
  cfg.layout = c.layout;
  cfg.precision = c.precision;
  cfg.max_position_embeddings = 64;
  if (seed % 2 == 1) {  // attention_scaling != 1
    cfg.scaling.type = RopeType::Yarn;
    cfg.scaling.factor = 4.0;
    cfg.scaling.original_max_position_embeddings = 16;
  }
  std::vector<int64_t> pos = test::random_ints(static_cast<size_t>(B * T), 40, seed);
  if (seed % 4 == 3) {  // strictly increasing: the fused path (rows computed per block of tokens)
    for (size_t n = 1; n < pos.size(); ++n) pos[n] = pos[n - 1] + 1 + pos[n] % 5;
  } else if (seed % 4 == 1) {  // one increasing row repeated in every batch row: fused, rows shared
    for (int64_t t = 1; t < T; ++t) pos[static_cast<size_t>(t)] = pos[static_cast<size_t>(t - 1)] + 1 + t % 3;
    for (int64_t n = T; n < B * T; ++n) pos[static_cast<size_t>(n)] = pos[static_cast<size_t>(n - T)];
  } else {
    pos[1] = pos[0];  // a repeated position: a shared table row
  }
  const TensorView ids = TensorView::contiguous(pos.data(), DType::I64, {B, T});

  Buf q = make_buf(c.xt, B, T, c.Hq, c.D, c.strides), k = make_buf(c.xt, B, T, c.Hk, c.D, c.strides);
  fill(q, seed * 7 + 1);
  fill(k, seed * 7 + 2);
  Buf qo = make_buf(c.ot, B, T, c.Hq, c.D, c.strides), ko = make_buf(c.ot, B, T, c.Hk, c.D, c.strides);
  Buf rq = q, rk = k, rqo = qo, rko = ko;  // the reference's copies
  for (Buf* b : {&rq, &rk, &rqo, &rko}) b->view.data = b->bytes.data();

  RopeTensors rt{q.view, k.view};
  if (!c.in_place) rt.q_out = qo.view, rt.k_out = ko.view;
  const float sign = c.forward ? 1.0f : -1.0f;
  if (c.forward)
    rope_forward(rt, cfg, Positions::ids(ids));
  else
    rope_backward(rt, cfg, Positions::ids(ids));
  std::vector<int64_t> nan_q, nan_k;
  reference(rq.view, c.in_place ? rq.view : rqo.view, c.in_place, cfg, pos, sign, &nan_q);
  reference(rk.view, c.in_place ? rk.view : rko.view, c.in_place, cfg, pos, sign, &nan_k);

  ASSERT_EQ(first_difference(q, rq, c.in_place ? nan_q : std::vector<int64_t>{}), "") << "q: " << c.name();
  ASSERT_EQ(first_difference(k, rk, c.in_place ? nan_k : std::vector<int64_t>{}), "") << "k: " << c.name();
  ASSERT_EQ(first_difference(qo, rqo, c.in_place ? std::vector<int64_t>{} : nan_q), "")
      << "q_out: " << c.name();
  ASSERT_EQ(first_difference(ko, rko, c.in_place ? std::vector<int64_t>{} : nan_k), "")
      << "k_out: " << c.name();
}

// (D, rot): rot / 2 pairs = 1, 3, 5, 8, 17, 28, 32, 65, 64 (mostly not multiples of 4, 8 or 16) and
// pass-through dims 0, 2, 4, 6, 32 (some not multiples either). 28 pairs reach, for 16-bit HalfSplit,
// the 2N-pair chunks, then the N-pair loop, then the scalar tail, on 4- and 8-lane targets.
const std::pair<int64_t, int64_t> kDims[] = {{2, 2},   {8, 6},   {10, 10},   {16, 16},  {40, 34},
                                             {60, 56}, {96, 64}, {136, 130}, {128, 128}};

// scalar_path: also the strided last dim, which takes the scalar kernel whatever the target.
void check_all(const std::string& target, bool scalar_path) {
  SCOPED_TRACE(target);
  uint32_t seed = 1;
  const DType types[] = {DType::F32, DType::BF16, DType::F16};
  for (DType xt : types)
    for (DType ot : types)
      for (PairLayout layout : {PairLayout::HalfSplit, PairLayout::Interleaved})
        for (const auto& [D, rot] : kDims)
          for (bool in_place : {false, true}) {
            if (in_place && xt != ot) continue;
            for (Strides s : {Strides::Contiguous, Strides::Bhtd, Strides::Padded, Strides::LastDim2})
              for (bool fwd : {true, false}) {
                if (s == Strides::LastDim2 && !scalar_path) continue;
                const int64_t Hq = 3 + 2 * (seed % 3), Hk = seed % 2 == 0 ? 1 : Hq;  // MQA or MHA
                const Precision p = seed % 3 == 0 ? Precision::HfCompat : Precision::Exact;
                check_case({xt, ot, layout, D, rot, Hq, Hk, in_place, s, fwd, p}, seed++);
                if (testing::Test::HasFatalFailure()) return;
              }
          }
}

}  // namespace

// Every target compiled into the library that this CPU supports: the dispatch must really switch
// (rope_simd_target) and each must give the reference's bits; a second sweep with every output
// streamed (non-temporal stores, normally only past 16 MiB) where its alignment allows.
TEST(RopeSimd, EveryTargetMatchesTheScalarReferenceBitForBit) {
  const std::vector<test::SimdVariant> variants = test::simd_variants();
  ASSERT_FALSE(variants.empty());
  for (const test::SimdVariant& v : variants) {
    test::use_simd_variant(v);
    ASSERT_EQ(detail::cpu::rope_simd_target(), v.target) << v.name;
    std::printf("target %s\n", v.name.c_str());
    for (bool stream : {false, true}) {
      SCOPED_TRACE(stream ? "streaming stores" : "ordinary stores");
      detail::cpu::set_stream_min_bytes_for_test(stream ? 0 : -1);
      // One thread: the sweep is thousands of tiny calls (threads are covered below).
      test::with_threads(1, [&] { check_all(v.name.c_str(), &v == &variants.front()); });
      detail::cpu::set_stream_min_bytes_for_test(-1);
      if (HasFatalFailure()) break;
    }
    if (HasFatalFailure()) break;
  }
  test::use_default_simd();
}

// The table rows (rope_table_rows_simd) on every target: rope_angle's bits, both precisions, with and
// without attention scaling, positions up to kMaxPosition.
TEST(RopeSimd, TableRowsMatchRopeAngleOnEveryTarget) {
  std::vector<int64_t> pos = test::random_ints(200, kMaxPosition, 5);
  for (int64_t p :
       std::initializer_list<int64_t>{0, 1, 2, 3, 4095, 4096, 65535, 1 << 24, (1 << 24) + 1, kMaxPosition})
    pos.push_back(p);
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (Precision p : {Precision::Exact, Precision::HfCompat})
      for (bool yarn : {false, true}) {
        RopeConfig cfg;
        cfg.head_dim = 128;
        cfg.rotary_dim = 102;
        cfg.precision = p;
        if (yarn) {
          cfg.max_position_embeddings = 4096;
          cfg.scaling.type = RopeType::Yarn;
          cfg.scaling.factor = 8.0;
        }
        const detail::RopeFreqs f = detail::rope_freqs(cfg, 0, "test");
        const int64_t half = cfg.rot() / 2, U = static_cast<int64_t>(pos.size());
        std::vector<float> c(static_cast<size_t>(U * half)), s(c.size()), rc(c.size()), rs(c.size());
        detail::cpu::rope_table_rows_simd(f, p, pos.data(), 0, U, half, c.data(), s.data());
        for (int64_t u = 0; u < U; ++u)
          for (int64_t i = 0; i < half; ++i)
            detail::cpu::rope_angle(f, p, pos[static_cast<size_t>(u)], i,
                                    rc[static_cast<size_t>(u * half + i)],
                                    rs[static_cast<size_t>(u * half + i)]);
        ASSERT_TRUE(test::bits_equal(c, rc)) << hwy::TargetName(target);
        ASSERT_TRUE(test::bits_equal(s, rs)) << hwy::TargetName(target);
      }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// The best target, several threads (rows split over them) and the shape of the benchmark's rows:
// the same bits as one thread.
// Batches (B, T) of one sequence each (Positions::offset): the per-block path's work split over
// threads, down to one block shared by several batch rows (T = 2), as in decoding.
TEST(RopeSimd, ThreadsDoNotChangeBits) {
  const int64_t H = 5, D = 128;
  RopeConfig cfg;
  cfg.head_dim = D;
  for (const auto& [B, T] : {std::pair<int64_t, int64_t>{1, 67}, {3, 2}, {2, 67}, {5, 1}})
    for (DType t : {DType::F32, DType::BF16}) {
      Buf x = make_buf(t, B, T, H, D, Strides::Contiguous);
      fill(x, 99);
      Buf y = x;
      y.view.data = y.bytes.data();
      test::with_threads(1, [&] { rope_forward({x.view, {}}, cfg, Positions::offset(3)); });
      test::with_threads(3, [&] { rope_forward({y.view, {}}, cfg, Positions::offset(3)); });
      ASSERT_EQ(first_difference(x, y), "") << "B=" << B << " T=" << T << " " << dtype_name(t);
    }
}

// The conversions alone, through the out-of-place pass-through dims (rot = 2): every f16 and bf16
// bit pattern (1024 heads of 64 pass-through dims), and 2^20 f32 patterns, into every dtype.
TEST(RopeSimd, PassThroughConvertsEveryBitPatternLikeTheScalarCode) {
  const int64_t H = 1024, D = 66;  // 64 pass-through dims per head: 65536 values
  RopeConfig cfg;
  cfg.head_dim = D;
  cfg.rotary_dim = 2;
  for (DType xt : {DType::F16, DType::BF16})
    for (DType ot : {DType::F32, DType::F16, DType::BF16}) {
      Buf x = make_buf(xt, 1, 1, H, D, Strides::Contiguous);
      auto* p = static_cast<uint16_t*>(x.view.data);
      for (int64_t h = 0; h < H; ++h)
        for (int64_t d = 0; d < D; ++d) p[h * D + d] = static_cast<uint16_t>(h * 64 + (d >= 2 ? d - 2 : d));
      Buf o = make_buf(ot, 1, 1, H, D, Strides::Contiguous), ro = o;
      ro.view.data = ro.bytes.data();
      rope_forward({x.view, {}, o.view, {}}, cfg, Positions::offset(0));
      std::vector<int64_t> any_nan;
      reference(x.view, ro.view, false, cfg, {0}, 1.0f, &any_nan);
      ASSERT_EQ(first_difference(o, ro, any_nan), "") << dtype_name(xt) << "->" << dtype_name(ot);
    }
  // f32 in: 2^20 bit patterns spread over all 2^32 (every exponent, NaN payloads, subnormals, f16
  // overflow and rounding ties).
  const int64_t H32 = 1024, D32 = 1026;
  cfg.head_dim = D32;
  Buf x = make_buf(DType::F32, 1, 1, H32, D32, Strides::Contiguous);
  auto* p = static_cast<uint32_t*>(x.view.data);
  for (int64_t e = 0; e < H32 * D32; ++e)
    p[e] = static_cast<uint32_t>(e) * 4099u + 0x1000u * static_cast<uint32_t>(e & 1);
  for (DType ot : {DType::F32, DType::F16, DType::BF16}) {
    Buf o = make_buf(ot, 1, 1, H32, D32, Strides::Contiguous), ro = o;
    ro.view.data = ro.bytes.data();
    rope_forward({x.view, {}, o.view, {}}, cfg, Positions::offset(0));
    std::vector<int64_t> any_nan;
    reference(x.view, ro.view, false, cfg, {0}, 1.0f, &any_nan);
    ASSERT_EQ(first_difference(o, ro, any_nan), "") << "f32->" << dtype_name(ot);
  }
}

// bf16 out of the rotation itself on every variant, where the AVX512_BF16 instructions (on CPUs that
// have them) take each vector without a subnormal lane: at position 0 (cos 1, sin 0, every value
// converts to itself) every bf16 bit pattern and 2^16 f32 patterns with bf16 ties, in runs of normal
// values that reach the instructions and vectors with subnormals and NaNs that must not; then normal
// random values at increasing positions, forward and backward. Both layouts, in place and out of place.
TEST(RopeSimd, RotatedBf16ConvertsLikeTheScalarCodeOnEveryVariant) {
  const int64_t H = 512, D = 128;  // 65536 values per token
  for (const test::SimdVariant& v : test::simd_variants()) {
    test::use_simd_variant(v);
    for (PairLayout layout : {PairLayout::HalfSplit, PairLayout::Interleaved})
      for (DType xt : {DType::BF16, DType::F32})
        for (bool in_place : {false, true}) {
          if (in_place && xt != DType::BF16) continue;
          for (int pass = 0; pass < 2; ++pass) {
            RopeConfig cfg;
            cfg.head_dim = D;
            cfg.layout = layout;
            const int64_t T = pass == 0 ? 1 : 4;
            Buf x = make_buf(xt, 1, T, H, D, Strides::Contiguous);
            std::vector<int64_t> pos(static_cast<size_t>(T), 0);
            if (pass == 0) {
              for (int64_t e = 0; e < H * D; ++e) {
                if (xt == DType::BF16) {
                  static_cast<uint16_t*>(x.view.data)[e] = static_cast<uint16_t>(e);
                } else {
                  uint32_t w = static_cast<uint32_t>(e) * 65537u + 0x9e3779b9u;
                  if (e & 1) w = (w & 0xffff0000u) | 0x8000u;  // a tie: to even
                  static_cast<uint32_t*>(x.view.data)[e] = w;
                }
              }
            } else {
              const std::vector<float> f =
                  test::random_floats(static_cast<size_t>(T * H * D), 5, -4.0f, 4.0f);
              for (size_t e = 0; e < f.size(); ++e) {
                if (xt == DType::BF16)
                  static_cast<uint16_t*>(x.view.data)[e] = f32_to_bf16_bits(f[e]);
                else
                  static_cast<float*>(x.view.data)[e] = f[e];
              }
              for (int64_t t = 0; t < T; ++t) pos[static_cast<size_t>(t)] = 1000 * t + 7;
            }
            const TensorView ids = TensorView::contiguous(pos.data(), DType::I64, {1, T});
            for (bool fwd : {true, false}) {
              Buf xx = x, rx = x, o = make_buf(DType::BF16, 1, T, H, D, Strides::Contiguous), ro = o;
              for (Buf* b : {&xx, &rx, &ro}) b->view.data = b->bytes.data();
              RopeTensors rt{xx.view, {}};
              if (!in_place) rt.q_out = o.view;
              fwd ? rope_forward(rt, cfg, Positions::ids(ids)) : rope_backward(rt, cfg, Positions::ids(ids));
              std::vector<int64_t> nan;
              reference(rx.view, in_place ? rx.view : ro.view, in_place, cfg, pos, fwd ? 1.0f : -1.0f, &nan);
              const std::string what = v.name + " " + std::string(dtype_name(xt)) +
                                       (layout == PairLayout::HalfSplit ? " halfsplit" : " interleaved") +
                                       (in_place ? " in place" : " out of place") + " pass " +
                                       std::to_string(pass) + (fwd ? " fwd" : " bwd");
              ASSERT_EQ(in_place ? first_difference(xx, rx, nan) : first_difference(o, ro, nan), "") << what;
            }
          }
        }
  }
  test::use_default_simd();
}

// posenc::cpu_simd_target names the target the kernels dispatch to, and follows Highway's choice.
TEST(RopeSimd, CpuSimdTargetNamesTheDispatchedTarget) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  EXPECT_STREQ(cpu_simd_target(), hwy::TargetName(targets.front()));  // the best one by default
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    EXPECT_STREQ(cpu_simd_target(), hwy::TargetName(target));
  }
  hwy::SetSupportedTargetsForTest(0);
}
