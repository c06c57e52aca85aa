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
#include <vector>

#include "atomic_file.hpp"

namespace posenc::cli {

struct NpyF32 {
  std::vector<int64_t> shape;
  std::vector<float> data;  // C order, native byte order
};

// `option` names the command-line option in messages ("--apply").
NpyF32 read_npy_f32(const std::string& path, const std::string& option);

void write_npy_f32(ByteSink& out, const NpyF32& array);

}  // namespace posenc::cli
