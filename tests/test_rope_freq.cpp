// RoPE frequencies (src/rope_freq.cpp): every config check names its field; default frequencies
// against MPFR (Exact to double-double accuracy, HfCompat bit for bit against a correctly rounded
// float32 simulation of HF's recipe); every scaling against a plain double re-implementation of
// the formulas in posenc/rope.hpp written here (not calling posenc), on parameter sets beyond the
// golden ones; HfCompat against Exact within a stated float32 error budget.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "mpfr_reference.hpp"
#include "posenc/error.hpp"
#include "posenc/rope.hpp"
#include "rope_freq.hpp"

using namespace posenc;
using posenc_test::Mp;

namespace {

constexpr double kPi = std::numbers::pi;

RopeConfig base_cfg(RopeType type, int64_t D = 64, double base = 10000.0) {
  RopeConfig c;
  c.head_dim = D;
  c.base = base;
  c.max_position_embeddings = 4096;
  c.scaling.type = type;
  if (type != RopeType::Default && type != RopeType::LongRope) c.scaling.factor = 4.0;
  if (type == RopeType::Yarn || type == RopeType::Llama3) c.scaling.original_max_position_embeddings = 1024;
  if (type == RopeType::LongRope) {
    c.scaling.original_max_position_embeddings = 1024;
    for (int64_t i = 0; i < c.rot() / 2; ++i) {
      c.scaling.short_factor.push_back(1.0 + 0.05 * static_cast<double>(i));
      c.scaling.long_factor.push_back(1.0 + 0.5 * static_cast<double>(i));
    }
  }
  return c;
}

// ---- validation -----------------------------------------------------------------------------

struct BadCase {
  const char* what;
  RopeType type;
  std::function<void(RopeConfig&)> mutate;
  const char* argument;
};

TEST(RopeFreqValidation, EachBadFieldIsNamedWithItsAllowedRange) {
  const double nan = std::nan(""), inf = HUGE_VAL;
  using T = RopeType;
  const std::vector<BadCase> cases = {
      {"head_dim 0", T::Default, [](RopeConfig& c) { c.head_dim = 0; }, "head_dim"},
      {"head_dim 1", T::Default, [](RopeConfig& c) { c.head_dim = 1; }, "head_dim"},
      {"odd head_dim, all rotary", T::Default, [](RopeConfig& c) { c.head_dim = 65; }, "head_dim"},
      {"odd rotary_dim", T::Default, [](RopeConfig& c) { c.rotary_dim = 31; }, "rotary_dim"},
      {"rotary_dim > head_dim", T::Default, [](RopeConfig& c) { c.rotary_dim = 66; }, "rotary_dim"},
      {"negative rotary_dim", T::Default, [](RopeConfig& c) { c.rotary_dim = -2; }, "rotary_dim"},
      {"base 1", T::Default, [](RopeConfig& c) { c.base = 1.0; }, "base"},
      {"base < 1", T::Default, [](RopeConfig& c) { c.base = 0.5; }, "base"},
      {"base nan", T::Default, [=](RopeConfig& c) { c.base = nan; }, "base"},
      {"base inf", T::Default, [=](RopeConfig& c) { c.base = inf; }, "base"},
      {"layout", T::Default, [](RopeConfig& c) { c.layout = static_cast<PairLayout>(7); }, "layout"},
      {"precision", T::Default, [](RopeConfig& c) { c.precision = static_cast<Precision>(9); }, "precision"},
      {"unknown type", T::Default, [](RopeConfig& c) { c.scaling.type = static_cast<RopeType>(42); },
       "scaling.type"},
      {"negative max", T::Default, [](RopeConfig& c) { c.max_position_embeddings = -1; },
       "max_position_embeddings"},
      {"negative original max", T::Yarn,
       [](RopeConfig& c) { c.scaling.original_max_position_embeddings = -5; },
       "scaling.original_max_position_embeddings"},
      {"linear factor < 1", T::Linear, [](RopeConfig& c) { c.scaling.factor = 0.5; }, "scaling.factor"},
      {"linear factor 0", T::Linear, [](RopeConfig& c) { c.scaling.factor = 0.0; }, "scaling.factor"},
      {"linear factor nan", T::Linear, [=](RopeConfig& c) { c.scaling.factor = nan; }, "scaling.factor"},
      {"ntk factor inf", T::Ntk, [=](RopeConfig& c) { c.scaling.factor = inf; }, "scaling.factor"},
      {"yarn factor < 1", T::Yarn, [](RopeConfig& c) { c.scaling.factor = 0.9; }, "scaling.factor"},
      {"llama3 factor -1", T::Llama3, [](RopeConfig& c) { c.scaling.factor = -1; }, "scaling.factor"},
      {"longrope factor < 1", T::LongRope, [](RopeConfig& c) { c.scaling.factor = 0.5; }, "scaling.factor"},
      {"ntk r = 2", T::Ntk, [](RopeConfig& c) { c.rotary_dim = 2; }, "rotary_dim"},
      {"dynamic D = 2", T::Dynamic, [](RopeConfig& c) { c.head_dim = 2; }, "head_dim"},
      {"dynamic without max", T::Dynamic, [](RopeConfig& c) { c.max_position_embeddings = 0; },
       "max_position_embeddings"},
      {"yarn without any max", T::Yarn,
       [](RopeConfig& c) {
         c.max_position_embeddings = 0;
         c.scaling.original_max_position_embeddings = 0;
       },
       "scaling.original_max_position_embeddings"},
      {"yarn beta_slow 0", T::Yarn, [](RopeConfig& c) { c.scaling.beta_slow = 0; }, "scaling.beta_slow"},
      {"yarn beta_slow nan", T::Yarn, [=](RopeConfig& c) { c.scaling.beta_slow = nan; }, "scaling.beta_slow"},
      {"yarn beta_fast == beta_slow", T::Yarn, [](RopeConfig& c) { c.scaling.beta_fast = 1.0; },
       "scaling.beta_fast"},
      {"yarn beta_fast < beta_slow", T::Yarn, [](RopeConfig& c) { c.scaling.beta_fast = 0.5; },
       "scaling.beta_fast"},
      {"yarn attention_factor 0", T::Yarn, [](RopeConfig& c) { c.scaling.attention_factor = 0.0; },
       "scaling.attention_factor"},
      {"yarn attention_factor nan", T::Yarn, [=](RopeConfig& c) { c.scaling.attention_factor = nan; },
       "scaling.attention_factor"},
      {"yarn mscale < 0", T::Yarn, [](RopeConfig& c) { c.scaling.mscale = -1.0; }, "scaling.mscale"},
      {"yarn mscale_all_dim 0", T::Yarn, [](RopeConfig& c) { c.scaling.mscale_all_dim = 0.0; },
       "scaling.mscale_all_dim"},
      {"llama3 low_freq_factor 0", T::Llama3, [](RopeConfig& c) { c.scaling.low_freq_factor = 0; },
       "scaling.low_freq_factor"},
      {"llama3 high < low", T::Llama3, [](RopeConfig& c) { c.scaling.high_freq_factor = 0.5; },
       "scaling.high_freq_factor"},
      {"llama3 high inf", T::Llama3, [=](RopeConfig& c) { c.scaling.high_freq_factor = inf; },
       "scaling.high_freq_factor"},
      {"llama3 original > max", T::Llama3,
       [](RopeConfig& c) { c.scaling.original_max_position_embeddings = 8192; },
       "scaling.original_max_position_embeddings"},
      {"llama3 without any max", T::Llama3,
       [](RopeConfig& c) {
         c.max_position_embeddings = 0;
         c.scaling.original_max_position_embeddings = 0;
       },
       "scaling.original_max_position_embeddings"},
      {"longrope short too short", T::LongRope, [](RopeConfig& c) { c.scaling.short_factor.pop_back(); },
       "scaling.short_factor.size()"},
      {"longrope long too long", T::LongRope, [](RopeConfig& c) { c.scaling.long_factor.push_back(1.0); },
       "scaling.long_factor.size()"},
      {"longrope long entry 0", T::LongRope, [](RopeConfig& c) { c.scaling.long_factor[3] = 0.0; },
       "scaling.long_factor[3]"},
      {"longrope short entry nan", T::LongRope, [=](RopeConfig& c) { c.scaling.short_factor[0] = nan; },
       "scaling.short_factor[0]"},
      {"longrope attention_factor < 0", T::LongRope, [](RopeConfig& c) { c.scaling.attention_factor = -1.0; },
       "scaling.attention_factor"},
      {"longrope nothing to derive s from", T::LongRope, [](RopeConfig& c) { c.max_position_embeddings = 0; },
       "max_position_embeddings"},
      {"longrope ln(original) = 0", T::LongRope,
       [](RopeConfig& c) { c.scaling.original_max_position_embeddings = 1; },
       "scaling.original_max_position_embeddings"},
  };
  for (const BadCase& bc : cases) {
    RopeConfig cfg = base_cfg(bc.type);
    ASSERT_NO_THROW(validate(cfg, "where")) << "the unmodified config of '" << bc.what << "'";
    bc.mutate(cfg);
    for (int via = 0; via < 2; ++via) {
      try {
        if (via == 0)
          validate(cfg, "test::where");
        else
          (void)rope_frequencies(cfg, 100);
        ADD_FAILURE() << bc.what << ": no error";
      } catch (const Error& e) {
        EXPECT_EQ(e.argument(), bc.argument) << bc.what << ": " << e.what();
        EXPECT_EQ(e.where(), via == 0 ? "test::where" : "posenc::rope_frequencies") << bc.what;
        EXPECT_NE(std::string(e.what()).find("allowed"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(bc.argument), std::string::npos) << e.what();
      }
    }
  }
}

TEST(RopeFreqValidation, SeqLenOutOfRange) {
  const RopeConfig cfg = base_cfg(RopeType::Dynamic);
  for (int64_t bad : {int64_t{-1}, kMaxPosition + 2}) {
    try {
      (void)rope_frequencies(cfg, bad);
      ADD_FAILURE() << "seq_len " << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.argument(), "seq_len");
      EXPECT_NE(std::string(e.what()).find("allowed"), std::string::npos);
    }
  }
  EXPECT_NO_THROW((void)rope_frequencies(cfg, kMaxPosition + 1));
}

TEST(RopeFreqValidation, ValidEdgeConfigsPass) {
  RopeConfig c = base_cfg(RopeType::Default, 65);
  c.rotary_dim = 64;  // odd head dim, even rotary part
  EXPECT_NO_THROW(validate(c));
  c.rotary_dim = 2;
  EXPECT_NO_THROW(validate(c));
  c = base_cfg(RopeType::Default, 2);
  c.max_position_embeddings = 0;  // default RoPE needs no max
  EXPECT_NO_THROW(validate(c));
  c = base_cfg(RopeType::Llama3);
  c.scaling.original_max_position_embeddings = 0;  // = max
  EXPECT_NO_THROW(validate(c));
  c = base_cfg(RopeType::Yarn);
  c.scaling.factor = 1.0;
  c.max_position_embeddings = 0;  // original given
  EXPECT_NO_THROW(validate(c));
  c = base_cfg(RopeType::LongRope);
  c.max_position_embeddings = 0;
  c.scaling.attention_factor = 1.2;  // nothing derived from max
  EXPECT_NO_THROW(validate(c));
  c = base_cfg(RopeType::Linear);
  c.scaling.short_factor = {-1.0};  // fields of other types are ignored, as in HF
  c.scaling.beta_fast = -3;
  EXPECT_NO_THROW(validate(c));
}

// ---- default frequencies against MPFR -------------------------------------------------------

// Exact: the double-double omega_i against base^(-2i/r) at 256 bits. dd log errs by <= 2^-95
// max(|ln b|, 1) absolute, scaled by 2i/r <= 1, and dd exp adds 2^-96 relative: for ln b <= 21
// (b <= 1e9) the relative error stays below 2^-90. The double inv_freq must be the double nearest
// the MPFR value (the dd is 2^-37 ulp of a double away: only a near-midpoint could flip it).
// HfCompat: HF's float32 recipe simulated with MPFR's correctly rounded 24-bit power must agree
// bit for bit.
TEST(RopeFreqDefault, MatchesMpfr) {
  struct Dims {
    int64_t D, r;
  };
  const std::vector<Dims> dims = {{2, 0},  {4, 0},   {64, 0},   {65, 64}, {80, 40},
                                  {96, 0}, {128, 0}, {128, 32}, {256, 0}};
  double worst = 0;
  for (double base : {10000.0, 500000.0, 1e6, 2.5, 10000.5, 1e9}) {
    for (const Dims& d : dims) {
      RopeConfig cfg = base_cfg(RopeType::Default, d.D, base);
      cfg.rotary_dim = d.r;
      const int64_t r = cfg.rot();
      const detail::RopeFreqs f = detail::rope_freqs(cfg, 0, "test");
      cfg.precision = Precision::Exact;
      const RopeFrequencies pub = rope_frequencies(cfg);
      ASSERT_EQ(f.omega.size(), static_cast<size_t>(r / 2));
      ASSERT_EQ(pub.inv_freq.size(), static_cast<size_t>(r / 2));
      for (int64_t i = 0; i < r / 2; ++i) {
        const auto k = static_cast<size_t>(i);
        Mp b, t, w, got, err;
        mpfr_set_d(b, base, MPFR_RNDN);
        mpfr_set_si(t, -2 * i, MPFR_RNDN);
        mpfr_div_si(t, t, static_cast<long>(r), MPFR_RNDN);
        mpfr_pow(w, b, t, MPFR_RNDN);
        mpfr_set_d(got, f.omega[k].hi, MPFR_RNDN);
        mpfr_add_d(got, got, f.omega[k].lo, MPFR_RNDN);
        mpfr_sub(err, got, w, MPFR_RNDN);
        mpfr_div(err, err, w, MPFR_RNDN);
        const double rel = std::fabs(mpfr_get_d(err, MPFR_RNDN));
        worst = std::max(worst, rel);
        EXPECT_LE(rel, 0x1p-90) << "base " << base << " r " << r << " i " << i;
        EXPECT_EQ(pub.inv_freq[k], mpfr_get_d(w, MPFR_RNDN)) << "base " << base << " i " << i;
        // HF: 1.0 / (float(base) ** (float(2i) / float(r))), float32 throughout.
        Mp p24(24), bf(24), ef(24);
        mpfr_set_flt(bf, static_cast<float>(base), MPFR_RNDN);
        mpfr_set_flt(ef, static_cast<float>(2 * i) / static_cast<float>(r), MPFR_RNDN);
        mpfr_pow(p24, bf, ef, MPFR_RNDN);
        const float want = 1.0f / mpfr_get_flt(p24, MPFR_RNDN);
        EXPECT_EQ(f.omega_f32[k], want) << "HfCompat base " << base << " r " << r << " i " << i;
        EXPECT_EQ(pub.inv_freq_f32[k], want);
      }
      EXPECT_EQ(pub.attention_scaling, 1.0);
    }
  }
  std::printf("[ rope     ] default Exact vs MPFR: max relative error %.3g (bound 2^-90 = %.3g)\n", worst,
              0x1p-90);
}

// ---- scalings against a double re-implementation of the formulas ----------------------------

struct Ref {
  std::vector<double> omega;
  double attention = 1.0;
};

// The formulas of posenc/rope.hpp (HF transformers 5.x), in plain double.
Ref reference(const RopeConfig& c, int64_t L) {
  const RopeScaling& s = c.scaling;
  const int64_t r = c.rotary_dim == 0 ? c.head_dim : c.rotary_dim;
  const double rd = static_cast<double>(r);
  const int64_t lorig =
      s.original_max_position_embeddings > 0 ? s.original_max_position_embeddings : c.max_position_embeddings;
  double base = c.base;
  if (s.type == RopeType::Ntk) base *= std::pow(s.factor, rd / (rd - 2));
  if (s.type == RopeType::Dynamic && L > c.max_position_embeddings)
    base *= std::pow(
        s.factor * static_cast<double>(L) / static_cast<double>(c.max_position_embeddings) - (s.factor - 1),
        rd / (rd - 2));
  Ref out;
  for (int64_t i = 0; i < r / 2; ++i) out.omega.push_back(std::pow(base, -2.0 * static_cast<double>(i) / rd));
  const double f = s.factor;
  if (s.type == RopeType::Linear)
    for (double& w : out.omega) w /= f;
  if (s.type == RopeType::Yarn) {
    auto dim_of = [&](double rot) {
      return rd * std::log(static_cast<double>(lorig) / (rot * 2 * kPi)) / (2 * std::log(c.base));
    };
    double lo = dim_of(s.beta_fast), hi = dim_of(s.beta_slow);
    if (s.truncate) lo = std::floor(lo), hi = std::ceil(hi);
    lo = std::max(lo, 0.0);
    hi = std::min(hi, rd - 1);
    if (lo == hi) hi += 0.001;
    for (size_t j = 0; j < out.omega.size(); ++j) {
      const double ramp = std::clamp((static_cast<double>(j) - lo) / (hi - lo), 0.0, 1.0);
      out.omega[j] = out.omega[j] * (1 - ramp) + out.omega[j] / f * ramp;
    }
    auto mscale = [&](double m) { return f <= 1 ? 1.0 : 0.1 * m * std::log(f) + 1.0; };
    out.attention = s.attention_factor               ? *s.attention_factor
                    : (s.mscale && s.mscale_all_dim) ? mscale(*s.mscale) / mscale(*s.mscale_all_dim)
                                                     : mscale(1.0);
  }
  if (s.type == RopeType::Llama3) {
    const double old = static_cast<double>(lorig);
    for (double& w : out.omega) {
      const double wavelen = 2 * kPi / w;
      if (wavelen > old / s.low_freq_factor) {
        w /= f;
      } else if (wavelen >= old / s.high_freq_factor && s.high_freq_factor > s.low_freq_factor) {
        const double t = (old / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        w = (1 - t) * w / f + t * w;
      }
    }
  }
  if (s.type == RopeType::LongRope) {
    const std::vector<double>& ext = L > lorig ? s.long_factor : s.short_factor;
    for (size_t i = 0; i < out.omega.size(); ++i) out.omega[i] /= ext[i];
    const double sc =
        f != 1.0 ? f : static_cast<double>(c.max_position_embeddings) / static_cast<double>(lorig);
    out.attention = s.attention_factor ? *s.attention_factor
                    : sc <= 1          ? 1.0
                                       : std::sqrt(1 + std::log(sc) / std::log(static_cast<double>(lorig)));
  }
  return out;
}

// The float32 error budget of HF's recipe relative to the real omega_i, in units of 2^-24
// (relative). Default: the float32 exponent float(2i)/float(r) and float(base) each err by 2^-24
// relative, which base^e turns into (ln b + 1) e 2^-24 (e <= 1); the power and the reciprocal round
// once each: ln b + 3. Each further float32 operation on omega adds 1 (linear /factor; longrope's
// float(ext) and product: 2). Ntk / dynamic use ln of the scaled base; dynamic's float32 base
// chain x = float(f) float(L) / float(Lmax) - float(f - 1) rounds 4 times relative to f L / Lmax,
// i.e. 4 f L / (Lmax x) relative to x, r/(r-2) <= 2 amplifies it in x^(r/(r-2)), and the power
// and the product with float(base) add 2. YaRN: the two weights (1 - e, e) carry ~2^-24 absolute
// each, applied to omega and omega/f, relative to a result >= omega/f: 2 (f + 1), plus the
// product, the reciprocal and the sum: 3. Llama 3: t = (old * (1/wavelen) - lff) / (hff - lff)
// has old/wavelen <= hff with (ln b + 6) 2^-24 relative error (omega's, two reciprocals, two
// products), the subtraction and division add 2 ulp of hff, so t errs by hff (ln b + 8) 2^-24 /
// (hff - lff) absolute; the blend (1 - t) w / f + t w turns that into f times as much relative to a
// result >= w / f; plus 4 roundings of the blend.
double hf_budget(const RopeConfig& c, int64_t L) {
  const RopeScaling& s = c.scaling;
  const double rd = static_cast<double>(c.rot()), lnb = std::log(c.base), f = s.factor;
  switch (s.type) {
    case RopeType::Default:
      return lnb + 3;
    case RopeType::Linear:
      return lnb + 4;
    case RopeType::Ntk:
      return lnb + rd / (rd - 2) * std::log(f) + 3;
    case RopeType::Dynamic: {
      const double lmax = static_cast<double>(c.max_position_embeddings);
      if (L <= c.max_position_embeddings) return lnb + 3;
      const double x = f * static_cast<double>(L) / lmax - (f - 1);
      return lnb + rd / (rd - 2) * std::log(x) + 3 + 2 * 4 * f * static_cast<double>(L) / (lmax * x) + 2;
    }
    case RopeType::Yarn:
      return lnb + 3 + 2 * (f + 1) + 3;
    case RopeType::Llama3: {
      const double h = s.high_freq_factor, l = s.low_freq_factor;
      if (h == l) return lnb + 4;  // a step: omega or omega / factor (as Linear)
      return lnb + 3 + f * h * (lnb + 8) / (h - l) + 4;
    }
    case RopeType::LongRope:
      return lnb + 5;
  }
  return 0;
}

struct Tally {
  double exact = 0, hf = 0;  // worst relative error / tolerance
  double hf_units = 0;       // worst |HfCompat - Exact| / Exact in units of 2^-24
};

// Compares Exact against the double reference (relative 1e-14: the reference's own error is its
// exponent's rounding amplified by ln(base) <= 21, ~2e-15, plus a few roundings; any real formula
// difference is orders of magnitude larger), HfCompat against Exact (hf_budget), the attention
// scaling (4 ulp: the same double formula, evaluated in a different order), and checks that the
// scaling did something (control: the scaled frequencies differ from the unscaled ones by far more
// than the tolerance, so the comparison could fail).
void check_scaling(const std::string& name, const RopeConfig& cfg, int64_t L, Tally& tally,
                   bool expect_change = true) {
  SCOPED_TRACE(name + " L=" + std::to_string(L));
  RopeConfig ex = cfg, hf = cfg;
  ex.precision = Precision::Exact;
  hf.precision = Precision::HfCompat;
  const RopeFrequencies e = rope_frequencies(ex, L), h = rope_frequencies(hf, L);
  const Ref ref = reference(cfg, L);
  ASSERT_EQ(e.inv_freq.size(), ref.omega.size());
  const double budget = hf_budget(cfg, L) * 0x1p-24;
  RopeConfig plain = cfg;
  plain.scaling = RopeScaling{};
  const Ref unscaled = reference(plain, L);
  double change = 0;
  for (size_t i = 0; i < ref.omega.size(); ++i) {
    const double rel_e = std::fabs(e.inv_freq[i] - ref.omega[i]) / ref.omega[i];
    const double rel_h = std::fabs(h.inv_freq[i] - e.inv_freq[i]) / e.inv_freq[i];
    tally.exact = std::max(tally.exact, rel_e / 1e-14);
    tally.hf = std::max(tally.hf, rel_h / budget);
    tally.hf_units = std::max(tally.hf_units, rel_h / 0x1p-24);
    EXPECT_LE(rel_e, 1e-14) << "Exact i=" << i << " got " << e.inv_freq[i] << " want " << ref.omega[i];
    EXPECT_LE(rel_h, budget) << "HfCompat i=" << i << " got " << h.inv_freq[i] << " exact " << e.inv_freq[i]
                             << " (" << rel_h / 0x1p-24 << " x 2^-24)";
    EXPECT_EQ(h.inv_freq[i], static_cast<double>(h.inv_freq_f32[i]));
    EXPECT_EQ(e.inv_freq_f32[i], h.inv_freq_f32[i]);
    change = std::max(change, std::fabs(ref.omega[i] - unscaled.omega[i]) / ref.omega[i]);
  }
  EXPECT_NEAR(e.attention_scaling, ref.attention, 4 * 0x1p-52 * ref.attention);
  EXPECT_EQ(e.attention_scaling, h.attention_scaling);
  if (expect_change) EXPECT_GT(change, 1e3 * budget) << "control: the scaling changed nothing";
}

void report(const char* what, const Tally& t) {
  std::printf(
      "[ rope     ] %-8s max err / tol: Exact vs double formula %.3f, HfCompat vs Exact %.3f"
      " (%.1f x 2^-24)\n",
      what, t.exact, t.hf, t.hf_units);
}

TEST(RopeFreqScaling, Linear) {
  Tally t;
  for (double factor : {1.0, 2.0, 3.5, 8.0, 32.0})
    for (auto [D, r, base] : {std::tuple{64, 0, 1e4}, {96, 0, 5e5}, {128, 32, 1e6}, {65, 2, 1e4}}) {
      RopeConfig c = base_cfg(RopeType::Linear, D, base);
      c.rotary_dim = r;
      c.scaling.factor = factor;
      check_scaling("linear f=" + std::to_string(factor), c, 0, t, factor != 1.0);
    }
  report("linear", t);
}

TEST(RopeFreqScaling, StaticNtk) {
  Tally t;
  for (double factor : {2.0, 4.0, 10.0})
    for (auto [D, r] : {std::pair{64, 0}, {128, 0}, {64, 4}, {81, 80}}) {
      RopeConfig c = base_cfg(RopeType::Ntk, D);
      c.rotary_dim = r;
      c.scaling.factor = factor;
      check_scaling("ntk", c, 0, t);
    }
  report("ntk", t);
}

TEST(RopeFreqScaling, DynamicBelowAtAndAboveMax) {
  Tally t;
  for (double factor : {2.0, 4.0, 1.5})
    for (int64_t D : {64, 128, 4}) {
      RopeConfig c = base_cfg(RopeType::Dynamic, D);
      c.max_position_embeddings = 2048;
      c.scaling.factor = factor;
      RopeConfig def = c;
      def.scaling = RopeScaling{};
      const detail::RopeFreqs plain = detail::rope_freqs(def, 0, "test");
      // At or below max (and 0 = unknown): exactly the unscaled frequencies.
      for (int64_t L : {int64_t{0}, int64_t{1}, int64_t{2047}, int64_t{2048}}) {
        const detail::RopeFreqs f = detail::rope_freqs(c, L, "test");
        for (size_t i = 0; i < f.omega.size(); ++i) {
          EXPECT_EQ(f.omega[i].hi, plain.omega[i].hi) << "L " << L;
          EXPECT_EQ(f.omega[i].lo, plain.omega[i].lo) << "L " << L;
          EXPECT_EQ(f.omega_f32[i], plain.omega_f32[i]) << "L " << L;
        }
        check_scaling("dynamic (unscaled)", c, L, t, false);
      }
      for (int64_t L : {int64_t{2049}, int64_t{3000}, int64_t{8192}, int64_t{1} << 20, kMaxPosition + 1})
        check_scaling("dynamic", c, L, t, L > 2049);
    }
  report("dynamic", t);
}

TEST(RopeFreqScaling, Yarn) {
  Tally t;
  std::vector<std::pair<std::string, RopeConfig>> cases;
  auto add = [&](const std::string& name, auto&& mutate) {
    RopeConfig c = base_cfg(RopeType::Yarn, 128);
    c.max_position_embeddings = 16384;
    c.scaling.original_max_position_embeddings = 4096;
    mutate(c);
    cases.emplace_back(name, c);
  };
  add("golden-like", [](RopeConfig&) {});
  add("d64 base 1e6 f16 betas 16/2", [](RopeConfig& c) {
    c.head_dim = 64, c.base = 1e6, c.scaling.factor = 16;
    c.scaling.beta_fast = 16, c.scaling.beta_slow = 2;
  });
  add("truncate false", [](RopeConfig& c) { c.scaling.truncate = false; });
  add("truncate false d96 f8",
      [](RopeConfig& c) { c.head_dim = 96, c.scaling.factor = 8, c.scaling.truncate = false; });
  add("attention_factor 0.7", [](RopeConfig& c) { c.scaling.attention_factor = 0.7; });
  add("mscale 1 / all_dim 0.5",
      [](RopeConfig& c) { c.scaling.mscale = 1.0, c.scaling.mscale_all_dim = 0.5, c.scaling.factor = 40; });
  add("mscale == all_dim (DeepSeek)",
      [](RopeConfig& c) { c.scaling.mscale = 0.707, c.scaling.mscale_all_dim = 0.707; });
  add("mscale alone (ignored)", [](RopeConfig& c) { c.scaling.mscale = 3.0; });
  add("original 0 = max", [](RopeConfig& c) {
    c.scaling.original_max_position_embeddings = 0, c.max_position_embeddings = 2048;
  });
  add("partial rotary 65/64", [](RopeConfig& c) { c.head_dim = 65, c.rotary_dim = 64; });
  add("ramp ends meet (low = high = 0)",
      [](RopeConfig& c) { c.head_dim = 64, c.scaling.original_max_position_embeddings = 6; });
  add("high clamped to r - 1", [](RopeConfig& c) {
    // low = floor(65.9 - 48) = 17, high = ceil(65.9) = 66 -> 63
    c.head_dim = 64, c.scaling.original_max_position_embeddings = int64_t{1} << 30;
    c.scaling.beta_fast = 1e6;
  });
  for (const auto& [name, c] : cases) check_scaling("yarn " + name, c, 0, t);
  RopeConfig one = cases[0].second;
  one.scaling.factor = 1.0;  // factor 1: no change, attention 1
  check_scaling("yarn factor 1", one, 0, t, false);
  EXPECT_EQ(rope_frequencies(one).attention_scaling, 1.0);
  report("yarn", t);
}

TEST(RopeFreqScaling, Llama3) {
  Tally t;
  struct P {
    int64_t D;
    double base, factor, lff, hff;
    int64_t orig, max;
  };
  for (const P& p : {P{128, 500000, 8, 1, 4, 8192, 131072}, P{64, 10000, 16, 2, 8, 4096, 65536},
                     P{96, 1e6, 4, 0.5, 1.5, 32768, 131072}, P{128, 500000, 32, 1, 4, 8192, 8192},
                     P{80, 10000, 2, 1, 2, 512, 4096},
                     // Llama 4 Scout: high_freq_factor == low_freq_factor, a step at 8192 (HF warns)
                     P{128, 500000, 16, 1, 1, 8192, 10485760}, P{64, 10000, 4, 2, 2, 2048, 16384}}) {
    RopeConfig c = base_cfg(RopeType::Llama3, p.D, p.base);
    c.max_position_embeddings = p.max;
    c.scaling.factor = p.factor;
    c.scaling.low_freq_factor = p.lff;
    c.scaling.high_freq_factor = p.hff;
    c.scaling.original_max_position_embeddings = p.orig;
    check_scaling("llama3 D=" + std::to_string(p.D), c, 0, t);
    if (p.lff == p.hff) {
      // The step: each frequency is the unscaled one or exactly it / factor, nothing between, both in
      // both precisions, and not NaN (HF's blend divides by hff - lff = 0).
      RopeConfig plain = c;
      plain.scaling = RopeScaling{};
      for (const Precision prec : {Precision::Exact, Precision::HfCompat}) {
        c.precision = plain.precision = prec;
        const RopeFrequencies got = rope_frequencies(c), unscaled = rope_frequencies(plain);
        int divided = 0;
        for (size_t i = 0; i < got.inv_freq_f32.size(); ++i) {
          const float w = unscaled.inv_freq_f32[i], g = got.inv_freq_f32[i];
          const bool long_wave = 2 * kPi / unscaled.inv_freq[i] > static_cast<double>(p.orig) / p.lff;
          ASSERT_FALSE(std::isnan(g)) << i;
          if (long_wave) {
            ++divided;
            EXPECT_NEAR(g, w / static_cast<float>(p.factor), 2e-7 * w / p.factor) << i;
          } else {
            EXPECT_EQ(g, w) << i;
          }
        }
        EXPECT_GT(divided, 0);
        EXPECT_LT(divided, static_cast<int>(got.inv_freq_f32.size()));
      }
    }
  }
  report("llama3", t);
}

TEST(RopeFreqScaling, LongRopeSwitchesAtTheOriginalLength) {
  Tally t;
  for (int64_t D : {96, 64, 66}) {
    RopeConfig c = base_cfg(RopeType::LongRope, D);
    c.max_position_embeddings = 131072;
    c.scaling.original_max_position_embeddings = 4096;
    if (D == 66) c.rotary_dim = 48, c.head_dim = 66;
    c.scaling.short_factor.clear();
    c.scaling.long_factor.clear();
    for (int64_t i = 0; i < c.rot() / 2; ++i) {
      c.scaling.short_factor.push_back(1.0 + 0.07 * static_cast<double>(i));
      c.scaling.long_factor.push_back(1.5 + 0.9 * static_cast<double>(i));
    }
    for (int64_t L : {int64_t{0}, int64_t{1}, int64_t{4096}, int64_t{4097}, int64_t{131072}})
      check_scaling("longrope", c, L, t);
    // The switch: L = original uses the short factors, L = original + 1 the long ones.
    const RopeFrequencies at = rope_frequencies(c, 4096), above = rope_frequencies(c, 4097),
                          init = rope_frequencies(c, 0);
    EXPECT_EQ(at.inv_freq, init.inv_freq);
    EXPECT_NE(at.inv_freq[1], above.inv_freq[1]);
    EXPECT_DOUBLE_EQ(at.inv_freq[1] * c.scaling.short_factor[1],
                     above.inv_freq[1] * c.scaling.long_factor[1]);
    // Attention: sqrt(1 + ln 32 / ln 4096) from max / original; an explicit factor wins; an
    // explicit attention_factor wins over both; max == original gives 1.
    EXPECT_DOUBLE_EQ(at.attention_scaling, std::sqrt(1 + std::log(32.0) / std::log(4096.0)));
    RopeConfig g = c;
    g.scaling.factor = 8;
    check_scaling("longrope factor 8", g, 5000, t);
    EXPECT_DOUBLE_EQ(rope_frequencies(g).attention_scaling, std::sqrt(1 + std::log(8.0) / std::log(4096.0)));
    g.scaling.attention_factor = 1.25;
    check_scaling("longrope attention 1.25", g, 5000, t);
    EXPECT_EQ(rope_frequencies(g).attention_scaling, 1.25);
    g = c;
    g.max_position_embeddings = 4096;
    EXPECT_EQ(rope_frequencies(g).attention_scaling, 1.0);
  }
  report("longrope", t);
}

// The public inv_freq is the dd's nearest double in Exact and HF's float32 value in HfCompat;
// inv_freq_f32 and attention_scaling do not depend on the precision.
TEST(RopeFreqApi, PublicValuesFollowThePrecision) {
  for (RopeType type : {RopeType::Default, RopeType::Linear, RopeType::Ntk, RopeType::Dynamic, RopeType::Yarn,
                        RopeType::Llama3, RopeType::LongRope}) {
    RopeConfig c = base_cfg(type, 64);
    const detail::RopeFreqs f = detail::rope_freqs(c, 5000, "test");
    c.precision = Precision::Exact;
    const RopeFrequencies e = rope_frequencies(c, 5000);
    c.precision = Precision::HfCompat;
    const RopeFrequencies h = rope_frequencies(c, 5000);
    ASSERT_EQ(e.inv_freq.size(), 32u);
    for (size_t i = 0; i < 32; ++i) {
      EXPECT_EQ(e.inv_freq[i], f.omega[i].hi);
      EXPECT_EQ(h.inv_freq[i], static_cast<double>(f.omega_f32[i]));
    }
    EXPECT_EQ(e.inv_freq_f32, f.omega_f32);
    EXPECT_EQ(h.inv_freq_f32, f.omega_f32);
    EXPECT_EQ(e.attention_scaling, f.attention_scaling);
    EXPECT_EQ(h.attention_scaling, f.attention_scaling);
  }
}

}  // namespace
