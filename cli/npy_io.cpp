// cli/npy_io.cpp — see npy_io.hpp. Format: https://numpy.org/doc/stable/reference/generated/
// numpy.lib.format.html (magic "\x93NUMPY", major, minor, header length LE, ASCII dict, data).
#include "npy_io.hpp"

#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include "cli_error.hpp"
#include "posenc/error.hpp"

namespace posenc::cli {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// The text of dict entry 'key' in the header: up to the next top-level comma (tuples kept whole).
std::string_view header_value(std::string_view header, std::string_view key) {
  for (const char q : {'\'', '"'}) {
    const std::string quoted = std::string(1, q) + std::string(key) + q;
    size_t k = header.find(quoted);
    if (k == std::string_view::npos) continue;
    k = header.find(':', k + quoted.size());
    if (k == std::string_view::npos) return {};
    size_t end = k + 1;
    int depth = 0;
    for (; end < header.size(); ++end) {
      const char c = header[end];
      if (c == '(') ++depth;
      if (c == ')') --depth;
      if ((c == ',' && depth == 0) || (c == '}' && depth == 0)) break;
    }
    return trim(header.substr(k + 1, end - k - 1));
  }
  return {};
}

std::vector<int64_t> parse_shape(std::string_view text, const std::string& what) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')')
    throw CliError(what + ": header 'shape' is " + posenc::escape_bytes(text) + ", not a tuple");
  std::vector<int64_t> shape;
  std::string_view rest = text.substr(1, text.size() - 2);
  while (!trim(rest).empty()) {
    const size_t comma = rest.find(',');
    const std::string_view entry = trim(rest.substr(0, comma));
    int64_t v = 0;
    const auto [p, ec] = std::from_chars(entry.data(), entry.data() + entry.size(), v);
    if (ec != std::errc() || p != entry.data() + entry.size() || v < 0)
      throw CliError(what + ": header 'shape' " + posenc::escape_bytes(text) + " has a bad entry '" +
                     posenc::escape_bytes(entry) + "'");
    shape.push_back(v);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return shape;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

uint32_t byteswap32(uint32_t u) {
  return (u >> 24) | ((u >> 8) & 0xff00u) | ((u << 8) & 0xff0000u) | (u << 24);
}

}  // namespace

// The header dict has exactly the keys 'descr', 'fortran_order' and 'shape', each once, as numpy
// requires (numpy refuses other keys and reads the last of a repeated one: a reader taking the first
// would see another array).
static void check_header_keys(std::string_view header, const std::string& what) {
  std::string_view body = trim(header);
  if (body.size() < 2 || body.front() != '{' || body.back() != '}')
    throw CliError(what + ": the .npy header is not a dict: " + posenc::escape_bytes(body));
  body = body.substr(1, body.size() - 2);
  int seen[3] = {0, 0, 0};
  static constexpr std::string_view kKeys[3] = {"descr", "fortran_order", "shape"};
  size_t begin = 0;
  int depth = 0;
  for (size_t i = 0; i <= body.size(); ++i) {
    const char c = i < body.size() ? body[i] : ',';
    if (c == '(' || c == '[') ++depth;
    if (c == ')' || c == ']') --depth;
    if (c != ',' || depth != 0) continue;
    const std::string_view entry = trim(body.substr(begin, i - begin));
    begin = i + 1;
    if (entry.empty()) continue;  // the trailing comma numpy writes
    const size_t colon = entry.find(':');
    const std::string_view key = trim(entry.substr(0, colon == std::string_view::npos ? 0 : colon));
    const bool quoted =
        key.size() >= 2 && (key.front() == '\'' || key.front() == '"') && key.back() == key.front();
    const std::string_view name = quoted ? key.substr(1, key.size() - 2) : key;
    int index = -1;
    for (int k = 0; k < 3; ++k)
      if (name == kKeys[k]) index = k;
    if (colon == std::string_view::npos || !quoted || index < 0)
      throw CliError(what + ": the .npy header has an entry " + posenc::escape_bytes(entry, 60) +
                     " (allowed: 'descr', 'fortran_order' and 'shape', as numpy writes them)");
    if (++seen[index] > 1) throw CliError(what + ": the .npy header gives '" + std::string(name) + "' twice");
  }
  for (int k = 0; k < 3; ++k)
    if (seen[k] == 0) throw CliError(what + ": the .npy header has no '" + std::string(kKeys[k]) + "'");
}

