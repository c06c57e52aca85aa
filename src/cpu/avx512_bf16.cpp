// src/cpu/avx512_bf16.cpp — the AVX512_BF16 switch of avx512_bf16.hpp, set from CPUID at start-up.
#include "cpu/avx512_bf16.hpp"

#include <cstdlib>

namespace posenc::detail::cpu {

bool cpu_has_avx512_bf16() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();  // may run before the runtime's own initialisation (static initialiser below)
  return __builtin_cpu_supports("avx512bf16") != 0;
#else
  return false;
#endif
}

// POSENC_NO_AVX512_BF16 (set, any value) keeps the integer conversion: for side-by-side measurements.
std::atomic<bool> g_avx512_bf16{cpu_has_avx512_bf16() && std::getenv("POSENC_NO_AVX512_BF16") == nullptr};

void set_avx512_bf16_for_test(bool on) {
  g_avx512_bf16.store(on && cpu_has_avx512_bf16(), std::memory_order_relaxed);
}

}  // namespace posenc::detail::cpu
