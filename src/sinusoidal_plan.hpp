// src/sinusoidal_plan.hpp — a validated sinusoidal config turned into per-frequency data: the frequency
// in the precision's own recipe and the columns its sin and cos go to.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "exact/dd.hpp"
#include "posenc/sinusoidal.hpp"

namespace posenc::detail {

struct SinusoidalPlan {
  SinusoidalPlan(const SinusoidalConfig& cfg, const char* where);

  SinusoidalConfig cfg;
  int64_t nfreq = 0;
  std::vector<exact::DD> omega;           // Exact: omega_i to ~2^-98
  std::vector<double> w_hi, w_lo;         // Exact: omega_i in quarter turns (exact::quarter_turns)
  std::vector<float> omega_f32;           // HfCompat, float recipe: the float32 frequency
  std::vector<double> omega_f64;          // HfCompat, Marian's float64 recipe: base^(2i/d) (a divisor)
  std::vector<int64_t> sin_col, cos_col;  // column of sin / cos of frequency i, -1 when absent

  // out[c] for c < dim: PE(pos, c) in fp32 (a zero row for the Fairseq padding_idx).
  void row(int64_t pos, float* out) const;
  // sin and cos of frequency i at pos, rounded to fp32, in the plan's precision.
  void sincos(int64_t pos, int64_t i, float& s, float& c) const;
};

// The plan of cfg, remembered for the last 4 configs of the calling thread (plan_cache.hpp): building one
// is ~750 us for d = 4096 (the exact frequencies), a decode-size call's row ~1 us. Validates cfg (throws
// naming `where`) when it builds.
std::shared_ptr<const SinusoidalPlan> sinusoidal_plan(const SinusoidalConfig& cfg, const char* where);

}  // namespace posenc::detail
