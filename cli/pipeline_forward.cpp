// cli/pipeline_forward.cpp — `posenc demo|train|eval|extrapolate ...` runs posenc-pipeline (next to this
// executable) with the same arguments, so that only those commands load LibTorch.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "app_main.hpp"
#include "cli_error.hpp"
#include "commands.hpp"

namespace posenc::cli {
namespace {

[[noreturn]] void forward(const std::string& command, const std::vector<std::string>& rest) {
  const std::string dir = executable_dir();
  const std::string target = (dir.empty() ? std::string(".") : dir) + "/posenc-pipeline";
  std::vector<std::string> args{"posenc", command};
  args.insert(args.end(), rest.begin(), rest.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // See cli/main_pipeline.cpp: LibTorch's spinning OpenMP threads starve OpenBLAS's.
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  ::execv(target.c_str(), argv.data());
  throw CliError("'" + command + "' runs " + target + ", which could not be started (" +
                 std::strerror(errno) +
                 "); build it with: cmake --build build/release --target posenc_pipeline_cli");
}

}  // namespace

void register_pipeline_forwarders(CLI::App& app) {
  const std::pair<const char*, const char*> commands[] = {
      {"demo", "The pipeline step by step on one sentence: tokens, embeddings, PE, sum, Transformer, order."},
      {"train", "Train a small Transformer with a chosen positional encoding."},
      {"eval", "Evaluate a checkpoint on held-out data, at one or more lengths."},
      {"extrapolate", "Train one model per encoding on short sequences; evaluate on longer ones."},
  };
  for (const auto& [name, help] : commands) {
    CLI::App* sub = app.add_subcommand(name, help);
    sub->prefix_command();  // everything after the name goes to posenc-pipeline as it is
    sub->set_help_flag();   // including --help
    sub->allow_extras();
    const std::string cmd = name;
    sub->callback([sub, cmd] { forward(cmd, sub->remaining()); });
  }
}

}  // namespace posenc::cli
