// posenc built without CUDA (POSENC_CUDA=OFF or no nvcc): the CUDA entry points exist and refuse
// Device::CUDA views with a clear error naming the view.
#include <string>

#include "cuda/cuda_ops.hpp"
#include "posenc/cuda.hpp"
#include "posenc/error.hpp"

namespace posenc {

bool cuda_built() noexcept {
  return false;
}
bool cuda_available() noexcept {
  return false;
}

namespace {
thread_local void* g_stream = nullptr;
thread_local bool g_check_ids = true;

[[noreturn]] void no_cuda(const char* where, const std::string& name) {
  throw Error(where, name + ".device", "cuda", "cpu (posenc was built without CUDA)");
}
}  // namespace

void set_cuda_stream(void* stream) noexcept {
  g_stream = stream;
}
void* cuda_stream() noexcept {
  return g_stream;
}

namespace detail::cuda {

DeviceViews& DeviceViews::add(const char* name, const TensorView&) {
  no_cuda(where_, name);
}
void rope(const char* where, const RopeCall&) {
  no_cuda(where, "q");
}
void combine_rows(const char* where, const CombineCall&) {
  no_cuda(where, "out");
}
void scatter_add_rows(const char* where, const ScatterCall&) {
  no_cuda(where, "dst");
}
void sinusoidal_rows(const char* where, const SinusoidalPlan&, std::span<const int64_t>, TensorView) {
  no_cuda(where, "out");
}
void alibi_bias(const char* where, TensorView, const AlibiConfig&, const std::vector<double>&,
                std::span<const int64_t>, std::span<const int64_t>) {
  no_cuda(where, "out");
}
void t5_bias_forward(const char* where, TensorView, const TensorView&, const T5BiasConfig&,
                     std::span<const int64_t>, std::span<const int64_t>) {
  no_cuda(where, "out");
}
void t5_bias_backward(const char* where, TensorView, const TensorView&, const T5BiasConfig&,
                      std::span<const int64_t>, std::span<const int64_t>) {
  no_cuda(where, "dtable");
}
void set_check_ids(bool on) noexcept {
  g_check_ids = on;
}
bool check_ids() noexcept {
  return g_check_ids;
}

}  // namespace detail::cuda
}  // namespace posenc
