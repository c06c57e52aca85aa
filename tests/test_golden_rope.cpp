// tests/test_golden_rope.cpp — RoPE against Hugging Face transformers 5.x: every case of kind
// "rope" in ../shared/golden/hf_reference.json (see that folder's README): LlamaRotaryEmbedding
// with the default, linear, dynamic, yarn, llama3 and longrope scalings (HalfSplit, "rotate_half"),
// and GPT-J's interleaved partial rotary. For each case, in both precisions: (a) inv_freq and
// attention_scaling, (b) cos/sin from posenc::rope_cos_sin, (c) q_embed / k_embed from
// posenc::rope_forward on the case's q / k. Tolerances (each stated where it is used):
//   inv_freq, attention_scaling   1e-6 relative: HF's float32 inv_freq errs by its exponent's
//                                 rounding times ln(base) (<= 14 x 2^-24 for base <= 1e6) plus a
//                                 few roundings, ~1e-6 at worst; HfCompat replays it.
//   cos/sin, HfCompat             att * (2e-6 + pos * ulp_f32(omega_i)): float32 sin/cos differ by
//                                 1 ulp between torch (Sleef) and libm, the att product rounds
//                                 once more (~5e-7 together); a float32 power that differs by an
//                                 ulp moves the angle by pos * ulp(omega_i).
//   cos/sin, Exact                the above + att * (pos * |omega_HF - omega_i| + ulp_f32(pos *
//                                 omega_i)): HF's own angle error, from its float32 inv_freq and
//                                 the float32 product pos * inv_freq; sin/cos have slope <= 1.
//   q_embed / k_embed             tol_cs * (|x_a| + |x_b|) + 2 ulp_f32(att (|x_a| + |x_b|)): the
//                                 pair's cos/sin error times its inputs, plus the roundings of the
//                                 two products and the sum on each side. Dims past the rotary
//                                 dim pass through: equal.
// Control assertions: the wrong pair layout and the wrong scaling type must break the tolerance.
// Beyond the file's cases (whose factors are powers of two, where the order of HF's float32
// operations does not show), HfCompat's inv_freq must equal, bit for bit, a float32 transcription
// of HF's Python written here line by line, with MPFR's correctly rounded 24-bit powers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "golden.hpp"
#include "mpfr_reference.hpp"
#include "posenc/rope.hpp"

using namespace posenc;
using nlohmann::json;
using posenc_test::ulp_f32;

