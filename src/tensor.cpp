#include "posenc/tensor.hpp"

#include <algorithm>
#include <numeric>
#include <sstream>
#include <vector>

#include "check.hpp"
#include "overlap.hpp"

namespace posenc {

namespace {
std::string list_text(const int64_t* v, int n) {
  std::string s = "[";
  for (int d = 0; d < n; ++d) s += (d ? ", " : "") + std::to_string(v[d]);
  return s + "]";
}

TensorView make(const void* data, DType dtype, std::initializer_list<int64_t> shape, Device device) {
  if (shape.size() > static_cast<size_t>(kMaxDims))
    detail::fail("posenc::TensorView", "ndim", std::to_string(shape.size()),
                 "0 .. " + std::to_string(kMaxDims));
  TensorView v;
  v.data = const_cast<void*>(data);
  v.dtype = dtype;
  v.device = device;
  v.ndim = static_cast<int>(shape.size());
  size_t d = 0;
  for (int64_t s : shape) {
    if (s < 0)
      detail::fail("posenc::TensorView", "shape[" + std::to_string(d) + "]", std::to_string(s), ">= 0");
    v.shape[d++] = s;
  }
  return v;
}

bool valid_ndim(int ndim) {
  return ndim >= 0 && ndim <= kMaxDims;
}
}  // namespace

TensorView TensorView::contiguous(const void* data, DType dtype, std::initializer_list<int64_t> shape,
                                  Device device) {
  TensorView v = make(data, dtype, shape, device);
  // Every stride, and the element count of the whole buffer (sizes of 0 counted as 1), fit in int64.
  int64_t stride = 1;
  for (int d = v.ndim - 1; d >= 0; --d) {
    v.strides[static_cast<size_t>(d)] = stride;
    if (__builtin_mul_overflow(stride, std::max<int64_t>(v.shape[static_cast<size_t>(d)], 1), &stride))
      detail::fail("posenc::TensorView::contiguous", "shape", list_text(v.shape.data(), v.ndim),
                   "sizes whose product fits in int64");
  }
  return v;
}

TensorView TensorView::strided(const void* data, DType dtype, std::initializer_list<int64_t> shape,
                               std::initializer_list<int64_t> strides, Device device) {
  if (shape.size() != strides.size())
    detail::fail("posenc::TensorView::strided", "strides.size()", std::to_string(strides.size()),
                 "equal to shape.size() = " + std::to_string(shape.size()));
  TensorView v = make(data, dtype, shape, device);
  std::copy(strides.begin(), strides.end(), v.strides.begin());
  return v;
}

int64_t TensorView::numel() const {
  if (!valid_ndim(ndim))
    detail::fail("posenc::TensorView::numel", "ndim", std::to_string(ndim),
                 "0 .. " + std::to_string(kMaxDims));
  for (int d = 0; d < ndim; ++d)
    if (shape[static_cast<size_t>(d)] == 0) return 0;
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d)
    if (__builtin_mul_overflow(n, shape[static_cast<size_t>(d)], &n))
      detail::fail("posenc::TensorView::numel", "shape", list_text(shape.data(), ndim),
                   "sizes whose product fits in int64");
  return n;
}

bool TensorView::is_contiguous() const {
  if (!valid_ndim(ndim)) return false;
  int64_t expected = 1;
  bool overflow = false;  // no stride equals a product past int64
  for (int d = ndim - 1; d >= 0; --d) {
    const auto i = static_cast<size_t>(d);
    if (shape[i] != 1 && (overflow || strides[i] != expected)) return false;
    overflow = overflow || __builtin_mul_overflow(expected, shape[i], &expected);
  }
  return true;
}

std::string TensorView::describe() const {
  std::ostringstream s;
  s << detail::dtype_text(dtype);
  if (valid_ndim(ndim)) {  // (shape and strides have kMaxDims entries: an ndim past them is not read)
    s << list_text(shape.data(), ndim) << " strides " << list_text(strides.data(), ndim);
  } else {
    s << " of ndim " << ndim << " (not 0 .. " << kMaxDims << ")";
  }
  s << " " << detail::device_text(device);
  return s.str();
}

