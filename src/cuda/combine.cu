// The forward row combinations on the GPU (fused embedding + PE, learned gather/add, sinusoidal add) and
// the sinusoidal rows (tables, and the per-call PE rows of the distinct positions).
//
// combine_kernel: threads along C (V elements each: 16-byte accesses when every row is contiguous and
// aligned, V = 1 with any strides otherwise), a few tokens per block; the formula, op order and
// roundings are the CPU's (cpu/gather_add.cpp): E * scale + P, out + P, or P, in fp32, one rounding.
// sinusoid_kernel: one thread per (row, frequency), the CPU plan's sincos in its precision
// (exact/sincos_turns.hpp for Exact), stored to the preset's columns.
#include <cuda_runtime.h>

#include <algorithm>
#include <numeric>
#include <optional>

#include "cuda/common.cuh"
#include "cuda/cuda_ops.hpp"
#include "exact/sincos_turns.hpp"
#include "sinusoidal_plan.hpp"

namespace posenc::detail::cuda {

namespace {

enum class Mode { Gather, Accumulate, Embed };

struct CombineParams {
  void* out = nullptr;
  int64_t os0 = 0, os1 = 0, os2 = 1;
  const void* P = nullptr;
  int64_t ps0 = 0, ps1 = 1;
  const void* E = nullptr;
  int64_t es0 = 0, es1 = 1;
  const void* ids = nullptr;
  bool ids64 = true;
  int64_t is0 = 0, is1 = 0;
  int64_t V = 1;  // vocabulary: ids are clamped to [0, V) (checked on the host side unless disabled)
  float scale = 1.0f;
  int64_t N = 0, T = 1, C = 0;
  PosMap pos;                               // row of P
  const unsigned long long* bad = nullptr;  // Embed: the id check's word (IdCheck); nothing is written if set
};

template <Mode M, DType O, DType P, DType E, int V>
__global__ void __launch_bounds__(256) combine_kernel(const CombineParams p) {
  using OS = typename Dev<O>::storage;
  using PS = typename Dev<P>::storage;
  using ES = typename Dev<E>::storage;
  const int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  if (n >= p.N) return;
  if constexpr (M == Mode::Embed) {
    if (some_id_bad(p.bad)) return;
  }
  const int64_t b = n / p.T, t = n - b * p.T;
  OS* o = static_cast<OS*>(p.out) + b * p.os0 + t * p.os1;
  const PS* pr = static_cast<const PS*>(p.P) + p.pos(n) * p.ps0;
  const ES* er = nullptr;
  if constexpr (M == Mode::Embed) {
    int64_t id = p.ids64 ? static_cast<const int64_t*>(p.ids)[b * p.is0 + t * p.is1]
                         : static_cast<const int32_t*>(p.ids)[b * p.is0 + t * p.is1];
    id = id < 0 ? 0 : (id >= p.V ? p.V - 1 : id);
    er = static_cast<const ES*>(p.E) + id * p.es0;
  }
  const int64_t chunks = p.C / V;
  for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
    const int64_t d = c * V;
    if constexpr (V == 1) {
      float v = Dev<P>::load(pr[d * p.ps1]);
      if constexpr (M == Mode::Accumulate) v = add(Dev<O>::load(o[d * p.os2]), v);
      if constexpr (M == Mode::Embed) v = add(mul(Dev<E>::load(er[d * p.es1]), p.scale), v);
      o[d * p.os2] = Dev<O>::store(v);
    } else {
      const Pack<PS, V> pv = load_pack<PS, V>(pr + d);
      Pack<OS, V> ov;
      Pack<ES, V> ev;
      if constexpr (M == Mode::Accumulate) ov = load_pack<OS, V>(o + d);
      if constexpr (M == Mode::Embed) ev = load_pack<ES, V>(er + d);
#pragma unroll
      for (int e = 0; e < V; ++e) {
        float v = Dev<P>::load(pv.v[e]);
        if constexpr (M == Mode::Accumulate) v = add(Dev<O>::load(ov.v[e]), v);
        if constexpr (M == Mode::Embed) v = add(mul(Dev<E>::load(ev.v[e]), p.scale), v);
        ov.v[e] = Dev<O>::store(v);
      }
      store_pack<OS, V>(o + d, ov);
    }
  }
}

template <Mode M, DType O, DType P, DType E, int V>
void launch_combine(const CallScope& s, const CombineParams& p) {
  const int64_t chunks = std::max<int64_t>(1, p.C / V);
  const int bx = static_cast<int>(std::min<int64_t>(256, (chunks + 31) / 32 * 32));
  const int by = std::max(1, 256 / bx);
  combine_kernel<M, O, P, E, V><<<blocks_for(p.N, by), dim3(bx, by), 0, s.stream()>>>(p);
  check_launch(s.where(), "combine_kernel");
}

bool rows_ok(const void* data, DType t, int64_t row_stride, int64_t col_stride, int64_t C, int V) {
  if (col_stride != 1 && C > 1) return false;
  if (row_stride % V != 0) return false;
  return reinterpret_cast<uintptr_t>(data) % static_cast<uintptr_t>(V * dtype_size(t)) == 0;
}

template <Mode M, DType O, DType P, DType E>
void pick_width(const CallScope& s, const CombineParams& p, DType et) {
  constexpr int a = kVec<O> < kVec<P> ? kVec<O> : kVec<P>;
  constexpr int VW = M == Mode::Embed ? (a < kVec<E> ? a : kVec<E>) : a;
  bool vec = p.C % VW == 0 && rows_ok(p.out, O, p.os0, p.os2, p.C, VW) &&
             rows_ok(p.out, O, p.os1, p.os2, p.C, VW) && rows_ok(p.P, P, p.ps0, p.ps1, p.C, VW);
  if constexpr (M == Mode::Embed) vec = vec && rows_ok(p.E, et, p.es0, p.es1, p.C, VW);
  if (vec)
    launch_combine<M, O, P, E, VW>(s, p);
  else
    launch_combine<M, O, P, E, 1>(s, p);
}

template <Mode M, DType E>
void dispatch_op(const CallScope& s, const CombineParams& p, DType ot, DType pt, DType et) {
  auto with_p = [&](auto o) {
    constexpr DType OT = decltype(o)::value;
    switch (pt) {
      case DType::F16:
        return pick_width<M, OT, DType::F16, E>(s, p, et);
      case DType::BF16:
        return pick_width<M, OT, DType::BF16, E>(s, p, et);
      default:
        return pick_width<M, OT, DType::F32, E>(s, p, et);
    }
  };
  switch (ot) {
    case DType::F16:
      return with_p(std::integral_constant<DType, DType::F16>{});
    case DType::BF16:
      return with_p(std::integral_constant<DType, DType::BF16>{});
    default:
      return with_p(std::integral_constant<DType, DType::F32>{});
  }
}

// ---- sinusoidal rows --------------------------------------------------------------------------------------
struct SinParams {
  void* out = nullptr;
  int64_t os0 = 0, os1 = 1;
  int64_t N = 0;
  const int32_t* positions = nullptr;  // row n's position, or first + n when null
  int64_t first = 0;
  int32_t dim = 0, nfreq = 0;
  int64_t padding_idx = -1;
  int preset = 0;  // SinusoidalPreset
  bool exact = true;
  const double* w_hi = nullptr;
  const double* w_lo = nullptr;
  const float* omega_f32 = nullptr;
  const double* omega_f64 = nullptr;
};

template <DType O>
__global__ void __launch_bounds__(256) sinusoid_kernel(const SinParams p) {
  using OS = typename Dev<O>::storage;
  const int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  if (n >= p.N) return;
  const int64_t pos = p.positions != nullptr ? p.positions[n] : p.first + n;
  OS* o = static_cast<OS*>(p.out) + n * p.os0;
  const auto preset = static_cast<SinusoidalPreset>(p.preset);
  const bool concat = preset == SinusoidalPreset::Fairseq || preset == SinusoidalPreset::Tensor2Tensor;
  const bool pad_row = pos == p.padding_idx;
  if (threadIdx.x == 0 && concat && p.dim % 2 != 0) o[(p.dim - 1) * p.os1] = Dev<O>::store(0.0f);
  for (int32_t i = threadIdx.x; i < p.nfreq; i += blockDim.x) {
    float s = 0.0f, c = 0.0f;
    if (!pad_row) {
      if (p.exact) {
        const exact::SinCosD r = exact::sincos_turns(static_cast<double>(pos), p.w_hi[i], p.w_lo[i]);
        s = static_cast<float>(r.sin);
        c = static_cast<float>(r.cos);
      } else if (preset == SinusoidalPreset::Marian) {
        const double a = static_cast<double>(pos) / p.omega_f64[i];
        s = static_cast<float>(sin(a));
        c = static_cast<float>(cos(a));
      } else {
        const float a = mul(static_cast<float>(pos), p.omega_f32[i]);
        s = static_cast<float>(sin(static_cast<double>(a)));
        c = static_cast<float>(cos(static_cast<double>(a)));
      }
    }
    int64_t sc, cc;
    if (preset == SinusoidalPreset::Vaswani) {
      sc = 2 * i;
      cc = 2 * i + 1;
    } else {
      sc = i;
      cc = (preset == SinusoidalPreset::Marian && i >= p.dim / 2) ? -1 : p.nfreq + i;
    }
    o[sc * p.os1] = Dev<O>::store(s);
    if (cc >= 0) o[cc * p.os1] = Dev<O>::store(c);
  }
}

// Uploads the plan's frequencies and sets the precision fields.
void plan_params(const SinusoidalPlan& plan, Upload& up, size_t off[4], SinParams& sp) {
  off[0] = up.add(plan.w_hi);
  off[1] = up.add(plan.w_lo);
  off[2] = up.add(plan.omega_f32);
  off[3] = up.add(plan.omega_f64);
  sp.dim = static_cast<int32_t>(plan.cfg.dim);
  sp.nfreq = static_cast<int32_t>(plan.nfreq);
  sp.padding_idx = plan.cfg.padding_idx;
  sp.preset = static_cast<int>(plan.cfg.preset);
  sp.exact = plan.cfg.precision == Precision::Exact;
}
void plan_pointers(const unsigned char* base, const size_t off[4], SinParams& sp) {
  sp.w_hi = reinterpret_cast<const double*>(base + off[0]);
  sp.w_lo = reinterpret_cast<const double*>(base + off[1]);
  sp.omega_f32 = reinterpret_cast<const float*>(base + off[2]);
  sp.omega_f64 = reinterpret_cast<const double*>(base + off[3]);
}

void launch_sinusoid(const CallScope& s, const SinParams& sp, DType ot) {
  if (sp.N == 0) return;
  const int bx = std::min(256, std::max(32, (sp.nfreq + 31) / 32 * 32));
  const int by = std::max(1, 256 / bx);
  const dim3 block(bx, by);
  const unsigned grid = blocks_for(sp.N, by);
  switch (ot) {
    case DType::F16:
      sinusoid_kernel<DType::F16><<<grid, block, 0, s.stream()>>>(sp);
      break;
    case DType::BF16:
      sinusoid_kernel<DType::BF16><<<grid, block, 0, s.stream()>>>(sp);
      break;
    default:
      sinusoid_kernel<DType::F32><<<grid, block, 0, s.stream()>>>(sp);
      break;
  }
  check_launch(s.where(), "sinusoid_kernel");
}

}  // namespace

