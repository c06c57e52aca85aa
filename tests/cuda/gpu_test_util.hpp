// Helpers of the GPU tests: a tensor with the same bytes on the host and on the GPU, random fills,
// poisoning, byte comparison, and the skip when there is no GPU.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "posenc/cuda.hpp"
#include "posenc/dtype.hpp"
#include "posenc/tensor.hpp"

namespace posenc::gputest {

inline void cuda_ok(cudaError_t e, const char* what) {
  ASSERT_EQ(e, cudaSuccess) << what << ": " << cudaGetErrorName(e) << " " << cudaGetErrorString(e);
}

#define POSENC_SKIP_WITHOUT_GPU()                                                                        \
  do {                                                                                                   \
    if (!::posenc::cuda_available())                                                                     \
      GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount reports none or no driver): GPU test skipped"; \
  } while (0)

// Every random input of the GPU tests mixes in POSENC_GPU_SEED (default 0): bench/gpu/run.sh sets it
// from the clock, so each run draws fresh inputs; the value is printed once, so a failure can be
// reproduced with the same seed.
inline uint32_t seed_base() {
  static const uint32_t base = [] {
    const char* e = std::getenv("POSENC_GPU_SEED");
    const auto v = e != nullptr ? static_cast<uint32_t>(std::strtoul(e, nullptr, 10)) : 0u;
    std::printf("[ seed ] POSENC_GPU_SEED=%u\n", v);
    return v;
  }();
  return base;
}
inline uint32_t mix_seed(uint32_t seed) {
  return seed + seed_base() * 0x9E3779B9u;
}

// Device memory, freed on destruction.
struct DevMem {
  void* p = nullptr;
  size_t bytes = 0;
  explicit DevMem(size_t n) : bytes(n) {
    const cudaError_t e = cudaMalloc(&p, n == 0 ? 1 : n);
    if (e != cudaSuccess) {
      ADD_FAILURE() << "cudaMalloc(" << n << "): " << cudaGetErrorString(e);
      p = nullptr;
    }
  }
  ~DevMem() {
    if (p != nullptr) cudaFree(p);
  }
  DevMem(const DevMem&) = delete;
  DevMem& operator=(const DevMem&) = delete;
};

// A strided tensor with storage of `extent` elements (covering every element plus `pad` after the last),
// mirrored on host and GPU. Shapes and strides in elements; strides may leave gaps (the gaps are compared
// too: nothing may write them).
struct Mirror {
  DType dtype;
  std::vector<int64_t> shape, strides;
  int64_t offset = 0;  // elements before the view's first element (for negative strides or misalignment)
  int64_t extent = 0;
  std::vector<unsigned char> host;
  std::unique_ptr<DevMem> dev;

