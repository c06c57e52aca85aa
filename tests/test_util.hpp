// Small helpers shared by the core tests.
#pragma once

#include <bit>
#include <cstdint>
#include <random>
#include <vector>

#include "posenc/dtype.hpp"
#include "posenc/threads.hpp"

namespace posenc::test {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

inline std::vector<int64_t> random_ints(size_t n, int64_t hi_exclusive, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> u(0, hi_exclusive - 1);
  std::vector<int64_t> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

inline bool bits_equal(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<uint32_t>(a[i]) != std::bit_cast<uint32_t>(b[i])) return false;
  return true;
}

// Runs f with n threads and restores the previous count.
template <typename F>
void with_threads(int n, F&& f) {
  const int old = num_threads();
  set_num_threads(n);
  f();
  set_num_threads(old);
}

}  // namespace posenc::test
