// src/hf/json_fields.hpp — typed, path-named reads of config.json values (src/hf/json_fields.cpp).
//
// Every read names the field by its JSON path ("rope_parameters.factor") in the posenc::Error it
// throws for a wrong type or range. A JSON null reads as absent, as HF's `dict.get(key)` and
// `getattr(config, key, None)` see it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "posenc/error.hpp"
#include "posenc/hf_config.hpp"

namespace posenc::hf::detail {

using Json = nlohmann::json;

// Parses text as one JSON object; a syntax error is a posenc::Error with the byte offset.
Json parse_object(std::string_view text, const std::string& where, const std::string& origin);

// `"4" (a string)`, `[1, 2, ...] (an array)`: a value as the messages show it.
std::string describe(const Json& v);

class Fields {
 public:
  // obj: the JSON object read from; prefix: its path with a trailing dot ("" for the top level).
  Fields(const Json& obj, std::string prefix, const std::string& where)
      : obj_(&obj), prefix_(std::move(prefix)), where_(&where) {}

  bool has(std::string_view key) const;       // present and not null
  bool contains(std::string_view key) const;  // present, perhaps null
  std::vector<std::string> keys() const;      // in the order of the text
  std::string path(std::string_view key) const { return prefix_ + std::string(key); }
  const Json* get(std::string_view key) const;  // nullptr if absent or null

  std::optional<double> number(std::string_view key) const;
  // An integer (an integral float such as 4096.0 too) in [lo, hi].
  std::optional<int64_t> integer(std::string_view key, int64_t lo, int64_t hi) const;
  std::optional<std::string> string(std::string_view key) const;
  std::optional<bool> boolean(std::string_view key) const;
  std::optional<std::vector<double>> numbers(std::string_view key) const;
  // An object (or absent / null).
  const Json* object(std::string_view key) const;

  [[noreturn]] void fail(std::string_view key, const std::string& value, const std::string& allowed) const;
  const std::string& where() const { return *where_; }

 private:
  const Json* obj_;
  std::string prefix_;
  const std::string* where_;
};

// Both given (not null) must be equal (numbers by value); else a posenc::Error naming fa.path(a).
void agree(const Fields& fa, std::string_view a, const Fields& fb, std::string_view b);

// Runs f (a validate() call) and re-throws its posenc::Error under the JSON field that the config field
// it names came from (report.source_of), unless that field was defaulted.
template <typename F>
void validated(const ImportReport& report, const std::string& where, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    const std::string from = report.source_of(e.argument());
    throw Error(where, from.empty() || from.rfind("default", 0) == 0 ? e.argument() : from, e.value(),
                e.allowed());
  }
}

// The whole text of a config.json file; a missing, unreadable or directory path is a posenc::Error
// naming it (`where` = the calling function).
std::string read_config_file(const std::filesystem::path& path, const std::string& where);

}  // namespace posenc::hf::detail
