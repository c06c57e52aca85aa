// bench/proto_gather_add.hpp — prototypes of the fused forward's inner loop
// (src/cpu/gather_add.cpp, Embed mode, contiguous rows), kept in bench/ only to measure what a
// change to that kernel would buy:
//   out[n, :] = E[ids[n], :] * scale + P[rows[n], :]   (same fp32 formula and order, bit-identical)
// Threads over tokens n with a static schedule, as the core does.
#pragma once

#include <cstdint>

namespace posenc_bench {

enum class StoreKind {
  Plain,        // ordinary stores: the core kernel's loop, contiguous fast path only
  NonTemporal,  // streaming stores (movntps): out is not read into the cache before it is written
};

// out [N, C], E [V, C], P [R, C] contiguous fp32; ids, rows [N]; out rows 16-byte aligned for
// NonTemporal.
void proto_embed_forward(float* out, const float* E, const int64_t* ids, const float* P, const int64_t* rows,
                         int64_t N, int64_t C, float scale, StoreKind kind);

// The same for bf16 E, P and out (fp32 math, one round-to-nearest-even to bf16, as posenc), 16
// columns at a time with AVX2 (pmovzxwd to widen, packusdw to narrow) when the CPU has it; false if
// it has not (then nothing is written). A target attribute, not a build flag: the rest of the
// binary stays baseline x86-64.
bool proto_embed_forward_bf16_avx2(uint16_t* out, const uint16_t* E, const int64_t* ids, const uint16_t* P,
                                   const int64_t* rows, int64_t N, int64_t C, float scale);

}  // namespace posenc_bench
