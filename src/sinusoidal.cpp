// Sinusoidal encodings: config checks, the per-frequency plan, and the entry points (kernels in
// src/cpu/sinusoidal.cpp).
#include "posenc/sinusoidal.hpp"

#include <algorithm>
#include <cmath>
#include <new>
#include <string>
#include <vector>

#include "check.hpp"
#include "cpu/kernels.hpp"
#include "cpu/sincos_simd.h"
#include "cuda/cuda_ops.hpp"
#include "exact/sincos_turns.hpp"
#include "plan_cache.hpp"
#include "sinusoidal_plan.hpp"

namespace posenc {

using detail::fail;

namespace {
bool has_pairs(SinusoidalPreset p) {
  return p == SinusoidalPreset::Vaswani;
}
bool is_concat_t2t(SinusoidalPreset p) {
  return p == SinusoidalPreset::Fairseq || p == SinusoidalPreset::Tensor2Tensor;
}
}  // namespace

void validate(const SinusoidalConfig& cfg, const char* where) {
  if (cfg.dim < 2 || (has_pairs(cfg.preset) && cfg.dim % 2 != 0))
    fail(where, "dim", std::to_string(cfg.dim),
         has_pairs(cfg.preset) ? "even integer >= 2; the vaswani layout needs (sin, cos) pairs, the "
                                 "fairseq and tensor2tensor presets pad odd dims"
                               : "integer >= 2");
  // (an upper bound: the plan holds dim / 2 frequencies, and dim x positions is a table's size)
  if (cfg.dim > kMaxSinusoidalDim)
    fail(where, "dim", std::to_string(cfg.dim),
         "at most " + std::to_string(kMaxSinusoidalDim) + " (kMaxSinusoidalDim)");
  if (!std::isfinite(cfg.base) || cfg.base <= 1.0)
    fail(where, "base", detail::to_str(cfg.base), "finite and > 1");
  if (cfg.precision != Precision::Exact && cfg.precision != Precision::HfCompat)
    fail(where, "precision", std::to_string(static_cast<int>(cfg.precision)), "Exact or HfCompat");
  if (cfg.preset == SinusoidalPreset::Fairseq) {
    if (cfg.padding_idx < -1)
      fail(where, "padding_idx", std::to_string(cfg.padding_idx), "-1 (none) or a row index >= 0");
  } else if (cfg.padding_idx != -1) {
    fail(where, "padding_idx", std::to_string(cfg.padding_idx),
         "-1: only the fairseq preset has a padding row");
  }
  if (static_cast<int>(cfg.preset) > static_cast<int>(SinusoidalPreset::Marian))
    fail(where, "preset", std::to_string(static_cast<int>(cfg.preset)),
         "Vaswani, Fairseq, Tensor2Tensor or Marian");
}

int64_t sinusoidal_num_frequencies(const SinusoidalConfig& cfg) {
  validate(cfg, "posenc::sinusoidal_num_frequencies");
  return is_concat_t2t(cfg.preset) ? cfg.dim / 2 : (cfg.dim + 1) / 2;
}

namespace detail {

SinusoidalPlan::SinusoidalPlan(const SinusoidalConfig& c, const char* where) : cfg(c) {
  validate(cfg, where);
  const int64_t d = cfg.dim;
  nfreq = is_concat_t2t(cfg.preset) ? d / 2 : (d + 1) / 2;
  const auto n = static_cast<size_t>(nfreq);
  omega.resize(n);
  omega_f32.resize(n);
  omega_f64.resize(n);
  sin_col.assign(n, -1);
  cos_col.assign(n, -1);
  const exact::DD ln_base = exact::log(exact::DD{cfg.base, 0.0});
  for (int64_t i = 0; i < nfreq; ++i) {
    const auto k = static_cast<size_t>(i);
    if (is_concat_t2t(cfg.preset)) {
      // omega_i = exp(-i ln(base) / max(h - 1, 1)), h = floor(d / 2) (fairseq, tensor2tensor).
      const double denom = static_cast<double>(std::max<int64_t>(nfreq - 1, 1));
      omega[k] = exact::exp(-((ln_base * static_cast<double>(i)) / denom));
      // float32 recipe: exp(float(i) * float(-log(base) / denom)).
      const float step = static_cast<float>(-std::log(cfg.base) / denom);
      omega_f32[k] = static_cast<float>(std::exp(static_cast<double>(static_cast<float>(i) * step)));
      sin_col[k] = i;
      cos_col[k] = nfreq + i;
    } else {
      // omega_i = base^(-2i / d) (Vaswani, Marian).
      omega[k] = exact::exp(-((ln_base * static_cast<double>(2 * i)) / static_cast<double>(d)));
      // float32 recipe (HF): 1 / (base ** (float(2i) / d)) with a float32 power.
      const float expo = static_cast<float>(2 * i) / static_cast<float>(d);
      const float p = static_cast<float>(
          std::pow(static_cast<double>(static_cast<float>(cfg.base)), static_cast<double>(expo)));
      omega_f32[k] = 1.0f / p;
      // float64 recipe (HF Marian, numpy): pos / base ** (2i / d).
      omega_f64[k] = std::pow(cfg.base, static_cast<double>(2 * i) / static_cast<double>(d));
      if (cfg.preset == SinusoidalPreset::Vaswani) {
        sin_col[k] = 2 * i;
        cos_col[k] = 2 * i + 1;
      } else {  // Marian: ceil(d/2) sines, then floor(d/2) cosines
        sin_col[k] = i;
        if (i < d / 2) cos_col[k] = nfreq + i;
      }
    }
  }
  w_hi.resize(n);
  w_lo.resize(n);
  for (size_t k = 0; k < n; ++k) {
    const exact::DD w = exact::quarter_turns(omega[k]);
    w_hi[k] = w.hi;
    w_lo[k] = w.lo;
  }
}

void SinusoidalPlan::sincos(int64_t pos, int64_t i, float& s, float& c) const {
  const auto k = static_cast<size_t>(i);
  if (cfg.precision == Precision::Exact) {
    const exact::SinCosD r = exact::sincos_turns(static_cast<double>(pos), w_hi[k], w_lo[k]);
    s = static_cast<float>(r.sin);
    c = static_cast<float>(r.cos);
  } else if (cfg.preset == SinusoidalPreset::Marian) {
    const double a = static_cast<double>(pos) / omega_f64[k];
    s = static_cast<float>(std::sin(a));
    c = static_cast<float>(std::cos(a));
  } else {
    const float a = static_cast<float>(pos) * omega_f32[k];
    s = static_cast<float>(std::sin(static_cast<double>(a)));
    c = static_cast<float>(std::cos(static_cast<double>(a)));
  }
}

void SinusoidalPlan::row(int64_t pos, float* out) const {
  if (pos == cfg.padding_idx) {
    std::fill(out, out + cfg.dim, 0.0f);
    return;
  }
  if (is_concat_t2t(cfg.preset) && cfg.dim % 2 != 0) out[cfg.dim - 1] = 0.0f;
  if (cfg.precision == Precision::Exact) {
    // Vectorised exact angles (cpu/sincos_simd.h: the bits of sincos()), then the columns.
    thread_local std::vector<float> buf;
    buf.resize(static_cast<size_t>(2 * nfreq));
    float* sn = buf.data();
    float* cs = sn + nfreq;
    cpu::sincos_rows_simd(&pos, 0, 1, w_hi.data(), w_lo.data(), nfreq, 1.0, sn, cs, nfreq);
    for (size_t k = 0; k < static_cast<size_t>(nfreq); ++k) {
      out[sin_col[k]] = sn[k];
      if (cos_col[k] >= 0) out[cos_col[k]] = cs[k];
    }
    return;
  }
  for (int64_t i = 0; i < nfreq; ++i) {
    float s, c;
    sincos(pos, i, s, c);
    const auto k = static_cast<size_t>(i);
    out[sin_col[k]] = s;
    if (cos_col[k] >= 0) out[cos_col[k]] = c;
  }
}

std::shared_ptr<const SinusoidalPlan> sinusoidal_plan(const SinusoidalConfig& cfg, const char* where) {
  thread_local PlanCache<SinusoidalConfig, SinusoidalPlan> cache;
  return cache.get(cfg, [&] { return SinusoidalPlan(cfg, where); });
}

}  // namespace detail

double sinusoidal_frequency(const SinusoidalConfig& cfg, int64_t i) {
  const auto plan = detail::sinusoidal_plan(cfg, "posenc::sinusoidal_frequency");
  if (i < 0 || i >= plan->nfreq)
    fail("posenc::sinusoidal_frequency", "i", std::to_string(i), "0 .. " + std::to_string(plan->nfreq - 1));
  return plan->omega[static_cast<size_t>(i)].hi;
}

void sinusoidal_table(TensorView out, const SinusoidalConfig& cfg, std::span<const int64_t> positions) {
  constexpr const char* where = "posenc::sinusoidal_table";
  const auto plan_ptr = detail::sinusoidal_plan(cfg, where);
  const detail::SinusoidalPlan& plan = *plan_ptr;
  detail::check_float_view(where, "out", out, 2, out.device);
  detail::check_size(where, "out", out, 1, cfg.dim, "dim");
  detail::check_size(where, "out", out, 0, static_cast<int64_t>(positions.size()), "positions.size()");
  detail::check_writable(where, "out", out);
  for (size_t n = 0; n < positions.size(); ++n)
    if (positions[n] < 0 || positions[n] > kMaxPosition)
      fail(where, "positions[" + std::to_string(n) + "]", std::to_string(positions[n]),
           "0 .. " + std::to_string(kMaxPosition));
  if (out.device == Device::CUDA) {
    detail::cuda::DeviceViews(where).add("out", out);
    detail::cuda::sinusoidal_rows(where, plan, positions, out);
    return;
  }
  detail::cpu::sinusoidal_rows(plan, positions.data(), out);
}

void sinusoidal_table(TensorView out, const SinusoidalConfig& cfg, int64_t first) {
  constexpr const char* where = "posenc::sinusoidal_table";
  detail::check_float_view(where, "out", out, 2, out.device);
  const int64_t N = out.size(0);
  if (first < 0 || first > kMaxPosition || (N > 0 && first + N - 1 > kMaxPosition))
    fail(where, "first", std::to_string(first),
         "0 .. " + std::to_string(kMaxPosition) + " - N + 1 (N = " + std::to_string(N) + ")");
  // The checks of the overload below, before the list of N positions is allocated (a broadcast out of
  // 2^31 rows is refused, not 16 GiB allocated first).
  validate(cfg, where);
  detail::check_size(where, "out", out, 1, cfg.dim, "dim");
  detail::check_writable(where, "out", out);
  std::vector<int64_t> pos(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) pos[static_cast<size_t>(n)] = first + n;
  sinusoidal_table(out, cfg, pos);
}

std::vector<float> sinusoidal_table(const SinusoidalConfig& cfg, int64_t num_positions) {
  if (num_positions < 0 || num_positions > kMaxPosition + 1)
    fail("posenc::sinusoidal_table", "num_positions", std::to_string(num_positions),
         "0 .. " + std::to_string(kMaxPosition + 1));
  validate(cfg, "posenc::sinusoidal_table");
  // num_positions <= 2^31 and dim <= kMaxSinusoidalDim = 2^20: the product fits in int64.
  std::vector<float> table;
  try {
    table.resize(static_cast<size_t>(num_positions * cfg.dim));
  } catch (const std::bad_alloc&) {  // named, like every other error of the call
    fail("posenc::sinusoidal_table", "num_positions", std::to_string(num_positions),
         "a table of num_positions x dim = " + std::to_string(num_positions) + " x " +
             std::to_string(cfg.dim) + " floats that fits in memory");
  }
  sinusoidal_table(TensorView::contiguous(table.data(), DType::F32, {num_positions, cfg.dim}), cfg, 0);
  return table;
}

void sinusoidal_add(TensorView x, const SinusoidalConfig& cfg, const Positions& positions) {
  constexpr const char* where = "posenc::sinusoidal_add";
  const auto plan_ptr = detail::sinusoidal_plan(cfg, where);
  const detail::SinusoidalPlan& plan = *plan_ptr;
  detail::check_float_view(where, "x", x, 3, x.device);
  detail::check_size(where, "x", x, 2, cfg.dim, "dim");
  detail::check_writable(where, "x", x);
  const std::vector<int64_t> pos = positions.resolve(x.size(0), x.size(1), kMaxPosition, where);
  if (x.device == Device::CUDA) {
    detail::cuda::DeviceViews(where).add("x", x);
    detail::cuda::CombineCall op;
    op.out = x;
    op.accumulate = true;
    op.plan = &plan;
    op.pos = &pos;
    detail::cuda::combine_rows(where, op);
    return;
  }
  detail::cpu::RowCombine op;
  op.out = x;
  op.accumulate = true;
  detail::cpu::combine_rows_sinusoidal(op, plan, pos);
}

}  // namespace posenc
