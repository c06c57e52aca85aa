#include "posenc/error.hpp"

namespace posenc {

namespace {
std::string format(const std::string& where, const std::string& argument, const std::string& value,
                   const std::string& allowed) {
  return where + ": " + argument + " = " + value + " is invalid (allowed: " + allowed + ")";
}
}  // namespace

Error::Error(std::string where, std::string argument, std::string value, std::string allowed)
    : std::invalid_argument(format(where, argument, value, allowed)),
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
