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

}  // namespace posenc
