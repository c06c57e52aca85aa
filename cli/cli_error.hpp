// cli/cli_error.hpp — the error type of the posenc command.
//
// Thrown for bad arguments and failed I/O. The message names the option or the path and the reason;
// main() prints it as "posenc: error: <message>" and exits with status 1.
#pragma once

#include <stdexcept>
#include <string>

namespace posenc::cli {

class CliError : public std::runtime_error {
 public:
  explicit CliError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace posenc::cli
