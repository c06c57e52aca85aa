// The host side shared by the CUDA kernels: errors, device views, the call's device and stream,
// scratch, position plans, and the id check.
#include <cuda_runtime.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/cuda_ops.hpp"

namespace posenc {

namespace {
thread_local void* g_stream = nullptr;
thread_local bool g_check_ids = true;
}  // namespace

bool cuda_built() noexcept {
  return true;
}

bool cuda_available() noexcept {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // not sticky: clear it
    return false;
  }
  return n > 0;
}

void set_cuda_stream(void* stream) noexcept {
  g_stream = stream;
}
void* cuda_stream() noexcept {
  return g_stream;
}

namespace detail::cuda {

void set_check_ids(bool on) noexcept {
  g_check_ids = on;
}
bool check_ids() noexcept {
  return g_check_ids;
}

void throw_cuda(const char* where, const char* what, cudaError_t e) {
  cudaGetLastError();  // clear a non-sticky error so later calls start clean
  throw Error(where, std::string("CUDA status of ") + what,
              std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")", "cudaSuccess");
}

// ---- DeviceViews ---------------------------------------------------------------------------------------------
DeviceViews& DeviceViews::add(const char* name, const TensorView& v) {
  if (v.numel() == 0) return *this;
  const std::string n(name);
  cudaPointerAttributes a{};
  const cudaError_t e = cudaPointerGetAttributes(&a, v.data);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Error(where_, n + ".device", "cuda",
                std::string("cpu: no usable CUDA device (") + cudaGetErrorName(e) + ": " +
                    cudaGetErrorString(e) + ")");
  }
  if (a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged)
    throw Error(where_, n + ".device", "cuda, but " + n + ".data is host memory",
                "cpu for host memory, cuda for device or managed memory");
  if (device_ < 0) {
    device_ = a.device;
    first_ = name;
  } else if (a.device != device_) {
    throw Error(where_, n + ".device", "cuda:" + std::to_string(a.device),
                "cuda:" + std::to_string(device_) + " (the GPU of " + first_ + ")");
  }
  const int64_t es = dtype_size(v.dtype);
  if (reinterpret_cast<uintptr_t>(v.data) % static_cast<uintptr_t>(es) != 0)
    throw Error(where_, n + ".data", "an address that is not a multiple of " + std::to_string(es) + " bytes",
                "aligned to the element size of " + std::string(dtype_name(v.dtype)));
  return *this;
}

// ---- CallScope, Scratch, Upload -------------------------------------------------------------------------------
namespace {
// The per-call scratch comes from the device's default memory pool (cudaMallocAsync). Its default release
// threshold (0) hands memory back to the driver at every synchronisation, so a call after a sync would map
// new memory; keep up to 256 MiB (raised once per device, never lowered).
void keep_pool_memory(int device) {
  static std::mutex m;
  static std::vector<bool> done;
  const std::lock_guard<std::mutex> lock(m);
  if (device < 0) return;
  if (static_cast<size_t>(device) >= done.size()) done.resize(static_cast<size_t>(device) + 1, false);
  if (done[static_cast<size_t>(device)]) return;
  done[static_cast<size_t>(device)] = true;
  cudaMemPool_t pool = nullptr;
  if (cudaDeviceGetDefaultMemPool(&pool, device) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  uint64_t threshold = 0;
  if (cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold) == cudaSuccess &&
      threshold < (uint64_t{256} << 20)) {
    threshold = uint64_t{256} << 20;
    cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold);
  }
  cudaGetLastError();
}
}  // namespace

CallScope::CallScope(const char* where, const void* ptr) : where_(where) {
  check(cudaGetDevice(&old_device_), where, "cudaGetDevice");
  device_ = old_device_;
  if (ptr != nullptr) {
    cudaPointerAttributes a{};
    check(cudaPointerGetAttributes(&a, ptr), where, "cudaPointerGetAttributes");
    if (a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged) device_ = a.device;
  }
  stream_ = static_cast<cudaStream_t>(cuda_stream());
  // A call copies positions, frequencies and buckets from host memory that it frees on return, and the
  // embedding's id check waits for the GPU: a CUDA graph captured around it would replay freed memory
  // (or the capture fails at the wait). Refused before anything is queued.
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(stream_, &capture), where, "cudaStreamIsCapturing");
  if (capture != cudaStreamCaptureStatusNone)
    throw Error(where, "stream", "being captured into a CUDA graph",
                "a stream outside graph capture (posenc calls copy host data and may wait; they cannot be "
                "replayed from a graph)");
