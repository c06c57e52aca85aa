// src/overlap.hpp — do two strided views share memory? Host-only and header-only: detail::check_disjoint
// (src/tensor.cpp) uses it for the outputs of every op on every device; tests/cuda/test_cuda_checks tests it.
//
// elements_overlap(a, b) is false only when no byte of an element of a is a byte of an element of b:
//   - their byte ranges [lowest, highest element] are disjoint, or
//   - they have the same dtype, shape and strides, their offset is a whole number of elements, and no
//     index difference maps onto that offset. This is what q and k of one fused qkv buffer look like
//     ([B, T, 3, H, D] viewed at 0 and at 1): interleaved ranges, disjoint elements.
// Anything else counts as overlapping (a conservative answer: the kernels would refuse a layout they
// could in fact handle, never accept one they cannot).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "posenc/tensor.hpp"

namespace posenc::detail {

struct ByteRange {
  int64_t first = 0, last = 0;  // [first, last), relative to address 0
  bool empty() const { return first >= last; }
};

inline ByteRange byte_range(const TensorView& v) {
  int64_t lo = 0, hi = 0;
  for (int d = 0; d < v.ndim; ++d) {
    if (v.size(d) == 0) return {};
    (v.stride(d) < 0 ? lo : hi) += (v.size(d) - 1) * v.stride(d);
  }
  const auto base = static_cast<int64_t>(reinterpret_cast<uintptr_t>(v.data));
  const int64_t es = dtype_size(v.dtype);
  return {base + lo * es, base + (hi + 1) * es};
}

namespace overlap_detail {
// Is delta = sum_d i_d * s[d] for some |i_d| <= n[d] - 1? dims sorted by |stride| decreasing; span[d] =
// the largest |sum| the dims after d reach.
inline bool reachable(int64_t delta, const std::vector<int64_t>& s, const std::vector<int64_t>& n,
                      const std::vector<int64_t>& span, size_t d) {
  if (d == s.size()) return delta == 0;
  const int64_t st = s[d], lim = n[d] - 1;
  // Candidates: the i with |delta - i st| <= span[d] (at most a few when strides do not alias).
  const int64_t lo_i = std::max(-lim, (delta - span[d] + (st - 1)) / st - 1);
  const int64_t hi_i = std::min(lim, (delta + span[d]) / st + 1);
  if (hi_i - lo_i > 8) return true;  // strides that alias heavily: call it overlapping
  for (int64_t i = lo_i; i <= hi_i; ++i) {
    const int64_t r = delta - i * st;
    if (std::abs(r) <= span[d] && reachable(r, s, n, span, d + 1)) return true;
  }
  return false;
}
}  // namespace overlap_detail

inline bool elements_overlap(const TensorView& a, const TensorView& b) {
  const ByteRange x = byte_range(a), y = byte_range(b);
  if (x.empty() || y.empty()) return false;
  if (x.last <= y.first || y.last <= x.first) return false;
  if (a.dtype != b.dtype || a.ndim != b.ndim) return true;
  for (int d = 0; d < a.ndim; ++d)
    if (a.size(d) != b.size(d) || a.stride(d) != b.stride(d)) return true;
  const int64_t es = dtype_size(a.dtype);
  const int64_t bytes = static_cast<int64_t>(reinterpret_cast<uintptr_t>(b.data)) -
                        static_cast<int64_t>(reinterpret_cast<uintptr_t>(a.data));
  if (bytes % es != 0) return true;
  const int64_t delta = bytes / es;
  if (delta == 0) return true;
  std::vector<int> dims;
  for (int d = 0; d < a.ndim; ++d)
    if (a.size(d) > 1 && a.stride(d) != 0)
      dims.push_back(d);
    else if (a.size(d) > 1)
      return true;  // a broadcast dim: elements repeat
  std::sort(dims.begin(), dims.end(),
            [&](int p, int q) { return std::abs(a.stride(p)) > std::abs(a.stride(q)); });
  std::vector<int64_t> s, n, span(dims.size());
  for (int d : dims) {
    s.push_back(std::abs(a.stride(d)));
    n.push_back(a.size(d));
  }
  int64_t acc = 0;
  for (size_t i = dims.size(); i-- > 0;) {
    span[i] = acc;
    acc += (n[i] - 1) * s[i];
  }
  return overlap_detail::reachable(delta, s, n, span, 0);
}

// out is exactly in: same memory, dtype, shape and strides (an in-place call).
inline bool same_view(const TensorView& a, const TensorView& b) {
  if (a.data != b.data || a.dtype != b.dtype || a.ndim != b.ndim) return false;
  for (int d = 0; d < a.ndim; ++d)
    if (a.size(d) != b.size(d) || a.stride(d) != b.stride(d)) return false;
  return true;
}

}  // namespace posenc::detail
