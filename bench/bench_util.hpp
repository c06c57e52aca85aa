// bench/bench_util.hpp — what every benchmark case shares: aligned, pre-touched buffers,
// deterministic inputs, and the thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "posenc/dtype.hpp"

namespace posenc_bench {

// 64-byte aligned heap memory, written once in parallel at allocation (with the same static OpenMP
// schedule the kernels use) so no first-touch page fault lands inside a timed loop.
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t bytes);
  void* data() const { return p_.get(); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data());
  }
  size_t bytes() const { return bytes_; }

 private:
  struct Free {
    void operator()(void* p) const;
  };
  std::unique_ptr<void, Free> p_;
  size_t bytes_ = 0;
};

// n values of dtype t (f32 or bf16), uniform in [-a, a], a function of (seed, index) only.
Buffer random_floats(posenc::DType t, int64_t n, uint64_t seed, float a);
// n token ids uniform in [0, V), int64 (what torch::embedding takes).
std::vector<int64_t> random_ids(int64_t n, int64_t V, uint64_t seed);
int64_t count_distinct(const std::vector<int64_t>& keys);

// Threads for posenc, the copy ceiling and LibTorch alike: --posenc_threads=N (removed from argv),
// else the environment variable POSENC_BENCH_THREADS, else the number of hardware threads.
int parse_threads(int* argc, char** argv);
int threads();

}  // namespace posenc_bench
