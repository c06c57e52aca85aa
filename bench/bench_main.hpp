// bench/bench_main.hpp — what the Google Benchmark suites (bench_rope.cpp, bench_embed.cpp,
// bench_bias.cpp) share: the timed loop, the copy ceiling case, and main.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>

#include "copy_ceiling.hpp"
#ifdef POSENC_BENCH_TORCH
#include "torch_baselines.hpp"
#endif

namespace posenc_bench {

// Runs body once per iteration and charges `bytes` per call (GB/s = bytes / wall time).
template <typename F>
void timed(benchmark::State& st, int64_t bytes, F&& body) {
  for (auto _ : st) {
    body();
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(st.iterations() * bytes);
}

// The ceiling of an op charged `bytes`: a parallel copy of bytes / 2 from one buffer to another
// (reads bytes / 2, writes bytes / 2), split over the suite's threads.
void copy_ceiling(benchmark::State& st, int64_t bytes, CopyKind kind = CopyKind::Memcpy);

// LibTorch's threads set to n and described in the context (binaries built with LibTorch), or
// "not built" there. Inline: POSENC_BENCH_TORCH is defined for the binaries only.
inline void torch_context(int n) {
#ifdef POSENC_BENCH_TORCH
  torch_set_num_threads(n);
  benchmark::AddCustomContext("torch", torch_describe());
#else
  (void)n;
  benchmark::AddCustomContext("torch", "not built (LibTorch not found)");
#endif
}

// main of a suite: the thread count (--posenc_threads=N, see bench_util.hpp) set for posenc, then
// setup(n) (torch_context and any context of the suite's own), the defaults (9 interleaved
// repetitions of >= 0.1 s, medians reported; overridden by the same flags later on the command line),
// register_all(), and the run.
int bench_main(int argc, char** argv, const char* name, void (*register_all)(),
               const std::function<void(int)>& setup);

}  // namespace posenc_bench
