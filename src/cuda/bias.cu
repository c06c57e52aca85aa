// Attention biases on the GPU: ALiBi and the T5 relative bias (forward and backward).
//
// ALiBi: each value is slope * distance in double, rounded once to fp32 (then to the storage type), as
// the CPU kernel: the same bits. T5: buckets are computed on the host by the CPU's bucket function
// (HF's float32 steps) for each distance of the call, or each (query, key) pair when the positions are
// scattered, and uploaded; the forward is then a gather (same bits). The backward sums dout by (bucket,
// head) deterministically: each block takes a chunk of query rows of one head and a window of 32 buckets,
// each thread sums its keys j = tid, tid + blockDim, ... in row order into its own shared-memory slot per
// bucket, the block then adds the slots in thread order; a second kernel adds the chunks in order and
// adds the total to dtable once (buckets no pair falls in are not touched). Fixed order, so the same bits
// on every run, but not the CPU's order: equal to it within float rounding.
#include <cuda_runtime.h>

#include <algorithm>

#include "cpu/t5_bias.hpp"  // the bucket function (HF's float32 steps), shared with the CPU
#include "cuda/common.cuh"
#include "cuda/cuda_ops.hpp"

namespace posenc::detail::cuda {

namespace {

// ---- ALiBi ------------------------------------------------------------------------------------------------
struct AlibiParams {
  void* out = nullptr;
  int64_t os0 = 0, os1 = 0, os2 = 1;
  int64_t H = 0, Tq = 0, Tk = 0;
  const double* slopes = nullptr;
  const int64_t* q = nullptr;
  const int64_t* k = nullptr;
  bool causal = false, key_form = false;
  float masked = 0.0f;
};

template <DType O, int V>
__global__ void __launch_bounds__(256) alibi_kernel(const AlibiParams p) {
  using OS = typename Dev<O>::storage;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  if (row >= p.H * p.Tq) return;
  const int64_t h = row / p.Tq, i = row - h * p.Tq;
  OS* o = static_cast<OS*>(p.out) + h * p.os0 + i * p.os1;
  const double slope = p.slopes[h];
  const int64_t qi = p.q[i];
  for (int64_t c = threadIdx.x; c < p.Tk / V; c += blockDim.x) {
    Pack<OS, V> r;
#pragma unroll
    for (int e = 0; e < V; ++e) {
      const int64_t kj = p.k[c * V + e];
      float v;
      if (p.causal && kj > qi) {
        v = p.masked;
      } else {
        const int64_t dist = p.key_form ? kj : -(qi > kj ? qi - kj : kj - qi);
        v = static_cast<float>(slope * static_cast<double>(dist));
      }
      r.v[e] = Dev<O>::store(v);
    }
    if constexpr (V == 1)
      o[c * p.os2] = r.v[0];
    else
      store_pack<OS, V>(o + c * V, r);
  }
}

template <DType O, int V>
void launch_alibi(const CallScope& s, const AlibiParams& p) {
  const int64_t chunks = std::max<int64_t>(1, p.Tk / V);
  const int bx = static_cast<int>(std::min<int64_t>(256, (chunks + 31) / 32 * 32));
  const int by = std::max(1, 256 / bx);
  alibi_kernel<O, V><<<blocks_for(p.H * p.Tq, by), dim3(bx, by), 0, s.stream()>>>(p);
  check_launch(s.where(), "alibi_kernel");
}

template <DType O>
void pick_alibi(const CallScope& s, const AlibiParams& p) {
  constexpr int VW = kVec<O>;
  const bool vec = p.os2 == 1 && p.Tk % VW == 0 && p.os0 % VW == 0 && p.os1 % VW == 0 &&
                   reinterpret_cast<uintptr_t>(p.out) % (VW * sizeof(typename Dev<O>::storage)) == 0;
  if (vec)
    launch_alibi<O, VW>(s, p);
  else
    launch_alibi<O, 1>(s, p);
}

// ---- T5 ---------------------------------------------------------------------------------------------------
// bucket(i, j): table[k[j] - q[i] - lo] (by distance) or matrix[i * Tk + j].
struct BucketMap {
  const int32_t* table = nullptr;
  const int32_t* q = nullptr;
  const int32_t* k = nullptr;
  int64_t lo = 0;
  const int32_t* matrix = nullptr;
  int64_t Tk = 0;
  __device__ __forceinline__ int32_t operator()(int64_t i, int64_t j) const {
    if (matrix != nullptr) return matrix[i * Tk + j];
    return table[static_cast<int64_t>(k[j]) - q[i] - lo];
  }
};

// The CPU's BucketMap, uploaded.
struct HostBuckets {
  std::vector<int32_t> q, k, buckets;
  int64_t lo = 0;
  bool by_distance = true;
  size_t q_off = 0, k_off = 0, b_off = 0;
  HostBuckets(const T5BiasConfig& cfg, std::span<const int64_t> qp, std::span<const int64_t> kp, Upload& up) {
    const int64_t Tq = static_cast<int64_t>(qp.size()), Tk = static_cast<int64_t>(kp.size());
    const auto [qlo, qhi] = std::minmax_element(qp.begin(), qp.end());
    const auto [klo, khi] = std::minmax_element(kp.begin(), kp.end());
    lo = *klo - *qhi;
    const int64_t span = *khi - *qlo - lo + 1;
    by_distance = span <= Tq * Tk;
    if (by_distance) {
      buckets.resize(static_cast<size_t>(span));
      cpu::t5_buckets_by_distance(cfg, lo, span, buckets.data());
      q.assign(qp.begin(), qp.end());
      k.assign(kp.begin(), kp.end());
      q_off = up.add(q);
      k_off = up.add(k);
    } else {
      buckets.resize(static_cast<size_t>(Tq * Tk));
      for (int64_t i = 0; i < Tq; ++i)
        for (int64_t j = 0; j < Tk; ++j)
          buckets[static_cast<size_t>(i * Tk + j)] = static_cast<int32_t>(
              cpu::t5_bucket(kp[static_cast<size_t>(j)] - qp[static_cast<size_t>(i)], cfg));
    }
    b_off = up.add(buckets);
  }
  BucketMap map(const unsigned char* base, int64_t Tk) const {
    BucketMap m;
    m.Tk = Tk;
    if (by_distance) {
      m.table = reinterpret_cast<const int32_t*>(base + b_off);
      m.q = reinterpret_cast<const int32_t*>(base + q_off);
      m.k = reinterpret_cast<const int32_t*>(base + k_off);
      m.lo = lo;
    } else {
      m.matrix = reinterpret_cast<const int32_t*>(base + b_off);
    }
    return m;
  }
};

struct T5Params {
  void* out = nullptr;  // forward: out; backward: dout (read)
  int64_t os0 = 0, os1 = 0, os2 = 1;
  void* table = nullptr;  // forward: table (read); backward: dtable
  int64_t ts0 = 0, ts1 = 0;
  int64_t H = 0, Tq = 0, Tk = 0, NB = 0;
  BucketMap map;
};

template <DType O, DType W>
__global__ void __launch_bounds__(256) t5_forward_kernel(const T5Params p) {
  using OS = typename Dev<O>::storage;
  using WS = typename Dev<W>::storage;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  if (row >= p.H * p.Tq) return;
  const int64_t h = row / p.Tq, i = row - h * p.Tq;
  OS* o = static_cast<OS*>(p.out) + h * p.os0 + i * p.os1;
  const WS* w = static_cast<const WS*>(p.table) + h * p.ts1;
  for (int64_t j = threadIdx.x; j < p.Tk; j += blockDim.x)
    o[j * p.os2] = Dev<O>::store(Dev<W>::load(w[static_cast<int64_t>(p.map(i, j)) * p.ts0]));
}

constexpr int kWindow = 32;  // buckets per backward block
constexpr int kBackThreads = 128;

template <DType G>
__global__ void __launch_bounds__(kBackThreads)
    t5_backward_partial(const T5Params p, int64_t rows_per_chunk, int64_t chunks, float* partial,
                        unsigned char* hit) {
  using GS = typename Dev<G>::storage;
  __shared__ float acc[kWindow * kBackThreads];
  __shared__ unsigned int hits;
  const int64_t chunk = blockIdx.x, h = blockIdx.y, b0 = static_cast<int64_t>(blockIdx.z) * kWindow;
  const int tid = threadIdx.x;
#pragma unroll
  for (int b = 0; b < kWindow; ++b) acc[b * kBackThreads + tid] = 0.0f;
  if (tid == 0) hits = 0;
  __syncthreads();
  unsigned int mine = 0;
  const int64_t i0 = chunk * rows_per_chunk, i1 = min(p.Tq, i0 + rows_per_chunk);
  const GS* g = static_cast<const GS*>(p.out) + h * p.os0;
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t j = tid; j < p.Tk; j += kBackThreads) {
      const int64_t b = static_cast<int64_t>(p.map(i, j)) - b0;
      if (b >= 0 && b < kWindow) {
        float& a = acc[b * kBackThreads + tid];
        a = add(a, Dev<G>::load(g[i * p.os1 + j * p.os2]));
        mine |= 1u << b;
      }
    }
  if (mine != 0) atomicOr(&hits, mine);
  __syncthreads();
  if (tid < kWindow && b0 + tid < p.NB) {
    float sum = 0.0f;
    for (int t = 0; t < kBackThreads; ++t) sum = add(sum, acc[tid * kBackThreads + t]);
    const int64_t at = (h * chunks + chunk) * p.NB + b0 + tid;
    partial[at] = sum;
    hit[at] = (hits >> tid) & 1u;
  }
}

template <DType W>
__global__ void t5_backward_total(const T5Params p, int64_t chunks, const float* partial,
                                  const unsigned char* hit) {
  using WS = typename Dev<W>::storage;
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= p.NB * p.H) return;
  const int64_t h = idx / p.NB, b = idx - h * p.NB;
  float sum = 0.0f;
  bool any = false;
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t at = (h * chunks + c) * p.NB + b;
    if (hit[at]) {
      sum = add(sum, partial[at]);
      any = true;
    }
  }
  if (!any) return;
  WS* d = static_cast<WS*>(p.table) + b * p.ts0 + h * p.ts1;
  *d = Dev<W>::store(add(Dev<W>::load(*d), sum));
}

