// cli/json_text.cpp — see json_text.hpp.
#include "json_text.hpp"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "cli_error.hpp"
#include "io/atomic_file.hpp"

namespace posenc::cli {
namespace {

template <typename F>
std::string shortest(F v, std::string_view what) {
  if (!std::isfinite(v))
    throw CliError(std::string(what) + " has a non-finite value, which JSON cannot represent");
  if (v == 0 && std::signbit(v)) return "-0.0";
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

std::string json_number(double v, std::string_view what) {
  return shortest(v, what);
}

std::string json_number(float v, std::string_view what) {
  return shortest(v, what);
}

std::string json_string(std::string_view s) {
  return nlohmann::json(std::string(s)).dump();
}

std::string json_object(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string s = "{\n";
  for (size_t i = 0; i < fields.size(); ++i) {
    s += "  " + json_string(fields[i].first) + ": " + fields[i].second;
    s += i + 1 < fields.size() ? ",\n" : "\n";
  }
  return s + "}\n";
}

void write_text(const std::string& out_path, std::string_view text) {
  if (out_path.empty()) {
    io::StdoutSink out;
    out.write(text);
    out.flush();
    return;
  }
  io::AtomicFile out(out_path);
  out.write(text);
  out.commit();
}

}  // namespace posenc::cli
