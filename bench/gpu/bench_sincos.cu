// posenc_bench_sincos — what exact angles cost on the GPU (issue 6: "measure what exactness costs against
// the fast __sincosf path and keep the faster one only if it is equally exact").
//
// A RoPE table's values, cos and sin of pos * omega_i for Llama-3's frequencies (head_dim 128, base 500000:
// 64 frequencies), computed four ways:
//   exact       exact::sincos_turns in double (posenc's Exact precision; the RoPE kernel's path)
//   double      cos/sin in double of the double angle pos * omega_i (omega rounded to double), then float
//   sincosf     CUDA's sincosf (full range reduction) of the float angle float(pos) * omega_f32
//   __sincosf   the hardware approximation of the same float angle (what --use_fast_math gives)
// over two position sets: 0 .. 2^20 - 1 (contexts up to 1M tokens) and 2^20 positions drawn in
// [0, 2^31 - 1]. For each: the time of a kernel that computes every value and folds its bits into one
// word per thread (compute only: writing the 512 MB table would hide the differences behind bandwidth),
// median of 9 runs after 2 warm-ups with CUDA events; and, in a second kernel, how many (pos, i) values
// have a cos or sin whose float bits differ from exact, and the largest difference in ulps.
//
// Usage: posenc_bench_sincos [--json FILE]    (prints a table; the JSON has the same rows)
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "exact/sincos_turns.hpp"
#include "posenc/rope.hpp"
#include "rope_freq.hpp"

namespace {

void ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "posenc_bench_sincos: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

enum Method : int { kExact, kDouble, kSincosf, kFastSincosf };
const char* const kMethodName[] = {"exact", "double", "sincosf", "__sincosf"};

struct Freqs {
  const double* w_hi;
  const double* w_lo;
  const double* omega;
  const float* omega_f32;
  int nfreq;
};

__device__ __forceinline__ int64_t position(int64_t r, bool far) {
  if (!far) return r;
  uint64_t z = static_cast<uint64_t>(r) + 0x9e3779b97f4a7c15ull;  // splitmix64
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<int64_t>(z & 0x7fffffffull);
}

template <int M>
__device__ __forceinline__ void angle_sincos(int64_t pos, int i, const Freqs& f, float& s, float& c) {
  if constexpr (M == kExact) {
    const posenc::exact::SinCosD r =
        posenc::exact::sincos_turns(static_cast<double>(pos), f.w_hi[i], f.w_lo[i]);
    s = static_cast<float>(r.sin);
    c = static_cast<float>(r.cos);
  } else if constexpr (M == kDouble) {
    double sd, cd;
    sincos(__dmul_rn(static_cast<double>(pos), f.omega[i]), &sd, &cd);
    s = static_cast<float>(sd);
    c = static_cast<float>(cd);
  } else if constexpr (M == kSincosf) {
    sincosf(__fmul_rn(static_cast<float>(pos), f.omega_f32[i]), &s, &c);
  } else {
    __sincosf(__fmul_rn(static_cast<float>(pos), f.omega_f32[i]), &s, &c);
  }
}

// Every value computed, its bits folded into one word per thread (so that nothing is optimised away).
template <int M>
__global__ void cost_kernel(Freqs f, int64_t rows, bool far, uint32_t* sink) {
  const int64_t n = rows * f.nfreq;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  uint32_t acc = 0;
  for (int64_t v = tid; v < n; v += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float s, c;
    angle_sincos<M>(position(v / f.nfreq, far), static_cast<int>(v % f.nfreq), f, s, c);
    acc = acc * 31u + (__float_as_uint(s) ^ (__float_as_uint(c) << 1));
  }
  sink[tid] = acc;
}

// Distance in ulps between two floats (ordered as integers, across zero too).
__device__ __forceinline__ uint64_t ulps(float a, float b) {
  auto ord = [](float x) {
    const int64_t i = static_cast<int32_t>(__float_as_uint(x));
    return i < 0 ? -(i & 0x7fffffff) : i;
  };
  const int64_t d = ord(a) - ord(b);
  return static_cast<uint64_t>(d < 0 ? -d : d);
}

// counts[0] += values whose cos or sin differs from exact; counts[1] = max ulps of either.
template <int M>
__global__ void diff_kernel(Freqs f, int64_t rows, bool far, unsigned long long* counts) {
  const int64_t n = rows * f.nfreq;
  unsigned long long differ = 0, worst = 0;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < n;
       v += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t pos = position(v / f.nfreq, far);
    const int i = static_cast<int>(v % f.nfreq);
    float s, c, se, ce;
    angle_sincos<M>(pos, i, f, s, c);
    angle_sincos<kExact>(pos, i, f, se, ce);
    if (__float_as_uint(s) != __float_as_uint(se) || __float_as_uint(c) != __float_as_uint(ce)) {
      ++differ;
      worst = max(worst, static_cast<unsigned long long>(max(ulps(s, se), ulps(c, ce))));
    }
  }
  if (differ != 0) {
    atomicAdd(&counts[0], differ);
    atomicMax(&counts[1], worst);
  }
}

struct Result {
  std::string method, positions;
  double ms = 0, gvalues_per_s = 0, differ_fraction = 0;
  unsigned long long differ = 0, max_ulps = 0;
};

