// cli/main.cpp — the posenc command: tables, model configs, benchmarks; the pipeline commands (demo,
// train, eval, extrapolate) are forwarded to the sibling executable posenc-pipeline.
//
// The pipeline needs LibTorch, whose shared libraries take about a second to load; keeping them out of
// this executable keeps `posenc table` and friends instant. Errors: see cli/app_main.hpp.
#include <CLI/CLI.hpp>
#include <string>

#include "app_main.hpp"
#include "commands.hpp"
#include "io/atomic_file.hpp"
#include "posenc/version.hpp"

int main(int argc, char** argv) {
  posenc::io::install_temp_cleanup_handlers();
  CLI::App app{"posenc: positional encodings for Transformers, from tables to trained models (posenc " +
                   std::string(posenc::kVersion) + ")",
               "posenc"};
  posenc::cli::configure_app(app, argc, argv);
  posenc::cli::register_table(app);
  posenc::cli::register_rope(app);
  posenc::cli::register_alibi(app);
  posenc::cli::register_t5(app);
  posenc::cli::register_inspect(app);
  posenc::cli::register_bench(app);
#ifdef POSENC_CLI_PIPELINE_FORWARD
  posenc::cli::register_pipeline_forwarders(app);
#endif
  return posenc::cli::run_app(app, argc, argv);
}
