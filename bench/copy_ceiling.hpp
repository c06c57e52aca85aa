// bench/copy_ceiling.hpp — the bandwidth ceiling: copies split into one contiguous chunk per thread
// (the same OpenMP threads posenc uses), so a 2-core run is compared with a 2-core copy.
//
// A copy of n bytes reads n and writes n: it "moves" 2n bytes. A posenc case that moves M bytes
// (read + written, see bench_embed.cpp) is compared with a copy of M / 2 bytes.
#pragma once

#include <cstddef>

namespace posenc_bench {

enum class CopyKind {
  Memcpy,    // std::memcpy per chunk: glibc switches to non-temporal stores for chunks this large
  Temporal,  // 16-byte loads and ordinary stores: every written line is first read (write-allocate)
};

// dst[0, n) = src[0, n), both 64-byte aligned, over threads() threads.
void parallel_copy(void* dst, const void* src, size_t n, CopyKind kind);

}  // namespace posenc_bench
