// RoPE on the GPU: q and k in one launch, forward and backward (sin negated), both pair layouts, partial
// rotary, GQA, any strides, in place or not, f32/f16/bf16 in and out.
//
// A block handles `tpb` consecutive tokens. It first computes cos and sin of its tokens' angles (one per
// (token, frequency), in the call's precision, times attention_scaling, rounded to fp32 as the CPU table
// is) into shared memory, then its threads rotate every head of q and k of those tokens, in the order of
// cuda/rope_items.hpp that follows the memory (head by head for [B, H, T, D]): each thread
// takes V consecutive elements of the first and of the second member of the pairs (16-byte loads and
// stores when the rows are contiguous and aligned; V = 1 with any strides otherwise). The rotation is the
// CPU's, op for op: x' = x c - y s, y' = y c + x s in fp32 with separately rounded products, one rounding
// to the output type; so are the angles (exact/sincos_turns.hpp in double, no contraction; HfCompat:
// float angle, double cos/sin of it). Same bits as the CPU in both precisions wherever CUDA's double
// cos/sin of the HfCompat angle round to the same float as the host's (tests/cuda measures it).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>

#include "cuda/common.cuh"
#include "cuda/cuda_ops.hpp"
#include "cuda/rope_items.hpp"
#include "exact/sincos_turns.hpp"
#include "rope_freq.hpp"

