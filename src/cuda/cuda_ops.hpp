// src/cuda/cuda_ops.hpp — the CUDA kernels behind the entry points, callable from plain C++ (no CUDA
// types here). Implemented in src/cuda/*.cu when POSENC_CUDA is on, by src/cuda/stub.cpp otherwise (every
// function then throws "posenc was built without CUDA").
//
// The entry points (src/*.cpp) check shapes, dtypes and positions as for the CPU, check every device view
// with DeviceViews (device memory of one GPU, aligned to its element; outputs disjoint from the inputs
// unless exactly in place is detail::check_disjoint, for every device), then call one of the functions
// below. Each runs on the GPU of its first
// output view, on posenc::cuda_stream() (posenc/cuda.hpp), and returns without waiting for the kernels
// (except for the id check's result, see set_check_ids()). Per-call data (positions,
// frequencies, buckets) goes to the GPU with one cudaMemcpyAsync from host memory into a stream-ordered
// allocation (cudaMallocAsync) freed after the launch; positions that are offsets (pos = offset[b] + t)
// go as kernel arguments instead. Every launch is checked; CUDA errors become posenc::Error.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "posenc/alibi.hpp"
#include "posenc/precision.hpp"
#include "posenc/rope.hpp"
#include "posenc/t5_bias.hpp"
#include "posenc/tensor.hpp"

namespace posenc::detail {
struct RopeFreqs;
struct SinusoidalPlan;
}  // namespace posenc::detail

namespace posenc::detail::cuda {

// Checks of the Device::CUDA views of one call. Errors name the argument: "<name>.device" (no CUDA in
// this build, no usable device, host memory, another GPU than the first view's), "<name>.data"
// (misaligned), "<name>" (overlap).
class DeviceViews {
 public:
  explicit DeviceViews(const char* where) : where_(where) {}
  // v's memory is device (or managed) memory on the GPU of the first view added, aligned to its element
  // size. Empty views (no elements) are accepted as they are.
  DeviceViews& add(const char* name, const TensorView& v);

 private:
  const char* where_;
  int device_ = -1;
  const char* first_ = nullptr;
};

// RoPE on q and k in one launch: out = rotation of x by the token's position (sin negated when
// sign < 0). Outputs equal to their inputs are in place (pass-through dims then untouched).
struct RopeCall {
  TensorView q, q_out, k, k_out;  // [B, T, H, D]; k.data == nullptr: q only
  const RopeFreqs* freqs = nullptr;
  Precision precision = Precision::Exact;
  PairLayout layout = PairLayout::HalfSplit;
  int64_t rot = 0;
  float sign = 1.0f;
  const std::vector<int64_t>* pos = nullptr;  // [B*T], resolved and checked
};
void rope(const char* where, const RopeCall& c);

// One pass over the tokens n = b*T + t of out [B, T, C] (the CPU's combine_rows):
//   E != nullptr: out[n] = E[ids[n]] * scale + P[pos[n]]    (ids: a device view [B, T], checked here
//                                                            against [0, V) unless set_check_ids(false))
//   accumulate:   out[n] = out[n] + P[pos[n]]
//   otherwise:    out[n] = P[pos[n]]
// P is `table` (a device view [P, C] indexed by position) or, with `plan`, the sinusoidal rows of the
// call's distinct positions, computed on the GPU first. fp32 math in that order, one rounding.
struct CombineCall {
  TensorView out;
  const TensorView* E = nullptr;
  const TensorView* ids = nullptr;
  float scale = 1.0f;
  const TensorView* table = nullptr;
  const SinusoidalPlan* plan = nullptr;
  bool accumulate = false;
  const std::vector<int64_t>* pos = nullptr;  // [B*T], resolved and checked
};
void combine_rows(const char* where, const CombineCall& c);

// dst[k, :] += scale * (sum of src[n, :] over tokens n with key k, in increasing n, in fp32): the CPU's
// scatter_add_rows, same bits. Keys from device ids [B, T] (checked against [0, K)) or host keys [B*T].
struct ScatterCall {
  TensorView dst;  // [K, C]
  TensorView src;  // [B, T, C]
  const TensorView* ids = nullptr;
  const std::vector<int64_t>* keys = nullptr;
  float scale = 1.0f;
};
void scatter_add_rows(const char* where, const ScatterCall& c);

// out[n, :] = PE(pos[n], :) (the CPU's sinusoidal_rows; same bits).
void sinusoidal_rows(const char* where, const SinusoidalPlan& plan, std::span<const int64_t> pos,
                     TensorView out);

// out [H, Tq, Tk]: ALiBi (same bits as the CPU).
void alibi_bias(const char* where, TensorView out, const AlibiConfig& cfg, const std::vector<double>& slopes,
                std::span<const int64_t> q, std::span<const int64_t> k);

// T5 bias: out [H, Tq, Tk] = table [N, H] by bucket (same bits); dtable += dout summed by bucket
// (deterministic; sums in another fixed order than the CPU's).
void t5_bias_forward(const char* where, TensorView out, const TensorView& table, const T5BiasConfig& cfg,
                     std::span<const int64_t> q, std::span<const int64_t> k);
void t5_bias_backward(const char* where, TensorView dtable, const TensorView& dout, const T5BiasConfig& cfg,
                      std::span<const int64_t> q, std::span<const int64_t> k);

// Device ids (embed) are checked against [0, V) on the GPU before the kernels that use them, which write
// nothing when an id is out of range; the host waits for the check's result only after queuing them
// (common.cuh, IdCheck), so the GPU does not idle while it waits. The error names ids[b, t] as on the
// CPU, and the outputs are left as they were. Off (per thread): no check and no wait; an out-of-range id
// then reads (or accumulates into) a clamped row. For benchmarks that measure the cost of the check.
void set_check_ids(bool on) noexcept;
bool check_ids() noexcept;

}  // namespace posenc::detail::cuda
