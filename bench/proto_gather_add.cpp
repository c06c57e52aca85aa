#include "proto_gather_add.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "posenc/dtype.hpp"

namespace posenc_bench {

void proto_embed_forward(float* out, const float* E, const int64_t* ids, const float* P, const int64_t* rows,
                         int64_t N, int64_t C, float scale, StoreKind kind) {
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      float* o = out + n * C;
      const float* e = E + ids[n] * C;
      const float* p = P + rows[n] * C;
#if defined(__x86_64__)
      if (kind == StoreKind::NonTemporal) {
        const __m128 s = _mm_set1_ps(scale);
        int64_t c = 0;
        for (; c + 4 <= C; c += 4)  // mul then add, two roundings: the same bits as the scalar formula
          _mm_stream_ps(o + c, _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(e + c), s), _mm_loadu_ps(p + c)));
        for (; c < C; ++c) o[c] = e[c] * scale + p[c];
        continue;
      }
#endif
      for (int64_t c = 0; c < C; ++c) o[c] = e[c] * scale + p[c];
    }
#if defined(__x86_64__)
    if (kind == StoreKind::NonTemporal) _mm_sfence();  // streaming stores are weakly ordered
#endif
  }
}

#if defined(__x86_64__)
namespace {
__attribute__((target("avx2"))) __m256 load_bf16x8(const uint16_t* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

// posenc::f32_to_bf16_bits on 8 lanes, result in the low 16 bits of each 32-bit lane.
__attribute__((target("avx2"))) __m256i round_bf16x8(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
  const __m256i rne =
      _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  const __m256i nan =
      _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  return _mm256_blendv_epi8(rne, quiet, nan);
}

__attribute__((target("avx2"))) void bf16_rows_avx2(uint16_t* out, const uint16_t* E, const int64_t* ids,
                                                    const uint16_t* P, const int64_t* rows, int64_t N,
                                                    int64_t C, float scale) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    uint16_t* o = out + n * C;
    const uint16_t* e = E + ids[n] * C;
    const uint16_t* p = P + rows[n] * C;
    const __m256 s = _mm256_set1_ps(scale);
    int64_t c = 0;
    for (; c + 16 <= C; c += 16) {  // mul then add (no fma): the same bits as the scalar formula
      const __m256 lo = _mm256_add_ps(_mm256_mul_ps(load_bf16x8(e + c), s), load_bf16x8(p + c));
      const __m256 hi = _mm256_add_ps(_mm256_mul_ps(load_bf16x8(e + c + 8), s), load_bf16x8(p + c + 8));
      // packus interleaves 128-bit lanes: [lo0-3 hi0-3 lo4-7 hi4-7] -> [lo0-7 hi0-7]
      const __m256i packed = _mm256_packus_epi32(round_bf16x8(lo), round_bf16x8(hi));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + c), _mm256_permute4x64_epi64(packed, 0xd8));
    }
    for (; c < C; ++c)
      o[c] =
          posenc::f32_to_bf16_bits(posenc::bf16_bits_to_f32(e[c]) * scale + posenc::bf16_bits_to_f32(p[c]));
  }
}
}  // namespace
#endif

bool proto_embed_forward_bf16_avx2(uint16_t* out, const uint16_t* E, const int64_t* ids, const uint16_t* P,
                                   const int64_t* rows, int64_t N, int64_t C, float scale) {
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx2")) return false;
  bf16_rows_avx2(out, E, ids, P, rows, N, C, scale);
  return true;
#else
  (void)out, (void)E, (void)ids, (void)P, (void)rows, (void)N, (void)C, (void)scale;
  return false;
#endif
}

}  // namespace posenc_bench
