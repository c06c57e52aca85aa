// src/cuda/common.cuh — what the CUDA kernels share: error checks, the call's device and stream, per-call
// device scratch, storage conversions with the bits of posenc/dtype.hpp, 16-byte vector access, and the
// token -> position map.
//
// All .cu files of posenc are compiled with -fmad=false: no contraction of a * b + c into fma anywhere,
// so fp32 and fp64 expressions round exactly as the CPU code (built with -ffp-contract=off) does.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/conv.hpp"
#include "posenc/cuda.hpp"
#include "posenc/dtype.hpp"
#include "posenc/error.hpp"
#include "posenc/tensor.hpp"

namespace posenc::detail::cuda {

// ---- errors -----------------------------------------------------------------------------------------------
[[noreturn]] void throw_cuda(const char* where, const char* what, cudaError_t e);
inline void check(cudaError_t e, const char* where, const char* what) {
  if (e != cudaSuccess) throw_cuda(where, what, e);
}
// After a launch: the launch's own error (bad configuration, no kernel image for this GPU, ...).
inline void check_launch(const char* where, const char* kernel) {
  check(cudaGetLastError(), where, kernel);
}

// ---- the call's device and stream ----------------------------------------------------------------------
// Makes the GPU holding `ptr` current for the scope (restoring the previous one) and picks the stream.
class CallScope {
 public:
  CallScope(const char* where, const void* ptr);
  ~CallScope();
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;
  cudaStream_t stream() const { return stream_; }
  const char* where() const { return where_; }
  int device() const { return device_; }  // the device the call runs on (current during the call)

 private:
  const char* where_;
  int old_device_ = -1, device_ = -1;
  cudaStream_t stream_ = nullptr;
};

// ---- per-call scratch -------------------------------------------------------------------------------------
// Device memory for one call, stream-ordered: allocated with cudaMallocAsync on the call's stream and
// freed with cudaFreeAsync on it when the object goes out of scope (after the launches were queued).
class Scratch {
 public:
  Scratch(const CallScope& s, size_t bytes);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T = void>
  T* get() const {
    return static_cast<T*>(ptr_);
  }

 private:
  const CallScope& scope_;
  void* ptr_ = nullptr;
};

// Host data packed into one upload: add() returns the offset of each part (16-byte aligned).
class Upload {
 public:
  template <typename T>
  size_t add(const T* data, size_t n) {
    const size_t off = (bytes_.size() + 15) / 16 * 16;
    bytes_.resize(off + n * sizeof(T));
    if (n != 0) std::memcpy(bytes_.data() + off, data, n * sizeof(T));
    return off;
  }
  template <typename T>
  size_t add(const std::vector<T>& v) {
    return add(v.data(), v.size());
  }
  size_t size() const { return bytes_.size(); }
  // Queues the copy of the packed data into dst (scratch of at least size() bytes).
  void to_device(const CallScope& s, Scratch& dst) const;
  const unsigned char* data() const { return bytes_.data(); }