template <typename F>
void with_float(DType t, F&& f) {
  switch (t) {
    case DType::F16:
      return f(std::integral_constant<DType, DType::F16>{});
    case DType::BF16:
      return f(std::integral_constant<DType, DType::BF16>{});
    default:
      return f(std::integral_constant<DType, DType::F32>{});
  }
}

}  // namespace

void alibi_bias(const char* where, TensorView out, const AlibiConfig& cfg, const std::vector<double>& slopes,
                std::span<const int64_t> q, std::span<const int64_t> k) {
  if (out.numel() == 0) return;
  CallScope s(where, out.data);
  Upload up;
  const size_t so = up.add(slopes);
  const size_t qo = up.add(q.data(), q.size());
  const size_t ko = up.add(k.data(), k.size());
  Scratch scratch(s, up.size());
  up.to_device(s, scratch);
  const auto* base = scratch.get<const unsigned char>();
  AlibiParams p;
  p.out = out.data;
  p.os0 = out.stride(0);
  p.os1 = out.stride(1);
  p.os2 = out.stride(2);
  p.H = out.size(0);
  p.Tq = out.size(1);
  p.Tk = out.size(2);
  p.slopes = reinterpret_cast<const double*>(base + so);
  p.q = reinterpret_cast<const int64_t*>(base + qo);
  p.k = reinterpret_cast<const int64_t*>(base + ko);
  p.causal = cfg.mask == AlibiMask::Causal;
  p.key_form = cfg.form == AlibiForm::KeyPosition;
  p.masked = cfg.masked_value;
  with_float(out.dtype, [&](auto o) { pick_alibi<decltype(o)::value>(s, p); });
}

