// cli/writers.cpp — see writers.hpp.
#include "writers.hpp"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>

#include "cli_error.hpp"
#include "npy_io.hpp"
#include "position_list.hpp"

namespace posenc::cli {
namespace {

// Shortest decimal that round-trips v as fp32 (std::to_chars); "-0.0" for negative zero.
std::string_view format_float(char (&buf)[32], float v) {
  if (v == 0.0f && std::signbit(v)) return "-0.0";
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  return {buf, static_cast<size_t>(res.ptr - buf)};
}

std::string_view format_int(char (&buf)[32], int64_t v) {
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  return {buf, static_cast<size_t>(res.ptr - buf)};
}

std::string meta_as_string(const nlohmann::ordered_json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// The raw data in little-endian byte order.
void write_data_le(io::ByteSink& out, const Table& t) {
  if constexpr (std::endian::native == std::endian::little) {
    out.write(t.data.data(), t.data.size());
  } else {
    const size_t esize = static_cast<size_t>(dtype_size(t.dtype));
    std::vector<std::byte> chunk(size_t{1} << 16);
    for (size_t off = 0; off < t.data.size(); off += chunk.size()) {
      const size_t n = std::min(chunk.size(), t.data.size() - off);
      for (size_t i = 0; i < n; i += esize)
        for (size_t b = 0; b < esize; ++b) chunk[i + b] = t.data[off + i + esize - 1 - b];
      out.write(chunk.data(), n);
    }
  }
}

void write_json(io::ByteSink& out, const Table& t) {
  char buf[32];
  out.write("{\n");
  for (const auto& [key, value] : t.meta.items()) {
    out.write("  " + nlohmann::json(key).dump() + ": " + value.dump() + ",\n");
  }
  out.write("  \"positions\": [");
  for (int64_t r = 0; r < t.rows; ++r) {
    if (r) out.write(", ");
    out.write(format_int(buf, t.positions[static_cast<size_t>(r)]));
  }
  out.write("],\n  \"table\": [");
  for (int64_t r = 0; r < t.rows; ++r) {
    out.write(r ? ",\n    [" : "\n    [");
    for (int64_t c = 0; c < t.cols; ++c) {
      const float v = t.at(r, c);
      if (!std::isfinite(v)) {
        throw CliError("table value at row " + std::to_string(r) + ", column " + std::to_string(c) +
                       " is not finite and JSON cannot represent it (use --format npy, "
                       "safetensors or csv)");
      }
      if (c) out.write(", ");
      out.write(format_float(buf, v));
    }
    out.write("]");
  }
  out.write(t.rows ? "\n  ]\n}\n" : "]\n}\n");
}

void write_csv(io::ByteSink& out, const Table& t) {
  char buf[32];
  out.write("position");
  for (int64_t c = 0; c < t.cols; ++c) out.write(",c" + std::to_string(c));
  out.write("\n");
  for (int64_t r = 0; r < t.rows; ++r) {
    out.write(format_int(buf, t.positions[static_cast<size_t>(r)]));
    for (int64_t c = 0; c < t.cols; ++c) {
      out.write(",");
      out.write(format_float(buf, t.at(r, c)));
    }
    out.write("\n");
  }
}

}  // namespace

namespace {

void write_npy(io::ByteSink& out, const Table& t) {
  std::string shape = "(";  // appended piecewise: GCC 12 warns (-Wrestrict, falsely) on the chained form
  shape += std::to_string(t.rows);
  shape += ", ";
  shape += std::to_string(t.cols);
  shape += ")";
  write_npy_header(out, t.dtype == DType::F32 ? "<f4" : "<f2", shape);
  write_data_le(out, t);
}

void write_safetensors(io::ByteSink& out, const Table& t) {
  const char* dtype = t.dtype == DType::F32 ? "F32" : t.dtype == DType::F16 ? "F16" : "BF16";
  nlohmann::ordered_json header;
  header["table"] = {{"dtype", dtype}, {"shape", {t.rows, t.cols}}, {"data_offsets", {0, t.nbytes()}}};
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  for (const auto& [key, value] : t.meta.items()) meta[key] = meta_as_string(value);
  meta["positions"] = format_position_list(t.positions);
  header["__metadata__"] = std::move(meta);
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  const uint64_t n = text.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  out.write(len, sizeof len);
  out.write(text);
  write_data_le(out, t);
}

}  // namespace

std::optional<Format> parse_format(std::string_view name) {
  if (name == "json") return Format::Json;
  if (name == "csv") return Format::Csv;
  if (name == "npy") return Format::Npy;
  if (name == "safetensors") return Format::Safetensors;
  return std::nullopt;
}

std::string_view format_name(Format f) {
  switch (f) {
    case Format::Json:
      return "json";
    case Format::Csv:
      return "csv";
    case Format::Npy:
      return "npy";
    case Format::Safetensors:
      return "safetensors";
  }
  return "?";
}

void check_format_supports(Format f, DType t) {
  if (f == Format::Npy && t == DType::BF16) {
    throw CliError(
        "--dtype bf16 cannot be written as --format npy: NumPy has no bfloat16 dtype "
        "(use --format safetensors for bf16, or --dtype f32)");
  }
}

void write_table(io::ByteSink& out, const Table& table, Format f) {
  switch (f) {
    case Format::Json:
      write_json(out, table);
      break;
    case Format::Csv:
      write_csv(out, table);
      break;
    case Format::Npy:
      write_npy(out, table);
      break;
    case Format::Safetensors:
      write_safetensors(out, table);
      break;
  }
  out.flush();
}

}  // namespace posenc::cli
