// cli/position_list.cpp — see position_list.hpp.
#include "position_list.hpp"

#include <charconv>
#include <string>

#include "cli_error.hpp"
#include "posenc/positions.hpp"

namespace posenc::cli {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::vector<int64_t> parse_position_list(std::string_view text, std::string_view option) {
  const std::string allowed =
      "(allowed: comma-separated integers in [0, " + std::to_string(kMaxPosition) + "], e.g. 0,5,1000)";
  std::vector<int64_t> out;
  size_t index = 0;
  for (size_t begin = 0;; ++index) {
    const size_t comma = text.find(',', begin);
    const std::string_view raw = text.substr(begin, comma == std::string_view::npos ? comma : comma - begin);
    const std::string_view entry = trim(raw);
    const std::string where = std::string(option) + ": entry " + std::to_string(index);
    if (entry.empty()) throw CliError(where + " is empty " + allowed);
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(entry.data(), entry.data() + entry.size(), v);
    if (ec == std::errc::result_out_of_range)
      throw CliError(where + " = \"" + std::string(entry) + "\" is out of range " + allowed);
    if (ec != std::errc() || end != entry.data() + entry.size())
      throw CliError(where + " = \"" + std::string(entry) + "\" is not an integer " + allowed);
    if (v < 0 || v > kMaxPosition)
      throw CliError(where + " = " + std::to_string(v) + " is out of range " + allowed);
    out.push_back(v);
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
  return out;
}

std::string format_position_list(const std::vector<int64_t>& positions) {
  std::string s;
  s.reserve(positions.size() * 7);
  for (size_t i = 0; i < positions.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(positions[i]);
  }
  return s;
}

}  // namespace posenc::cli