namespace posenc::detail::cuda {

namespace {

struct RopeTensor {
  const void* x = nullptr;
  void* o = nullptr;
  int64_t xs[4] = {}, os[4] = {};  // strides in elements: b, t, h, d
  int32_t H = 0;
  int32_t per_head = 0;  // work items per head: rotation chunks, then pass-through chunks
  int32_t items = 0;     // H * per_head
};

struct RopeParams {
  RopeTensor t[2];
  int64_t N = 0, T = 1;  // tokens (B*T), sequence length
  int32_t D = 0, rot = 0, half = 0;
  int32_t rot_items = 0;    // rotation chunks per head
  int32_t tpb = 1;          // tokens per block
  int32_t items = 0;        // work items per token, q and k
  bool head_major = false;  // order of a block's items (cuda/rope_items.hpp)
  PosMap pos;
  const double* w_hi = nullptr;
  const double* w_lo = nullptr;
  const float* omega = nullptr;
  double att = 1.0;
  float att_f = 1.0f, sign = 1.0f;
  bool exact = true;
};

// cos and sin (times attention_scaling, sin times sign) of frequency i at pos, as the CPU table
// (cpu/rope.cpp rope_angle and the apply loop's sign * s).
__device__ __forceinline__ void angle(const RopeParams& p, int64_t pos, int32_t i, float& c, float& s) {
  if (p.exact) {
    const exact::SinCosD r = exact::sincos_turns(static_cast<double>(pos), p.w_hi[i], p.w_lo[i]);
    c = static_cast<float>(r.cos * p.att);
    s = static_cast<float>(r.sin * p.att);
  } else {
    const float a = mul(static_cast<float>(pos), p.omega[i]);
    c = mul(static_cast<float>(cos(static_cast<double>(a))), p.att_f);
    s = mul(static_cast<float>(sin(static_cast<double>(a))), p.att_f);
  }
  s = mul(p.sign, s);
}

template <DType X, DType O, PairLayout L, int V>
__global__ void __launch_bounds__(256) rope_kernel(const RopeParams p) {
  using XS = typename Dev<X>::storage;
  using OS = typename Dev<O>::storage;
  extern __shared__ float smem[];
  float* cs = smem;                   // [tpb][half]
  float* sn = smem + p.tpb * p.half;  // [tpb][half]
  const int64_t tok0 = static_cast<int64_t>(blockIdx.x) * p.tpb;

  for (int32_t k = threadIdx.x; k < p.tpb * p.half; k += blockDim.x) {
    const int32_t lt = k / p.half, i = k - lt * p.half;
    const int64_t n = tok0 + lt;
    if (n < p.N) angle(p, p.pos(n), i, cs[k], sn[k]);
  }
  __syncthreads();

  const int32_t total = p.tpb * p.items;
  for (int32_t k = threadIdx.x; k < total; k += blockDim.x) {
    const RopeTensor& t0 = p.t[0];
    const RopeTensor& t1 = p.t[1];
    const RopeItem it = rope_item(k, p.tpb, p.head_major, t0.items, t0.per_head, t1.items, t1.per_head);
    const int32_t lt = it.lt, h = it.h, c = it.c;
    const int64_t n = tok0 + lt;
    if (n >= p.N) continue;  // the last block's missing tokens
    // q or k: fields picked by selects (indexing the parameter array by a run-time value would copy it
    // to local memory).
    const bool second = it.second;
    const int64_t b = n / p.T, tt = n - b * p.T;
    const XS* x = static_cast<const XS*>(second ? t1.x : t0.x) + b * (second ? t1.xs[0] : t0.xs[0]) +
                  tt * (second ? t1.xs[1] : t0.xs[1]) + h * (second ? t1.xs[2] : t0.xs[2]);
    OS* o = static_cast<OS*>(second ? t1.o : t0.o) + b * (second ? t1.os[0] : t0.os[0]) +
            tt * (second ? t1.os[1] : t0.os[1]) + h * (second ? t1.os[2] : t0.os[2]);
    const int64_t sx = V == 1 ? (second ? t1.xs[3] : t0.xs[3]) : 1;
    const int64_t so = V == 1 ? (second ? t1.os[3] : t0.os[3]) : 1;
    const float* crow = cs + lt * p.half;
    const float* srow = sn + lt * p.half;
    if (c < p.rot_items) {
      if constexpr (L == PairLayout::HalfSplit) {
        const int32_t i0 = c * V;
        Pack<XS, V> a, bb;
        if constexpr (V == 1) {
          a.v[0] = x[i0 * sx];
          bb.v[0] = x[(i0 + p.half) * sx];
        } else {
          a = load_pack<XS, V>(x + i0);
          bb = load_pack<XS, V>(x + i0 + p.half);
        }
        Pack<OS, V> oa, ob;
#pragma unroll
        for (int e = 0; e < V; ++e) {
          const float xa = Dev<X>::load(a.v[e]), xb = Dev<X>::load(bb.v[e]);
          const float ci = crow[i0 + e], si = srow[i0 + e];
          oa.v[e] = Dev<O>::store(sub(mul(xa, ci), mul(xb, si)));
          ob.v[e] = Dev<O>::store(add(mul(xb, ci), mul(xa, si)));
        }
        if constexpr (V == 1) {
          o[i0 * so] = oa.v[0];
          o[(i0 + p.half) * so] = ob.v[0];
        } else {
          store_pack<OS, V>(o + i0, oa);
          store_pack<OS, V>(o + i0 + p.half, ob);
        }
      } else {
        if constexpr (V == 1) {
          // One pair (2c, 2c + 1).
          const float xa = Dev<X>::load(x[(2 * c) * sx]), xb = Dev<X>::load(x[(2 * c + 1) * sx]);
          const float ci = crow[c], si = srow[c];
          o[(2 * c) * so] = Dev<O>::store(sub(mul(xa, ci), mul(xb, si)));
          o[(2 * c + 1) * so] = Dev<O>::store(add(mul(xb, ci), mul(xa, si)));
        } else {
          // V / 2 pairs starting at element d0.
          const int32_t d0 = c * V;
          const Pack<XS, V> a = load_pack<XS, V>(x + d0);
          Pack<OS, V> r;
#pragma unroll
          for (int e = 0; e < V / 2; ++e) {
            const float xa = Dev<X>::load(a.v[2 * e]), xb = Dev<X>::load(a.v[2 * e + 1]);
            const float ci = crow[d0 / 2 + e], si = srow[d0 / 2 + e];
            r.v[2 * e] = Dev<O>::store(sub(mul(xa, ci), mul(xb, si)));
            r.v[2 * e + 1] = Dev<O>::store(add(mul(xb, ci), mul(xa, si)));
          }
          store_pack<OS, V>(o + d0, r);
        }
      }
    } else {
      // Pass-through dims rot .. D - 1 (not in place): converted element by element as the CPU does.
      const int32_t d = p.rot + (c - p.rot_items) * V;
      if constexpr (V == 1) {
        o[d * so] = Dev<O>::store(Dev<X>::load(x[d * sx]));
      } else {
        const Pack<XS, V> a = load_pack<XS, V>(x + d);
        Pack<OS, V> r;
#pragma unroll
        for (int e = 0; e < V; ++e) r.v[e] = Dev<O>::store(Dev<X>::load(a.v[e]));
        store_pack<OS, V>(o + d, r);
      }
    }
  }
}

template <DType X, DType O>
constexpr int vec_width() {
  return kVec<X> < kVec<O> ? kVec<X> : kVec<O>;
}

// Can the tensor (x, out) take V-wide accesses: unit last stride, every other stride a multiple of V,
// both base addresses aligned to V elements.
bool vector_ok(const TensorView& x, const TensorView& o, int V) {
  for (const TensorView* v : {&x, &o}) {
    if (v->stride(3) != 1 && v->size(3) > 1) return false;
    for (int d = 0; d < 3; ++d)
      if (v->stride(d) % V != 0 && v->size(d) > 1) return false;
    if (reinterpret_cast<uintptr_t>(v->data) % static_cast<uintptr_t>(V * dtype_size(v->dtype)) != 0)
      return false;
  }
  return true;
}

template <DType X, DType O, PairLayout L, int V>
void launch(const CallScope& s, RopeParams p, const RopeCall& c) {
  // Chunks per head.
  p.rot_items = L == PairLayout::HalfSplit ? p.half / V : (V == 1 ? p.half : p.rot / V);
  const TensorView* xs[2] = {&c.q, &c.k};
  const TensorView* os[2] = {&c.q_out, &c.k_out};
  p.items = 0;
  for (int w = 0; w < 2; ++w) {
    RopeTensor& t = p.t[w];
    if (w == 1 && c.k.data == nullptr) {
      t = RopeTensor{};
      continue;
    }
    const TensorView& x = *xs[w];
    const TensorView& o = *os[w];
    t.x = x.data;
    t.o = o.data;
    for (int d = 0; d < 4; ++d) {
      t.xs[d] = x.stride(d);
      t.os[d] = o.stride(d);
    }
    t.H = static_cast<int32_t>(x.size(2));
    const bool in_place = x.data == o.data && x.strides == o.strides && x.dtype == o.dtype;
    const int32_t pass = in_place ? 0 : (p.D - p.rot) / V;
    t.per_head = p.rot_items + pass;
    t.items = t.H * t.per_head;
    p.items += t.items;
  }
  if (p.items == 0) return;
  // Heads further apart than tokens (q's [B, H, T, D]): a block walks each head's tokens in turn, so
  // that its loads and stores cover one contiguous span per head (tpb rows) instead of one row at each
  // head's offset. Tokens per block: about 4096 work items (16 per thread; the angles, computed once
  // per (token, frequency) for all heads, are then a small part of a block's time), cos/sin of at
  // most 16 KiB, and at least 256 blocks when there are that many tokens (decoding: one token each).
  const int64_t hs = c.q.size(2) > 1 ? std::abs(c.q.stride(2)) : 0,
                ts = c.q.size(1) > 1 ? std::abs(c.q.stride(1)) : 0;
  // POSENC_CUDA_ROPE_TOKEN_MAJOR (set, any value): the first version's order and block size (token by
  // token, about 256 items a block), for side-by-side measurements (bench/gpu).
  const bool first_version = std::getenv("POSENC_CUDA_ROPE_TOKEN_MAJOR") != nullptr;
  p.head_major = !first_version && hs > ts;
  const int32_t by_items = std::max<int32_t>(1, (first_version ? 256 : 4096) / p.items);
  const int32_t by_smem = std::max<int32_t>(1, 16384 / std::max<int32_t>(1, p.half * 8));
  const auto by_blocks =
      first_version ? int32_t{64} : static_cast<int32_t>(std::clamp<int64_t>(p.N / 256, 1, 64));
  p.tpb = std::min({by_items, by_smem, by_blocks, int32_t{64}});
  const int64_t work = static_cast<int64_t>(p.tpb) * p.items;
  const int threads = static_cast<int>(std::min<int64_t>(256, (work + 31) / 32 * 32));
  const size_t smem =
      static_cast<size_t>(p.tpb) * static_cast<size_t>(std::max(p.half, 1)) * 2 * sizeof(float);
  // cos/sin of one token above the default 48 KiB (rotary_dim > 12288, where tpb is 1): the kernel opts
  // in up to the device's limit (227 KiB on the H100/H200: rotary_dim <= 58112); beyond it, an error.
  if (smem > 48 * 1024) {
    int optin = 0;
    check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, s.device()), s.where(),
          "cudaDeviceGetAttribute(MaxSharedMemoryPerBlockOptin)");
    if (smem > static_cast<size_t>(optin))
      throw Error(s.where(), "rotary_dim", std::to_string(p.rot),
                  "<= " + std::to_string(optin / 8 * 2) + " on this GPU (cos and sin of one token in " +
                      std::to_string(optin) + " bytes of shared memory); larger ones run on the CPU");
    check(cudaFuncSetAttribute(rope_kernel<X, O, L, V>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(smem)),
          s.where(), "cudaFuncSetAttribute(MaxDynamicSharedMemorySize)");
  }
  rope_kernel<X, O, L, V><<<blocks_for(p.N, p.tpb), threads, smem, s.stream()>>>(p);
  check_launch(s.where(), "rope_kernel");
}

