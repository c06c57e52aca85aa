// cli/table.hpp — an encoding table held in memory, with what the writers need to describe it.
//
//   data [rows, cols] row-major in `dtype` storage (f32, or f16/bf16 bits), native byte order.
//   positions[r] is the position of row r.
//   meta: the scalars that describe how the table was made (kind, preset, dim, base, ...), in
//   output order; the JSON writer prints them as they are, safetensors stores them as strings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "posenc/dtype.hpp"
#include "posenc/tensor.hpp"

namespace posenc::cli {

struct Table {
  DType dtype = DType::F32;
  int64_t rows = 0, cols = 0;
  std::vector<std::byte> data;
  std::vector<int64_t> positions;
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();

  // Allocates rows x cols elements (checked against overflow and physical memory; CliError
  // otherwise).
  void allocate(DType t, int64_t r, int64_t c);
  TensorView view() { return TensorView::contiguous(data.data(), dtype, {rows, cols}); }
  size_t nbytes() const { return data.size(); }
  // Element (r, c) as fp32.
  float at(int64_t r, int64_t c) const;
  // "[256 x 128] f32"
  std::string describe() const;
};

}  // namespace posenc::cli
