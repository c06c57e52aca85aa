// posenc/tensor.hpp — a non-owning view of an n-dimensional array.
//
// A TensorView is (data pointer, dtype, device, shape, strides) with 64-bit shape and strides counted in
// elements, as in PyTorch and DLPack. Any strides are accepted (negative ones included, zero for broadcast
// inputs) as long as sizes are >= 0 and every element's offset, in elements and in bytes, fits in int64
// (otherwise each entry point throws posenc::Error naming the view); kernels take a fast path when the
// innermost stride is 1. An output view must not map two indices to one address, and must share no element
// with an input of the same call unless it is exactly that input (in place; position ids excepted, see
// posenc/positions.hpp); both are posenc::Errors on
// every device (q and k of one fused qkv buffer are disjoint views). A view never owns or frees memory.
// posenc's kernels take const TensorView& for inputs and TensorView for outputs; the const-ness of the data
// is the caller's promise, as in DLPack.
// Each entry point also requires (a posenc::Error naming the field otherwise): ndim in 0 .. kMaxDims (the
// rank the call expects), dtype and device values of their enums (a number outside them is named), and,
// unless the view is empty, data non-null and a multiple of the element size (2 bytes for f16/bf16, 4 for
// f32/i32, 8 for i64) on every device: kernels load and store whole elements.
// contiguous() and numel() throw posenc::Error naming the shape when the product of the sizes does not
// fit in int64.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "posenc/dtype.hpp"

namespace posenc {

inline constexpr int kMaxDims = 6;

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::F32;
  Device device = Device::CPU;
  int ndim = 0;
  std::array<int64_t, kMaxDims> shape{};
  std::array<int64_t, kMaxDims> strides{};  // in elements

  // A view of contiguous row-major memory.
  static TensorView contiguous(const void* data, DType dtype, std::initializer_list<int64_t> shape,
                               Device device = Device::CPU);
  // A view with explicit strides (elements); shape and strides must have the same length.
  static TensorView strided(const void* data, DType dtype, std::initializer_list<int64_t> shape,
                            std::initializer_list<int64_t> strides, Device device = Device::CPU);

  int64_t size(int d) const { return shape[static_cast<size_t>(d)]; }
  int64_t stride(int d) const { return strides[static_cast<size_t>(d)]; }
  int64_t numel() const;       // throws posenc::Error past int64 or for an ndim outside 0 .. kMaxDims
  bool is_contiguous() const;  // false for an ndim outside 0 .. kMaxDims
  // Pointer to the element at the given index (no bounds check).
  template <typename T = void>
  T* at(std::initializer_list<int64_t> index) const {
    int64_t off = 0;
    size_t d = 0;
    for (int64_t i : index) off += i * strides[d++];
    return reinterpret_cast<T*>(static_cast<char*>(data) + off * dtype_size(dtype));
  }
  // "f32[4, 8] strides [8, 1] cpu"; any field values (an ndim outside 0 .. kMaxDims is named, not read).
  std::string describe() const;
};

}  // namespace posenc
