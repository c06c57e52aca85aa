// cli/app_main.hpp — what both executables of the command share: the app's settings, the run with its
// error reporting, and the search for the sibling executable.
//
// Every error ends as one "posenc: error: <message>" line on stderr and a non-zero exit status:
// CLI11's own codes for usage errors, 1 for everything else (posenc::Error from the library,
// CliError, I/O).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace posenc::cli {

// Version flag, one required subcommand, "posenc: error:" usage messages (naming a mistyped command).
void configure_app(CLI::App& app, int argc, char** argv);
// Parses and runs; returns the exit status.
int run_app(CLI::App& app, int argc, char** argv);
// The directory of the running executable (from /proc/self/exe); empty if unknown.
std::string executable_dir();

}  // namespace posenc::cli