namespace {

// The rope cases, or a test failure (never a skip: a missing reference would test nothing). The
// file is parsed once; every test that asks again fails again.
const std::vector<json>& rope_cases() {
  static const std::vector<json> cases = posenc::test::golden_cases("rope");
  if (cases.empty()) ADD_FAILURE() << "no rope cases in " << posenc::test::golden_path();
  return cases;
}

bool has(const json& c, const char* key) {
  return c.contains(key) && !c.at(key).is_null();
}

std::vector<double> flat(const json& v) {
  std::vector<double> out;
  if (v.is_array()) {
    for (const json& e : v) {
      const std::vector<double> sub = flat(e);
      out.insert(out.end(), sub.begin(), sub.end());
    }
  } else {
    out.push_back(v.get<double>());
  }
  return out;
}

// The RopeConfig HF's config describes: rope_scaling (or hf_rope_parameters) with HF's keys.
RopeConfig config_of(const json& c) {
  RopeConfig cfg;
  cfg.head_dim = c.at("head_dim").get<int64_t>();
  const std::string layout = c.at("layout").get<std::string>();
  EXPECT_TRUE(layout == "half_split" || layout == "interleaved") << "unknown layout " << layout;
  cfg.layout = layout == "interleaved" ? PairLayout::Interleaved : PairLayout::HalfSplit;
  const json params = has(c, "rope_scaling")         ? c.at("rope_scaling")
                      : has(c, "hf_rope_parameters") ? c.at("hf_rope_parameters")
                                                     : json::object();
  cfg.base = has(c, "rope_theta")        ? c.at("rope_theta").get<double>()
             : has(params, "rope_theta") ? params.at("rope_theta").get<double>()
                                         : 10000.0;
  if (has(c, "rotary_dim")) cfg.rotary_dim = c.at("rotary_dim").get<int64_t>();
  if (has(c, "partial_rotary_factor"))  // HF: dim = int(head_dim * partial_rotary_factor)
    cfg.rotary_dim =
        static_cast<int64_t>(static_cast<double>(cfg.head_dim) * c.at("partial_rotary_factor").get<double>());
  if (has(c, "max_position_embeddings"))
    cfg.max_position_embeddings = c.at("max_position_embeddings").get<int64_t>();
  RopeScaling& s = cfg.scaling;
  const std::string type = has(params, "rope_type") ? params.at("rope_type").get<std::string>()
                           : has(params, "type")    ? params.at("type").get<std::string>()
                                                    : "default";
  if (type == "default")
    s.type = RopeType::Default;
  else if (type == "linear")
    s.type = RopeType::Linear;
  else if (type == "dynamic")
    s.type = RopeType::Dynamic;
  else if (type == "yarn")
    s.type = RopeType::Yarn;
  else if (type == "llama3")
    s.type = RopeType::Llama3;
  else if (type == "longrope")
    s.type = RopeType::LongRope;
  else
    ADD_FAILURE() << "unknown rope_type " << type;
  auto num = [&](const char* key, double& dst) {
    if (has(params, key)) dst = params.at(key).get<double>();
  };
  auto opt = [&](const char* key, std::optional<double>& dst) {
    if (has(params, key)) dst = params.at(key).get<double>();
  };
  num("factor", s.factor);
  num("beta_fast", s.beta_fast);
  num("beta_slow", s.beta_slow);
  num("low_freq_factor", s.low_freq_factor);
  num("high_freq_factor", s.high_freq_factor);
  opt("attention_factor", s.attention_factor);
  opt("mscale", s.mscale);
  opt("mscale_all_dim", s.mscale_all_dim);
  if (has(params, "truncate")) s.truncate = params.at("truncate").get<bool>();
  if (has(params, "original_max_position_embeddings"))
    s.original_max_position_embeddings = params.at("original_max_position_embeddings").get<int64_t>();
  if (has(c, "original_max_position_embeddings"))  // Phi-3 keeps it beside the dict; HF prefers it
    s.original_max_position_embeddings = c.at("original_max_position_embeddings").get<int64_t>();
  if (has(params, "short_factor")) s.short_factor = params.at("short_factor").get<std::vector<double>>();
  if (has(params, "long_factor")) s.long_factor = params.at("long_factor").get<std::vector<double>>();
  if (cfg.rotary_dim == cfg.head_dim) cfg.rotary_dim = 0;
  return cfg;
}

struct Case {
  std::string name;
  RopeConfig cfg;
  std::vector<int64_t> pos;
  int64_t seq_len = 0;  // HF: max(position_ids) + 1
  bool half_split = true;
};

Case parse(const json& c) {
  Case k;
  k.name = c.at("name").get<std::string>();
  k.cfg = config_of(c);
  k.half_split = k.cfg.layout == PairLayout::HalfSplit;
  k.pos = c.at("positions").get<std::vector<int64_t>>();
  k.seq_len = k.pos.empty() ? 0 : *std::max_element(k.pos.begin(), k.pos.end()) + 1;
  return k;
}

// Per-frequency data for the tolerances: HF's inv_freq (the file's, or HfCompat's where the file
// has none: the same float32 recipe, which the other cases show bit-equal), the exact omega and the
// attention scaling.
struct Freqs {
  std::vector<double> hf, exact;
  double att = 1;
};

Freqs freqs_for(const Case& k, const json& c) {
  RopeConfig cfg = k.cfg;
  cfg.precision = Precision::Exact;
  const RopeFrequencies e = rope_frequencies(cfg, k.seq_len);
  Freqs f{has(c, "inv_freq") ? c.at("inv_freq").get<std::vector<double>>()
                             : std::vector<double>(e.inv_freq_f32.begin(), e.inv_freq_f32.end()),
          e.inv_freq,
          has(c, "attention_scaling") ? c.at("attention_scaling").get<double>() : e.attention_scaling};
  return f;
}

double cos_sin_tol(const Freqs& f, Precision p, int64_t pos, size_t i) {
  const double w = f.hf[i], P = static_cast<double>(pos);
  double t = 2e-6 + P * ulp_f32(static_cast<float>(w));
  if (p == Precision::Exact) t += P * std::fabs(w - f.exact[i]) + ulp_f32(static_cast<float>(P * w));
  return std::fabs(f.att) * t;
}

// (a) inv_freq and attention_scaling.
TEST(GoldenRope, InvFreqAndAttentionScaling) {
  for (const json& c : rope_cases()) {
    const Case k = parse(c);
    if (!has(c, "inv_freq")) continue;  // GPT-J: checked through q_embed below
    const std::vector<double> want = c.at("inv_freq").get<std::vector<double>>();
    for (Precision p : {Precision::Exact, Precision::HfCompat}) {
      RopeConfig cfg = k.cfg;
      cfg.precision = p;
      const RopeFrequencies got = rope_frequencies(cfg, k.seq_len);
      ASSERT_EQ(got.inv_freq.size(), want.size()) << k.name;
      double worst = 0;
      int bit_equal = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        const double rel = std::fabs(got.inv_freq[i] - want[i]) / want[i];
        worst = std::max(worst, rel);
        bit_equal += got.inv_freq_f32[i] == static_cast<float>(want[i]);
        EXPECT_LE(rel, 1e-6) << k.name << " i=" << i << ": got " << got.inv_freq[i] << ", HF " << want[i];
      }
      if (has(c, "attention_scaling")) {
        const double a = c.at("attention_scaling").get<double>();
        EXPECT_LE(std::fabs(got.attention_scaling - a), 1e-6 * a) << k.name;
      }
      std::printf(
          "[ golden   ] %-30s %-8s inv_freq max rel err %.3g (tol 1e-6); float32 bit-equal "
          "%d/%zu\n",
          k.name.c_str(), p == Precision::Exact ? "Exact" : "HfCompat", worst, bit_equal, want.size());
    }
  }
}

