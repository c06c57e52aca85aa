// RoPE frequencies: config checks, and omega_i after each scaling in both precisions.
//
// Meaning as in HF transformers 5.x (modeling_rope_utils.py, rope_parameters). Exact evaluates the
// real-number formula with omega_i in double-double; HfCompat replays HF's torch recipe operation
// by operation in float32, with the scalars HF keeps as Python floats in double. The torch facts
// this relies on: `s / t` for a Python scalar s is `t.reciprocal() * s`; a Python scalar meeting a
// float32 tensor (+ - * / and comparisons) is rounded to float32 first; `float(b) ** t` is a
// float32 power, taken here correctly rounded (torch's Sleef / CUDA powf may differ by an ulp).
// Scalars HF derives in Python (YaRN's ramp ends, attention factors) are the same doubles in both
// precisions, so both modes agree on where YaRN's ramp starts and ends.
#include "rope_freq.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "check.hpp"
#include "exact/sincos_turns.hpp"

namespace posenc {

using detail::fail;
using detail::to_str;

namespace {

const char* type_name(RopeType t) {
  switch (t) {
    case RopeType::Default:
      return "Default";
    case RopeType::Linear:
      return "Linear";
    case RopeType::Ntk:
      return "Ntk";
    case RopeType::Dynamic:
      return "Dynamic";
    case RopeType::Yarn:
      return "Yarn";
    case RopeType::Llama3:
      return "Llama3";
    case RopeType::LongRope:
      return "LongRope";
  }
  return "?";
}

// original_max_position_embeddings with HF's default (max_position_embeddings) for 0.
int64_t original_max(const RopeConfig& cfg) {
  const int64_t o = cfg.scaling.original_max_position_embeddings;
  return o > 0 ? o : cfg.max_position_embeddings;
}

// LongRoPE's scale s: the factor when one is given (!= 1), else max / original as HF does for a
// missing factor (Phi-3).
double longrope_scale(const RopeConfig& cfg) {
  if (cfg.scaling.factor != 1.0) return cfg.scaling.factor;
  return static_cast<double>(cfg.max_position_embeddings) / static_cast<double>(original_max(cfg));
}

bool finite_positive(double v) {
  return std::isfinite(v) && v > 0.0;
}

void check_factor_list(const char* where, const char* name, const std::vector<double>& v, int64_t half) {
  if (static_cast<int64_t>(v.size()) != half)
    fail(where, std::string(name) + ".size()", std::to_string(v.size()),
         std::to_string(half) + " (one entry per frequency, rotary dim / 2)");
  for (size_t i = 0; i < v.size(); ++i)
    if (!finite_positive(v[i]))
      fail(where, std::string(name) + "[" + std::to_string(i) + "]", to_str(v[i]), "finite and > 0");
}

void check_optional_positive(const char* where, const char* name, const std::optional<double>& v) {
  if (v.has_value() && !finite_positive(*v)) fail(where, name, to_str(*v), "finite and > 0 (or unset)");
}

}  // namespace

void validate(const RopeConfig& cfg, const char* where) {
  const RopeScaling& s = cfg.scaling;
  if (cfg.head_dim < 2) fail(where, "head_dim", std::to_string(cfg.head_dim), "integer >= 2");
  // (an upper bound: the frequencies are r / 2 entries, allocated per config)
  if (cfg.head_dim > kMaxRopeHeadDim)
    fail(where, "head_dim", std::to_string(cfg.head_dim),
         "at most " + std::to_string(kMaxRopeHeadDim) + " (kMaxRopeHeadDim)");
  if (cfg.rotary_dim != 0 && (cfg.rotary_dim < 2 || cfg.rotary_dim > cfg.head_dim || cfg.rotary_dim % 2 != 0))
    fail(where, "rotary_dim", std::to_string(cfg.rotary_dim),
         "0 (= head_dim) or an even integer in [2, head_dim = " + std::to_string(cfg.head_dim) + "]");
  if (cfg.rotary_dim == 0 && cfg.head_dim % 2 != 0)
    fail(where, "head_dim", std::to_string(cfg.head_dim),
         "even when rotary_dim = 0 (every dim rotates, in pairs); set an even rotary_dim < "
         "head_dim");
  if (!std::isfinite(cfg.base) || cfg.base <= 1.0) fail(where, "base", to_str(cfg.base), "finite and > 1");
  if (cfg.layout != PairLayout::HalfSplit && cfg.layout != PairLayout::Interleaved)
    fail(where, "layout", std::to_string(static_cast<int>(cfg.layout)), "HalfSplit or Interleaved");
  if (cfg.precision != Precision::Exact && cfg.precision != Precision::HfCompat)
    fail(where, "precision", std::to_string(static_cast<int>(cfg.precision)), "Exact or HfCompat");
  if (static_cast<int>(s.type) > static_cast<int>(RopeType::LongRope))
    fail(where, "scaling.type", std::to_string(static_cast<int>(s.type)),
         "Default, Linear, Ntk, Dynamic, Yarn, Llama3 or LongRope");
  if (cfg.max_position_embeddings < 0)
    fail(where, "max_position_embeddings", std::to_string(cfg.max_position_embeddings),
         ">= 0 (0 = unknown; Dynamic, Yarn, Llama3 and LongRope need >= 1)");
  if (s.original_max_position_embeddings < 0)
    fail(where, "scaling.original_max_position_embeddings",
         std::to_string(s.original_max_position_embeddings), ">= 0 (0 = max_position_embeddings)");
  if (s.type == RopeType::Default) return;

  const std::string type = type_name(s.type);
  const int64_t r = cfg.rot();
  // HF warns on factor < 1 for every scaling ("must be a float >= 1"); posenc rejects it.
  if (!std::isfinite(s.factor) || s.factor < 1.0)
    fail(where, "scaling.factor", to_str(s.factor),
         "finite and >= 1 for " + type + (s.type == RopeType::LongRope ? " (1 = derive it)" : ""));
  if ((s.type == RopeType::Ntk || s.type == RopeType::Dynamic) && r < 4)
    fail(where, cfg.rotary_dim == 0 ? "head_dim" : "rotary_dim", std::to_string(r),
         "a rotary dim >= 4 for " + type + " (the base is scaled by factor^(r / (r - 2)))");
  if (s.type == RopeType::Dynamic && cfg.max_position_embeddings < 1)
    fail(where, "max_position_embeddings", std::to_string(cfg.max_position_embeddings),
         ">= 1 for Dynamic (the length beyond which the base grows)");
  if (s.type == RopeType::Yarn || s.type == RopeType::Llama3 || s.type == RopeType::LongRope) {
    if (original_max(cfg) < 1)
      fail(where, "scaling.original_max_position_embeddings", "0",
           ">= 1 for " + type + " (or 0 with max_position_embeddings >= 1)");
  }
  if (s.type == RopeType::Yarn) {
    if (!finite_positive(s.beta_slow))
      fail(where, "scaling.beta_slow", to_str(s.beta_slow), "finite and > 0");
    if (!std::isfinite(s.beta_fast) || s.beta_fast <= s.beta_slow)
      fail(where, "scaling.beta_fast", to_str(s.beta_fast),
           "finite and > beta_slow = " + to_str(s.beta_slow));
    check_optional_positive(where, "scaling.attention_factor", s.attention_factor);
    check_optional_positive(where, "scaling.mscale", s.mscale);
    check_optional_positive(where, "scaling.mscale_all_dim", s.mscale_all_dim);
  }
  if (s.type == RopeType::Llama3) {
    if (!finite_positive(s.low_freq_factor))
      fail(where, "scaling.low_freq_factor", to_str(s.low_freq_factor), "finite and > 0");
    if (!std::isfinite(s.high_freq_factor) || s.high_freq_factor < s.low_freq_factor)
      fail(where, "scaling.high_freq_factor", to_str(s.high_freq_factor),
           "finite and >= low_freq_factor = " + to_str(s.low_freq_factor));
    if (cfg.max_position_embeddings >= 1 && original_max(cfg) > cfg.max_position_embeddings)
      fail(where, "scaling.original_max_position_embeddings", std::to_string(original_max(cfg)),
           "<= max_position_embeddings = " + std::to_string(cfg.max_position_embeddings) +
               " (the pretraining context of an extended model)");
  }
  if (s.type == RopeType::LongRope) {
    check_factor_list(where, "scaling.short_factor", s.short_factor, r / 2);
    check_factor_list(where, "scaling.long_factor", s.long_factor, r / 2);
    check_optional_positive(where, "scaling.attention_factor", s.attention_factor);
    if (!s.attention_factor.has_value()) {
      if (s.factor == 1.0 && cfg.max_position_embeddings < 1)
        fail(where, "max_position_embeddings", std::to_string(cfg.max_position_embeddings),
             ">= 1 for LongRope without factor or attention_factor (s = max / original)");
      if (longrope_scale(cfg) > 1.0 && original_max(cfg) < 2)
        fail(where, "scaling.original_max_position_embeddings", std::to_string(original_max(cfg)),
             ">= 2 for LongRope's attention factor sqrt(1 + ln s / ln original)");
    }
  }
}

namespace detail {

namespace {

using exact::DD;

constexpr DD kTwoPi{6.283185307179586, 2.4492935982947064e-16};

// a / b in double-double: the double quotient and two correction terms from the remainders.
DD dd_div(DD a, DD b) {
  const double q1 = a.hi / b.hi;
  const DD r = a - b * q1;
  const double q2 = r.hi / b.hi;
  const DD r2 = r - b * q2;
  const double q3 = r2.hi / b.hi;
  return exact::two_sum(q1, q2) + DD{q3, 0.0};
}

DD dd(double v) {
  return {v, 0.0};
}

float f32(double v) {
  return static_cast<float>(v);
}

// float32 x ** y, correctly rounded (in double, then rounded once).
float pow_f32(float x, float y) {
  return static_cast<float>(std::pow(static_cast<double>(x), static_cast<double>(y)));
}

// omega_i = base^(-2i/r) = exp(-(2i/r) ln base), i < r/2, from ln(base) in double-double.
std::vector<DD> exact_default(DD ln_base, int64_t r) {
  std::vector<DD> w(static_cast<size_t>(r / 2));
  for (int64_t i = 0; i < r / 2; ++i)
    w[static_cast<size_t>(i)] =
        exact::exp(-((ln_base * static_cast<double>(2 * i)) / static_cast<double>(r)));
  return w;
}

// HF: base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim) -- the float32 exponent
// float(2i) / float(dim), then a float32 power of float(base).
std::vector<float> hf_pow(float base, int64_t r) {
  std::vector<float> p(static_cast<size_t>(r / 2));
  for (int64_t i = 0; i < r / 2; ++i)
    p[static_cast<size_t>(i)] = pow_f32(base, static_cast<float>(2 * i) / static_cast<float>(r));
  return p;
}

// HF: 1.0 / (base ** exponent) -- the float32 reciprocal of each power.
std::vector<float> hf_default(double base, int64_t r) {
  std::vector<float> w = hf_pow(f32(base), r);
  for (float& v : w) v = 1.0f / v;
  return w;
}

// ln(base * x^(r/(r-2))) = ln(base) + (r/(r-2)) ln(x): the NTK-scaled base, for x >= 1.
DD ntk_ln_base(DD ln_base, DD x, int64_t r) {
  const DD expo = dd(static_cast<double>(r)) / static_cast<double>(r - 2);
  return ln_base + exact::log(x) * expo;
}

void linear(const RopeConfig& cfg, RopeFreqs& f) {
  const double factor = cfg.scaling.factor;
  for (DD& w : f.omega) w = w / factor;
  // HF: inv_freq /= factor (float32 division by float(factor)).
  for (float& w : f.omega_f32) w = w / f32(factor);
}

void ntk(const RopeConfig& cfg, DD ln_base, RopeFreqs& f) {
  const int64_t r = cfg.rot();
  const double factor = cfg.scaling.factor;
  f.omega = exact_default(ntk_ln_base(ln_base, dd(factor), r), r);
  // As HF's static NTK: base * factor ** (dim / (dim - 2)) in Python floats.
  const double base2 = cfg.base * std::pow(factor, static_cast<double>(r) / static_cast<double>(r - 2));
  f.omega_f32 = hf_default(base2, r);
}

// Dynamic NTK at length L = max(seq_len, Lmax) (HF's dynamic update: seq_len =
// max(position_ids)+1).
void dynamic(const RopeConfig& cfg, DD ln_base, int64_t seq_len, RopeFreqs& f) {
  const int64_t r = cfg.rot(), lmax = cfg.max_position_embeddings;
  const double factor = cfg.scaling.factor;
  const double expo = static_cast<double>(r) / static_cast<double>(r - 2);
  if (seq_len <= lmax) {
    // Exact: x = factor * Lmax / Lmax - (factor - 1) = 1, base unchanged (f.omega as is).
    // HfCompat: HF's buffer from initialisation (seq_len None -> Lmax), in Python floats.
    const double x = factor * static_cast<double>(lmax) / static_cast<double>(lmax) - (factor - 1.0);
    f.omega_f32 = hf_default(cfg.base * std::pow(x, expo), r);
    return;
  }
  // Exact: x = factor * L / Lmax - (factor - 1) > 1.
  const DD x = exact::two_prod(factor, static_cast<double>(seq_len)) / static_cast<double>(lmax) -
               (dd(factor) - dd(1.0));
  f.omega = exact_default(ntk_ln_base(ln_base, x, r), r);
  // HfCompat: seq_len is an int64 tensor there, so the new base is a float32 tensor:
  //   x = float(factor) * float(L) / float(Lmax) - float(factor - 1)      (float32 steps)
  //   base' = float(base) * float(x ** (r / (r - 2)))
  // torch's CPU pow(float32 tensor, Python float) raises to the double exponent and rounds the
  // result to float32 (CUDA rounds the exponent to float32 first: an ulp or so apart).
  const float xf = f32(factor) * static_cast<float>(seq_len) / static_cast<float>(lmax) - f32(factor - 1.0);
  const float base2 = f32(cfg.base) * f32(std::pow(static_cast<double>(xf), expo));
  f.omega_f32 = hf_default(base2, r);
}

// HF's get_mscale: 0.1 * mscale * ln(scale) + 1 for scale > 1, else 1.
double yarn_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

// HF's find_correction_dim: the dim index whose frequency makes num_rotations turns over Lorig.
double yarn_correction_dim(double num_rotations, int64_t r, double base, int64_t lorig) {
  return (static_cast<double>(r) *
          std::log(static_cast<double>(lorig) / (num_rotations * 2.0 * std::numbers::pi))) /
         (2.0 * std::log(base));
}

void yarn(const RopeConfig& cfg, RopeFreqs& f) {
  const RopeScaling& s = cfg.scaling;
  const int64_t r = cfg.rot(), half = r / 2, lorig = original_max(cfg);
  const double factor = s.factor;
  if (s.attention_factor.has_value())
    f.attention_scaling = *s.attention_factor;
  else if (s.mscale.has_value() && s.mscale_all_dim.has_value())
    f.attention_scaling = yarn_mscale(factor, *s.mscale) / yarn_mscale(factor, *s.mscale_all_dim);
  else
    f.attention_scaling = yarn_mscale(factor, 1.0);

  // Ramp ends in Python doubles, as HF (both precisions use them).
  double low = yarn_correction_dim(s.beta_fast, r, cfg.base, lorig);
  double high = yarn_correction_dim(s.beta_slow, r, cfg.base, lorig);
  if (s.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(r - 1));
  if (low == high) high += 0.001;  // HF: prevent singularity

  // ramp_j = clamp((j - low) / (high - low), 0, 1): 0 keeps omega_j, 1 divides it by factor.
  const DD span = exact::two_sum(high, -low);
  const std::vector<float> p = hf_pow(f32(cfg.base), r);
  const float low_f = f32(low), span_f = f32(high - low);
  for (int64_t j = 0; j < half; ++j) {
    const auto k = static_cast<size_t>(j);
    DD ramp = dd_div(exact::two_sum(static_cast<double>(j), -low), span);
    if (ramp.hi < 0.0) ramp = dd(0.0);
    if (ramp.hi > 1.0 || (ramp.hi == 1.0 && ramp.lo > 0.0)) ramp = dd(1.0);
    const DD w = f.omega[k];
    f.omega[k] = w * (dd(1.0) - ramp) + (w / factor) * ramp;

    // HF: extrapolation factor e = 1 - clamp((float(j) - low) / (high - low), 0, 1);
    //     inv = 1 / (factor * p) * (1 - e) + (1 / p) * e, every step in float32.
    const float ramp_f = std::clamp((static_cast<float>(j) - low_f) / span_f, 0.0f, 1.0f);
    const float e = 1.0f - ramp_f;
    const float extrapolation = 1.0f / p[k];
    const float interpolation = 1.0f / (f32(factor) * p[k]);
    const float a = interpolation * (1.0f - e);
    const float b = extrapolation * e;
    f.omega_f32[k] = a + b;
  }
}

void llama3(const RopeConfig& cfg, RopeFreqs& f) {
  const RopeScaling& s = cfg.scaling;
  const double factor = s.factor, lff = s.low_freq_factor, hff = s.high_freq_factor;
  const int64_t lorig = original_max(cfg);
  const double old = static_cast<double>(lorig);
  // Exact: wavelength 2 pi / omega against old / lff (beyond: divide by factor) and old / hff
  // (below: keep); between, (1 - t) omega / factor + t omega with t = (old / wavelength - lff) /
  // (hff - lff). The blend is continuous at both ends, so deciding the regions exactly is safe.
  // hff == lff (Llama 4 Scout): no band, a step; a wavelength exactly at old / lff is kept (HF's
  // blend divides 0 by 0 there: NaN).
  const bool step = hff == lff;
  const DD two_pi_lff = kTwoPi * lff, two_pi_hff = kTwoPi * hff;
  const DD dff = exact::two_sum(hff, -lff);
  for (DD& w : f.omega) {
    const DD w_old = w * old;  // wavelength > old / lff  <=>  2 pi lff > omega old
    const DD lo_gap = two_pi_lff - w_old, hi_gap = w_old - two_pi_hff;
    if (lo_gap.hi > 0.0) {
      w = w / factor;
    } else if (hi_gap.hi <= 0.0 && !step) {
      const DD t = dd_div(dd_div(w_old, kTwoPi) - dd(lff), dff);
      w = (dd(1.0) - t) * w / factor + t * w;
    }
  }
  // HfCompat, in HF's float32 steps.
  const float low_wl = f32(old / lff), high_wl = f32(old / hff);
  const float factor_f = f32(factor), lff_f = f32(lff), dff_f = f32(hff - lff);
  const float old_f = f32(old), two_pi_f = f32(2.0 * std::numbers::pi);
  for (float& w : f.omega_f32) {
    const float wavelen = (1.0f / w) * two_pi_f;  // 2 * math.pi / inv_freq
    const float llama = wavelen > low_wl ? w / factor_f : w;
    const float t =
        step ? 0.0f : ((1.0f / wavelen) * old_f - lff_f) / dff_f;  // old_context_len / wavelen ...
    const float smoothed = (1.0f - t) * llama / factor_f + t * llama;
    const bool medium = !(wavelen < high_wl) && !(wavelen > low_wl);
    w = medium && !step ? smoothed : llama;  // step: HF's NaN on the boundary, kept instead
  }
}

void longrope(const RopeConfig& cfg, int64_t seq_len, RopeFreqs& f) {
  const RopeScaling& s = cfg.scaling;
  const int64_t r = cfg.rot(), lorig = original_max(cfg);
  if (s.attention_factor.has_value()) {
    f.attention_scaling = *s.attention_factor;
  } else {
    const double scale = longrope_scale(cfg);
    f.attention_scaling =
        scale <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(scale) / std::log(static_cast<double>(lorig)));
  }
  // Long factors once the sequence outgrows the pretraining length (HF: seq_len > original; at
  // initialisation, seq_len None, the short ones).
  const std::vector<double>& ext = seq_len > lorig ? s.long_factor : s.short_factor;
  const std::vector<float> p = hf_pow(f32(cfg.base), r);
  for (size_t i = 0; i < f.omega.size(); ++i) {
    f.omega[i] = f.omega[i] / ext[i];
    // HF: 1.0 / (ext_factors * base ** exponent), ext_factors a float32 tensor.
    f.omega_f32[i] = 1.0f / (f32(ext[i]) * p[i]);
  }
}

}  // namespace

RopeFreqs rope_freqs(const RopeConfig& cfg, int64_t seq_len, const char* where) {
  validate(cfg, where);
  if (seq_len < 0 || seq_len > kMaxPosition + 1)
    fail(where, "seq_len", std::to_string(seq_len),
         "0 .. 2^31 (max position + 1; 0 = unknown, as HF at initialisation)");
  const int64_t r = cfg.rot();
  const DD ln_base = exact::log(dd(cfg.base));
  RopeFreqs f;
  f.omega = exact_default(ln_base, r);
  f.omega_f32 = hf_default(cfg.base, r);
  switch (cfg.scaling.type) {
    case RopeType::Default:
      break;
    case RopeType::Linear:
      linear(cfg, f);
      break;
    case RopeType::Ntk:
      ntk(cfg, ln_base, f);
      break;
    case RopeType::Dynamic:
      dynamic(cfg, ln_base, seq_len, f);
      break;
    case RopeType::Yarn:
      yarn(cfg, f);
      break;
    case RopeType::Llama3:
      llama3(cfg, f);
      break;
    case RopeType::LongRope:
      longrope(cfg, seq_len, f);
      break;
  }
  // Exact angles are reduced in quarter turns (exact/sincos_turns.hpp), which needs pos * omega_i <
  // 2^51: omega_i <= 2^16 leaves room for every position. Only LongRoPE factors < 1 can go above 1.
  f.w_hi.resize(f.omega.size());
  f.w_lo.resize(f.omega.size());
  for (size_t i = 0; i < f.omega.size(); ++i) {
    if (!(f.omega[i].hi <= 65536.0))
      fail(where, "omega[" + std::to_string(i) + "] (the scaled frequency)", to_str(f.omega[i].hi),
           "<= 65536 rad per position (check scaling.short_factor / long_factor)");
    const DD w = exact::quarter_turns(f.omega[i]);
    f.w_hi[i] = w.hi;
    f.w_lo[i] = w.lo;
  }
  return f;
}

}  // namespace detail

RopeFrequencies rope_frequencies(const RopeConfig& cfg, int64_t seq_len) {
  const detail::RopeFreqs f = detail::rope_freqs(cfg, seq_len, "posenc::rope_frequencies");
  RopeFrequencies out;
  out.inv_freq.resize(f.omega.size());
  for (size_t i = 0; i < f.omega.size(); ++i)
    out.inv_freq[i] = cfg.precision == Precision::Exact ? f.omega[i].hi + f.omega[i].lo
                                                        : static_cast<double>(f.omega_f32[i]);
  out.inv_freq_f32 = f.omega_f32;
  out.attention_scaling = f.attention_scaling;
  return out;
}

}  // namespace posenc
