// cli/app_main.cpp — see cli/app_main.hpp.
#include "app_main.hpp"

#include <unistd.h>

#include <cstdio>
#include <new>
#include <string>

#include "cli_error.hpp"
#include "posenc/error.hpp"
#include "posenc/version.hpp"

namespace posenc::cli {
namespace {

// CLI11's messages, prefixed; a mistyped command gets named instead of "A subcommand is required".
std::string usage_failure(const CLI::App* app, const CLI::Error& e, const std::string& first_arg) {
  std::string message = e.what(), hint = "posenc --help";
  // CLI11's "--steps: At Most 1 required but received 2" for an option given twice, in posenc's words.
  const std::string at_most = ": At Most 1 required but received ";
  if (const size_t at = message.find(at_most); at != std::string::npos)
    message =
        message.substr(0, at) + ": given " + message.substr(at + at_most.size()) + " times (allowed: once)";
  const auto chosen = app->get_subcommands();
  if (!chosen.empty()) {
    hint = "posenc " + chosen.front()->get_name() + " --help";
  } else if (!first_arg.empty() && first_arg[0] != '-') {
    message = "unknown command '" + first_arg + "' (commands:";
    for (const CLI::App* sub : app->get_subcommands([](const CLI::App*) { return true; }))
      message += " " + sub->get_name();
    message += ")";
  }
  return "posenc: error: " + message + "\nRun '" + hint + "' for the options.\n";
}

int fail(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "posenc: error: %s\n", message.c_str());
  return 1;
}

// The options that name a file or directory: an empty value (an unset shell variable) is an error rather
// than "not given" (train --checkpoint "" trained without writing a checkpoint; table --out "" wrote to
// stdout).
void refuse_empty_paths(CLI::App& app) {
  static const char* kPathOptions[] = {"--out",  "--plot",      "--config",      "--checkpoint",   "--data",
                                       "--json", "--spm-model", "--metrics-csv", "--metrics-json", "--apply"};
  static const CLI::Validator kNonEmpty(
      [](std::string& value) { return value.empty() ? std::string("the path is empty") : std::string(); },
      "");
  for (CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    for (CLI::Option* opt : sub->get_options())
      for (const char* name : kPathOptions)
        if (opt->check_name(name)) opt->check(kNonEmpty);
}

}  // namespace

void configure_app(CLI::App& app, int argc, char** argv) {
  app.set_version_flag("--version", std::string(posenc::kVersion));
  app.require_subcommand(1);
  app.failure_message([first = std::string(argc > 1 ? argv[1] : "")](const CLI::App* a, const CLI::Error& e) {
    return usage_failure(a, e, first);
  });
}

int run_app(CLI::App& app, int argc, char** argv) {
  refuse_empty_paths(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const posenc::Error& e) {
    return fail(e.what());
  } catch (const CliError& e) {
    return fail(e.what());
  } catch (const std::bad_alloc&) {
    return fail("out of memory");
  } catch (const std::exception& e) {
    // Another library's error (LibTorch's c10::Error carries its C++ stack trace after the first line):
    // its message only.
    const std::string what = e.what();
    return fail(what.substr(0, what.find('\n')));
  }
  return 0;
}

std::string executable_dir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string path(buf, static_cast<size_t>(n));
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

}  // namespace posenc::cli