// (b) cos/sin: the file's [N][head_dim] (first r columns) against rope_cos_sin [N, r].
double cos_sin_ratio(const Case& k, const json& c, const RopeConfig& cfg, const Freqs& f) {
  const int64_t r = k.cfg.rot(), N = static_cast<int64_t>(k.pos.size()), half = r / 2;
  std::vector<float> cs(static_cast<size_t>(N * r)), sn(cs.size());
  rope_cos_sin(TensorView::contiguous(cs.data(), DType::F32, {N, r}),
               TensorView::contiguous(sn.data(), DType::F32, {N, r}), cfg, k.pos, k.seq_len);
  const std::vector<double> wc = flat(c.at("cos")), ws = flat(c.at("sin"));
  const int64_t D = static_cast<int64_t>(wc.size()) / N;
  EXPECT_EQ(static_cast<int64_t>(wc.size()), N * D);
  double worst = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t d = 0; d < r; ++d) {
      const auto i = static_cast<size_t>(k.half_split ? d % half : d / 2);
      const double tol = cos_sin_tol(f, cfg.precision, k.pos[static_cast<size_t>(n)], i);
      const auto g = static_cast<size_t>(n * r + d), w = static_cast<size_t>(n * D + d);
      worst = std::max({worst, std::fabs(cs[g] - wc[w]) / tol, std::fabs(sn[g] - ws[w]) / tol});
    }
  return worst;
}

TEST(GoldenRope, CosSin) {
  for (const json& c : rope_cases()) {
    const Case k = parse(c);
    if (!has(c, "cos")) continue;
    for (Precision p : {Precision::Exact, Precision::HfCompat}) {
      RopeConfig cfg = k.cfg;
      cfg.precision = p;
      const Freqs f = freqs_for(k, c);
      const double ratio = cos_sin_ratio(k, c, cfg, f);
      EXPECT_LE(ratio, 1.0) << k.name << (p == Precision::Exact ? " Exact" : " HfCompat");
      std::printf("[ golden   ] %-30s %-8s cos/sin max err / tol %.3f\n", k.name.c_str(),
                  p == Precision::Exact ? "Exact" : "HfCompat", ratio);
    }
  }
}

