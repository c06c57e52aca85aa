// src/cuda/rope_items.hpp — how a block of the CUDA RoPE kernel (rope.cu) numbers its work items: for
// tpb tokens, every head of q (then k) is split into per_head chunks (rotation chunks, then pass-through
// chunks). Item k of a block, 0 <= k < tpb * (items0 + items1), names one (tensor, head, token, chunk).
//   token-major: token, then tensor, head, chunk: consecutive items walk one token's heads, contiguous
//                in memory for [B, T, H, D] tensors;
//   head-major:  tensor, head, then token, chunk: consecutive items walk one head's tokens, contiguous for
//                [B, H, T, D] tensors (HF's layout), where token-major order reads a few hundred bytes at
//                every head's offset, a megabyte apart.
// Host and device code (tests/test_rope.cpp checks on the host that every item is named exactly once).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define POSENC_ITEMS_HD __host__ __device__ __forceinline__
#else
#define POSENC_ITEMS_HD inline
#endif

namespace posenc::detail::cuda {

struct RopeItem {
  bool second;  // k (tensor 1) rather than q (tensor 0)
  int32_t h;    // head
  int32_t lt;   // token within the block
  int32_t c;    // chunk within the head
};

// items0 / items1: heads * per_head of q / k (items1 = 0 without k).
POSENC_ITEMS_HD RopeItem rope_item(int32_t k, int32_t tpb, bool head_major, int32_t items0, int32_t per_head0,
                                   int32_t items1, int32_t per_head1) {
  RopeItem r{};
  if (head_major) {
    const int32_t first = tpb * items0;
    r.second = k >= first;
    if (r.second) k -= first;
    const int32_t per_head = r.second ? per_head1 : per_head0;
    r.h = k / (tpb * per_head);
    k -= r.h * tpb * per_head;
    r.lt = k / per_head;
    r.c = k - r.lt * per_head;
  } else {
    const int32_t items = items0 + items1;
    r.lt = k / items;
    k -= r.lt * items;
    r.second = k >= items0;
    if (r.second) k -= items0;
    const int32_t per_head = r.second ? per_head1 : per_head0;
    r.h = k / per_head;
    r.c = k - r.h * per_head;
  }
  return r;
}

}  // namespace posenc::detail::cuda
