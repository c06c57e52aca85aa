// Small helpers shared by the core tests.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "posenc/dtype.hpp"
#include "posenc/error.hpp"
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

// f() must throw posenc::Error whose argument is `argument` and whose message holds every needle.
template <typename F>
void expect_error_naming(F&& f, const std::string& argument,
                         std::initializer_list<std::string_view> needles = {}) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one naming " << argument;
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), argument) << e.what();
    const std::string msg = e.what();
    for (std::string_view n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << msg << "\n  should name: " << n;
  }
}

}  // namespace posenc::test
