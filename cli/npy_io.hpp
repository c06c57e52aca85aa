// cli/npy_io.hpp — float32 NumPy .npy arrays of any rank, read and written whole.
//
// Reading accepts what numpy.save writes for a C-order float32 array: format 1.0 or 2.0 (2-byte or
// 4-byte header length), a header dict with 'descr': '<f4' (or '=f4' / 'f4' on little-endian data),
// 'fortran_order': False and 'shape': (d0, d1, ...). Anything else is a CliError that says what the
// file has and what to do (another dtype, Fortran order, format 3.0, a truncated or over-long data
// section, a header that is not a dict).
// Writing: format 1.0, '<f4', C order, data starting at a multiple of 64 bytes (as numpy does).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/atomic_file.hpp"

namespace posenc::cli {

struct NpyF32 {
  std::vector<int64_t> shape;
  std::vector<float> data;  // C order, native byte order
};

// `option` names the command-line option in messages ("--apply").
NpyF32 read_npy_f32(const std::string& path, const std::string& option);
// The same from the file's bytes; `what` starts every message ("--apply 'x.npy'").
NpyF32 parse_npy_f32(std::string_view bytes, const std::string& what);

void write_npy_f32(io::ByteSink& out, const NpyF32& array);

// The .npy 1.0 preamble and header for C-order data of `descr` ('<f4', '<f2') and `shape` (Python tuple
// text, e.g. "(4, 8)"), padded so that the data starts at a multiple of 64 bytes.
void write_npy_header(io::ByteSink& out, std::string_view descr, std::string_view shape);

}  // namespace posenc::cli
