// posenc/threads.hpp — the number of CPU threads posenc's kernels use (OpenMP underneath).
// Results never depend on it: every reduction runs in a fixed order.
#pragma once

namespace posenc {

void set_num_threads(int n);  // n >= 1
int num_threads();

}  // namespace posenc
