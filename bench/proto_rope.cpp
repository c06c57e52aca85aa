#include "proto_rope.hpp"

#include <cmath>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "posenc/dtype.hpp"
#include "posenc/rope.hpp"

namespace posenc_bench {

using posenc::DType;
using posenc::Elem;
using posenc::PairLayout;

namespace {
// src/cpu/rope.cpp's apply<X, X> (rot = D, so no pass-through columns) with the table passed in.
// Fixed = true replaces the runtime layout by HalfSplit's compile-time offsets.
template <DType X, bool Fixed>
void core_loop(const posenc::TensorView& x, const posenc::TensorView& out, const ProtoRopeTable& tab,
               PairLayout layout, float sign) {
  using S = typename Elem<X>::storage;
  const int64_t T = x.size(1), H = x.size(2), N = x.size(0) * T;
  const int64_t half = tab.half;
  const int64_t sx = x.stride(3), so = out.stride(3);
  const int64_t second = Fixed || layout == PairLayout::HalfSplit ? half : 1;
  const int64_t step = Fixed || layout == PairLayout::HalfSplit ? 1 : 2;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* c = tab.cos + tab.rows[n] * half;
    const float* s = tab.sin + tab.rows[n] * half;
    for (int64_t h = 0; h < H; ++h) {
      const S* xp = x.at<const S>({n / T, n % T, h, 0});
      S* op = out.at<S>({n / T, n % T, h, 0});
      for (int64_t i = 0; i < half; ++i) {
        const int64_t a = Fixed ? i : i * step, b = a + second;
        const float xa = Elem<X>::load(xp + a * sx), xb = Elem<X>::load(xp + b * sx);
        const float si = sign * s[i];
        Elem<X>::store(op + a * so, xa * c[i] - xb * si);
        Elem<X>::store(op + b * so, xb * c[i] + xa * si);
      }
    }
  }
}

template <bool Fixed>
void core_loop_any(const posenc::TensorView& x, const posenc::TensorView& out, const ProtoRopeTable& tab,
                   PairLayout layout, float sign) {
  if (x.dtype == DType::BF16)
    core_loop<DType::BF16, Fixed>(x, out, tab, layout, sign);
  else
    core_loop<DType::F32, Fixed>(x, out, tab, layout, sign);
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) __m256 load_bf16x8(const uint16_t* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

// posenc::f32_to_bf16_bits on 8 lanes, result in the low 16 bits of each 32-bit lane.
__attribute__((target("avx2"))) __m256i round_bf16x8(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rne =
      _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  const __m256i nan =
      _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  return _mm256_blendv_epi8(rne, quiet, nan);
}

// 16 bf16 lanes from two 8-lane halves (packus interleaves 128-bit lanes; the permute undoes it).
__attribute__((target("avx2"))) void store_bf16x16(uint16_t* p, __m256 lo, __m256 hi) {
  const __m256i packed = _mm256_packus_epi32(round_bf16x8(lo), round_bf16x8(hi));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm256_permute4x64_epi64(packed, 0xd8));
}

struct Rot {
  __m256 a, b;
};
// mul, mul, then sub / add (no fma): the same roundings as the scalar formula.
__attribute__((target("avx2"))) Rot rotate8(__m256 xa, __m256 xb, __m256 c, __m256 s) {
  return {_mm256_sub_ps(_mm256_mul_ps(xa, c), _mm256_mul_ps(xb, s)),
          _mm256_add_ps(_mm256_mul_ps(xb, c), _mm256_mul_ps(xa, s))};
}

template <DType X>
void rotate_tail(typename Elem<X>::storage* a, typename Elem<X>::storage* b, const float* c, const float* s,
                 int64_t n, float sign) {
  for (int64_t i = 0; i < n; ++i) {
    const float xa = Elem<X>::load(a + i), xb = Elem<X>::load(b + i), si = sign * s[i];
    Elem<X>::store(a + i, xa * c[i] - xb * si);
    Elem<X>::store(b + i, xb * c[i] + xa * si);
  }
}

__attribute__((target("avx2"))) void avx2_f32(float* x, int64_t N, int64_t H, int64_t D,
                                              const ProtoRopeTable& tab, float sign) {
  const int64_t half = tab.half;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* c = tab.cos + tab.rows[n] * half;
    const float* s = tab.sin + tab.rows[n] * half;
    const __m256 sg = _mm256_set1_ps(sign);
    for (int64_t h = 0; h < H; ++h) {
      float* a = x + (n * H + h) * D;
      float* b = a + half;
      int64_t i = 0;
      for (; i + 8 <= half; i += 8) {
        const Rot r = rotate8(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), _mm256_loadu_ps(c + i),
                              _mm256_mul_ps(sg, _mm256_loadu_ps(s + i)));
        _mm256_storeu_ps(a + i, r.a);
        _mm256_storeu_ps(b + i, r.b);
      }
      rotate_tail<DType::F32>(a + i, b + i, c + i, s + i, half - i, sign);
    }
  }
}

