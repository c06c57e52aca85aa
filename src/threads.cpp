#include "posenc/threads.hpp"

#include <hwy/targets.h>
#include <omp.h>

#include <string>

#include "check.hpp"
#include "cpu/rope_simd.h"

namespace posenc {

void set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads)
    detail::fail("posenc::set_num_threads", "n", std::to_string(n), "1 .. " + std::to_string(kMaxThreads));
  omp_set_num_threads(n);
}

int num_threads() {
  return omp_get_max_threads();
}

// Every vectorised kernel is dispatched by the same Highway run-time choice; the RoPE kernel reports it.
const char* cpu_simd_target() {
  return hwy::TargetName(detail::cpu::rope_simd_target());
}

}  // namespace posenc
