#include "copy_ceiling.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "bench_util.hpp"

namespace posenc_bench {

namespace {
void copy_temporal(unsigned char* d, const unsigned char* s, size_t n) {
#if defined(__SSE2__)
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {  // 64-byte aligned chunks (chunk starts are multiples of 64)
    const __m128i a = _mm_load_si128(reinterpret_cast<const __m128i*>(s + i));
    const __m128i b = _mm_load_si128(reinterpret_cast<const __m128i*>(s + i + 16));
    const __m128i c = _mm_load_si128(reinterpret_cast<const __m128i*>(s + i + 32));
    const __m128i e = _mm_load_si128(reinterpret_cast<const __m128i*>(s + i + 48));
    _mm_store_si128(reinterpret_cast<__m128i*>(d + i), a);
    _mm_store_si128(reinterpret_cast<__m128i*>(d + i + 16), b);
    _mm_store_si128(reinterpret_cast<__m128i*>(d + i + 32), c);
    _mm_store_si128(reinterpret_cast<__m128i*>(d + i + 48), e);
  }
  for (; i < n; ++i) d[i] = s[i];
#else
  std::memcpy(d, s, n);
#endif
}
}  // namespace

void parallel_copy(void* dst, const void* src, size_t n, CopyKind kind) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  const int nt = threads();
  // Chunks of whole 64-byte lines so each thread's range starts aligned.
  const size_t lines = (n + 63) / 64;
#pragma omp parallel num_threads(nt)
  {
    const auto t = static_cast<size_t>(omp_get_thread_num());
    const auto k = static_cast<size_t>(omp_get_num_threads());
    const size_t begin = std::min(n, lines * t / k * 64);
    const size_t end = std::min(n, lines * (t + 1) / k * 64);
    if (end > begin) {
      if (kind == CopyKind::Memcpy)
        std::memcpy(d + begin, s + begin, end - begin);
      else
        copy_temporal(d + begin, s + begin, end - begin);
    }
  }
}

}  // namespace posenc_bench