 private:
  std::vector<unsigned char> bytes_;
};

// ---- storage access ----------------------------------------------------------------------------------------
template <DType T>
struct Dev;
template <>
struct Dev<DType::F32> {
  using storage = float;
  __device__ static float load(storage v) { return v; }
  __device__ static storage store(float v) { return v; }
};
template <>
struct Dev<DType::F16> {
  using storage = uint16_t;
  __device__ static float load(storage v) { return conv::f16_bits_to_f32(v); }
  __device__ static storage store(float v) { return conv::f32_to_f16_bits(v); }
};
template <>
struct Dev<DType::BF16> {
  using storage = uint16_t;
  __device__ static float load(storage v) { return conv::bf16_bits_to_f32(v); }
  __device__ static storage store(float v) { return conv::f32_to_bf16_bits(v); }
};

// N elements of type S as one aligned access (16, 8, 4 or 2 bytes, or N scalar ones).
template <typename S, int N>
struct alignas(sizeof(S) * N <= 16 ? sizeof(S) * N : 16) Pack {
  S v[N];
};
template <typename S, int N>
__device__ __forceinline__ Pack<S, N> load_pack(const S* p) {
  return *reinterpret_cast<const Pack<S, N>*>(p);
}
template <typename S, int N>
__device__ __forceinline__ void store_pack(S* p, const Pack<S, N>& v) {
  *reinterpret_cast<Pack<S, N>*>(p) = v;
}

// The vector width (elements per 16-byte access) of a storage type.
template <DType T>
constexpr int kVec = 16 / static_cast<int>(sizeof(typename Dev<T>::storage));

// fp32 products and sums, rounded, never fused (on top of -fmad=false).
__device__ __forceinline__ float mul(float a, float b) {
  return __fmul_rn(a, b);
}
__device__ __forceinline__ float add(float a, float b) {
  return __fadd_rn(a, b);
}
__device__ __forceinline__ float sub(float a, float b) {
  return __fsub_rn(a, b);
}

// ---- positions --------------------------------------------------------------------------------------------
// The position of token n = b*T + t: per_token[n] when given, else offsets[b] + t (device array) when
// given, else base + t. Positions fit in int32 (<= 2^31 - 1).
struct PosMap {
  const int32_t* per_token = nullptr;
  const int64_t* offsets = nullptr;
  int64_t base = 0;
  int64_t T = 1;
  __device__ __forceinline__ int64_t operator()(int64_t n) const {
    if (per_token != nullptr) return per_token[n];
    const int64_t b = n / T, t = n - b * T;
    return (offsets != nullptr ? offsets[b] : base) + t;
  }
};

// Describes host positions [B*T] for the GPU: plain offsets when pos[b*T + t] = off[b] + t (then nothing
// per token is uploaded; one offset for all sequences is a kernel argument), else per-token int32.
// `shift` is subtracted from every position (a table whose row 0 is position `shift`).
struct PosPlan {
  bool offsets = false, uniform = false;
  int64_t base = 0;
  std::vector<int64_t> per_seq;  // offsets, B entries (offsets && !uniform)
  std::vector<int32_t> per_token;
  size_t seq_off = 0, tok_off = 0;  // offsets in the Upload
  void plan(const std::vector<int64_t>& pos, int64_t B, int64_t T, int64_t shift, Upload& up);
  PosMap map(const void* device_base, int64_t T) const;
};

// The check of device ids [B, T] (i32/i64) against [0, V), arranged so that the GPU does not wait for the
// host: the check (a small kernel, or the kernel that reads the ids anyway) writes the first bad token
// into a device word, its result is copied to pinned host memory behind an event, the kernels that use
// the ids are queued next and write nothing when the word says an id is bad, and only then does the host
// wait, for the event alone, while the GPU goes on with the queued kernels. A throwing call so leaves its
// outputs as they were. The error names ids[b, t], its value and "0 .. V-1 (<what> = V)".
//   IdCheck check(s, ids, V, "vocabulary size V");
//   check.run_kernel();            // or a kernel of the caller's that calls note_bad_id(check.bad(), n)
//   check.result_to_host();
//   ... launches with p.bad = check.bad() ...
//   check.finish();                // throws posenc::Error when an id is out of range
// With set_check_ids(false), or no tokens, nothing is checked or waited for and bad() is nullptr.
class IdCheck {
 public:
  IdCheck(const CallScope& s, const TensorView& ids, int64_t V, const char* what);
  ~IdCheck();
  IdCheck(const IdCheck&) = delete;
  IdCheck& operator=(const IdCheck&) = delete;
  // The device word: the first token n = b*T + t whose id is outside [0, V), or ~0 (all in range).
  unsigned long long* bad() const { return flag_.get<unsigned long long>(); }
  void run_kernel();
  void result_to_host();
  void finish();

 private:
  const CallScope& s_;
  const TensorView& ids_;
  int64_t V_;
  const char* what_;
  Scratch flag_;
  cudaEvent_t done_ = nullptr;
  bool finished_ = false;
};

// In a kernel that reads ids: records token n as bad (the smallest such n wins).
__device__ __forceinline__ void note_bad_id(unsigned long long* bad, int64_t n) {
  if (bad != nullptr) atomicMin(bad, static_cast<unsigned long long>(n));
}
// In a kernel that writes with the ids: true when the check found a bad id (the kernel then writes
// nothing). The word was written by an earlier kernel on the stream, so it is read-only here.
__device__ __forceinline__ bool some_id_bad(const unsigned long long* bad) {
  return bad != nullptr && __ldg(bad) != ~0ull;
}

// Grid size for n work items of `block` threads (at least 1 block, at most gridDim.x's 2^31 - 1: a
// larger count would wrap and leave outputs unwritten).
inline unsigned blocks_for(int64_t n, int64_t per_block) {
  const int64_t b = (n + per_block - 1) / per_block;
  if (b > INT32_MAX)
    throw Error("posenc (CUDA launch)", "work items", std::to_string(n),
                "<= " + std::to_string(int64_t{INT32_MAX} * per_block) + " for one launch");
  return static_cast<unsigned>(b < 1 ? 1 : b);
}

}  // namespace posenc::detail::cuda
