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

// Byte addresses as 128-bit integers: a pointer (up to 2^64) plus a byte offset (up to +-2^63) does not fit
// in int64 or uintptr_t; a sum that wrapped made a range near the top of the address space look empty
// or low, and an aliased output went through.
__extension__ typedef __int128 Address;

inline Address address(const void* p) {
  return static_cast<Address>(reinterpret_cast<uintptr_t>(p));
}

struct ByteRange {
  Address first = 0, last = 0;  // [first, last)
  bool empty() const { return first >= last; }
};

// A view's bytes, from its lowest to its highest element. Exact for views that pass check_extent (offsets
// in int64); for any other one (a kernel's helper may see one) an overflow of the 128-bit sums gives a
// range that covers every address (counted as overlapping, the conservative answer).
inline ByteRange byte_range(const TensorView& v) {
  Address lo = 0, hi = 0;
  constexpr Address kAll = Address{1} << 120;
  for (int d = 0; d < v.ndim; ++d) {
    if (v.size(d) == 0) return {};
    Address step = 0;
    if (__builtin_mul_overflow(Address{v.size(d)} - 1, Address{v.stride(d)}, &step) ||
        __builtin_add_overflow(step < 0 ? lo : hi, step, step < 0 ? &lo : &hi))
      return {-kAll, kAll};
  }
  const Address base = address(v.data), es = dtype_size(v.dtype);
  Address first = 0, last = 0;
  if (__builtin_mul_overflow(lo, es, &first) || __builtin_add_overflow(first, base, &first) ||
      __builtin_add_overflow(hi, 1, &last) || __builtin_mul_overflow(last, es, &last) ||
      __builtin_add_overflow(last, base, &last))
    return {-kAll, kAll};
  return {first, last};
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
  // Both first elements lie in their intersecting ranges of <= 2^60 bytes: |bytes| < 2^61.
  const auto bytes = static_cast<int64_t>(address(b.data) - address(a.data));
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