#if CUDART_VERSION >= 12080
  // A stream belongs to one device: a created stream of another GPU than the tensors' failed with
  // cudaErrorInvalidResourceHandle (the LibTorch adapter takes the tensors' device's stream; this is for
  // C++ callers of set_cuda_stream). The legacy and per-thread default streams serve every device.
  if (stream_ != nullptr && stream_ != cudaStreamLegacy && stream_ != cudaStreamPerThread) {
    int stream_device = -1;
    check(cudaStreamGetDevice(stream_, &stream_device), where, "cudaStreamGetDevice");
    if (stream_device != device_)
      throw Error(where, "stream", "a stream of cuda:" + std::to_string(stream_device),
                  "a stream of cuda:" + std::to_string(device_) + ", the device of the call's tensors");
  }
#endif
  if (device_ != old_device_) check(cudaSetDevice(device_), where, "cudaSetDevice");
  keep_pool_memory(device_);
}

CallScope::~CallScope() {
  if (device_ != old_device_) cudaSetDevice(old_device_);
}

Scratch::Scratch(const CallScope& s, size_t bytes) : scope_(s) {
  if (bytes == 0) return;
  check(cudaMallocAsync(&ptr_, bytes, s.stream()), s.where(), "cudaMallocAsync (per-call scratch)");
}

Scratch::~Scratch() {
  if (ptr_ != nullptr) cudaFreeAsync(ptr_, scope_.stream());
}

void Upload::to_device(const CallScope& s, Scratch& dst) const {
  if (bytes_.empty()) return;
  check(cudaMemcpyAsync(dst.get(), bytes_.data(), bytes_.size(), cudaMemcpyHostToDevice, s.stream()),
        s.where(), "cudaMemcpyAsync (per-call data to the GPU)");
}

// ---- PosPlan --------------------------------------------------------------------------------------------------
void PosPlan::plan(const std::vector<int64_t>& pos, int64_t B, int64_t T, int64_t shift, Upload& up) {
  offsets = true;
  per_seq.assign(static_cast<size_t>(B), 0);
  for (int64_t b = 0; b < B && offsets; ++b) {
    const int64_t first = T > 0 ? pos[static_cast<size_t>(b * T)] : 0;
    per_seq[static_cast<size_t>(b)] = first - shift;
    for (int64_t t = 1; t < T; ++t)
      if (pos[static_cast<size_t>(b * T + t)] != first + t) {
        offsets = false;
        break;
      }
  }
  if (offsets) {
    uniform = true;
    for (int64_t b = 1; b < B; ++b)
      if (per_seq[static_cast<size_t>(b)] != per_seq[0]) uniform = false;
    base = B > 0 ? per_seq[0] : 0;
    if (!uniform) seq_off = up.add(per_seq);
    return;
  }
  per_token.resize(pos.size());
  for (size_t n = 0; n < pos.size(); ++n) per_token[n] = static_cast<int32_t>(pos[n] - shift);
  tok_off = up.add(per_token);
}

PosMap PosPlan::map(const void* device_base, int64_t T) const {
  PosMap m;
  m.T = T < 1 ? 1 : T;
  m.base = base;
  const auto* p = static_cast<const unsigned char*>(device_base);
  if (!offsets) {
    m.per_token = reinterpret_cast<const int32_t*>(p + tok_off);
  } else if (!uniform) {
    m.offsets = reinterpret_cast<const int64_t*>(p + seq_off);
  }
  return m;
}

