// src/hf/scaling.cpp — the parameters of each rope_type, as HF 5.x reads them.
//
// Required keys as HF's _validate_*_rope_parameters (a missing one is a KeyError there):
//   linear, dynamic: factor;  yarn: factor (null = max_position_embeddings / original);
//   llama3: factor, low_freq_factor, high_freq_factor;  longrope: short_factor, long_factor.
// original_max_position_embeddings (yarn, llama3, longrope): top level first (Phi-3), then the rope
// dict, then max_position_embeddings. HF's falsy defaults are kept: beta_fast 0 means 32, beta_slow
// 0 means 1, and mscale / mscale_all_dim count only when both are non-zero.
#include <cmath>
#include <set>
#include <tuple>

#include "posenc/error.hpp"
#include "posenc/positions.hpp"
#include "rope_params.hpp"

namespace posenc::hf::detail {

namespace {

const std::set<std::string, std::less<>>& allowed_keys(RopeType t, bool mrope) {
  static const std::set<std::string, std::less<>> kDefault = {"rope_type", "type", "rope_theta",
                                                              "partial_rotary_factor"};
  static const std::set<std::string, std::less<>> kMrope = {
      "rope_type", "type", "rope_theta", "partial_rotary_factor", "mrope_section", "mrope_interleaved"};
  static const std::set<std::string, std::less<>> kFactor = {"rope_type", "type", "rope_theta",
                                                             "partial_rotary_factor", "factor"};
  static const std::set<std::string, std::less<>> kYarn = {
      "rope_type",        "type",
      "rope_theta",       "partial_rotary_factor",
      "factor",           "original_max_position_embeddings",
      "attention_factor", "beta_fast",
      "beta_slow",        "mscale",
      "mscale_all_dim",   "truncate"};
  static const std::set<std::string, std::less<>> kLlama3 = {
      "rope_type",       "type",
      "rope_theta",      "partial_rotary_factor",
      "factor",          "original_max_position_embeddings",
      "low_freq_factor", "high_freq_factor"};
  static const std::set<std::string, std::less<>> kLongRope = {
      "rope_type",        "type",
      "rope_theta",       "partial_rotary_factor",
      "factor",           "original_max_position_embeddings",
      "attention_factor", "short_factor",
      "long_factor"};
  switch (t) {
    case RopeType::Linear:
    case RopeType::Ntk:
    case RopeType::Dynamic:
      return kFactor;
    case RopeType::Yarn:
      return kYarn;
    case RopeType::Llama3:
      return kLlama3;
    case RopeType::LongRope:
      return kLongRope;
    case RopeType::Default:
      break;
  }
  return mrope ? kMrope : kDefault;
}

// PhiMoE's rotary module multiplies cos/sin by short_mscale or long_mscale (read_longrope).
bool hunyuan(const Ctx& ctx) {
  return ctx.out.model_type == "hunyuan_v1_dense" || ctx.out.model_type == "hunyuan_v1_moe";
}

bool phimoe_mscale(const Ctx& ctx, std::string_view key) {
  return ctx.out.model_type == "phimoe" && ctx.out.config.scaling.type == RopeType::LongRope &&
         (key == "short_mscale" || key == "long_mscale");
}

void warn_unknown_keys(const RopeFields& rp, Ctx& ctx) {
  const auto& ok = allowed_keys(ctx.out.config.scaling.type, ctx.out.rope_type_given == "mrope");
  std::set<std::string> seen;
  for (const Fields& f : rp.dicts)
    for (const std::string& key : f.keys())
      if (ok.count(key) == 0 && !phimoe_mscale(ctx, key) && !(hunyuan(ctx) && key == "alpha") &&
          seen.insert(key).second)
        ctx.warn(f.path(key) + " is not a parameter of rope_type '" + ctx.out.rope_type +
                 "': HF ignores it (with a warning)");
}

// A key HF requires: a missing one is an error; null is returned as nullopt.
std::optional<double> required(const RopeFields& rp, std::string_view key, Ctx& ctx) {
  const Fields& f = rp.at(key);
  if (!f.contains(key))
    f.fail(key, "missing", "a number (required for rope_type '" + ctx.out.rope_type + "')");
  const auto v = f.number(key);
  if (v) ctx.source("scaling." + std::string(key), f.path(key));
  return v;
}

double required_number(const RopeFields& rp, std::string_view key, Ctx& ctx) {
  const auto v = required(rp, key, ctx);
  if (!v) rp.at(key).fail(key, "null", "a number (required for rope_type '" + ctx.out.rope_type + "')");
  return *v;
}

// An optional positive number, read into dst with its source.
void optional_number(const RopeFields& rp, std::string_view key, std::optional<double>& dst, Ctx& ctx) {
  const Fields& f = rp.at(key);
  if (const auto v = f.number(key)) {
    dst = *v;
    ctx.source("scaling." + std::string(key), f.path(key));
  }
}

int64_t max_len(Ctx& ctx) {
  return ctx.out.config.max_position_embeddings;
}

void need_max(Ctx& ctx, const std::string& why) {
  if (max_len(ctx) < 1)
    throw Error(ctx.where, ctx.model_prefix + "max_position_embeddings", "missing",
                "an integer >= 1 (needed by rope_type '" + ctx.out.rope_type + "': " + why + ")");
}

void read_original_max(const Fields& c, const RopeFields& rp, Ctx& ctx) {
  constexpr std::string_view key = "original_max_position_embeddings";
  const Fields& f = rp.at(key);
  agree(c, key, f, key, ctx);
  int64_t& dst = ctx.out.config.scaling.original_max_position_embeddings;
  if (const auto top = c.integer(key, 1, kMaxPosition + 1)) {
    dst = *top;
    ctx.source("scaling.original_max_position_embeddings",
               c.path(key) + " (outside the rope dict, as Phi-3; HF gives it priority)");
  } else if (const auto in = f.integer(key, 1, kMaxPosition + 1)) {
    dst = *in;
    ctx.source("scaling.original_max_position_embeddings", f.path(key));
  } else {
    need_max(ctx, "original_max_position_embeddings is absent and defaults to it");
    dst = max_len(ctx);
    ctx.source("scaling.original_max_position_embeddings", "default (max_position_embeddings)");
  }
}

void read_yarn(const RopeFields& rp, Ctx& ctx) {
  RopeScaling& s = ctx.out.config.scaling;
  const int64_t lorig = s.original_max_position_embeddings;
  if (const auto f = required(rp, "factor", ctx)) {
    s.factor = *f;
  } else {
    need_max(ctx, "factor is null and HF then uses max / original");
    s.factor = static_cast<double>(max_len(ctx)) / static_cast<double>(lorig);
    ctx.source("scaling.factor",
               "max_position_embeddings / original_max_position_embeddings "
               "(factor is null)");
  }
  optional_number(rp, "attention_factor", s.attention_factor, ctx);
  for (auto [key, dst, dflt] :
       {std::tuple{"beta_fast", &s.beta_fast, 32.0}, std::tuple{"beta_slow", &s.beta_slow, 1.0}}) {
    const Fields& f = rp.at(key);
    const auto v = f.number(key);
    *dst = v && *v != 0.0 ? *v : dflt;  // HF: rope_parameters.get(key) or default
    ctx.source(std::string("scaling.") + key, v ? f.path(key) : "default (" + num(dflt) + ")");
    if (v && *v == 0.0)
      ctx.warn(f.path(key) + " = 0 counts as unset in HF (`get(...) or " + num(dflt) + "`): using " +
               num(dflt));
  }
  std::optional<double> mscale, mscale_all;
  optional_number(rp, "mscale", mscale, ctx);
  optional_number(rp, "mscale_all_dim", mscale_all, ctx);
  // HF: `if mscale and mscale_all_dim` -- both non-zero, or neither counts.
  const bool m1 = mscale && *mscale != 0.0, m2 = mscale_all && *mscale_all != 0.0;
  if (s.attention_factor && (m1 || m2)) {
    ctx.warn(rp.at("attention_factor").path("attention_factor") + " = " + num(*s.attention_factor) +
             " is given together with mscale / mscale_all_dim: HF uses attention_factor and "
             "ignores mscale and mscale_all_dim");
  } else if (m1 != m2) {
    const char* k = m1 ? "mscale" : "mscale_all_dim";
    ctx.warn(rp.at(k).path(k) + " is given without " + (m1 ? "mscale_all_dim" : "mscale") +
             ": HF uses the two only together, so attention_scaling = 0.1 ln(factor) + 1");
  } else if (m1 && m2) {
    s.mscale = mscale;
    s.mscale_all_dim = mscale_all;
  }
  if (m2)
    ctx.warn(
        "mscale_all_dim is given: models that set it (DeepSeek-V2/V3) also multiply the "
        "softmax scale by (0.1 mscale_all_dim ln(factor) + 1)^2 inside attention; that is not "
        "part of the RoPE attention_scaling computed here");
  if (const auto t = rp.at("truncate").boolean("truncate")) {
    s.truncate = *t;
    ctx.source("scaling.truncate", rp.at("truncate").path("truncate"));
  }
  if (max_len(ctx) >= 1) {
    const double implicit = static_cast<double>(max_len(ctx)) / static_cast<double>(lorig);
    if (implicit != s.factor && implicit != 1.0)
      ctx.warn("factor = " + num(s.factor) +
               " differs from max_position_embeddings / original_max_position_embeddings = " +
               std::to_string(max_len(ctx)) + " / " + std::to_string(lorig) + " = " + num(implicit) +
               ": HF 5.x uses factor (and warns); some 4.x releases used the ratio");
  }
}

void read_llama3(const RopeFields& rp, Ctx& ctx) {
  RopeScaling& s = ctx.out.config.scaling;
  s.factor = required_number(rp, "factor", ctx);
  s.low_freq_factor = required_number(rp, "low_freq_factor", ctx);
  s.high_freq_factor = required_number(rp, "high_freq_factor", ctx);
  if (max_len(ctx) >= 1 && s.original_max_position_embeddings == max_len(ctx))
    ctx.warn("original_max_position_embeddings = max_position_embeddings = " + std::to_string(max_len(ctx)) +
             ": llama3 scaling is meant for a context extended beyond the pretraining one "
             "(HF warns)");
}

void read_longrope(const RopeFields& rp, Ctx& ctx) {
  RopeConfig& cfg = ctx.out.config;
  RopeScaling& s = cfg.scaling;
  const size_t half = static_cast<size_t>(cfg.rotary_dim / 2);
  for (auto [key, dst] :
       {std::pair{"short_factor", &s.short_factor}, std::pair{"long_factor", &s.long_factor}}) {
    const Fields& f = rp.at(key);
    if (!f.has(key))
      f.fail(key, f.contains(key) ? "null" : "missing",
             "a list of rotary_dim / 2 = " + std::to_string(half) +
                 " numbers (required for rope_type 'longrope')");
    *dst = *f.numbers(key);
    if (dst->size() != half)
      f.fail(key, std::to_string(dst->size()) + " entries",
             "rotary_dim / 2 = " + std::to_string(half) + " entries (rotary_dim " +
                 std::to_string(cfg.rotary_dim) + ": " + ctx.out.source_of("rotary_dim") + ")");
    ctx.source(std::string("scaling.") + key, f.path(key));
  }
  optional_number(rp, "attention_factor", s.attention_factor, ctx);
  if (ctx.out.model_type == "phimoe") {
    // HF's PhimoeRotaryEmbedding: cos and sin times long_mscale when the sequence is longer than
    // original_max_position_embeddings, else short_mscale (both required), instead of attention_factor.
    const double short_m = required_number(rp, "short_mscale", ctx),
                 long_m = required_number(rp, "long_mscale", ctx);
    if (short_m != long_m)
      rp.at("long_mscale")
          .fail("long_mscale", num(long_m),
                "short_mscale = " + num(short_m) +
                    ": posenc's LongRoPE has one attention factor, PhiMoE switches between the two at "
                    "original_max_position_embeddings");
    if (s.attention_factor && *s.attention_factor != short_m)
      ctx.warn(
          rp.at("attention_factor").path("attention_factor") + " = " + num(*s.attention_factor) +
          " is not used: HF's PhiMoE multiplies cos and sin by short_mscale / long_mscale = " + num(short_m));
    s.attention_factor = short_m;
    ctx.source("scaling.attention_factor",
               rp.at("short_mscale").path("short_mscale") + " (PhiMoE: = long_mscale)");
  }
  const Fields& ff = rp.at("factor");
  if (const auto f = ff.number("factor")) {
    s.factor = *f;
    ctx.source("scaling.factor", ff.path("factor"));
    // HF: attention 1 for factor <= 1; posenc reads factor 1 as "derive it", so pin it.
    if (*f == 1.0 && !s.attention_factor) {
      s.attention_factor = 1.0;
      ctx.source("scaling.attention_factor", "1 (HF: factor <= 1)");
    }
  } else {
    s.factor = 1.0;
    ctx.source("scaling.factor",
               "max_position_embeddings / original_max_position_embeddings (factor absent)");
    if (!s.attention_factor) need_max(ctx, "attention_factor = sqrt(1 + ln(max / original) / ln(original))");
  }
  ctx.warn("rope_type longrope switches frequencies at original_max_position_embeddings = " +
           std::to_string(s.original_max_position_embeddings) +
           ": short_factor while the sequence length (max position + 1) is at most that, "
           "long_factor beyond it. A sequence that grows past it (generation with a KV cache) "
           "has cached keys rotated with the short factors, and the values at every position "
           "change once the length crosses it");
}

}  // namespace

void read_scaling(const Fields& c, const RopeFields& rp, Ctx& ctx) {
  RopeConfig& cfg = ctx.out.config;
  RopeScaling& s = cfg.scaling;
  warn_unknown_keys(rp, ctx);
  switch (s.type) {
    case RopeType::Default:
    case RopeType::Ntk:
      return;
    case RopeType::Linear:
      s.factor = required_number(rp, "factor", ctx);
      return;
    case RopeType::Dynamic:
      if (hunyuan(ctx) && rp.at("alpha").has("alpha")) {
        // HunYuan's DynamicNTKAlpha: a fixed base theta * alpha^(d / (d - 2)), static NTK with factor alpha.
        const Fields& fa = rp.at("alpha");
        s.type = RopeType::Ntk;
        s.factor = *fa.number("alpha");
        ctx.source("scaling.type", fa.path("alpha") + " (HunYuan: dynamic with alpha is a fixed NTK base)");
        ctx.source("scaling.factor", fa.path("alpha"));
        if (max_len(ctx) > 0)
          ctx.warn(
              "HunYuan's rotary module keeps HF's dynamic update: for sequences longer than "
              "max_position_embeddings = " +
              std::to_string(max_len(ctx)) +
              " HF replaces the alpha base with dynamic NTK's, which posenc does not model");
        return;
      }
      s.factor = required_number(rp, "factor", ctx);
      need_max(ctx, "the length beyond which the base grows");
      ctx.warn(
          "rope_type dynamic: the frequencies depend on the sequence length (max position + 1) "
          "once it exceeds max_position_embeddings = " +
          std::to_string(max_len(ctx)) +
          ". With a KV cache, cached keys were rotated with the frequencies of a shorter "
          "length, so results differ from recomputing the whole sequence");
      return;
    case RopeType::Yarn:
      read_original_max(c, rp, ctx);
      read_yarn(rp, ctx);
      return;
    case RopeType::Llama3:
      read_original_max(c, rp, ctx);
      read_llama3(rp, ctx);
      return;
    case RopeType::LongRope:
      read_original_max(c, rp, ctx);
      read_longrope(rp, ctx);
      return;
  }
}

}  // namespace posenc::hf::detail