void t5_bias_forward(const char* where, TensorView out, const TensorView& table, const T5BiasConfig& cfg,
                     std::span<const int64_t> q, std::span<const int64_t> k) {
  if (out.numel() == 0) return;
  CallScope s(where, out.data);
  Upload up;
  const HostBuckets hb(cfg, q, k, up);
  Scratch scratch(s, up.size());
  up.to_device(s, scratch);
  T5Params p;
  p.out = out.data;
  p.os0 = out.stride(0);
  p.os1 = out.stride(1);
  p.os2 = out.stride(2);
  p.table = table.data;
  p.ts0 = table.stride(0);
  p.ts1 = table.stride(1);
  p.H = out.size(0);
  p.Tq = out.size(1);
  p.Tk = out.size(2);
  p.NB = table.size(0);
  p.map = hb.map(scratch.get<const unsigned char>(), p.Tk);
  const int bx = static_cast<int>(std::min<int64_t>(256, (p.Tk + 31) / 32 * 32));
  const int by = std::max(1, 256 / bx);
  with_float(out.dtype, [&](auto o) {
    with_float(table.dtype, [&](auto w) {
      t5_forward_kernel<decltype(o)::value, decltype(w)::value>
          <<<blocks_for(p.H * p.Tq, by), dim3(bx, by), 0, s.stream()>>>(p);
    });
  });
  check_launch(where, "t5_forward_kernel");
}