  Mirror(DType t, std::vector<int64_t> shp, std::vector<int64_t> str = {}, int64_t pad = 0)
      : dtype(t), shape(std::move(shp)), strides(std::move(str)) {
    if (strides.empty()) {
      strides.resize(shape.size());
      int64_t s = 1;
      for (size_t d = shape.size(); d-- > 0;) {
        strides[d] = s;
        s *= std::max<int64_t>(shape[d], 1);
      }
    }
    int64_t lo = 0, hi = 0;
    bool empty = false;
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] == 0) empty = true;
      (strides[d] < 0 ? lo : hi) += (shape[d] - 1) * strides[d];
    }
    offset = -lo;
    extent = empty ? pad : hi - lo + 1 + pad;
    host.assign(static_cast<size_t>(extent * dtype_size(t)), 0);
    dev = std::make_unique<DevMem>(host.size());
  }

  size_t bytes() const { return host.size(); }
  TensorView view(Device d) const {
    TensorView v;
    unsigned char* base =
        d == Device::CPU ? const_cast<unsigned char*>(host.data()) : static_cast<unsigned char*>(dev->p);
    v.data = base + offset * dtype_size(dtype);
    v.dtype = dtype;
    v.device = d;
    v.ndim = static_cast<int>(shape.size());
    for (size_t i = 0; i < shape.size(); ++i) {
      v.shape[i] = shape[i];
      v.strides[i] = strides[i];
    }
    return v;
  }
  TensorView hv() const { return view(Device::CPU); }
  TensorView dv() const { return view(Device::CUDA); }

  // Every storage element random in [lo, hi) (float dtypes) or [0, hi) (int dtypes).
  void fill(uint32_t seed, double lo = -1.0, double hi = 1.0) {
    std::mt19937 rng(mix_seed(seed));
    const int64_t es = dtype_size(dtype);
    for (int64_t i = 0; i < extent; ++i) {
      unsigned char* p = host.data() + i * es;
      if (dtype == DType::I32 || dtype == DType::I64) {
        std::uniform_int_distribution<int64_t> u(static_cast<int64_t>(lo), static_cast<int64_t>(hi) - 1);
        const int64_t v = u(rng);
        if (dtype == DType::I32) {
          const auto w = static_cast<int32_t>(v);
          std::memcpy(p, &w, 4);
        } else {
          std::memcpy(p, &v, 8);
        }
        continue;
      }
      std::uniform_real_distribution<double> u(lo, hi);
      const auto f = static_cast<float>(u(rng));
      if (dtype == DType::F32) {
        std::memcpy(p, &f, 4);
      } else {
        const uint16_t h = dtype == DType::F16 ? f32_to_f16_bits(f) : f32_to_bf16_bits(f);
        std::memcpy(p, &h, 2);
      }
    }
  }
  void poison() { std::memset(host.data(), 0xff, host.size()); }
  void upload() { cuda_ok(cudaMemcpy(dev->p, host.data(), host.size(), cudaMemcpyHostToDevice), "upload"); }
  std::vector<unsigned char> download() const {
    std::vector<unsigned char> out(host.size());
    cuda_ok(cudaMemcpy(out.data(), dev->p, out.size(), cudaMemcpyDeviceToHost), "download");
    return out;
  }
  // Both copies poisoned (0xff bytes: NaN in every float type) before a run that writes them.
  void poison_both() {
    poison();
    upload();
  }
};

inline float element(DType t, const unsigned char* p) {
  if (t == DType::F32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  return t == DType::F16 ? f16_bits_to_f32(h) : bf16_bits_to_f32(h);
}

// The GPU's bytes equal the CPU's (host) bytes, every byte of the storage including gaps.
inline ::testing::AssertionResult same_bytes(const Mirror& m, const std::string& what) {
  const std::vector<unsigned char> g = m.download();
  const int64_t es = dtype_size(m.dtype);
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < m.extent; ++i)
    if (std::memcmp(g.data() + i * es, m.host.data() + i * es, static_cast<size_t>(es)) != 0) {
      if (first < 0) first = i;
      ++bad;
    }
  if (bad == 0) return ::testing::AssertionSuccess();
  std::ostringstream s;
  s << what << ": " << bad << " of " << m.extent << " elements differ; first at storage index " << first;
  if (is_float(m.dtype))
    s << ": gpu " << element(m.dtype, g.data() + first * es) << " cpu "
      << element(m.dtype, m.host.data() + first * es);
  return ::testing::AssertionFailure() << s.str();
}

// Elements within tol (absolute) and the count of non-identical ones; NaN must match NaN.
struct Closeness {
  int64_t differ = 0, total = 0;
  double worst = 0;
  bool ok = true;
};
inline Closeness compare_close(const Mirror& m, double tol) {
  const std::vector<unsigned char> g = m.download();
  const int64_t es = dtype_size(m.dtype);
  Closeness c;
  for (int64_t i = 0; i < m.extent; ++i) {
    ++c.total;
    const unsigned char* a = g.data() + i * es;
    const unsigned char* b = m.host.data() + i * es;
    if (std::memcmp(a, b, static_cast<size_t>(es)) == 0) continue;
    ++c.differ;
    const float x = element(m.dtype, a), y = element(m.dtype, b);
    if (std::isnan(x) || std::isnan(y)) {
      if (std::isnan(x) != std::isnan(y)) c.ok = false;
      continue;
    }
    const double d = std::abs(static_cast<double>(x) - static_cast<double>(y));
    c.worst = std::max(c.worst, d);
    if (d > tol) c.ok = false;
  }
  return c;
}

}  // namespace posenc::gputest
