// cli/writers.hpp — a Table as JSON, CSV, NumPy .npy or safetensors.
//
//   json         {<meta...>, "positions": [...], "table": [[...], ...]}, one row per line
//   csv          header "position,c0,c1,...", then one row per position
//   npy          format 1.0, '<f4' or '<f2', C order, shape (N, D); data starts at a multiple of 64
//   bytes safetensors  u64 LE header length, JSON header {"table": {dtype, shape, data_offsets},
//                "__metadata__": {<meta as strings>, "positions": "0,1,..."}} space-padded to a
//                multiple of 8 bytes, then the raw little-endian data
// Floats in json/csv are the shortest decimal strings that read back to the same fp32 (f16/bf16
// values are widened to fp32 first); -0 is written "-0.0" so that it stays a negative zero.
// Everything is streamed through a ByteSink: a table of 100k x 1024 never becomes a JSON object in
// memory.
#pragma once

#include <optional>
#include <string_view>

#include "io/atomic_file.hpp"
#include "table.hpp"

namespace posenc::cli {

enum class Format { Json, Csv, Npy, Safetensors };

std::optional<Format> parse_format(std::string_view name);
std::string_view format_name(Format f);
// npy and safetensors are binary: they need a file, not a terminal.
constexpr bool is_binary(Format f) {
  return f == Format::Npy || f == Format::Safetensors;
}
// Throws CliError when `f` cannot store `t` (npy has no bfloat16).
void check_format_supports(Format f, DType t);

void write_table(io::ByteSink& out, const Table& table, Format f);

}  // namespace posenc::cli