// (c) q_embed / k_embed. Half-split cases store q as [heads][seq][D], viewed here as [B = 1, T =
// seq, H = heads, D] with strides {-, D, seq D, 1}; GPT-J stores [seq][heads][D] (contiguous).
double embed_ratio(const Case& k, const json& c, const RopeConfig& cfg, const Freqs& f, const char* in_key,
                   const char* out_key) {
  const std::vector<double> xd = flat(c.at(in_key)), want = flat(c.at(out_key));
  const std::vector<float> x(xd.begin(), xd.end());
  const int64_t T = static_cast<int64_t>(k.pos.size()), D = k.cfg.head_dim, r = k.cfg.rot();
  const int64_t H = static_cast<int64_t>(x.size()) / (T * D);
  EXPECT_EQ(static_cast<int64_t>(x.size()), H * T * D) << k.name << " " << in_key;
  EXPECT_EQ(want.size(), x.size()) << k.name << " " << out_key;
  // Index of (t, h, d) in the file's layout.
  auto at = [&](int64_t t, int64_t h, int64_t d) {
    return static_cast<size_t>(k.half_split ? (h * T + t) * D + d : (t * H + h) * D + d);
  };
  const TensorView xv =
      k.half_split ? TensorView::strided(x.data(), DType::F32, {1, T, H, D}, {H * T * D, D, T * D, 1})
                   : TensorView::contiguous(x.data(), DType::F32, {1, T, H, D});
  std::vector<float> out(x.size());
  RopeTensors t;
  t.q = xv;
  t.q_out = TensorView::contiguous(out.data(), DType::F32, {1, T, H, D});
  const TensorView ids = TensorView::contiguous(k.pos.data(), DType::I64, {1, T});
  rope_forward(t, cfg, Positions::ids(ids), k.seq_len);
  const int64_t half = r / 2;
  const bool layout_split = cfg.layout == PairLayout::HalfSplit;  // may be wrong on purpose
  double worst = 0;
  for (int64_t tt = 0; tt < T; ++tt)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < D; ++d) {
        const double got = out[static_cast<size_t>((tt * H + h) * D + d)], w = want[at(tt, h, d)];
        if (d >= r) {  // pass-through
          worst = std::max(worst, got == w ? 0.0 : HUGE_VAL);
          continue;
        }
        const int64_t i = layout_split ? d % half : d / 2;
        const int64_t a = layout_split ? i : 2 * i, b = layout_split ? i + half : 2 * i + 1;
        const double mag = std::fabs(x[at(tt, h, a)]) + std::fabs(x[at(tt, h, b)]);
        const double tol =
            cos_sin_tol(f, cfg.precision, k.pos[static_cast<size_t>(tt)], static_cast<size_t>(i)) * mag +
            2 * ulp_f32(static_cast<float>(std::fabs(f.att) * mag));
        worst = std::max(worst, std::fabs(got - w) / tol);
      }
  return worst;
}

TEST(GoldenRope, QueryAndKeyEmbeddings) {
  for (const json& c : rope_cases()) {
    const Case k = parse(c);
    const Freqs f = freqs_for(k, c);
    for (Precision p : {Precision::Exact, Precision::HfCompat}) {
      RopeConfig cfg = k.cfg;
      cfg.precision = p;
      for (auto [in, out] : {std::pair{"q", "q_embed"}, std::pair{"k", "k_embed"}}) {
        if (!has(c, in)) continue;
        const double ratio = embed_ratio(k, c, cfg, f, in, out);
        EXPECT_LE(ratio, 1.0) << k.name << " " << out << (p == Precision::Exact ? " Exact" : " HfCompat");
        std::printf("[ golden   ] %-30s %-8s %-7s max err / tol %.3f\n", k.name.c_str(),
                    p == Precision::Exact ? "Exact" : "HfCompat", out, ratio);
      }
    }
  }
}

// Controls: the same comparisons with the wrong pair layout, and with the wrong scaling (none for
// scaled cases; linear x2 for unscaled ones), must exceed the tolerance -- the checks can fail.
TEST(GoldenRope, ControlsWrongLayoutOrScalingFail) {
  for (const json& c : rope_cases()) {
    const Case k = parse(c);
    const Freqs f = freqs_for(k, c);
    RopeConfig wrong_layout = k.cfg;
    wrong_layout.precision = Precision::HfCompat;
    wrong_layout.layout = k.half_split ? PairLayout::Interleaved : PairLayout::HalfSplit;
    EXPECT_GT(embed_ratio(k, c, wrong_layout, f, "q", "q_embed"), 1.0) << k.name << ": wrong layout passed";
    RopeConfig wrong_scaling = k.cfg;
    wrong_scaling.precision = Precision::HfCompat;
    wrong_scaling.scaling = RopeScaling{};
    if (k.cfg.scaling.type == RopeType::Default) {
      wrong_scaling.scaling.type = RopeType::Linear;
      wrong_scaling.scaling.factor = 2.0;
    }
    EXPECT_GT(embed_ratio(k, c, wrong_scaling, f, "q", "q_embed"), 1.0) << k.name << ": wrong scaling passed";
    if (has(c, "cos"))
      EXPECT_GT(cos_sin_ratio(k, c, wrong_scaling, f), 1.0) << k.name << ": wrong scaling passed cos/sin";
  }
}