template <DType X, DType O>
void dispatch(const CallScope& s, const RopeParams& p, const RopeCall& c) {
  constexpr int VW = vec_width<X, O>();
  bool vec = vector_ok(c.q, c.q_out, VW) && (c.k.data == nullptr || vector_ok(c.k, c.k_out, VW));
  // Whole chunks: the pairs' halves (HalfSplit) or the rotated dims (Interleaved), and the pass-through dims.
  vec = vec && p.half % VW == 0 && p.rot % VW == 0 && p.D % VW == 0;
  if (c.layout == PairLayout::HalfSplit) {
    if (vec)
      launch<X, O, PairLayout::HalfSplit, VW>(s, p, c);
    else
      launch<X, O, PairLayout::HalfSplit, 1>(s, p, c);
  } else {
    if (vec)
      launch<X, O, PairLayout::Interleaved, VW>(s, p, c);
    else
      launch<X, O, PairLayout::Interleaved, 1>(s, p, c);
  }
}

template <DType X>
void dispatch_out(const CallScope& s, const RopeParams& p, const RopeCall& c) {
  switch (c.q_out.dtype) {
    case DType::F16:
      return dispatch<X, DType::F16>(s, p, c);
    case DType::BF16:
      return dispatch<X, DType::BF16>(s, p, c);
    default:
      return dispatch<X, DType::F32>(s, p, c);
  }
}

}  // namespace