template <int M>
Result measure(const Freqs& f, int64_t rows, bool far, uint32_t* sink, unsigned long long* counts, int grid,
               int block) {
  cudaEvent_t a, b;
  ok(cudaEventCreate(&a), "cudaEventCreate");
  ok(cudaEventCreate(&b), "cudaEventCreate");
  std::vector<float> ms;
  for (int run = 0; run < 11; ++run) {
    ok(cudaEventRecord(a), "cudaEventRecord");
    cost_kernel<M><<<grid, block>>>(f, rows, far, sink);
    ok(cudaGetLastError(), "cost_kernel launch");
    ok(cudaEventRecord(b), "cudaEventRecord");
    ok(cudaEventSynchronize(b), "cost_kernel");
    float t = 0;
    ok(cudaEventElapsedTime(&t, a, b), "cudaEventElapsedTime");
    if (run >= 2) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  ok(cudaMemset(counts, 0, 2 * sizeof(unsigned long long)), "cudaMemset");
  diff_kernel<M><<<grid, block>>>(f, rows, far, counts);
  ok(cudaGetLastError(), "diff_kernel launch");
  unsigned long long host[2] = {0, 0};
  ok(cudaMemcpy(host, counts, sizeof host, cudaMemcpyDeviceToHost), "diff_kernel");
  Result r;
  r.method = kMethodName[M];
  r.positions = far ? "random in [0, 2^31)" : "0 .. 2^20 - 1";
  r.ms = ms[ms.size() / 2];
  const double values = static_cast<double>(rows) * f.nfreq;
  r.gvalues_per_s = values / (r.ms * 1e-3) / 1e9;
  r.differ = host[0];
  r.max_ulps = host[1];
  r.differ_fraction = static_cast<double>(host[0]) / values;
  return r;
}

template <typename T>
T* upload(const std::vector<T>& v) {
  T* d = nullptr;
  ok(cudaMalloc(&d, v.size() * sizeof(T)), "cudaMalloc");
  ok(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy");
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  const char* json = nullptr;
  for (int a = 1; a < argc; ++a) {
    const std::string k = argv[a];
    if (k == "--json" && a + 1 < argc) {
      json = argv[++a];
    } else {
      std::fprintf(stderr, "usage: posenc_bench_sincos [--json FILE]\n");
      return 2;
    }
  }
  posenc::RopeConfig cfg;
  cfg.head_dim = 128;
  cfg.base = 500000.0;
  const posenc::detail::RopeFreqs rf = posenc::detail::rope_freqs(cfg, 0, "posenc_bench_sincos");
  std::vector<double> omega(rf.omega.size());
  for (size_t i = 0; i < omega.size(); ++i) omega[i] = rf.omega[i].hi;
  Freqs f{upload(rf.w_hi), upload(rf.w_lo), upload(omega), upload(rf.omega_f32),
          static_cast<int>(omega.size())};

  int device = 0, sms = 0;
  ok(cudaGetDevice(&device), "cudaGetDevice");
  ok(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  cudaDeviceProp prop{};
  ok(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  const int block = 256, grid = sms * 8;
  uint32_t* sink = nullptr;
  unsigned long long* counts = nullptr;
  ok(cudaMalloc(&sink, static_cast<size_t>(grid) * block * sizeof(uint32_t)), "cudaMalloc");
  ok(cudaMalloc(&counts, 2 * sizeof(unsigned long long)), "cudaMalloc");

  const int64_t rows = int64_t{1} << 20;
  std::vector<Result> results;
  for (bool far : {false, true}) {
    results.push_back(measure<kExact>(f, rows, far, sink, counts, grid, block));
    results.push_back(measure<kDouble>(f, rows, far, sink, counts, grid, block));
    results.push_back(measure<kSincosf>(f, rows, far, sink, counts, grid, block));
    results.push_back(measure<kFastSincosf>(f, rows, far, sink, counts, grid, block));
  }

  std::printf("cos/sin of pos * omega_i, Llama-3 frequencies (64), %lld positions x 64 = %lld values, %s\n",
              static_cast<long long>(rows), static_cast<long long>(rows * 64), prop.name);
  std::printf("%-10s %-22s %9s %10s %9s %14s %9s\n", "method", "positions", "ms", "Gvalue/s", "x exact",
              "differ/exact", "max ulps");
  for (size_t k = 0; k < results.size(); ++k) {
    const Result& r = results[k];
    const double exact_ms = results[k / 4 * 4].ms;
    std::printf("%-10s %-22s %9.4f %10.1f %9.2f %13.4f%% %9llu\n", r.method.c_str(), r.positions.c_str(),
                r.ms, r.gvalues_per_s, exact_ms / r.ms, 100.0 * r.differ_fraction, r.max_ulps);
  }
  if (json != nullptr) {
    const std::string tmp = std::string(json) + ".tmp";
    FILE* out = std::fopen(tmp.c_str(), "w");
    if (out == nullptr) {
      std::fprintf(stderr, "posenc_bench_sincos: cannot write %s\n", tmp.c_str());
      return 1;
    }
    std::fprintf(out, "{\"device\": \"%s\", \"values\": %lld, \"rows\": [\n", prop.name,
                 static_cast<long long>(rows * 64));
    for (size_t k = 0; k < results.size(); ++k) {
      const Result& r = results[k];
      std::fprintf(out,
                   "  {\"method\": \"%s\", \"positions\": \"%s\", \"ms\": %.6f, \"gvalues_per_s\": %.3f, "
                   "\"differ\": %llu, \"differ_fraction\": %.8f, \"max_ulps\": %llu}%s\n",
                   r.method.c_str(), r.positions.c_str(), r.ms, r.gvalues_per_s, r.differ, r.differ_fraction,
                   r.max_ulps, k + 1 < results.size() ? "," : "");
    }
    std::fprintf(out, "]}\n");
    if (std::fclose(out) != 0 || std::rename(tmp.c_str(), json) != 0) {
      std::fprintf(stderr, "posenc_bench_sincos: cannot write %s\n", json);
      return 1;
    }
  }
  return 0;
}