NpyF32 read_npy_f32(const std::string& path, const std::string& option) {
  const std::string what = option + " '" + path + "'";
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw CliError(what + ": a directory, not a .npy file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CliError(what + ": cannot open the file (" + std::strerror(errno) + ")");
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw CliError(what + ": read error");
  return parse_npy_f32(raw, what);
}

NpyF32 parse_npy_f32(std::string_view raw, const std::string& what) {
  if (raw.size() < 10 || raw.compare(0, 6, "\x93NUMPY") != 0)
    throw CliError(what + ": not a .npy file (no \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(raw[6]);
  size_t hlen = 0, start = 0;
  if (major == 1) {
    hlen =
        static_cast<unsigned char>(raw[8]) | (static_cast<size_t>(static_cast<unsigned char>(raw[9])) << 8);
    start = 10;
  } else if (major == 2) {
    if (raw.size() < 12) throw CliError(what + ": truncated .npy header");
    for (int i = 0; i < 4; ++i)
      hlen |= static_cast<size_t>(static_cast<unsigned char>(raw[8 + static_cast<size_t>(i)])) << (8 * i);
    start = 12;
  } else {
    throw CliError(what + ": .npy format version " + std::to_string(major) + "." +
                   std::to_string(static_cast<unsigned char>(raw[7])) +
                   " is not supported (allowed: 1.0 and 2.0, as numpy.save writes for float32)");
  }
  if (start + hlen > raw.size())
    throw CliError(what + ": truncated .npy header (" + std::to_string(hlen) + " bytes announced, " +
                   std::to_string(raw.size() - start) + " present)");
  const std::string_view header(raw.data() + start, hlen);
  if (trim(header).empty() || trim(header).front() != '{')
    throw CliError(what + ": the .npy header is not a dict: " + posenc::escape_bytes(trim(header)));

  check_header_keys(header, what);
  const std::string_view descr = header_value(header, "descr");
  if (descr != "'<f4'" && descr != "\"<f4\"" &&
      !(std::endian::native == std::endian::little && (descr == "'=f4'" || descr == "'f4'"))) {
    throw CliError(what + ": dtype " +
                   (descr.empty() ? std::string("(missing)") : posenc::escape_bytes(descr)) +
                   " is not supported (allowed: '<f4', little-endian float32; convert with "
                   "numpy: a.astype('<f4'))");
  }
  const std::string_view fortran = header_value(header, "fortran_order");
  if (fortran == "True")
    throw CliError(what +
                   ": the array is in Fortran order (allowed: C order; save "
                   "numpy.ascontiguousarray(a))");
  if (fortran != "False")
    throw CliError(what + ": header 'fortran_order' is " +
                   (fortran.empty() ? std::string("missing") : posenc::escape_bytes(fortran)));
  NpyF32 a;
  a.shape = parse_shape(header_value(header, "shape"), what);
  uint64_t count = 1;
  for (int64_t d : a.shape)
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(d), &count))
      throw CliError(what + ": shape " + shape_text(a.shape) + " is too large");
  const size_t have = raw.size() - start - hlen;
  if (count > std::numeric_limits<size_t>::max() / 4 || have < count * 4)
    throw CliError(what + ": truncated data: shape " + shape_text(a.shape) + " needs " +
                   std::to_string(count * 4) + " bytes, the file has " + std::to_string(have));
  if (have > count * 4)
    throw CliError(what + ": " + std::to_string(have - count * 4) + " bytes after the data of shape " +
                   shape_text(a.shape));
  a.data.resize(static_cast<size_t>(count));
  if (count > 0)
    std::memcpy(a.data.data(), raw.data() + start + hlen, count * 4);  // (memcpy of nullptr is UB)
  if constexpr (std::endian::native == std::endian::big) {
    for (float& v : a.data) v = std::bit_cast<float>(byteswap32(std::bit_cast<uint32_t>(v)));
  }
  return a;
}

void write_npy_header(io::ByteSink& out, std::string_view descr, std::string_view shape) {
  std::string header = "{'descr': '" + std::string(descr) +
                       "', 'fortran_order': False, 'shape': " + std::string(shape) + ", }";
  // magic (6) + version (2) + header length (2) + header + '\n' must be a multiple of 64.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  const auto hlen = static_cast<uint16_t>(header.size());
  const unsigned char preamble[10] = {0x93,
                                      'N',
                                      'U',
                                      'M',
                                      'P',
                                      'Y',
                                      1,
                                      0,
                                      static_cast<unsigned char>(hlen & 0xff),
                                      static_cast<unsigned char>(hlen >> 8)};
  out.write(preamble, sizeof preamble);
  out.write(header);
}

void write_npy_f32(io::ByteSink& out, const NpyF32& a) {
  write_npy_header(out, "<f4", shape_text(a.shape));
  if constexpr (std::endian::native == std::endian::little) {
    out.write(a.data.data(), a.data.size() * sizeof(float));
  } else {
    for (float v : a.data) {
      const uint32_t u = byteswap32(std::bit_cast<uint32_t>(v));
      out.write(&u, 4);
    }
  }
  out.flush();
}

}  // namespace posenc::cli
