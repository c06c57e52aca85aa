// src/overlap.hpp — do two strided views share memory? Host-only and header-only: detail::check_disjoint
// (src/tensor.cpp) uses it for the outputs of every op on every device, the CPU kernels' choice of
// streaming stores uses byte_ranges_intersect; tests/cuda/test_cuda_checks tests it.
//
// elements_overlap(a, b) is false only when no byte of an element of a is a byte of an element of b:
//   - their byte ranges [lowest, highest element] are disjoint, or
//   - they have the same dtype, rank and strides (sizes may differ), their offset is a whole number of
//     elements, and no difference of an index of a and an index of b maps onto that offset. This is
//     what q and k of one fused qkv buffer look like ([B, T, Hq + Hk + Hv, D] sliced at heads 0 and Hq,
//     Hq and Hk different with GQA): interleaved ranges, disjoint elements.
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

// Do the byte ranges of a and b intersect (neither empty)? A necessary condition for sharing memory.
inline bool byte_ranges_intersect(const TensorView& a, const TensorView& b) {
  const ByteRange x = byte_range(a), y = byte_range(b);
  return !x.empty() && !y.empty() && x.first < y.last && y.first < x.last;
}

namespace overlap_detail {
inline int64_t floor_div(int64_t a, int64_t b) {  // b > 0
  return a / b - (a % b != 0 && a < 0 ? 1 : 0);
}
inline int64_t ceil_div(int64_t a, int64_t b) {  // b > 0
  return a / b + (a % b != 0 && a > 0 ? 1 : 0);
}
// Is delta = sum_d k_d * s[d] for integers lo[d] <= k_d <= hi[d]? s[d] > 0, sorted decreasing;
// rest_lo[d] / rest_hi[d]: the least / greatest sum the dims after d reach.
struct Lattice {
  std::vector<int64_t> s, lo, hi, rest_lo, rest_hi;
  bool reachable(int64_t delta, size_t d) const {
    if (d == s.size()) return delta == 0;
    // The k_d that leave a rest the later dims can reach.
    const int64_t kmin = std::max(lo[d], ceil_div(delta - rest_hi[d], s[d]));
    const int64_t kmax = std::min(hi[d], floor_div(delta - rest_lo[d], s[d]));
    if (kmax - kmin > 8) return true;  // strides that alias heavily: call it overlapping
    for (int64_t k = kmin; k <= kmax; ++k)
      if (reachable(delta - k * s[d], d + 1)) return true;
    return false;
  }
};
}  // namespace overlap_detail

inline bool elements_overlap(const TensorView& a, const TensorView& b) {
  if (!byte_ranges_intersect(a, b)) return false;
  if (a.dtype != b.dtype || a.ndim != b.ndim) return true;
  for (int d = 0; d < a.ndim; ++d)
    if (a.stride(d) != b.stride(d)) return true;
  // Offsets far beyond any real buffer would overflow the arithmetic below: call them overlapping.
  constexpr int64_t kLimit = int64_t{1} << 60;
  const ByteRange x = byte_range(a), y = byte_range(b);
  if (x.last - x.first > kLimit || y.last - y.first > kLimit) return true;
  const int64_t es = dtype_size(a.dtype);
  const int64_t bytes = static_cast<int64_t>(reinterpret_cast<uintptr_t>(b.data)) -
                        static_cast<int64_t>(reinterpret_cast<uintptr_t>(a.data));
  if (bytes % es != 0) return true;
  // Element i of a (offset sum i_d s_d) is element j of b (offset delta + sum j_d s_d) when
  // sum (i_d - j_d) s_d = delta, with i_d - j_d in [-(nb_d - 1), na_d - 1]; a negative stride flips
  // that range. Dims of stride 0 or with a single index on both sides add nothing.
  const int64_t delta = bytes / es;
  std::vector<int> dims;
  for (int d = 0; d < a.ndim; ++d)
    if (a.stride(d) != 0 && (a.size(d) > 1 || b.size(d) > 1)) dims.push_back(d);
  std::sort(dims.begin(), dims.end(),
            [&](int p, int q) { return std::abs(a.stride(p)) > std::abs(a.stride(q)); });
  overlap_detail::Lattice l;
  for (int d : dims) {
    const int64_t up = a.size(d) - 1, down = -(b.size(d) - 1);
    const bool neg = a.stride(d) < 0;
    l.s.push_back(std::abs(a.stride(d)));
    l.lo.push_back(neg ? -up : down);
    l.hi.push_back(neg ? -down : up);
  }
  const size_t n = l.s.size();
  l.rest_lo.assign(n, 0);
  l.rest_hi.assign(n, 0);
  for (size_t i = n; i-- > 1;) {
    l.rest_lo[i - 1] = l.rest_lo[i] + l.lo[i] * l.s[i];
    l.rest_hi[i - 1] = l.rest_hi[i] + l.hi[i] * l.s[i];
  }
  return l.reachable(delta, 0);
}

// out is exactly in: same memory, dtype, shape and strides (an in-place call).
inline bool same_view(const TensorView& a, const TensorView& b) {
  if (a.data != b.data || a.dtype != b.dtype || a.ndim != b.ndim) return false;
  for (int d = 0; d < a.ndim; ++d)
    if (a.size(d) != b.size(d) || a.stride(d) != b.stride(d)) return false;
  return true;
}

}  // namespace posenc::detail
