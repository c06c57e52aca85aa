// src/cpu/row_copy_simd.cpp — copy_row (row_copy.hpp) with Highway, compiled once per target
// (foreach_target.h re-includes this file) and dispatched at run time: bytes up to the first
// vector-aligned destination byte and the tail by memcpy, the middle by vectors, loaded unaligned
// and written with hn::Stream (non-temporal) or StoreU. A copy: the same bytes on every target.
#include <atomic>
#include <cstdint>
#include <cstring>

#include "cpu/row_copy.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/row_copy_simd.cpp"
#include <hwy/cache_control.h>
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace posenc::detail::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void CopyRow(void* dst, const void* src, int64_t bytes, bool stream) {
  auto* d = static_cast<uint8_t*>(dst);
  const auto* s = static_cast<const uint8_t*>(src);
  if (!stream || HWY_TARGET == HWY_SCALAR) {
    std::memcpy(d, s, static_cast<size_t>(bytes));
    return;
  }
  const hn::ScalableTag<uint8_t> du8;
  const auto V = static_cast<int64_t>(hn::Lanes(du8));
  const auto mis = static_cast<int64_t>(reinterpret_cast<uintptr_t>(d) % static_cast<uintptr_t>(V));
  int64_t i = mis == 0 ? 0 : V - mis;
  if (i > bytes) i = bytes;
  std::memcpy(d, s, static_cast<size_t>(i));
  for (; i + 2 * V <= bytes; i += 2 * V) {
    hn::Stream(hn::LoadU(du8, s + i), du8, d + i);
    hn::Stream(hn::LoadU(du8, s + i + V), du8, d + i + V);
  }
  for (; i + V <= bytes; i += V) hn::Stream(hn::LoadU(du8, s + i), du8, d + i);
  std::memcpy(d + i, s + i, static_cast<size_t>(bytes - i));
}

int64_t RowCopyTarget() {
  return HWY_TARGET;
}

}  // namespace posenc::detail::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace posenc::detail::cpu {

HWY_EXPORT(CopyRow);
HWY_EXPORT(RowCopyTarget);

void copy_row(void* dst, const void* src, int64_t bytes, bool stream) {
  HWY_DYNAMIC_DISPATCH(CopyRow)(dst, src, bytes, stream);
}

namespace {
std::atomic<int64_t> g_stream_min_bytes{kStreamMinBytes};
}

bool stream_output(int64_t out_bytes) {
  return out_bytes >= g_stream_min_bytes.load(std::memory_order_relaxed);
}

void set_stream_min_bytes_for_test(int64_t bytes) {
  g_stream_min_bytes.store(bytes < 0 ? kStreamMinBytes : bytes, std::memory_order_relaxed);
}

void stream_fence() {
  hwy::FlushStream();
}

int64_t row_copy_simd_target() {
  return HWY_DYNAMIC_DISPATCH(RowCopyTarget)();
}

}  // namespace posenc::detail::cpu
#endif  // HWY_ONCE
