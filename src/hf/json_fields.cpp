// src/hf/json_fields.cpp — see json_fields.hpp.
#include "json_fields.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "posenc/error.hpp"

namespace posenc::hf::detail {

namespace {

std::string shortest(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

const char* type_word(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer";
    case Json::value_t::number_float:
      return "a number";
    default:
      return "an unsupported value";
  }
}

}  // namespace

Json parse_object(std::string_view text, const std::string& where, const std::string& origin) {
  // HF configs nest a few levels; a deeper document is refused while parsing (printing or walking a
  // value nested tens of thousands deep would exhaust the stack).
  constexpr int kMaxDepth = 64;
  struct TooDeep {
    size_t depth;
  };
  const auto depth_limit = [](int depth, Json::parse_event_t event, Json&) {
    if (depth >= kMaxDepth &&
        (event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start))
      throw TooDeep{static_cast<size_t>(depth)};
    return true;
  };
  Json j;
  try {
    j = Json::parse(text.begin(), text.end(), depth_limit);
  } catch (const TooDeep&) {
    throw Error(where, origin, "JSON nested more than " + std::to_string(kMaxDepth) + " levels deep",
                "a JSON object nested at most " + std::to_string(kMaxDepth) + " levels, as HF's config.json");
  } catch (const Json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 3, column 5: syntax error
    // while parsing object - unexpected end of input; expected '}'": keep the part after the tag.
    std::string what = e.what();
    if (const size_t k = what.find("] "); k != std::string::npos) what = what.substr(k + 2);
    // e.byte counts the characters read, so the offending byte is at offset e.byte - 1; past the
    // end means the text stopped early.
    const size_t offset = e.byte > 0 ? e.byte - 1 : 0;
    const std::string value =
        offset >= text.size()
            ? "truncated JSON (input ends at byte offset " + std::to_string(text.size()) + ": " + what + ")"
            : "malformed JSON (at byte offset " + std::to_string(offset) + ": " + what + ")";
    throw Error(where, origin, value, "a complete JSON object, as HF's config.json");
  } catch (const Json::exception& e) {
    throw Error(where, origin, std::string("unreadable JSON (") + e.what() + ")",
                "a complete JSON object, as HF's config.json");
  }
  if (!j.is_object()) throw Error(where, origin, describe(j), "a JSON object, as HF's config.json");
  return j;
}

std::string describe(const Json& v) {
  std::string text = v.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  if (v.is_null()) return "null";
  return text + " (" + type_word(v) + ")";
}

bool Fields::has(std::string_view key) const {
  return get(key) != nullptr;
}

std::vector<std::string> Fields::keys() const {
  std::vector<std::string> out;
  for (const auto& [key, value] : obj_->items()) out.push_back(key);
  return out;
}

bool Fields::contains(std::string_view key) const {
  return obj_->find(key) != obj_->end();
}

const Json* Fields::get(std::string_view key) const {
  const auto it = obj_->find(key);
  if (it == obj_->end() || it->is_null()) return nullptr;
  return &*it;
}

void Fields::fail(std::string_view key, const std::string& value, const std::string& allowed) const {
  throw Error(*where_, path(key), value, allowed);
}

std::optional<double> Fields::number(std::string_view key) const {
  const Json* v = get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) fail(key, describe(*v), "a number");
  const double d = v->get<double>();
  if (!std::isfinite(d)) fail(key, describe(*v), "a finite number");
  return d;
}

std::optional<int64_t> Fields::integer(std::string_view key, int64_t lo, int64_t hi) const {
  const Json* v = get(key);
  if (v == nullptr) return std::nullopt;
  const std::string allowed = "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  int64_t n = 0;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail(key, v->dump(), allowed);
    n = static_cast<int64_t>(u);
  } else if (v->is_number_integer()) {
    n = v->get<int64_t>();
  } else if (v->is_number_float()) {
    const double d = v->get<double>();
    if (!(std::fabs(d) < 9.0e18) || d != std::trunc(d)) fail(key, describe(*v), allowed);
    n = static_cast<int64_t>(d);
  } else {
    fail(key, describe(*v), allowed);
  }
  if (n < lo || n > hi) fail(key, std::to_string(n), allowed);
  return n;
}

std::optional<std::string> Fields::string(std::string_view key) const {
  const Json* v = get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) fail(key, describe(*v), "a string");
  return v->get<std::string>();
}

std::optional<bool> Fields::boolean(std::string_view key) const {
  const Json* v = get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) fail(key, describe(*v), "true or false");
  return v->get<bool>();
}

std::optional<std::vector<double>> Fields::numbers(std::string_view key) const {
  const Json* v = get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_array()) fail(key, describe(*v), "an array of numbers");
  std::vector<double> out;
  out.reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& e = (*v)[i];
    const std::string at = std::string(key) + "[" + std::to_string(i) + "]";
    if (!e.is_number()) fail(at, describe(e), "a number");
    const double d = e.get<double>();
    if (!std::isfinite(d)) fail(at, shortest(d), "a finite number");
    out.push_back(d);
  }
  return out;
}

const Json* Fields::object(std::string_view key) const {
  const Json* v = get(key);
  if (v != nullptr && !v->is_object()) fail(key, describe(*v), "an object (or null)");
  return v;
}

void agree(const Fields& fa, std::string_view a, const Fields& fb, std::string_view b) {
  const Json* va = fa.get(a);
  const Json* vb = fb.get(b);
  if (va == nullptr || vb == nullptr) return;
  const bool same =
      (va->is_number() && vb->is_number()) ? va->get<double>() == vb->get<double>() : *va == *vb;
  if (!same)
    throw Error(fa.where(), fa.path(a), va->dump(),
                "the same value as " + fb.path(b) + " = " + vb->dump() +
                    " (both are given and they contradict each other)");
}

std::string read_config_file(const std::filesystem::path& path, const std::string& where) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status))
    throw Error(where, "path", "'" + path.string() + "' (no such file)", "an existing config.json");
  if (std::filesystem::is_directory(status))
    throw Error(where, "path", "'" + path.string() + "' (a directory)",
                "a config.json file (not the model directory)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(where, "path", "'" + path.string() + "' (unreadable)", "a readable file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(where, "path", "'" + path.string() + "' (read error)", "a readable file");
  return text.str();
}

}  // namespace posenc::hf::detail
