// cli/main.cpp — the posenc command: parse, dispatch to a subcommand, report errors.
//
// Every error ends as one "posenc: error: <message>" line on stderr and a non-zero exit status:
// CLI11's own codes for usage errors, 1 for everything else (posenc::Error from the library,
// CliError, I/O).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include "atomic_file.hpp"
#include "cli_error.hpp"
#include "commands.hpp"
#include "posenc/error.hpp"
#include "posenc/version.hpp"

namespace {

// CLI11's messages, prefixed; a mistyped command gets named instead of "A subcommand is required".
std::string usage_failure(const CLI::App* app, const CLI::Error& e, const std::string& first_arg) {
  std::string message = e.what(), hint = "posenc --help";
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

// The pipeline commands train with LibTorch, whose idle OpenMP threads spin by default (libgomp's
// ACTIVE wait policy) and starve OpenBLAS's threads in every matrix product: measured here, 150 training
// steps took 19.1 s on 2 threads with the default policy, 5.7 s with PASSIVE (4.1 s on 1 thread).
// libgomp reads the policy when it is loaded, before main(), so the process re-executes itself once with
// OMP_WAIT_POLICY=PASSIVE unless the user chose a policy. The table commands keep the default.
void prefer_passive_openmp(int argc, char** argv) {
#ifdef POSENC_CLI_PIPELINE
  if (argc < 2 || std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  const std::string cmd = argv[1];
  if (cmd != "demo" && cmd != "train" && cmd != "eval" && cmd != "extrapolate") return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
#else
  (void)argc;
  (void)argv;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  prefer_passive_openmp(argc, argv);
  posenc::cli::install_temp_cleanup_handlers();

  CLI::App app{"posenc: positional encodings for Transformers, from tables to trained models (posenc " +
                   std::string(posenc::kVersion) + ")",
               "posenc"};
  app.set_version_flag("--version", std::string(posenc::kVersion));
  app.require_subcommand(1);
  app.failure_message([first = std::string(argc > 1 ? argv[1] : "")](const CLI::App* a, const CLI::Error& e) {
    return usage_failure(a, e, first);
  });
  posenc::cli::register_table(app);
  posenc::cli::register_rope(app);
  posenc::cli::register_alibi(app);
  posenc::cli::register_t5(app);
  posenc::cli::register_inspect(app);
#ifdef POSENC_CLI_PIPELINE
  posenc::cli::register_demo(app);
  posenc::cli::register_train(app);
  posenc::cli::register_eval(app);
  posenc::cli::register_extrapolate(app);
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const posenc::Error& e) {
    return fail(e.what());
  } catch (const posenc::cli::CliError& e) {
    return fail(e.what());
  } catch (const std::bad_alloc&) {
    return fail("out of memory");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return 0;
}
