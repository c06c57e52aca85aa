#include "posenc/error.hpp"

namespace posenc {

namespace {
// A value longer than this is shortened in the message (value() keeps it whole).
constexpr size_t kMaxValueChars = 240;

std::string format(const std::string& where, const std::string& argument, const std::string& value,
                   const std::string& allowed) {
  const std::string shown =
      value.size() <= kMaxValueChars
          ? value
          : value.substr(0, kMaxValueChars - 40) + "... (" + std::to_string(value.size()) + " characters)";
  return where + ": " + argument + " = " + shown + " is invalid (allowed: " + allowed + ")";
}
}  // namespace

Error::Error(std::string where, std::string argument, std::string value, std::string allowed)
    : std::invalid_argument(format(where, argument, value, allowed)),
      where_(std::move(where)),
      argument_(std::move(argument)),
      value_(std::move(value)),
      allowed_(std::move(allowed)) {}

Error::Error(const std::string& message, std::string where, std::string argument, std::string value,
             std::string allowed)
    : std::invalid_argument(message),
      where_(std::move(where)),
      argument_(std::move(argument)),
      value_(std::move(value)),
      allowed_(std::move(allowed)) {}

std::string escape_bytes(std::string_view bytes, size_t max_chars) {
  std::string out;
  for (const char ch : bytes) {
    if (out.size() >= max_chars) return out + "...";
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(ch);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

}  // namespace posenc