void t5_bias_backward(const char* where, TensorView dtable, const TensorView& dout, const T5BiasConfig& cfg,
                      std::span<const int64_t> q, std::span<const int64_t> k) {
  if (dout.numel() == 0) return;
  CallScope s(where, dtable.data);
  Upload up;
  const HostBuckets hb(cfg, q, k, up);
  T5Params p;
  p.out = dout.data;
  p.os0 = dout.stride(0);
  p.os1 = dout.stride(1);
  p.os2 = dout.stride(2);
  p.table = dtable.data;
  p.ts0 = dtable.stride(0);
  p.ts1 = dtable.stride(1);
  p.H = dout.size(0);
  p.Tq = dout.size(1);
  p.Tk = dout.size(2);
  p.NB = dtable.size(0);
  const int64_t windows = (p.NB + kWindow - 1) / kWindow;
  // About 1024 blocks in all, whole query rows per block.
  const int64_t chunks =
      std::max<int64_t>(1, std::min<int64_t>(p.Tq, 1024 / std::max<int64_t>(1, p.H * windows)));
  const int64_t rows_per_chunk = (p.Tq + chunks - 1) / chunks;
  const int64_t used_chunks = (p.Tq + rows_per_chunk - 1) / rows_per_chunk;
  const size_t n_partial = static_cast<size_t>(p.H * used_chunks * p.NB);
  const size_t data_bytes = (up.size() + 255) / 256 * 256;
  Scratch scratch(s, data_bytes + n_partial * (sizeof(float) + 1));
  up.to_device(s, scratch);
  auto* base = scratch.get<unsigned char>();
  p.map = hb.map(base, p.Tk);
  auto* partial = reinterpret_cast<float*>(base + data_bytes);
  auto* hit = base + data_bytes + n_partial * sizeof(float);
  if (p.H > 65535 || windows > 65535)
    throw Error(where, "dout.shape[0] (heads) or num_buckets / 32",
                std::to_string(p.H) + ", " + std::to_string(windows), "<= 65535 on the GPU");
  const dim3 grid(static_cast<unsigned>(used_chunks), static_cast<unsigned>(p.H),
                  static_cast<unsigned>(windows));
  with_float(dout.dtype, [&](auto g) {
    t5_backward_partial<decltype(g)::value>
        <<<grid, kBackThreads, 0, s.stream()>>>(p, rows_per_chunk, used_chunks, partial, hit);
  });
  check_launch(where, "t5_backward_partial");
  with_float(dtable.dtype, [&](auto w) {
    t5_backward_total<decltype(w)::value>
        <<<blocks_for(p.NB * p.H, 256), 256, 0, s.stream()>>>(p, used_chunks, partial, hit);
  });
  check_launch(where, "t5_backward_total");
}

}  // namespace posenc::detail::cuda