namespace detail {

std::string dtype_text(DType t) {
  const std::string_view n = dtype_name(t);
  return n != "?" ? std::string(n) : "DType(" + std::to_string(static_cast<int>(t)) + ")";
}

std::string device_text(Device d) {
  switch (d) {
    case Device::CPU:
      return "cpu";
    case Device::CUDA:
      return "cuda";
  }
  return "Device(" + std::to_string(static_cast<int>(d)) + ")";
}

void check_device(const char* where, const char* name, const TensorView& v) {
  if (v.device != Device::CPU && v.device != Device::CUDA)
    fail(where, std::string(name) + ".device", device_text(v.device),
         "cpu (" + std::to_string(static_cast<int>(Device::CPU)) + ") or cuda (" +
             std::to_string(static_cast<int>(Device::CUDA)) + ")");
}

namespace {
// Sizes >= 0, and every element's offset in elements and in bytes (from the lowest to the highest
// address the view spans) representable in int64, so that no kernel's index arithmetic overflows.
// Returns whether the view has elements.
bool check_extent(const char* where, const char* name, const TensorView& v) {
  bool empty = false;
  for (int d = 0; d < v.ndim; ++d) {
    if (v.size(d) < 0)
      fail(where, std::string(name) + ".shape[" + std::to_string(d) + "]",
           std::to_string(v.size(d)) + " (" + v.describe() + ")", ">= 0");
    empty = empty || v.size(d) == 0;
  }
  if (empty) return false;
  int64_t lo = 0, hi = 0, n = 1, step = 0;
  bool overflow = false;
  for (int d = 0; d < v.ndim && !overflow; ++d) {
    overflow = __builtin_mul_overflow(v.size(d) - 1, v.stride(d), &step) ||
               __builtin_add_overflow(step < 0 ? lo : hi, step, step < 0 ? &lo : &hi) ||
               __builtin_mul_overflow(n, v.size(d), &n);
  }
  int64_t bytes = 0;
  overflow = overflow || __builtin_sub_overflow(hi, lo, &step) || __builtin_add_overflow(step, 1, &step) ||
             __builtin_mul_overflow(step, int64_t{dtype_size(v.dtype)}, &bytes) ||
             __builtin_mul_overflow(lo, int64_t{dtype_size(v.dtype)}, &step);
  if (overflow)
    fail(where, std::string(name) + ".strides", v.describe(),
         "shape and strides whose element offsets and byte span fit in int64");
  return true;
}
// The rank first: describe() and every later check read shape and strides up to ndim.
void check_ndim(const char* where, const char* name, const TensorView& v, int ndim) {
  if (v.ndim != ndim)
    fail(where, std::string(name) + ".ndim", std::to_string(v.ndim) + " (" + v.describe() + ")",
         std::to_string(ndim));
}
// After the dtype check (dtype_size is that of a real dtype).
void check_common(const char* where, const char* name, const TensorView& v, Device device) {
  check_device(where, name, v);
  if (v.device != device)
    fail(where, std::string(name) + ".device", device_text(v.device),
         device_text(device) + " (all tensors of a call on one device)");
  if (!check_extent(where, name, v)) return;
  if (v.data == nullptr)
    fail(where, std::string(name) + ".data", "nullptr", "a valid pointer for " + v.describe());
  // Kernels load and store whole elements (UB, or a fault on some CPUs, at an address that is not a
  // multiple of the element size); the CUDA checks (DeviceViews::add) refuse such views too.
  const int64_t es = dtype_size(v.dtype);
  const auto off = static_cast<int64_t>(reinterpret_cast<uintptr_t>(v.data) % static_cast<uintptr_t>(es));
  if (off != 0)
    fail(where, std::string(name) + ".data",
         "an address " + std::to_string(off) + " byte" + (off == 1 ? "" : "s") + " past a multiple of " +
             std::to_string(es) + " (" + v.describe() + ")",
         "an address that is a multiple of " + std::to_string(es) + " bytes, the size of an element of " +
             dtype_text(v.dtype));
}
}  // namespace

void check_float_view(const char* where, const char* name, const TensorView& v, int ndim, Device device) {
  check_ndim(where, name, v, ndim);
  if (!is_float(v.dtype)) fail(where, std::string(name) + ".dtype", dtype_text(v.dtype), "f32, f16 or bf16");
  check_common(where, name, v, device);
}

void check_int_view(const char* where, const char* name, const TensorView& v, int ndim, Device device) {
  check_ndim(where, name, v, ndim);
  if (!is_int(v.dtype)) fail(where, std::string(name) + ".dtype", dtype_text(v.dtype), "i32 or i64");
  check_common(where, name, v, device);
}

void check_size(const char* where, const char* name, const TensorView& v, int dim, int64_t expected,
                const std::string& must_match) {
  if (v.size(dim) != expected)
    fail(where, std::string(name) + ".shape[" + std::to_string(dim) + "]",
         std::to_string(v.size(dim)) + " (" + v.describe() + ")",
         std::to_string(expected) + " to match " + must_match);
}

void check_writable(const char* where, const char* name, const TensorView& v) {
  if (!check_extent(where, name, v)) return;  // no elements: nothing to alias (and bounds the spans below)
  // Distinct indices map to distinct addresses iff, with dims sorted by |stride|, each |stride| is at
  // least the extent spanned by the smaller dims (a sufficient check, exact for all row-major permutations).
  std::vector<int> dims;
  for (int d = 0; d < v.ndim; ++d)
    if (v.size(d) > 1) dims.push_back(d);
  std::sort(dims.begin(), dims.end(),
            [&](int a, int b) { return std::abs(v.stride(a)) < std::abs(v.stride(b)); });
  int64_t span = 1;
  for (int d : dims) {
    const int64_t s = std::abs(v.stride(d));
    if (s < span)
      fail(where, std::string(name) + ".strides", v.describe(),
           "strides whose elements do not overlap (an output cannot alias itself)");
    span = s * (v.size(d) - 1) + span;
  }
}

void check_disjoint(const char* where, const char* out_name, const TensorView& out, const char* in_name,
                    const TensorView& in, bool allow_same) {
  if (allow_same && same_view(out, in)) return;
  if (elements_overlap(out, in))
    fail(where, out_name,
         "a view sharing memory with " + std::string(in_name) + " (" + out.describe() + " vs " +
             in.describe() + ")",
         allow_same ? "exactly " + std::string(in_name) + " (in place) or memory disjoint from it"
                    : "memory disjoint from " + std::string(in_name));
}

}  // namespace detail
}  // namespace posenc
