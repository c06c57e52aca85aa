#include "posenc/threads.hpp"

#include <omp.h>

#include <string>

#include "check.hpp"

namespace posenc {

void set_num_threads(int n) {
  if (n < 1) detail::fail("posenc::set_num_threads", "n", std::to_string(n), ">= 1");
  omp_set_num_threads(n);
}

int num_threads() {
  return omp_get_max_threads();
}

}  // namespace posenc