// ---- HfCompat against a transcription of HF's float32 recipe --------------------------------

// float32 x ** y, correctly rounded (MPFR at 24 bits): torch's float32 power up to its last ulp.
float pow24(float x, float y) {
  posenc_test::Mp b(24), e(24), p(24);
  mpfr_set_flt(b, x, MPFR_RNDN);
  mpfr_set_flt(e, y, MPFR_RNDN);
  mpfr_pow(p, b, e, MPFR_RNDN);
  return mpfr_get_flt(p, MPFR_RNDN);
}

// modeling_rope_utils.py (5.x), one statement per line. torch: `s / t` is t.reciprocal() * s; a
// Python number meeting a float32 tensor is rounded to float32 first; Python numbers are doubles.
std::vector<float> hf_inv_freq(const RopeConfig& c, int64_t L) {
  const RopeScaling& s = c.scaling;
  const int64_t dim = c.rot();
  const double f = s.factor;
  const int64_t omax =
      s.original_max_position_embeddings > 0 ? s.original_max_position_embeddings : c.max_position_embeddings;
  auto F = [](double v) { return static_cast<float>(v); };
  std::vector<float> expo;  // torch.arange(0, dim, 2).float() / dim
  for (int64_t i = 0; i < dim; i += 2) expo.push_back(static_cast<float>(i) / static_cast<float>(dim));
  auto powers = [&](float base) {  // base ** expo
    std::vector<float> p;
    for (float e : expo) p.push_back(pow24(base, e));
    return p;
  };
  auto inv = [&](float base) {  // 1.0 / (base ** expo)
    std::vector<float> p = powers(base);
    for (float& v : p) v = 1.0f / v;
    return p;
  };
  const double dd = static_cast<double>(dim);
  switch (s.type) {
    case RopeType::Default:
      return inv(F(c.base));
    case RopeType::Linear: {
      std::vector<float> w = inv(F(c.base));
      for (float& v : w) v = v / F(f);  // inv_freq /= factor
      return w;
    }
    case RopeType::Ntk:  // base = base * factor ** (dim / (dim - 2))
      return inv(F(c.base * std::pow(f, dd / (dd - 2))));
    case RopeType::Dynamic: {
      const int64_t M = c.max_position_embeddings;
      if (L <= M)  // the initial buffer, seq_len = max_position_embeddings (Python ints)
        return inv(F(c.base *
                     std::pow(f * static_cast<double>(M) / static_cast<double>(M) - (f - 1), dd / (dd - 2))));
      // dynamic update: seq_len = max(position_ids) + 1 is an int64 tensor, so all of it is float32
      const float x = F(f) * static_cast<float>(L) / static_cast<float>(M) - F(f - 1);
      return inv(F(c.base) * F(std::pow(static_cast<double>(x), dd / (dd - 2))));
    }
    case RopeType::Yarn: {
      auto corr = [&](double rot) {  // find_correction_dim
        return (dd * std::log(static_cast<double>(omax) / (rot * 2 * std::numbers::pi))) /
               (2 * std::log(c.base));
      };
      double low = corr(s.beta_fast), high = corr(s.beta_slow);
      if (s.truncate) low = std::floor(low), high = std::ceil(high);
      low = std::max(low, 0.0), high = std::min(high, dd - 1);
      if (low == high) high += 0.001;
      const std::vector<float> pos_freqs = powers(F(c.base));
      std::vector<float> out;
      for (size_t j = 0; j < pos_freqs.size(); ++j) {
        const float extrapolation = 1.0f / pos_freqs[j];
        const float interpolation = 1.0f / (F(f) * pos_freqs[j]);
        const float ramp = std::clamp((static_cast<float>(j) - F(low)) / F(high - low), 0.0f, 1.0f);
        const float e = 1.0f - ramp;  // inv_freq_extrapolation_factor
        out.push_back(interpolation * (1.0f - e) + extrapolation * e);
      }
      return out;
    }
    case RopeType::Llama3: {
      const double old = static_cast<double>(omax);
      const double low_wl = old / s.low_freq_factor, high_wl = old / s.high_freq_factor;
      std::vector<float> w = inv(F(c.base));
      for (float& v : w) {
        const float wavelen = (1.0f / v) * F(2 * std::numbers::pi);
        const float llama = wavelen > F(low_wl) ? v / F(f) : v;
        const float smooth =
            ((1.0f / wavelen) * F(old) - F(s.low_freq_factor)) / F(s.high_freq_factor - s.low_freq_factor);
        const float smoothed = (1.0f - smooth) * llama / F(f) + smooth * llama;
        const bool medium = !(wavelen < F(high_wl)) && !(wavelen > F(low_wl));
        v = medium ? smoothed : llama;
      }
      return w;
    }
    case RopeType::LongRope: {
      const std::vector<double>& ext = L > omax ? s.long_factor : s.short_factor;
      std::vector<float> p = powers(F(c.base));
      for (size_t i = 0; i < p.size(); ++i) p[i] = 1.0f / (F(ext[i]) * p[i]);
      return p;
    }
  }
  return {};
}

