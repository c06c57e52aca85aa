// The deterministic gradient scatter on the GPU (dE, dPE, d of a learned table): the CPU's algorithm
// (cpu/scatter_grad.cpp), so the same bits.
//   1. keys (int32) per token: ids from the device view (checked on the way, see IdCheck), or host keys
//      uploaded;
//   2. tokens sorted by key with a stable radix sort (CUB) of (key, token index): within a key, tokens
//      stay in increasing order;
//   3. one block row per group start: the threads take V channels each and sum the group's tokens in
//      that order in fp32, then dst[key] = dst[key] + scale * sum (one rounding to dst's dtype).
// Only rows that occur are touched. A group is summed by one thread per channel chunk, sequentially, as
// the CPU does: very frequent keys make long serial sums (a key on every token of [8, 4096] is 32768
// steps), the price of bit-identical sums.
#include <cuda_runtime.h>

#include <algorithm>
#include <cub/device/device_radix_sort.cuh>
#include <optional>

#include "cuda/common.cuh"
#include "cuda/cuda_ops.hpp"

namespace posenc::detail::cuda {

namespace {

template <typename I>
__global__ void keys_from_ids(const I* ids, int64_t s0, int64_t s1, int64_t B, int64_t T, int64_t K,
                              int32_t* keys, int32_t* order, unsigned long long* bad) {
  const int64_t N = B * T;
  for (int64_t n = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; n < N;
       n += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = n / T, t = n - b * T;
    int64_t v = static_cast<int64_t>(ids[b * s0 + t * s1]);
    if (v < 0 || v >= K) {
      note_bad_id(bad, n);  // (the id check: nothing is scattered then)
      v = v < 0 ? 0 : K - 1;
    }
    keys[n] = static_cast<int32_t>(v);
    order[n] = static_cast<int32_t>(n);
  }
}

__global__ void iota_kernel(int32_t* order, int64_t N) {
  for (int64_t n = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; n < N;
       n += static_cast<int64_t>(gridDim.x) * blockDim.x)
    order[n] = static_cast<int32_t>(n);
}

struct ScatterParams {
  void* dst = nullptr;
  int64_t ds0 = 0, ds1 = 1;
  const void* src = nullptr;
  int64_t ss0 = 0, ss1 = 0, ss2 = 1;
  int64_t N = 0, T = 1, C = 0;
  const int32_t* keys = nullptr;   // sorted
  const int32_t* order = nullptr;  // token of each sorted slot
  float scale = 1.0f;
  const unsigned long long* bad = nullptr;  // the id check's word (IdCheck): nothing is written if set
};

template <DType D, DType S, int V>
__global__ void __launch_bounds__(256) scatter_kernel(const ScatterParams p) {
  using DS = typename Dev<D>::storage;
  using SS = typename Dev<S>::storage;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  if (j >= p.N || some_id_bad(p.bad)) return;
  const int32_t key = p.keys[j];
  if (j > 0 && p.keys[j - 1] == key) return;  // not the first token of its group
  DS* d = static_cast<DS*>(p.dst) + static_cast<int64_t>(key) * p.ds0;
  const int64_t chunks = p.C / V;
  for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
    const int64_t e0 = c * V;
    float acc[V];
#pragma unroll
    for (int e = 0; e < V; ++e) acc[e] = 0.0f;
    for (int64_t u = j; u < p.N && p.keys[u] == key; ++u) {
      const int64_t n = p.order[u];
      const int64_t b = n / p.T, t = n - b * p.T;
      const SS* s = static_cast<const SS*>(p.src) + b * p.ss0 + t * p.ss1;
      if constexpr (V == 1) {
        acc[0] = add(acc[0], Dev<S>::load(s[e0 * p.ss2]));
      } else {
        const Pack<SS, V> v = load_pack<SS, V>(s + e0);
#pragma unroll
        for (int e = 0; e < V; ++e) acc[e] = add(acc[e], Dev<S>::load(v.v[e]));
      }
    }
    if constexpr (V == 1) {
      d[e0 * p.ds1] = Dev<D>::store(add(Dev<D>::load(d[e0 * p.ds1]), mul(p.scale, acc[0])));
    } else {
      Pack<DS, V> r = load_pack<DS, V>(d + e0);
#pragma unroll
      for (int e = 0; e < V; ++e) r.v[e] = Dev<D>::store(add(Dev<D>::load(r.v[e]), mul(p.scale, acc[e])));
      store_pack<DS, V>(d + e0, r);
    }
  }
}

template <DType D, DType S, int V>
void launch(const CallScope& s, const ScatterParams& p) {
  const int64_t chunks = std::max<int64_t>(1, p.C / V);
  const int bx = static_cast<int>(std::min<int64_t>(256, (chunks + 31) / 32 * 32));
  const int by = std::max(1, 256 / bx);
  scatter_kernel<D, S, V><<<blocks_for(p.N, by), dim3(bx, by), 0, s.stream()>>>(p);
  check_launch(s.where(), "scatter_kernel");
}

bool rows_ok(const void* data, DType t, int64_t row_stride, int64_t col_stride, int64_t C, int V) {
  if (col_stride != 1 && C > 1) return false;
  if (row_stride % V != 0) return false;
  return reinterpret_cast<uintptr_t>(data) % static_cast<uintptr_t>(V * dtype_size(t)) == 0;
}

template <DType D, DType S>
void pick(const CallScope& s, const ScatterParams& p, DType dt, DType st) {
  constexpr int VW = kVec<D> < kVec<S> ? kVec<D> : kVec<S>;
  const bool vec = p.C % VW == 0 && rows_ok(p.dst, dt, p.ds0, p.ds1, p.C, VW) &&
                   rows_ok(p.src, st, p.ss0, p.ss2, p.C, VW) && rows_ok(p.src, st, p.ss1, p.ss2, p.C, VW);
  if (vec)
    launch<D, S, VW>(s, p);
  else
    launch<D, S, 1>(s, p);
}

template <DType D>
void dispatch_src(const CallScope& s, const ScatterParams& p, DType dt, DType st) {
  switch (st) {
    case DType::F16:
      return pick<D, DType::F16>(s, p, dt, st);
    case DType::BF16:
      return pick<D, DType::BF16>(s, p, dt, st);
    default:
      return pick<D, DType::F32>(s, p, dt, st);
  }
}

int bits_for(int64_t max_key) {
  int b = 1;
  while (b < 31 && (int64_t{1} << b) <= max_key) ++b;
  return b;
}

}  // namespace

