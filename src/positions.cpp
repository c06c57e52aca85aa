#include "posenc/positions.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "check.hpp"

namespace posenc {

using detail::fail;

Positions Positions::offset(int64_t start) {
  Positions p;
  p.kind_ = Kind::Offsets;
  p.start_ = start;
  return p;
}

Positions Positions::offsets(std::span<const int64_t> per_sequence) {
  Positions p;
  p.kind_ = Kind::Offsets;
  p.per_sequence_ = true;
  p.list_ = per_sequence;
  return p;
}

Positions Positions::ids(const TensorView& ids) {
  Positions p;
  p.kind_ = Kind::Ids;
  p.ids_ = ids;
  return p;
}

Positions Positions::packed(std::span<const int64_t> cu_seqlens) {
  Positions p;
  p.kind_ = Kind::Packed;
  p.list_ = cu_seqlens;
  return p;
}

namespace {
std::string range(int64_t max_position) {
  return "0 .. " + std::to_string(max_position);
}

void check_pos(const char* where, const std::string& what, int64_t pos, int64_t max_position) {
  if (pos < 0 || pos > max_position) fail(where, what, std::to_string(pos), range(max_position));
}

// Checks ids [B, T] and writes them to out[b * T + t]; with out == nullptr only checks them, each element
// once (a dim of stride 0 repeats one id).
template <typename I>
void read_ids(const TensorView& v, int64_t B, int64_t T, const char* where, int64_t max_position,
              int64_t* out) {
  const int64_t Bn = out == nullptr && v.stride(0) == 0 ? std::min<int64_t>(B, 1) : B;
  const int64_t Tn = out == nullptr && v.stride(1) == 0 ? std::min<int64_t>(T, 1) : T;
  for (int64_t b = 0; b < Bn; ++b)
    for (int64_t t = 0; t < Tn; ++t) {
      const int64_t p = *v.at<const I>({b, t});
      if (p < 0 || p > max_position)
        fail(where, "position ids[" + std::to_string(b) + ", " + std::to_string(t) + "]", std::to_string(p),
             range(max_position));
      if (out != nullptr) out[b * T + t] = p;
    }
}
}  // namespace

void Positions::run(int64_t B, int64_t T, int64_t max_position, const char* where,
                    std::vector<int64_t>* out) const {
  max_position = std::min(max_position, kMaxPosition);
  int64_t tokens = 0;
  if (B < 0 || T < 0 || __builtin_mul_overflow(B, T, &tokens))
    fail(where, "B x T (batch x sequence length)", std::to_string(B) + " x " + std::to_string(T),
         "sizes >= 0 whose product fits in int64");
  if (out != nullptr) out->resize(static_cast<size_t>(tokens));
  switch (kind_) {
    case Kind::Offsets: {
      if (per_sequence_ && static_cast<int64_t>(list_.size()) != B)
        fail(where, "offsets.size()", std::to_string(list_.size()),
             std::to_string(B) + " (one per sequence, B)");
      // One offset for all sequences is checked once.
      const int64_t checked = per_sequence_ ? B : std::min<int64_t>(B, 1);
      for (int64_t b = 0; b < checked; ++b) {
        const int64_t start = per_sequence_ ? list_[static_cast<size_t>(b)] : start_;
        const std::string name = per_sequence_ ? "offsets[" + std::to_string(b) + "]" : "offset";
        check_pos(where, name, start, max_position);
        if (T > 0) check_pos(where, name + " + T - 1 (last position)", start + T - 1, max_position);
      }
      if (out == nullptr) return;
      for (int64_t b = 0; b < B; ++b) {
        const int64_t start = per_sequence_ ? list_[static_cast<size_t>(b)] : start_;
        for (int64_t t = 0; t < T; ++t) (*out)[static_cast<size_t>(b * T + t)] = start + t;
      }
      return;
    }
    case Kind::Ids: {
      detail::check_int_view(where, "position ids", ids_, 2);
      // [1, T]: the same ids for every sequence, as HF passes position_ids (a batch dim of stride 0).
      TensorView v = ids_;
      if (v.size(0) == 1) {
        v.shape[0] = B;
        v.strides[0] = 0;
      }
      detail::check_size(where, "position ids", v, 0, B, "the batch size B, or 1 for every sequence");
      detail::check_size(where, "position ids", v, 1, T, "the sequence length T");
      int64_t* const dst = out != nullptr ? out->data() : nullptr;
      if (v.dtype == DType::I32)
        read_ids<int32_t>(v, B, T, where, max_position, dst);
      else
        read_ids<int64_t>(v, B, T, where, max_position, dst);
      return;
    }
    case Kind::Packed: {
      if (B != 1)
        fail(where, "B (packed sequences)", std::to_string(B), "1: packed tokens are [1, total, ...]");
      if (list_.size() < 2)
        fail(where, "cu_seqlens.size()", std::to_string(list_.size()), ">= 2 (N + 1 for N sequences)");
      if (list_.front() != 0) fail(where, "cu_seqlens[0]", std::to_string(list_.front()), "0");
      if (list_.back() != T)
        fail(where, "cu_seqlens[" + std::to_string(list_.size() - 1) + "]", std::to_string(list_.back()),
             std::to_string(T) + " (the total token count T)");
      // The whole list is checked before anything is written (non-decreasing from 0 to T keeps every
      // sequence inside out).
      for (size_t s = 0; s + 1 < list_.size(); ++s) {
        const int64_t lo = list_[s], hi = list_[s + 1];
        if (hi < lo)
          fail(where, "cu_seqlens[" + std::to_string(s + 1) + "]", std::to_string(hi),
               ">= cu_seqlens[" + std::to_string(s) + "] = " + std::to_string(lo) + " (non-decreasing)");
        if (hi > lo)
          check_pos(where,
                    "last position of packed sequence " + std::to_string(s) + " (cu_seqlens[" +
                        std::to_string(s + 1) + "] - cu_seqlens[" + std::to_string(s) + "] - 1)",
                    hi - lo - 1, max_position);
      }
      if (out == nullptr) return;
      for (size_t s = 0; s + 1 < list_.size(); ++s)
        for (int64_t t = list_[s]; t < list_[s + 1]; ++t) (*out)[static_cast<size_t>(t)] = t - list_[s];
      return;
    }
  }
}

void Positions::resolve(int64_t B, int64_t T, int64_t max_position, const char* where,
                        std::vector<int64_t>& out) const {
  run(B, T, max_position, where, &out);
}

void Positions::check(int64_t B, int64_t T, int64_t max_position, const char* where) const {
  run(B, T, max_position, where, nullptr);
}

std::vector<int64_t> Positions::resolve(int64_t B, int64_t T, int64_t max_position, const char* where) const {
  std::vector<int64_t> out;
  resolve(B, T, max_position, where, out);
  return out;
}

}  // namespace posenc
