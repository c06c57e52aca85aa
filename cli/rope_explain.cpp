// cli/rope_explain.cpp — see rope_explain.hpp.
#include "rope_explain.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "hf_options.hpp"

namespace posenc::cli {
namespace {

constexpr double kTwoPi = 6.283185307179586;

std::string g(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// HF's YaRN ramp ends (find_correction_range), in frequency-index units.
std::pair<double, double> yarn_ramp(const RopeConfig& cfg) {
  const RopeScaling& s = cfg.scaling;
  const double r = static_cast<double>(cfg.rot());
  const double lorig =
      static_cast<double>(s.original_max_position_embeddings > 0 ? s.original_max_position_embeddings
                                                                 : cfg.max_position_embeddings);
  const auto dim = [&](double rotations) {
    return r * std::log(lorig / (rotations * kTwoPi)) / (2.0 * std::log(cfg.base));
  };
  double lo = dim(s.beta_fast), hi = dim(s.beta_slow);
  if (s.truncate) {
    lo = std::floor(lo);
    hi = std::ceil(hi);
  }
  return {std::max(lo, 0.0), std::min(hi, r - 1.0)};
}

std::string describe_scaling(const hf::RopeImport& imp, const RopeExplanation& e) {
  const RopeConfig& cfg = imp.config;
  const RopeScaling& s = cfg.scaling;
  const double lorig = static_cast<double>(e.original_context);
  switch (s.type) {
    case RopeType::Default:
      return "none. Every frequency is base^(-2i/r); positions past the pretraining context are "
             "simply extrapolated.";
    case RopeType::Linear:
      return "linear (position interpolation), factor " + g(s.factor) +
             ": every frequency is divided by the factor, i.e. position p is encoded as p / " + g(s.factor) +
             "; all frequencies are interpolated.";
    case RopeType::Ntk:
      return "static NTK, factor " + g(s.factor) + ": the base becomes base * factor^(r/(r-2)).";
    case RopeType::Dynamic:
      return "dynamic NTK, factor " + g(s.factor) +
             ": for a sequence of length L > max_position_embeddings Lmax = " +
             std::to_string(cfg.max_position_embeddings) +
             " the base becomes base * (factor L / Lmax - (factor - 1))^(r/(r-2)), so high "
             "frequencies barely move and the lowest are interpolated most; shorter sequences "
             "keep the original frequencies. Shown for L = " +
             std::to_string(e.seq_len) + ".";
    case RopeType::Yarn: {
      const auto [lo, hi] = yarn_ramp(cfg);
      return "YaRN, factor " + g(s.factor) + ", beta_fast " + g(s.beta_fast) + ", beta_slow " +
             g(s.beta_slow) + ", original context " + g(lorig) +
             ": frequencies that turn more than beta_fast times within the original context "
             "(wavelength < " +
             g(lorig / s.beta_fast) +
             ") are extrapolated (unchanged), those that turn fewer than beta_slow times "
             "(wavelength > " +
             g(lorig / s.beta_slow) +
             ") are interpolated (divided by the factor), and a linear ramp over frequency "
             "indices " +
             g(lo) + " .. " + g(hi) + (s.truncate ? " (rounded outwards, truncate)" : "") +
             " blends the two in between.";
    }
    case RopeType::Llama3:
      return "Llama 3, factor " + g(s.factor) + ", low_freq_factor " + g(s.low_freq_factor) +
             ", high_freq_factor " + g(s.high_freq_factor) + ", original context " + g(lorig) +
             ": wavelengths below original / high_freq_factor = " + g(lorig / s.high_freq_factor) +
             " keep their frequency (extrapolated), wavelengths above original / "
             "low_freq_factor = " +
             g(lorig / s.low_freq_factor) + " are divided by the factor (interpolated), and " +
             (s.high_freq_factor == s.low_freq_factor
                  ? std::string("there is no band between (high_freq_factor = low_freq_factor: a step).")
                  : std::string("the band between is a smooth blend of the two."));
    case RopeType::LongRope: {
      const bool lng = e.seq_len > e.original_context;
      return std::string(
                 "LongRoPE: frequency i is divided by short_factor[i] while the sequence "
                 "length is at most the original context ") +
             g(lorig) + " and by long_factor[i] beyond it. Shown for L = " + std::to_string(e.seq_len) +
             ": the " + (lng ? "long" : "short") + " factors.";
    }
  }
  return "";
}

}  // namespace

const char* treatment_name(Treatment t) {
  switch (t) {
    case Treatment::Unchanged:
      return "unchanged";
    case Treatment::Interpolated:
      return "interpolated";
    case Treatment::Blended:
      return "blended";
    case Treatment::Rescaled:
      return "rescaled";
  }
  return "?";
}

RopeExplanation explain_rope(const hf::RopeImport& imp, int64_t seq_len) {
  const RopeConfig& cfg = imp.config;
  const RopeScaling& s = cfg.scaling;
  RopeExplanation e;
  e.max_context = cfg.max_position_embeddings;
  const bool has_orig =
      s.type == RopeType::Yarn || s.type == RopeType::Llama3 || s.type == RopeType::LongRope;
  e.original_context = has_orig && s.original_max_position_embeddings > 0 ? s.original_max_position_embeddings
                                                                          : cfg.max_position_embeddings;
  e.seq_len = seq_len;
  if (seq_len == 0 && s.type == RopeType::Dynamic)
    e.seq_len = static_cast<int64_t>(
        std::min(s.factor * static_cast<double>(cfg.max_position_embeddings), 2147483648.0));
  if (seq_len == 0 && s.type == RopeType::LongRope)
    e.seq_len = std::max(cfg.max_position_embeddings, e.original_context + 1);

  RopeConfig plain = cfg;
  plain.scaling = RopeScaling{};
  plain.precision = Precision::Exact;
  RopeConfig scaled = cfg;
  scaled.precision = Precision::Exact;
  const RopeFrequencies before = rope_frequencies(plain), after = rope_frequencies(scaled, e.seq_len);
  e.attention_scaling = after.attention_scaling;

  const int64_t half = cfg.rot() / 2;
  int64_t counts[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < half; ++i) {
    FrequencyRow row;
    row.i = i;
    row.dim_a = cfg.layout == PairLayout::HalfSplit ? i : 2 * i;
    row.dim_b = cfg.layout == PairLayout::HalfSplit ? i + half : 2 * i + 1;
    row.omega_before = before.inv_freq[static_cast<size_t>(i)];
    row.omega_after = after.inv_freq[static_cast<size_t>(i)];
    const double q = row.omega_after / row.omega_before;  // 1 unchanged, 1/factor interpolated
    row.divide = 1.0 / q;
    const bool blends = s.type == RopeType::Yarn || s.type == RopeType::Llama3 || s.type == RopeType::Linear;
    if (std::fabs(q - 1.0) < 1e-12) {
      row.treatment = Treatment::Unchanged;
    } else if (blends && std::fabs(q * s.factor - 1.0) < 1e-9) {
      row.treatment = Treatment::Interpolated;
    } else if (blends) {
      row.treatment = Treatment::Blended;
      row.kept = (q - 1.0 / s.factor) / (1.0 - 1.0 / s.factor);
    } else {
      row.treatment = Treatment::Rescaled;
    }
    ++counts[static_cast<int>(row.treatment)];
    e.rows.push_back(row);
  }

  const char* head_note = cfg.rot() == cfg.head_dim ? " (all of the head)" : " (the rest passes through)";
  e.header = {
      "rope_type: " + with_source(imp, imp.rope_type, "scaling.type") +
          (imp.rope_type_given.empty() || imp.rope_type_given == imp.rope_type
               ? ""
               : " (written \"" + imp.rope_type_given + "\")"),
      "head_dim: " + with_source(imp, std::to_string(cfg.head_dim), "head_dim"),
      "rotary dim: " + with_source(imp, std::to_string(cfg.rot()), "rotary_dim") + head_note,
      "layout: " + std::string(layout_name(cfg.layout)) + ": frequency i rotates head dims " +
          (cfg.layout == PairLayout::HalfSplit
               ? "(i, i + " + std::to_string(half) + ") (HF rotate_half; GPT-NeoX, Llama)"
               : "(2i, 2i + 1) (GPT-J, CodeGen, Meta's Llama code)"),
      "base (rope_theta): " + with_source(imp, g(cfg.base), "base"),
      "context: max_position_embeddings " +
          (cfg.max_position_embeddings > 0
               ? with_source(imp, std::to_string(cfg.max_position_embeddings), "max_position_embeddings")
               : std::string("not given")) +
          (has_orig
               ? "; original (pretraining) context " + with_source(imp, std::to_string(e.original_context),
                                                                   "scaling.original_max_position_embeddings")
               : ""),
      "scaling: " + describe_scaling(imp, e),
      "attention scaling: " + g(e.attention_scaling) +
          " (cos and sin are multiplied by it, so attention logits by its square)"};
  if (!imp.nope_layers.empty()) {
    std::string list;
    for (const int64_t l : imp.nope_layers) list += (list.empty() ? "" : ", ") + std::to_string(l);
    e.header.push_back("layers without RoPE (NoPE, 0-based): " + with_source(imp, list, "nope_layers") +
                       "; the RoPE described here is that of the other layers");
  }
  e.summary = std::to_string(half) + " frequencies: " + std::to_string(counts[0]) +
              " unchanged (extrapolated), " + std::to_string(counts[1]) + " interpolated, " +
              std::to_string(counts[2]) + " blended, " + std::to_string(counts[3]) + " rescaled";
  return e;
}

std::string format_explanation(const hf::RopeImport& imp, const RopeExplanation& e,
                               const std::string& config_path) {
  std::string s = "config: " + config_path +
                  (imp.model_type.empty() ? "" : " (model_type " + imp.model_type + ")") + "\n";
  for (const std::string& line : e.header) s += line + "\n";
  s += "\nper frequency: omega_i = base^(-2i/r) before scaling; wavelength = 2 pi / omega "
       "(positions per turn)\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%5s  %-12s %15s %15s %11s  %s\n", "i", "dims", "wavelength", "wavelength",
                "divided", "treatment");
  s += buf;
  std::snprintf(buf, sizeof buf, "%5s  %-12s %15s %15s %11s\n", "", "", "before", "after", "by");
  s += buf;
  for (const FrequencyRow& r : e.rows) {
    std::string what = treatment_name(r.treatment);
    if (r.treatment == Treatment::Unchanged) what += " (extrapolated)";
    if (r.treatment == Treatment::Blended) {
      char pct[32];
      std::snprintf(pct, sizeof pct, "%.1f", 100.0 * r.kept);
      what += std::string(" (") + pct + "% unchanged)";
    }
    const std::string dims = std::to_string(r.dim_a) + ", " + std::to_string(r.dim_b);
    std::snprintf(buf, sizeof buf, "%5lld  %-12s %15s %15s %11s  %s\n", static_cast<long long>(r.i),
                  dims.c_str(), g(kTwoPi / r.omega_before).c_str(), g(kTwoPi / r.omega_after).c_str(),
                  g(r.divide).c_str(), what.c_str());
    s += buf;
  }
  s += "\nsummary: " + e.summary + "\n";
  if (!imp.warnings.empty()) {
    s += "\nwarnings:\n";
    for (const std::string& w : imp.warnings) s += "  - " + w + "\n";
  }
  return s;
}

}  // namespace posenc::cli
