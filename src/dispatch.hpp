// src/dispatch.hpp — turn a runtime DType into a compile-time one: one template per op for all dtypes.
#pragma once

#include <type_traits>

#include "posenc/dtype.hpp"

namespace posenc::detail {

template <DType T>
using DTypeTag = std::integral_constant<DType, T>;

// Calls f(DTypeTag<T>{}) for the float dtype t (the caller has checked that t is a float dtype).
template <typename F>
decltype(auto) dispatch_float(DType t, F&& f) {
  switch (t) {
    case DType::F16:
      return f(DTypeTag<DType::F16>{});
    case DType::BF16:
      return f(DTypeTag<DType::BF16>{});
    default:
      return f(DTypeTag<DType::F32>{});
  }
}

}  // namespace posenc::detail
