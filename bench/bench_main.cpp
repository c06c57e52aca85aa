// bench/bench_main.cpp — see bench_main.hpp.
#include "bench_main.hpp"

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "posenc/threads.hpp"

namespace posenc_bench {

void copy_ceiling(benchmark::State& st, int64_t bytes, CopyKind kind) {
  const auto half = static_cast<size_t>(bytes / 2);
  Buffer src(half), dst(half);
  std::memset(src.data(), 0x3c, half);
  timed(st, 2 * static_cast<int64_t>(half), [&] { parallel_copy(dst.data(), src.data(), half, kind); });
}

int bench_main(int argc, char** argv, const char* name, void (*register_all)(),
               const std::function<void(int)>& setup) {
  int n = 0;
  try {
    n = parse_threads(&argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 2;
  }
  posenc::set_num_threads(n);
  benchmark::AddCustomContext("posenc_threads", std::to_string(n));
  benchmark::AddCustomContext("posenc_simd_target", posenc::cpu_simd_target());
  setup(n);
  // Defaults, overridden by the same flag later on the command line: 9 repetitions of >= 0.1 s
  // each, medians reported; repetitions of different cases run in random order, so a slow spell of
  // the shared machine is spread over all cases instead of hitting one.
  std::vector<std::string> defaults = {"--benchmark_repetitions=9", "--benchmark_min_time=0.1",
                                       "--benchmark_report_aggregates_only=true",
                                       "--benchmark_enable_random_interleaving=true"};
  std::vector<char*> args(argv, argv + argc);
  for (auto it = defaults.rbegin(); it != defaults.rend(); ++it) args.insert(args.begin() + 1, it->data());
  int nargs = static_cast<int>(args.size());
  benchmark::Initialize(&nargs, args.data());
  if (benchmark::ReportUnrecognizedArguments(nargs, args.data())) return 1;
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace posenc_bench
