// posenc/error.hpp — the one error type of posenc.
//
// Every check in the library throws posenc::Error. Its message names the function, the argument, the value
// it had and the allowed range, e.g.
//   "posenc::sinusoidal_table: dim = 0 is invalid (allowed: even integer >= 2)".
// A value longer than 240 characters is shortened in the message, with its length (value() keeps it).
// The library never calls exit() or abort().
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace posenc {

class Error : public std::invalid_argument {
 public:
  Error(std::string where, std::string argument, std::string value, std::string allowed);

  const std::string& where() const noexcept { return where_; }
  const std::string& argument() const noexcept { return argument_; }
  const std::string& value() const noexcept { return value_; }
  const std::string& allowed() const noexcept { return allowed_; }

 protected:
  // For errors that read better in another form (posenc::io's "cannot write '<path>': <reason>"): the
  // same fields, with `message` as what().
  Error(const std::string& message, std::string where, std::string argument, std::string value,
        std::string allowed);

 private:
  std::string where_, argument_, value_, allowed_;
};

// Bytes quoted in a message (text from a file that may be damaged or binary): printable ASCII as it is,
// every other byte (and the backslash) as \xNN, at most max_chars characters and then "...".
std::string escape_bytes(std::string_view bytes, size_t max_chars = 80);

}  // namespace posenc
