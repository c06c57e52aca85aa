// cli/main_pipeline.cpp — posenc-pipeline: the commands that train and run models (demo, train, eval,
// extrapolate), on LibTorch. `posenc <command>` forwards here (cli/pipeline_forward.cpp); it can also be
// run directly. Errors: see cli/app_main.hpp.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <string>

#include "app_main.hpp"
#include "commands.hpp"
#include "io/atomic_file.hpp"
#include "posenc/version.hpp"

namespace {

// LibTorch's idle OpenMP threads spin by default (libgomp's ACTIVE wait policy) and starve OpenBLAS's
// threads in every matrix product: measured here, 150 training steps took 19.1 s on 2 threads with the
// default policy, 5.7 s with PASSIVE (4.1 s on 1 thread). libgomp reads the policy when it is loaded,
// before main(), so the process re-executes itself once with OMP_WAIT_POLICY=PASSIVE unless a policy is
// set (posenc's forwarder sets it before it executes this program, so that costs nothing there).
void prefer_passive_openmp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
}

}  // namespace

int main(int argc, char** argv) {
  prefer_passive_openmp(argv);
  posenc::io::install_temp_cleanup_handlers();
  CLI::App app{"posenc-pipeline: the posenc commands that build, train and run Transformers (posenc " +
                   std::string(posenc::kVersion) + ")",
               "posenc"};
  posenc::cli::configure_app(app, argc, argv);
  posenc::cli::register_demo(app);
  posenc::cli::register_train(app);
  posenc::cli::register_eval(app);
  posenc::cli::register_extrapolate(app);
  return posenc::cli::run_app(app, argc, argv);
}