TEST(HfRecipe, HfCompatReplaysHfFloat32BitForBit) {
  std::vector<std::tuple<std::string, RopeConfig, int64_t>> cases;
  for (int64_t D : {64, 96, 80})
    for (double base : {10000.0, 1e6}) {
      RopeConfig c;
      c.head_dim = D;
      c.base = base;
      c.max_position_embeddings = 2048;
      c.precision = Precision::HfCompat;
      auto add = [&](const std::string& n, RopeType t, double f, int64_t L, auto&& more) {
        RopeConfig k = c;
        k.scaling.type = t;
        k.scaling.factor = f;
        more(k.scaling);
        cases.emplace_back(n + " D=" + std::to_string(D), k, L);
      };
      auto none = [](RopeScaling&) {};
      add("default", RopeType::Default, 1, 0, none);
      add("linear 3", RopeType::Linear, 3, 0, none);
      add("linear 2.5", RopeType::Linear, 2.5, 0, none);
      add("ntk 3", RopeType::Ntk, 3, 0, none);
      add("dynamic 3 below", RopeType::Dynamic, 3, 1000, none);
      add("dynamic 3 above", RopeType::Dynamic, 3, 5000, none);
      add("dynamic 1.5 above", RopeType::Dynamic, 1.5, 100000, none);
      add("yarn 3", RopeType::Yarn, 3, 0, [](RopeScaling& s) { s.original_max_position_embeddings = 1000; });
      add("yarn 7 untruncated", RopeType::Yarn, 7, 0, [](RopeScaling& s) {
        s.original_max_position_embeddings = 1500, s.truncate = false, s.beta_fast = 24, s.beta_slow = 1.5;
      });
      add("llama3 6", RopeType::Llama3, 6, 0, [](RopeScaling& s) {
        s.original_max_position_embeddings = 1024, s.low_freq_factor = 1.5, s.high_freq_factor = 5;
      });
      for (int64_t L : {int64_t{1000}, int64_t{1001}})
        add("longrope L=" + std::to_string(L), RopeType::LongRope, 1, L, [&](RopeScaling& s) {
          s.original_max_position_embeddings = 1000;
          for (int64_t i = 0; i < D / 2; ++i) {
            s.short_factor.push_back(1.0 + 0.1 * static_cast<double>(i));
            s.long_factor.push_back(1.3 + 0.7 * static_cast<double>(i));
          }
        });
    }
  int values = 0;
  for (const auto& [name, cfg, L] : cases) {
    const std::vector<float> want = hf_inv_freq(cfg, L);
    const RopeFrequencies got = rope_frequencies(cfg, L);
    ASSERT_EQ(got.inv_freq_f32.size(), want.size()) << name;
    for (size_t i = 0; i < want.size(); ++i, ++values)
      EXPECT_EQ(got.inv_freq_f32[i], want[i]) << name << " i=" << i;
  }
  std::printf("[ hf recipe] %zu configs, %d float32 values compared bit for bit\n", cases.size(), values);
}

}  // namespace