void scatter_add_rows(const char* where, const ScatterCall& c) {
  const TensorView& src = c.src;
  const int64_t B = src.size(0), T = src.size(1), N = B * T, C = src.size(2), K = c.dst.size(0);
  if (N == 0 || C == 0) return;
  // Token numbers are sorted as int32 (CUB's pairs): more tokens would wrap and scatter to wrong rows.
  if (N > INT32_MAX)
    throw Error(where, "tokens (B * T)", std::to_string(N),
                "<= 2147483647 on the GPU (the backward sorts int32 token numbers); split the batch");
  CallScope s(where, c.dst.data);
  // Device ids: checked by keys_from_ids itself, the result waited for after the scatter is queued.
  std::optional<IdCheck> id_check;
  if (c.ids != nullptr) id_check.emplace(s, *c.ids, K, "vocabulary size V");

  // keys_in, order_in, keys_out, order_out: 4 * N int32, then CUB's temporary storage.
  const int end_bit = bits_for(K - 1);
  size_t temp_bytes = 0;
  check(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, static_cast<const int32_t*>(nullptr),
                                        static_cast<int32_t*>(nullptr), static_cast<const int32_t*>(nullptr),
                                        static_cast<int32_t*>(nullptr), static_cast<int64_t>(N), 0, end_bit,
                                        s.stream()),
        where, "cub::DeviceRadixSort::SortPairs (size query)");
  const size_t arr = (static_cast<size_t>(N) * sizeof(int32_t) + 255) / 256 * 256;
  Upload up;
  std::vector<int32_t> host_keys;
  if (c.ids == nullptr) {
    host_keys.assign(c.keys->begin(), c.keys->end());
    up.add(host_keys);
  }
  Scratch scratch(s, 4 * arr + temp_bytes);
  auto* base = scratch.get<unsigned char>();
  auto* keys_in = reinterpret_cast<int32_t*>(base);
  auto* order_in = reinterpret_cast<int32_t*>(base + arr);
  auto* keys_out = reinterpret_cast<int32_t*>(base + 2 * arr);
  auto* order_out = reinterpret_cast<int32_t*>(base + 3 * arr);
  void* temp = base + 4 * arr;
  const unsigned grid = std::min(blocks_for(N, 256), 4096u);
  if (c.ids != nullptr) {
    const TensorView& ids = *c.ids;
    if (ids.dtype == DType::I32)
      keys_from_ids<<<grid, 256, 0, s.stream()>>>(static_cast<const int32_t*>(ids.data), ids.stride(0),
                                                  ids.stride(1), B, T, K, keys_in, order_in, id_check->bad());
    else
      keys_from_ids<<<grid, 256, 0, s.stream()>>>(static_cast<const int64_t*>(ids.data), ids.stride(0),
                                                  ids.stride(1), B, T, K, keys_in, order_in, id_check->bad());
    check_launch(where, "keys_from_ids");
    id_check->result_to_host();
  } else {
    // The host keys land in keys_in (the upload's only part, at offset 0).
    check(cudaMemcpyAsync(keys_in, up.data(), up.size(), cudaMemcpyHostToDevice, s.stream()), where,
          "cudaMemcpyAsync (keys to the GPU)");
    iota_kernel<<<grid, 256, 0, s.stream()>>>(order_in, N);
    check_launch(where, "iota_kernel");
  }
  check(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys_out, order_in, order_out,
                                        static_cast<int64_t>(N), 0, end_bit, s.stream()),
        where, "cub::DeviceRadixSort::SortPairs");
  check_launch(where, "cub::DeviceRadixSort::SortPairs");

  ScatterParams p;
  p.dst = c.dst.data;
  p.ds0 = c.dst.stride(0);
  p.ds1 = c.dst.stride(1);
  p.src = src.data;
  p.ss0 = src.stride(0);
  p.ss1 = src.stride(1);
  p.ss2 = src.stride(2);
  p.N = N;
  p.T = T;
  p.C = C;
  p.keys = keys_out;
  p.order = order_out;
  p.scale = c.scale;
  p.bad = id_check ? id_check->bad() : nullptr;
  switch (c.dst.dtype) {
    case DType::F16:
      dispatch_src<DType::F16>(s, p, c.dst.dtype, src.dtype);
      break;
    case DType::BF16:
      dispatch_src<DType::BF16>(s, p, c.dst.dtype, src.dtype);
      break;
    default:
      dispatch_src<DType::F32>(s, p, c.dst.dtype, src.dtype);
      break;
  }
  if (id_check) id_check->finish();
}

}  // namespace posenc::detail::cuda