void rope(const char* where, const RopeCall& c) {
  const int64_t B = c.q.size(0), T = c.q.size(1), N = B * T;
  if (N == 0 || c.q.size(2) == 0) return;
  if (c.k.data != nullptr && (c.k.dtype != c.q.dtype || c.k_out.dtype != c.q_out.dtype)) {
    // One kernel instance per dtype pair: q and k of different dtypes take one launch each.
    RopeCall qc = c, kc = c;
    qc.k = qc.k_out = TensorView{};
    kc.q = c.k;
    kc.q_out = c.k_out;
    kc.k = kc.k_out = TensorView{};
    rope(where, qc);
    rope(where, kc);
    return;
  }
  CallScope s(where, c.q_out.data);
  const RopeFreqs& f = *c.freqs;
  RopeParams p;
  p.N = N;
  p.T = T;
  p.D = static_cast<int32_t>(c.q.size(3));
  p.rot = static_cast<int32_t>(c.rot);
  p.half = static_cast<int32_t>(c.rot / 2);
  p.att = f.attention_scaling;
  p.att_f = static_cast<float>(f.attention_scaling);
  p.sign = c.sign;
  p.exact = c.precision == Precision::Exact;
  Upload up;
  const size_t o_hi = up.add(f.w_hi), o_lo = up.add(f.w_lo), o_om = up.add(f.omega_f32);
  PosPlan pp;
  pp.plan(*c.pos, B, T, 0, up);
  Scratch scratch(s, up.size());
  up.to_device(s, scratch);
  const auto* base = scratch.get<const unsigned char>();
  p.w_hi = reinterpret_cast<const double*>(base + o_hi);
  p.w_lo = reinterpret_cast<const double*>(base + o_lo);
  p.omega = reinterpret_cast<const float*>(base + o_om);
  p.pos = pp.map(base, T);
  switch (c.q.dtype) {
    case DType::F16:
      return dispatch_out<DType::F16>(s, p, c);
    case DType::BF16:
      return dispatch_out<DType::BF16>(s, p, c);
    default:
      return dispatch_out<DType::F32>(s, p, c);
  }
}

}  // namespace posenc::detail::cuda
