// posenc/cuda.hpp — the CUDA side of posenc: availability and the stream its kernels run on.
//
// Every entry point (rope_forward, embed_forward, learned_*, sinusoidal_*, alibi_bias, t5_bias_*) runs on
// the GPU when its views are Device::CUDA (all of them: mixing devices is an error naming the argument).
// Device views must point to device (or managed) memory of one GPU; the call runs on that GPU. Positions
// are resolved on the host (posenc/positions.hpp) and copied to the GPU per call when they are not plain
// offsets; ids, tables and activations stay on the GPU. Results are bit-identical to the CPU kernels
// except the T5 bias backward (same sums in another fixed order: deterministic, within float rounding).
// Built without CUDA (CMake option POSENC_CUDA=OFF), a Device::CUDA view is a posenc::Error
// ("posenc was built without CUDA").
#pragma once

namespace posenc {

// True when posenc was built with its CUDA kernels.
bool cuda_built() noexcept;
// True when posenc was built with CUDA and the runtime reports at least one usable device.
bool cuda_available() noexcept;

// The CUDA stream (a cudaStream_t) posenc's kernels and copies use in the calling thread; nullptr (the
// default) is the legacy default stream, which PyTorch's default stream also is. Per thread.
void set_cuda_stream(void* stream) noexcept;
void* cuda_stream() noexcept;

// Sets the stream for a scope and restores the previous one.
class CudaStreamGuard {
 public:
  explicit CudaStreamGuard(void* stream) noexcept : old_(cuda_stream()) { set_cuda_stream(stream); }
  ~CudaStreamGuard() { set_cuda_stream(old_); }
  CudaStreamGuard(const CudaStreamGuard&) = delete;
  CudaStreamGuard& operator=(const CudaStreamGuard&) = delete;

 private:
  void* old_;
};

}  // namespace posenc
