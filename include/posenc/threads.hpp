// posenc/threads.hpp — how posenc's CPU kernels run: the number of threads (OpenMP underneath) and the
// SIMD instruction set they dispatch to. Results depend on neither: every reduction runs in a fixed
// order, and every vectorised kernel gives its scalar code's bits on every target.
#pragma once

namespace posenc {

// The most threads any posenc entry point takes (set_num_threads, the commands' --threads).
inline constexpr int kMaxThreads = 1024;

void set_num_threads(int n);  // 1 <= n <= kMaxThreads
int num_threads();

// The Highway target the vectorised CPU kernels run on here: the best one compiled into posenc that this
// CPU supports, by Highway's name ("AVX3", "AVX2", "SSE4", "SSSE3", "EMU128", "NEON", ...).
const char* cpu_simd_target();

}  // namespace posenc