// ---- the id check ---------------------------------------------------------------------------------------------
namespace {
template <typename I>
__global__ void first_bad_id_kernel(const I* ids, int64_t s0, int64_t s1, int64_t B, int64_t T, int64_t V,
                                    unsigned long long* bad) {
  const int64_t N = B * T;
  for (int64_t n = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; n < N;
       n += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = n / T, t = n - b * T;
    const int64_t v = static_cast<int64_t>(ids[b * s0 + t * s1]);
    if (v < 0 || v >= V) note_bad_id(bad, n);
  }
}

// Pinned host memory for the check's result, one word per thread, kept for the thread's later calls
// (pinned allocations cost far more than a call).
struct PinnedWord {
  unsigned long long* p = nullptr;
  ~PinnedWord() {
    if (p != nullptr) cudaFreeHost(p);
  }
};
unsigned long long* pinned_word(const char* where) {
  thread_local PinnedWord w;
  if (w.p == nullptr)  // (portable: the thread's calls may run on several GPUs)
    check(cudaHostAlloc(&w.p, sizeof *w.p, cudaHostAllocPortable), where, "cudaHostAlloc (id check result)");
  return w.p;
}
}  // namespace

IdCheck::IdCheck(const CallScope& s, const TensorView& ids, int64_t V, const char* what)
    : s_(s),
      ids_(ids),
      V_(V),
      what_(what),
      flag_(s, check_ids() && ids.numel() > 0 ? sizeof(unsigned long long) : 0) {
  if (bad() == nullptr) return;
  check(cudaMemsetAsync(bad(), 0xff, sizeof(unsigned long long), s.stream()), s.where(),
        "cudaMemsetAsync (id check)");
}

IdCheck::~IdCheck() {
  if (done_ == nullptr) return;
  // A call that failed between result_to_host() and finish(): the copy into this thread's pinned word
  // must land before a later call reads that word.
  if (!finished_) cudaEventSynchronize(done_);
  cudaEventDestroy(done_);
}

void IdCheck::run_kernel() {
  if (bad() == nullptr) return;
  const int64_t B = ids_.size(0), T = ids_.size(1);
  const unsigned grid = std::min(blocks_for(B * T, 256), 1024u);
  if (ids_.dtype == DType::I32)
    first_bad_id_kernel<<<grid, 256, 0, s_.stream()>>>(static_cast<const int32_t*>(ids_.data), ids_.stride(0),
                                                       ids_.stride(1), B, T, V_, bad());
  else
    first_bad_id_kernel<<<grid, 256, 0, s_.stream()>>>(static_cast<const int64_t*>(ids_.data), ids_.stride(0),
                                                       ids_.stride(1), B, T, V_, bad());
  check_launch(s_.where(), "first_bad_id_kernel");
}

void IdCheck::result_to_host() {
  if (bad() == nullptr) return;
  check(cudaMemcpyAsync(pinned_word(s_.where()), bad(), sizeof(unsigned long long), cudaMemcpyDeviceToHost,
                        s_.stream()),
        s_.where(), "cudaMemcpyAsync (id check result)");
  check(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), s_.where(), "cudaEventCreate (id check)");
  check(cudaEventRecord(done_, s_.stream()), s_.where(), "cudaEventRecord (id check)");
}

void IdCheck::finish() {
  if (done_ == nullptr) return;
  finished_ = true;
  check(cudaEventSynchronize(done_), s_.where(), "cudaEventSynchronize (id check)");
  const unsigned long long first = *pinned_word(s_.where());
  if (first == ~0ull) return;
  const auto n = static_cast<int64_t>(first);
  const int64_t T = ids_.size(1), b = n / T, t = n - b * T;
  const char* p = static_cast<const char*>(ids_.data) +
                  (b * ids_.stride(0) + t * ids_.stride(1)) * dtype_size(ids_.dtype);
  int64_t value = 0;
  if (ids_.dtype == DType::I32) {
    int32_t v = 0;
    check(cudaMemcpy(&v, p, sizeof v, cudaMemcpyDeviceToHost), s_.where(), "cudaMemcpy (id check)");
    value = v;
  } else {
    check(cudaMemcpy(&value, p, sizeof value, cudaMemcpyDeviceToHost), s_.where(), "cudaMemcpy (id check)");
  }
  throw Error(s_.where(), "ids[" + std::to_string(b) + ", " + std::to_string(t) + "]", std::to_string(value),
              "0 .. " + std::to_string(V_ - 1) + " (" + what_ + " = " + std::to_string(V_) + ")");
}

}  // namespace detail::cuda
}  // namespace posenc
