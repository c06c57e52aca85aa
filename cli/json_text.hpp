// cli/json_text.hpp — numbers and arrays as JSON text for the small outputs of rope, alibi,
// t5-bucket.
//
// Floats are the shortest decimal that reads back as the same value: a float keeps float
// precision ("0.1", not "0.10000000149011612"), a double double precision; negative zero is
// "-0.0". JSON has no NaN or infinity: those are a CliError naming `what`.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace posenc::cli {

std::string json_number(double v, std::string_view what);
std::string json_number(float v, std::string_view what);
inline std::string json_number(int64_t v, std::string_view) {
  return std::to_string(v);
}

template <typename T>
std::string json_array(std::span<const T> values, std::string_view what) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) s += ", ";
    s += json_number(values[i], what);
  }
  return s + "]";
}
template <typename T>
std::string json_array(const std::vector<T>& values, std::string_view what) {
  return json_array(std::span<const T>(values), what);
}

// "  \"key\": value" lines joined into one object, each key JSON-escaped.
std::string json_object(const std::vector<std::pair<std::string, std::string>>& fields);
// A JSON string literal.
std::string json_string(std::string_view s);

// text to the file out_path, atomically (see atomic_file.hpp), or to stdout when out_path is empty.
void write_text(const std::string& out_path, std::string_view text);

}  // namespace posenc::cli
