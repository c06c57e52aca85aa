// src/cpu/row_copy.hpp — copying a row of bytes into a large output, optionally with non-temporal
// stores (cpu/row_copy_simd.cpp, Highway, the best target of the CPU). The bias kernels (T5, ALiBi)
// build each head's values once and then copy every output row out of them, so their cost is the
// output's bytes written once.
#pragma once

#include <cstdint>

namespace posenc::detail::cpu {

// Non-temporal stores skip reading the output's lines before writing them (+15% for f32 in
// bench/proto_gather_add.cpp, ~2x for write-only outputs) but leave the output in memory, not in the
// cache: only for outputs past this size, about a server L3's share, which the next op would not find
// in the cache anyway.
constexpr int64_t kStreamMinBytes = int64_t{16} << 20;

// Whether a kernel streams an output of this many bytes: past kStreamMinBytes, or past what a test
// set with set_stream_min_bytes_for_test (so that the streaming paths run on test-sized outputs;
// a negative value restores kStreamMinBytes). Not for use outside tests: it is process-wide.
bool stream_output(int64_t out_bytes);
void set_stream_min_bytes_for_test(int64_t bytes);

// dst[0 .. bytes) = src[0 .. bytes); the ranges must not overlap. stream: the aligned middle part
// with non-temporal stores; the calling thread must call stream_fence() before its writes are read
// by another thread (the end of an OpenMP parallel region is not enough: streaming stores are
// weakly ordered).
void copy_row(void* dst, const void* src, int64_t bytes, bool stream);
void stream_fence();
int64_t row_copy_simd_target();

// Positions p_j = p_0 + j (j < n): a run, whose rows of values the bias kernels can copy whole.
inline bool keys_are_run(const int64_t* p, int64_t n) {
  for (int64_t j = 1; j < n; ++j)
    if (p[j] != p[0] + j) return false;
  return true;
}

// Calls row(h, i) for every h < H, i < R over the OpenMP threads (a static schedule of the (h, i)
// pairs, each thread a contiguous block); with stream, each thread fences its streaming stores before
// the parallel region ends.
template <typename F>
void for_each_row(int64_t H, int64_t R, bool stream, F&& row) {
#pragma omp parallel
  {
#pragma omp for collapse(2) schedule(static)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < R; ++i) row(h, i);
    if (stream) stream_fence();
  }
}

}  // namespace posenc::detail::cpu
