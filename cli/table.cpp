// cli/table.cpp — see table.hpp.
#include "table.hpp"

#include <unistd.h>

#include <cstring>
#include <new>

#include "cli_error.hpp"

namespace posenc::cli {

void Table::allocate(DType t, int64_t r, int64_t c) {
  const int64_t esize = dtype_size(t);
  int64_t numel = 0, bytes = 0;
  if (r < 0 || c < 0 || __builtin_mul_overflow(r, c, &numel) ||
      __builtin_mul_overflow(numel, esize, &bytes)) {
    throw CliError("a [" + std::to_string(r) + " x " + std::to_string(c) +
                   "] table is too large to represent (reduce --max-positions or --dim)");
  }
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0 && static_cast<double>(bytes) > static_cast<double>(pages) * page) {
    throw CliError("a [" + std::to_string(r) + " x " + std::to_string(c) + "] " + std::string(dtype_name(t)) +
                   " table needs " + std::to_string(bytes) +
                   " bytes, more than this machine's memory (reduce --max-positions or --dim)");
  }
  try {
    data.assign(static_cast<size_t>(bytes), std::byte{0});
  } catch (const std::bad_alloc&) {
    throw CliError("out of memory allocating a [" + std::to_string(r) + " x " + std::to_string(c) +
                   "] table (" + std::to_string(bytes) + " bytes; reduce --max-positions or --dim)");
  }
  dtype = t;
  rows = r;
  cols = c;
}

float Table::at(int64_t r, int64_t c) const {
  const size_t i = static_cast<size_t>(r * cols + c);
  if (dtype == DType::F32) {
    float v;
    std::memcpy(&v, data.data() + i * 4, 4);
    return v;
  }
  uint16_t h;
  std::memcpy(&h, data.data() + i * 2, 2);
  return dtype == DType::F16 ? f16_bits_to_f32(h) : bf16_bits_to_f32(h);
}

std::string Table::describe() const {
  // Appended piece by piece: `"[" + std::to_string(...)` trips a GCC 12 -Wrestrict false positive.
  std::string s = "[";
  s += std::to_string(rows);
  s += " x ";
  s += std::to_string(cols);
  s += "] ";
  s += dtype_name(dtype);
  return s;
}

}  // namespace posenc::cli
