// cli/validators.hpp — strict checks for integer options.
//
// CLI11 2.1 converts integers with strtoll(..., base 0): "010" is octal 8, "0x10" is 16, and values
// past the type's range saturate silently. Options taking a count or an id use
// decimal_integer<T>(): only a decimal within T's range gets through, rewritten without leading
// zeros; anything else is a CLI11 ValidationError naming the option. Attach it with ->transform()
// (->check() discards the rewrite).
#pragma once

#include <CLI/CLI.hpp>
#include <charconv>
#include <limits>
#include <string>
#include <type_traits>

namespace posenc::cli {

template <typename T>
CLI::Validator decimal_integer() {
  static_assert(std::is_integral_v<T>);
  return CLI::Validator(
      [](std::string& text) -> std::string {
        T value{};
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, value);
        // An unsigned option given a negative number ("--seed -1") is out of range, not "not a number".
        const bool negative_unsigned = std::is_unsigned_v<T> && !text.empty() && text[0] == '-' &&
                                       text.size() > 1 &&
                                       text.find_first_not_of("0123456789", 1) == std::string::npos;
        if (ec == std::errc::result_out_of_range || negative_unsigned) {
          return "value " + text +
                 " is out of range (allowed: " + std::to_string(std::numeric_limits<T>::min()) + " .. " +
                 std::to_string(std::numeric_limits<T>::max()) + ")";
        }
        if (ec != std::errc() || ptr != end) return "value '" + text + "' is not a decimal integer";
        text = std::to_string(value);  // "010" -> "10", which CLI11 will not read as octal
        return {};
      },
      "", "DECIMAL");
}

// "-" for an output file means standard output, as for most tools (it wrote a file named "-"): called
// on the parsed value (after the check that refuses an empty path), it becomes "", the commands' "no --out".
inline void dash_is_stdout(std::string& path) {
  if (path == "-") path.clear();
}

}  // namespace posenc::cli