void sinusoidal_rows(const char* where, const SinusoidalPlan& plan, std::span<const int64_t> pos,
                     TensorView out) {
  const int64_t N = out.size(0);
  if (N == 0) return;
  CallScope s(where, out.data);
  Upload up;
  size_t off[4];
  SinParams sp;
  plan_params(plan, up, off, sp);
  // Consecutive positions need no list.
  bool consecutive = true;
  for (int64_t n = 1; n < N && consecutive; ++n) consecutive = pos[static_cast<size_t>(n)] == pos[0] + n;
  std::vector<int32_t> list;
  size_t list_off = 0;
  if (!consecutive) {
    list.assign(pos.begin(), pos.end());
    list_off = up.add(list);
  }
  Scratch scratch(s, up.size());
  up.to_device(s, scratch);
  const auto* base = scratch.get<const unsigned char>();
  plan_pointers(base, off, sp);
  sp.out = out.data;
  sp.os0 = out.stride(0);
  sp.os1 = out.stride(1);
  sp.N = N;
  sp.first = pos[0];
  sp.positions = consecutive ? nullptr : reinterpret_cast<const int32_t*>(base + list_off);
  launch_sinusoid(s, sp, out.dtype);
}

void combine_rows(const char* where, const CombineCall& c) {
  const TensorView& out = c.out;
  const int64_t B = out.size(0), T = out.size(1), N = B * T, C = out.size(2);
  if (N == 0 || C == 0) return;
  CallScope s(where, out.data);
  const std::vector<int64_t>& pos = *c.pos;
  // Embed: the ids checked first, the result waited for after the kernels are queued (IdCheck).
  std::optional<IdCheck> id_check;
  if (c.E != nullptr) {
    id_check.emplace(s, *c.ids, c.E->size(0), "vocabulary size V");
    id_check->run_kernel();
    id_check->result_to_host();
  }

  CombineParams p;
  p.out = out.data;
  p.os0 = out.stride(0);
  p.os1 = out.stride(1);
  p.os2 = out.stride(2);
  p.N = N;
  p.T = T;
  p.C = C;
  p.scale = c.scale;
  if (c.E != nullptr) {
    p.E = c.E->data;
    p.es0 = c.E->stride(0);
    p.es1 = c.E->stride(1);
    p.V = c.E->size(0);
    p.ids = c.ids->data;
    p.ids64 = c.ids->dtype == DType::I64;
    p.is0 = c.ids->stride(0);
    p.is1 = c.ids->stride(1);
  }

  Upload up;
  PosPlan pp;
  DType pt = DType::F32;
  // The sinusoidal source: a table of the call's positions first (rows of a dense range [lo, hi] when it
  // is at most twice the token count, else of the distinct positions).
  int64_t rows = 0, lo = 0;
  bool dense = true;
  std::vector<int64_t> uniq;
  std::vector<int32_t> table_pos;
  size_t table_pos_off = 0;
  SinParams sp;
  size_t plan_off[4];
  if (c.plan != nullptr) {
    plan_params(*c.plan, up, plan_off, sp);
    const auto [mn, mx] = std::minmax_element(pos.begin(), pos.end());
    lo = *mn;
    rows = *mx - *mn + 1;
    dense = rows <= std::max<int64_t>(2 * N, 1024);
    if (dense) {
      pp.plan(pos, B, T, lo, up);
    } else {
      uniq = pos;
      std::sort(uniq.begin(), uniq.end());
      uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
      rows = static_cast<int64_t>(uniq.size());
      table_pos.assign(uniq.begin(), uniq.end());
      table_pos_off = up.add(table_pos);
      pp.offsets = false;
      pp.per_token.resize(pos.size());
      for (size_t n = 0; n < pos.size(); ++n)
        pp.per_token[n] =
            static_cast<int32_t>(std::lower_bound(uniq.begin(), uniq.end(), pos[n]) - uniq.begin());
      pp.tok_off = up.add(pp.per_token);
    }
    p.ps0 = c.plan->cfg.dim;
    p.ps1 = 1;
  } else {
    pp.plan(pos, B, T, 0, up);
    p.P = c.table->data;
    p.ps0 = c.table->stride(0);
    p.ps1 = c.table->stride(1);
    pt = c.table->dtype;
  }
  Scratch scratch(s, up.size());
  up.to_device(s, scratch);
  const auto* base = scratch.get<const unsigned char>();
  p.pos = pp.map(base, T);
  Scratch table(s,
                c.plan != nullptr ? static_cast<size_t>(rows) * static_cast<size_t>(C) * sizeof(float) : 0);
  if (c.plan != nullptr) {
    plan_pointers(base, plan_off, sp);
    sp.out = table.get();
    sp.os0 = C;
    sp.os1 = 1;
    sp.N = rows;
    sp.first = lo;
    sp.positions = dense ? nullptr : reinterpret_cast<const int32_t*>(base + table_pos_off);
    launch_sinusoid(s, sp, DType::F32);
    p.P = table.get();
  }

  const DType ot = out.dtype;
  if (c.E != nullptr) {
    p.bad = id_check->bad();
    const DType et = c.E->dtype;
    switch (et) {
      case DType::F16:
        dispatch_op<Mode::Embed, DType::F16>(s, p, ot, pt, et);
        break;
      case DType::BF16:
        dispatch_op<Mode::Embed, DType::BF16>(s, p, ot, pt, et);
        break;
      default:
        dispatch_op<Mode::Embed, DType::F32>(s, p, ot, pt, et);
        break;
    }
    return id_check->finish();
  }
  if (c.accumulate) return dispatch_op<Mode::Accumulate, DType::F32>(s, p, ot, pt, DType::F32);
  return dispatch_op<Mode::Gather, DType::F32>(s, p, ot, pt, DType::F32);
}

}  // namespace posenc::detail::cuda
