// posenc/positions.hpp — which position each token has.
//
// Three ways to say it, for activations laid out [B, T, ...]:
//   offsets:  pos[b, t] = offset[b] + t           (one offset for all sequences, or one per sequence, e.g.
//                                                 the KV-cache length during decoding)
//   ids:      pos[b, t] = ids[b, t]               (explicit position ids, i32 or i64, [B, T] any strides;
//                                                 [1, T] gives every sequence the same ids, as HF's
//                                                 position_ids)
//   packed:   B = 1 and T = total tokens of N sequences laid end to end; cu_seqlens = [0, L0, L0+L1, ...,
//             total] (N + 1 entries, non-decreasing); pos = t - cu_seqlens[s] for t in sequence s, so
//             positions restart at 0 for each sequence.
// Positions must lie in [0, 2^31 - 1] (kMaxPosition); each kernel also checks its own upper bound (e.g. the
// rows of a learned table). The spans and views are not copied: they must outlive the call. They are
// host memory (ids on Device::CPU), read in full and checked before a kernel writes anything, so unlike
// the tensors of a call they are not checked for sharing memory with its outputs.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "posenc/tensor.hpp"

namespace posenc {

inline constexpr int64_t kMaxPosition = 2147483647;  // 2^31 - 1

class Positions {
 public:
  enum class Kind : uint8_t { Offsets, Ids, Packed };

  // pos[b, t] = start + t for every sequence (start = 0 by default).
  static Positions offset(int64_t start = 0);
  // pos[b, t] = offsets[b] + t; offsets has B entries (an empty span too: an error unless B = 0).
  static Positions offsets(std::span<const int64_t> per_sequence);
  // A temporary vector would be gone before a call reads it (auto p = offsets(std::vector{...}) read
  // freed memory): name the vector.
  static Positions offsets(std::vector<int64_t>&&) = delete;
  // pos[b, t] = ids[b, t]; ids is i32 or i64 [B, T].
  static Positions ids(const TensorView& ids);
  // Packed variable-length sequences; cu_seqlens has N + 1 entries from 0 to the total token count.
  static Positions packed(std::span<const int64_t> cu_seqlens);
  static Positions packed(std::vector<int64_t>&&) = delete;  // as offsets: name the vector

  Kind kind() const { return kind_; }

  // Writes pos[b * T + t] for all b < B, t < T after checking everything against the layout and
  // [0, max_position]. Errors name the argument (offsets, ids, cu_seqlens), the index, the value and the
  // allowed range; `where` names the calling function.
  void resolve(int64_t B, int64_t T, int64_t max_position, const char* where,
               std::vector<int64_t>& out) const;
  std::vector<int64_t> resolve(int64_t B, int64_t T, int64_t max_position, const char* where) const;
  // Checks what resolve checks, writing nothing (for a call with no element to write): no per-token
  // buffer, and each distinct position read once (a dim of ids with stride 0, or one offset for all
  // sequences, is checked once however large B and T are).
  void check(int64_t B, int64_t T, int64_t max_position, const char* where) const;

 private:
  void run(int64_t B, int64_t T, int64_t max_position, const char* where, std::vector<int64_t>* out) const;

  Kind kind_ = Kind::Offsets;
  bool per_sequence_ = false;  // offsets(list) rather than offset(start)
  int64_t start_ = 0;
  std::span<const int64_t> list_;  // per-sequence offsets or cu_seqlens
  TensorView ids_{};
};

}  // namespace posenc
