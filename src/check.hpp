// src/check.hpp — argument checks shared by the entry points. Each throws posenc::Error naming the
// function (`where`), the argument, its value and the allowed range.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>

#include "posenc/error.hpp"
#include "posenc/tensor.hpp"

namespace posenc::detail {

[[noreturn]] inline void fail(const char* where, const std::string& arg, const std::string& value,
                              const std::string& allowed) {
  throw Error(where, arg, value, allowed);
}

// The shortest text that reads back as v ("0.9999999", not std::to_string's "1.000000").
inline std::string to_str(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}
inline std::string to_str(float v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// "f32" .. "i64" and "cpu" / "cuda", or the number of a value outside the enum ("DType(9)", "Device(5)":
// the fields of a view are public, so a view built field by field can hold any value).
std::string dtype_text(DType t);
std::string device_text(Device d);

// v.device is Device::CPU or Device::CUDA. Entry points that check their views against the device of one
// of them (the call's device) check that one first.
void check_device(const char* where, const char* name, const TensorView& v);

// view has the given rank (checked first), a float dtype, and is on `device` (the call's: the CPU unless
// the entry point runs CUDA views, src/cuda); unless it is empty, its data is non-null and a multiple of
// the element size (kernels load whole elements), and its offsets fit in int64.
void check_float_view(const char* where, const char* name, const TensorView& v, int ndim,
                      Device device = Device::CPU);
// The same for dtype i32 or i64.
void check_int_view(const char* where, const char* name, const TensorView& v, int ndim,
                    Device device = Device::CPU);
// v.size(dim) must equal expected (named by what it must match).
void check_size(const char* where, const char* name, const TensorView& v, int dim, int64_t expected,
                const std::string& must_match);
// Output views must not overlap themselves (two indices, one address): rejects zero or aliasing strides.
void check_writable(const char* where, const char* name, const TensorView& v);

// An output must share no byte of an element with an input (precise: q and k of one fused qkv buffer are
// disjoint; src/overlap.hpp), or, with allow_same, be exactly that input (in place: same data, dtype,
// shape and strides). Otherwise a posenc::Error naming out_name. For every device: the kernels read
// inputs after writing outputs.
void check_disjoint(const char* where, const char* out_name, const TensorView& out, const char* in_name,
                    const TensorView& in, bool allow_same = false);

}  // namespace posenc::detail