__attribute__((target("avx2"))) void avx2_bf16(uint16_t* x, int64_t N, int64_t H, int64_t D,
                                               const ProtoRopeTable& tab, float sign) {
  const int64_t half = tab.half;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* c = tab.cos + tab.rows[n] * half;
    const float* s = tab.sin + tab.rows[n] * half;
    const __m256 sg = _mm256_set1_ps(sign);
    for (int64_t h = 0; h < H; ++h) {
      uint16_t* a = x + (n * H + h) * D;
      uint16_t* b = a + half;
      int64_t i = 0;
      for (; i + 16 <= half; i += 16) {
        const Rot lo = rotate8(load_bf16x8(a + i), load_bf16x8(b + i), _mm256_loadu_ps(c + i),
                               _mm256_mul_ps(sg, _mm256_loadu_ps(s + i)));
        const Rot hi = rotate8(load_bf16x8(a + i + 8), load_bf16x8(b + i + 8), _mm256_loadu_ps(c + i + 8),
                               _mm256_mul_ps(sg, _mm256_loadu_ps(s + i + 8)));
        store_bf16x16(a + i, lo.a, hi.a);
        store_bf16x16(b + i, lo.b, hi.b);
      }
      rotate_tail<DType::BF16>(a + i, b + i, c + i, s + i, half - i, sign);
    }
  }
}
#endif
}  // namespace

bool proto_rope(ProtoRope kind, const posenc::TensorView& x, const posenc::TensorView& out,
                const ProtoRopeTable& tab, PairLayout layout, float sign) {
  switch (kind) {
    case ProtoRope::Verbatim:
      core_loop_any<false>(x, out, tab, layout, sign);
      return true;
    case ProtoRope::HalfSplit:
      core_loop_any<true>(x, out, tab, layout, sign);
      return true;
    case ProtoRope::Avx2:
      break;
  }
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx2")) return false;
  // In place and contiguous only (the benchmark's case).
  const int64_t N = x.size(0) * x.size(1), H = x.size(2), D = x.size(3);
  if (x.dtype == DType::BF16)
    avx2_bf16(static_cast<uint16_t*>(x.data), N, H, D, tab, sign);
  else
    avx2_f32(static_cast<float*>(x.data), N, H, D, tab, sign);
  (void)out;
  return true;
#else
  (void)out;
  return false;
#endif
}

void proto_rope_table_hf(std::vector<float>& cos, std::vector<float>& sin, int64_t N,
                         const std::vector<float>& inv_freq_f32, float attention_scaling) {
  const auto half = static_cast<int64_t>(inv_freq_f32.size());
  cos.resize(static_cast<size_t>(N * half));
  sin.resize(cos.size());
  const float* w = inv_freq_f32.data();
  float* c = cos.data();
  float* s = sin.data();
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < N; ++p)
    for (int64_t i = 0; i < half; ++i) {
      const float a = static_cast<float>(p) * w[i];
      c[p * half + i] = static_cast<float>(std::cos(static_cast<double>(a))) * attention_scaling;
      s[p * half + i] = static_cast<float>(std::sin(static_cast<double>(a))) * attention_scaling;
    }
}

}  // namespace posenc_bench
