// posenc::hf::parse_rope_config / load_rope_config: config.json files of real model families (the
// fields as their HF hub configs write them, trimmed to what matters), HF 4.x rope_scaling and 5.x
// rope_parameters spellings, every error (naming the JSON field) and every warning.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "posenc/hf_config.hpp"
#include "test_util.hpp"

using namespace posenc;
using posenc::hf::LoadOptions;
using posenc::hf::parse_rope_config;
using posenc::hf::RopeImport;

namespace {

std::string error_of(std::string_view json, const LoadOptions& opt = {}) {
  try {
    parse_rope_config(json, opt);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// The message names every needle.
void expect_error(std::string_view json, std::initializer_list<std::string_view> needles,
                  const LoadOptions& opt = {}) {
  const std::string msg = error_of(json, opt);
  for (std::string_view n : needles)
    EXPECT_NE(msg.find(n), std::string::npos)
        << "error for " << json << "\n  is: " << msg << "\n  should name: " << n;
}

bool warned(const RopeImport& r, std::string_view needle) {
  for (const std::string& w : r.warnings)
    if (w.find(needle) != std::string::npos) return true;
  return false;
}

std::string all_warnings(const RopeImport& r) {
  std::string s;
  for (const std::string& w : r.warnings) s += "\n  " + w;
  return s;
}

std::string longrope_lists(int n) {
  std::string s = "\"short_factor\": [";
  for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(1.0 + 0.01 * i);
  s += "], \"long_factor\": [";
  for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(1.0 + 0.5 * i);
  return s + "]";
}

}  // namespace

TEST(HfConfig, Llama2Default) {
  const RopeImport r = parse_rope_config(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 4096,
    "rope_scaling": null, "rope_theta": 10000.0, "torch_dtype": "float16"})");
  EXPECT_EQ(r.config.head_dim, 128);
  EXPECT_EQ(r.config.rot(), 128);
  EXPECT_EQ(r.config.base, 10000.0);
  EXPECT_EQ(r.config.scaling.type, RopeType::Default);
  EXPECT_EQ(r.config.layout, PairLayout::HalfSplit);
  EXPECT_EQ(r.config.max_position_embeddings, 4096);
  EXPECT_EQ(r.model_type, "llama");
  EXPECT_EQ(r.rope_type, "default");
  EXPECT_TRUE(r.warnings.empty()) << all_warnings(r);
  EXPECT_EQ(r.source_of("base"), "rope_theta");
  EXPECT_EQ(r.source_of("head_dim"), "hidden_size / num_attention_heads");
}

TEST(HfConfig, Llama31Llama3) {
  const RopeImport r = parse_rope_config(R"({
    "model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "head_dim": 128,
    "max_position_embeddings": 131072, "rope_theta": 500000.0,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"}})");
  const RopeScaling& s = r.config.scaling;
  EXPECT_EQ(s.type, RopeType::Llama3);
  EXPECT_EQ(s.factor, 8.0);
  EXPECT_EQ(s.low_freq_factor, 1.0);
  EXPECT_EQ(s.high_freq_factor, 4.0);
  EXPECT_EQ(s.original_max_position_embeddings, 8192);
  EXPECT_EQ(r.config.base, 500000.0);
  EXPECT_EQ(r.source_of("head_dim"), "head_dim");
  EXPECT_EQ(r.source_of("scaling.factor"), "rope_scaling.factor");
  EXPECT_TRUE(r.warnings.empty()) << all_warnings(r);
  // HF warns when the pretraining context is not shorter than the extended one.
  const RopeImport same = parse_rope_config(R"({"head_dim": 128, "rope_theta": 500000.0,
    "max_position_embeddings": 8192, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
    "low_freq_factor": 1.0, "high_freq_factor": 4.0}})");
  EXPECT_EQ(same.config.scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(same.source_of("scaling.original_max_position_embeddings"), "default (max_position_embeddings)");
  EXPECT_TRUE(warned(same, "meant for a context extended")) << all_warnings(same);
  // The highest frequency is unchanged, the lowest divided by 8 (wavelength > 8192).
  const RopeFrequencies f = rope_frequencies(r.config);
  EXPECT_DOUBLE_EQ(f.inv_freq[0], 1.0);
  EXPECT_NEAR(f.inv_freq[63] * 8.0, std::pow(500000.0, -126.0 / 128.0), 1e-18);
}

TEST(HfConfig, Qwen2YarnIn4xAnd5xSpelling) {
  const RopeImport a = parse_rope_config(R"({
    "model_type": "qwen2", "hidden_size": 3584, "num_attention_heads": 28,
    "max_position_embeddings": 32768, "rope_theta": 1000000.0,
    "rope_scaling": {"factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn"}})");
  const RopeImport b = parse_rope_config(R"({
    "model_type": "qwen2", "hidden_size": 3584, "num_attention_heads": 28,
    "max_position_embeddings": 32768,
    "rope_parameters": {"rope_type": "yarn", "rope_theta": 1000000.0, "factor": 4.0,
                        "original_max_position_embeddings": 32768}})");
  for (const RopeImport* r : {&a, &b}) {
    EXPECT_EQ(r->config.head_dim, 128);
    EXPECT_EQ(r->config.scaling.type, RopeType::Yarn);
    EXPECT_EQ(r->config.scaling.factor, 4.0);
    EXPECT_EQ(r->config.scaling.original_max_position_embeddings, 32768);
    EXPECT_EQ(r->config.base, 1e6);
    EXPECT_EQ(r->config.scaling.beta_fast, 32.0);
    EXPECT_EQ(r->config.scaling.beta_slow, 1.0);
    EXPECT_TRUE(r->config.scaling.truncate);
    EXPECT_FALSE(r->config.scaling.attention_factor.has_value());
    EXPECT_TRUE(r->warnings.empty()) << all_warnings(*r);
  }
  EXPECT_EQ(a.source_of("scaling.type"), "rope_scaling.type");
  EXPECT_EQ(b.source_of("base"), "rope_parameters.rope_theta");
  EXPECT_EQ(rope_frequencies(a.config).inv_freq, rope_frequencies(b.config).inv_freq);
  EXPECT_DOUBLE_EQ(rope_frequencies(a.config).attention_scaling, 0.1 * std::log(4.0) + 1.0);
}

TEST(HfConfig, Phi3LongRopeWithTopLevelOriginalMax) {
  const std::string json = R"({"model_type": "phi3", "hidden_size": 3072,
    "num_attention_heads": 32, "max_position_embeddings": 131072,
    "original_max_position_embeddings": 4096, "rope_theta": 10000.0,
    "rope_scaling": {"type": "longrope", )" +
                           longrope_lists(48) + "}}";
  const RopeImport r = parse_rope_config(json);
  const RopeScaling& s = r.config.scaling;
  EXPECT_EQ(s.type, RopeType::LongRope);
  EXPECT_EQ(r.config.head_dim, 96);
  EXPECT_EQ(s.original_max_position_embeddings, 4096);
  EXPECT_EQ(s.short_factor.size(), 48u);
  EXPECT_DOUBLE_EQ(s.long_factor[2], 2.0);
  EXPECT_NE(r.source_of("scaling.original_max_position_embeddings").find("Phi-3"), std::string::npos);
  EXPECT_TRUE(warned(r, "switches frequencies at original_max_position_embeddings = 4096"));
  // HF's default attention factor: sqrt(1 + ln(131072 / 4096) / ln(4096)).
  EXPECT_DOUBLE_EQ(rope_frequencies(r.config).attention_scaling,
                   std::sqrt(1.0 + std::log(32.0) / std::log(4096.0)));
  // "su" is the old name; an explicit factor 1 means attention 1 as in HF.
  std::string su = json;
  su.replace(su.find("\"longrope\""), 10, "\"su\", \"factor\": 1.0");
  const RopeImport r2 = parse_rope_config(su);
  EXPECT_EQ(r2.config.scaling.type, RopeType::LongRope);
  EXPECT_EQ(r2.rope_type_given, "su");
  EXPECT_TRUE(warned(r2, "old name"));
  EXPECT_EQ(rope_frequencies(r2.config).attention_scaling, 1.0);
}

TEST(HfConfig, GptNeoXRotaryPct) {
  const RopeImport r = parse_rope_config(R"({"model_type": "gpt_neox", "hidden_size": 2048,
    "num_attention_heads": 16, "rotary_pct": 0.25, "rotary_emb_base": 10000,
    "max_position_embeddings": 2048})");
  EXPECT_EQ(r.config.head_dim, 128);
  EXPECT_EQ(r.config.rot(), 32);
  EXPECT_EQ(r.config.base, 10000.0);
  EXPECT_EQ(r.config.layout, PairLayout::HalfSplit);
  EXPECT_EQ(r.source_of("rotary_dim"), "int(head_dim * rotary_pct)");
  EXPECT_EQ(r.source_of("base"), "rotary_emb_base");
  // rotary_pct defaults to 0.25 for gpt_neox.
  const RopeImport d = parse_rope_config(
      R"({"model_type": "gpt_neox", "hidden_size": 512, "num_attention_heads": 8,
          "rotary_emb_base": 10000})");
  EXPECT_EQ(d.config.rot(), 16);
}

TEST(HfConfig, GptJInterleavedRotaryDim) {
  const RopeImport r = parse_rope_config(R"({"model_type": "gptj", "n_embd": 4096, "n_head": 16,
    "rotary_dim": 64, "n_positions": 2048})");
  EXPECT_EQ(r.config.head_dim, 256);
  EXPECT_EQ(r.config.rot(), 64);
  EXPECT_EQ(r.config.layout, PairLayout::Interleaved);
  EXPECT_EQ(r.config.base, 10000.0);
  EXPECT_EQ(r.config.max_position_embeddings, 2048);
  EXPECT_TRUE(r.warnings.empty()) << all_warnings(r);
  const RopeImport c = parse_rope_config(R"({"model_type": "codegen", "n_embd": 1024,
    "n_head": 16, "n_positions": 2048})");
  EXPECT_EQ(c.config.layout, PairLayout::Interleaved);
  EXPECT_EQ(c.config.rot(), 64);  // GPT-J / CodeGen default rotary_dim
  const RopeImport t = parse_rope_config(R"({"model_type": "gptj", "n_embd": 4096, "n_head": 16,
    "rotary_dim": 64, "rope_theta": 50000})");
  EXPECT_EQ(t.config.base, 50000.0);
  EXPECT_TRUE(warned(t, "fixes the base at 10000"));
}

TEST(HfConfig, PartialRotaryFactorTruncatesAsPython) {
  // Phi-2: head_dim 80, factor 0.4 -> int(32.00000000000001) = 32.
  const RopeImport r = parse_rope_config(R"({"model_type": "phi", "hidden_size": 2560,
    "num_attention_heads": 32, "partial_rotary_factor": 0.4, "rope_theta": 10000.0})");
  EXPECT_EQ(r.config.rot(), 32);
  // 5.x keeps it inside rope_parameters.
  const RopeImport p = parse_rope_config(R"({"hidden_size": 2560, "num_attention_heads": 32,
    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                        "partial_rotary_factor": 0.5}})");
  EXPECT_EQ(p.config.rot(), 40);
  EXPECT_EQ(p.source_of("rotary_dim"), "int(head_dim * rope_parameters.partial_rotary_factor)");
}

TEST(HfConfig, LinearAndDynamic) {
  const RopeImport l = parse_rope_config(R"({"hidden_size": 4096, "num_attention_heads": 32,
    "max_position_embeddings": 16384, "rope_scaling": {"type": "linear", "factor": 4}})");
  EXPECT_EQ(l.config.scaling.type, RopeType::Linear);
  EXPECT_EQ(l.config.scaling.factor, 4.0);
  EXPECT_TRUE(warned(l, "rope_theta is absent"));
  const RopeImport d = parse_rope_config(R"({"hidden_size": 4096, "num_attention_heads": 32,
    "rope_theta": 10000, "max_position_embeddings": 2048,
    "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}})");
  EXPECT_EQ(d.config.scaling.type, RopeType::Dynamic);
  EXPECT_EQ(d.config.scaling.factor, 2.0);
  EXPECT_TRUE(warned(d, "KV cache")) << all_warnings(d);
}

TEST(HfConfig, TextConfigAndLayerTypes) {
  const RopeImport t = parse_rope_config(R"({"model_type": "llava", "text_config": {
    "model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "rope_theta": 10000,
    "rope_scaling": {"rope_type": "linear", "factor": 2}}})");
  EXPECT_EQ(t.config.scaling.factor, 2.0);
  EXPECT_EQ(t.source_of("scaling.factor"), "text_config.rope_scaling.factor");
  EXPECT_EQ(t.model_type, "llama");

  const std::string per_type = R"({"hidden_size": 1024, "num_attention_heads": 8,
    "head_dim": 256, "max_position_embeddings": 131072,
    "layer_types": ["sliding_attention", "full_attention"],
    "rope_parameters": {
      "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
      "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0}}})";
  expect_error(per_type, {"rope_parameters", "full_attention", "sliding_attention", "layer_type"});
  LoadOptions full;
  full.layer_type = "full_attention";
  const RopeImport f = parse_rope_config(per_type, full);
  EXPECT_EQ(f.config.scaling.type, RopeType::Linear);
  EXPECT_EQ(f.config.base, 1e6);
  EXPECT_EQ(f.source_of("base"), "rope_parameters.full_attention.rope_theta");
  LoadOptions sliding;
  sliding.layer_type = "sliding_attention";
  EXPECT_EQ(parse_rope_config(per_type, sliding).config.base, 1e4);
  LoadOptions bad;
  bad.layer_type = "global";
  expect_error(per_type, {"rope_parameters", "no entry 'global'"}, bad);
  // A layer_type for a config with one dict is ignored, with a warning.
  const RopeImport flat = parse_rope_config(R"({"head_dim": 64, "rope_theta": 1e4})", full);
  EXPECT_TRUE(warned(flat, "layer_type is ignored")) << all_warnings(flat);
}

TEST(HfConfig, MropeIsDefaultWithAWarning) {
  const RopeImport r = parse_rope_config(R"({"model_type": "qwen2_vl", "hidden_size": 3584,
    "num_attention_heads": 28, "rope_theta": 1000000.0,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}})");
  EXPECT_EQ(r.config.scaling.type, RopeType::Default);
  EXPECT_EQ(r.rope_type_given, "mrope");
  EXPECT_TRUE(warned(r, "mrope_section"));
  EXPECT_EQ(r.warnings.size(), 1u) << all_warnings(r);  // mrope_section itself is a known key
}

TEST(HfConfig, YarnWarnings) {
  const auto yarn = [](const std::string& extra, const std::string& top = "") {
    return parse_rope_config(R"({"hidden_size": 4096, "num_attention_heads": 32,
      "rope_theta": 10000, "max_position_embeddings": 16384)" +
                             top + R"(, "rope_parameters": {"rope_type": "yarn", "factor": 4.0,
      "original_max_position_embeddings": 4096)" +
                             extra + "}}");
  };
  EXPECT_TRUE(yarn("").warnings.empty()) << all_warnings(yarn(""));
  const RopeImport af = yarn(R"(, "attention_factor": 1.5, "mscale": 1.0, "mscale_all_dim": 1.0)");
  EXPECT_TRUE(warned(af, "ignores mscale and mscale_all_dim"));
  EXPECT_EQ(rope_frequencies(af.config).attention_scaling, 1.5);
  const RopeImport one = yarn(R"(, "mscale": 0.707)");
  EXPECT_TRUE(warned(one, "mscale is given without mscale_all_dim"));
  EXPECT_FALSE(one.config.scaling.mscale.has_value());
  const RopeImport both = yarn(R"(, "mscale": 0.707, "mscale_all_dim": 0.707)");
  EXPECT_TRUE(warned(both, "DeepSeek"));
  EXPECT_DOUBLE_EQ(rope_frequencies(both.config).attention_scaling, 1.0);
  const RopeImport beta = yarn(R"(, "beta_fast": 0, "beta_slow": 2)");
  EXPECT_TRUE(warned(beta, "beta_fast = 0 counts as unset"));
  EXPECT_EQ(beta.config.scaling.beta_fast, 32.0);
  EXPECT_EQ(beta.config.scaling.beta_slow, 2.0);
  const RopeImport implicit = yarn("", R"(, "head_dim": 128)");
  EXPECT_TRUE(implicit.warnings.empty());
  const RopeImport mismatch =
      parse_rope_config(R"({"hidden_size": 4096, "num_attention_heads": 32, "rope_theta": 1e4,
    "max_position_embeddings": 32768, "rope_scaling": {"rope_type": "yarn", "factor": 4.0,
    "original_max_position_embeddings": 4096}})");
  EXPECT_TRUE(warned(mismatch, "32768 / 4096 = 8: HF 5.x uses factor")) << all_warnings(mismatch);
  const RopeImport null_factor =
      parse_rope_config(R"({"hidden_size": 4096, "num_attention_heads": 32, "rope_theta": 1e4,
    "max_position_embeddings": 163840, "rope_scaling": {"rope_type": "yarn", "factor": null,
    "original_max_position_embeddings": 4096, "truncate": false}})");
  EXPECT_EQ(null_factor.config.scaling.factor, 40.0);
  EXPECT_FALSE(null_factor.config.scaling.truncate);
  const RopeImport unknown = yarn(R"(, "low_freq_factor": 1.0)");
  EXPECT_TRUE(warned(unknown,
                     "rope_parameters.low_freq_factor is not a parameter of rope_type "
                     "'yarn'"));
}

TEST(HfConfig, MalformedJsonNamesTheByteOffset) {
  expect_error(R"({"hidden_size": 4096,, "num_attention_heads": 32})",
               {"malformed JSON", "byte offset 21", "config.json"});
  expect_error(R"({"hidden_size": 4096, "num_atten)", {"truncated JSON", "byte offset 32"});
  expect_error("", {"truncated JSON", "byte offset 0"});
  expect_error("[1, 2]", {"a JSON object"});
  expect_error(R"({"hidden_size": 1e999})", {"JSON"});
}

// A document nested deeper than any config is refused while parsing (printing a value nested 100000
// deep in the error message overflowed the stack: found by the CLI audit of 2026-11-29); the limit is
// 64 levels, so 64 still parse.
// Multi-head latent attention (CLI audit: DeepSeek-V3 was read as head_dim 7168 / 128 = 56, half-split):
// HF's MLA configs rotate qk_rope_head_dim dims of each head, in interleaved pairs (rope_interleave,
// true by default for DeepSeek-V3; DeepSeek-V2 multiplies complex pairs); GLM sets rope_interleave too.
TEST(HfConfig, MlaModelsRotateQkRopeHeadDimInterleaved) {
  const std::string v3 =
      R"({"model_type": "deepseek_v3", "hidden_size": 7168, "num_attention_heads": 128, "qk_rope_head_dim": 64,
          "qk_nope_head_dim": 128, "v_head_dim": 128, "rope_theta": 10000, "max_position_embeddings": 163840,
          "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096,
                           "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0})";
  const RopeImport r = parse_rope_config(v3 + "}");
  EXPECT_EQ(r.config.head_dim, 64);
  EXPECT_EQ(r.config.rotary_dim, 64);
  EXPECT_EQ(r.config.layout, PairLayout::Interleaved);
  EXPECT_EQ(r.source_of("head_dim"), "qk_rope_head_dim (multi-head latent attention: the rotated part)");
  EXPECT_EQ(r.config.scaling.type, RopeType::Yarn);
  int reorder = 0;
  for (const std::string& w : r.warnings)
    reorder += w.find("[x0, x2, ... | x1, x3, ...]") != std::string::npos;
  EXPECT_EQ(reorder, 1);
  const RopeImport off = parse_rope_config(v3 + R"(, "rope_interleave": false})");
  EXPECT_EQ(off.config.layout, PairLayout::HalfSplit);
  EXPECT_EQ(off.source_of("layout"), "rope_interleave (false: HF rotate_half, pairs (i, i + r/2))");
  const RopeImport v2 = parse_rope_config(
      R"({"model_type": "deepseek_v2", "hidden_size": 5120, "num_attention_heads": 128, "qk_rope_head_dim": 64, "rope_theta": 10000})");
  EXPECT_EQ(v2.config.head_dim, 64);
  EXPECT_EQ(v2.config.layout, PairLayout::Interleaved);
  for (const std::string& w : v2.warnings) EXPECT_EQ(w.find("[x0, x2"), std::string::npos) << w;
  const RopeImport glm = parse_rope_config(
      R"({"model_type": "glm4_moe_lite", "hidden_size": 2048, "num_attention_heads": 16, "head_dim": 64, "rope_theta": 1e6, "rope_interleave": true})");
  EXPECT_EQ(glm.config.head_dim, 64);
  EXPECT_EQ(glm.config.layout, PairLayout::Interleaved);
  EXPECT_EQ(glm.source_of("layout"), "rope_interleave");
  // Glm4MoeLiteConfig: rope_interleave defaults to True (GLM-4.7-Flash's attention is DeepseekV3Attention).
  const RopeImport glm_default = parse_rope_config(
      R"({"model_type": "glm4_moe_lite", "hidden_size": 2048, "num_attention_heads": 20, "qk_rope_head_dim": 64, "rope_theta": 1e6})");
  EXPECT_EQ(glm_default.config.layout, PairLayout::Interleaved);
  EXPECT_EQ(glm_default.source_of("layout"), "model_type glm4_moe_lite (rope_interleave defaults to true)");
  // head_dim that is not the rotated part: qk_rope_head_dim wins, with a warning.
  const RopeImport both = parse_rope_config(
      R"({"model_type": "deepseek_v3", "hidden_size": 7168, "num_attention_heads": 128, "head_dim": 192, "qk_rope_head_dim": 64, "rope_theta": 10000})");
  EXPECT_EQ(both.config.head_dim, 64);
  int head_warn = 0;
  for (const std::string& w : both.warnings) head_warn += w.find("head_dim = 192") != std::string::npos;
  EXPECT_EQ(head_warn, 1);
}

// Model types whose HF code rotates adjacent pairs in place (an audit of the layouts: Cohere, GLM, Llama 4
// and RoFormer were read as rotate_half's pairs (i, i + r/2), silently wrong). GPT-J's defaults (base
// 10000 fixed, rotary_dim 64) stay GPT-J's.
TEST(HfConfig, InterleavedModelTypesKeepTheirOwnDims) {
  struct Case {
    const char* model_type;
    int64_t rotary_dim;
    const char* extra;
  };
  for (const Case& c : {Case{"cohere", 128, ""}, Case{"cohere2", 128, ""},
                        Case{"glm", 64, R"(, "partial_rotary_factor": 0.5)"},
                        Case{"glm4", 64, R"(, "partial_rotary_factor": 0.5)"}, Case{"ernie4_5", 128, ""},
                        Case{"ernie4_5_moe", 128, ""}, Case{"helium", 128, ""}, Case{"llama4_text", 128, ""},
                        Case{"roformer", 128, ""}}) {
    SCOPED_TRACE(c.model_type);
    const RopeImport r = parse_rope_config(
        std::string(R"({"model_type": ")") + c.model_type +
        R"(", "hidden_size": 1024, "num_attention_heads": 8, "rope_theta": 50000)" + c.extra + "}");
    EXPECT_EQ(r.config.layout, PairLayout::Interleaved);
    EXPECT_EQ(r.source_of("layout"),
              std::string("model_type ") + c.model_type + " (pairs (x0, x1), (x2, x3), ...)");
    EXPECT_EQ(r.config.rotary_dim, c.rotary_dim);
    EXPECT_EQ(r.config.base, 50000.0);
  }
  // Llama's own rotate_half stays half-split.
  EXPECT_EQ(parse_rope_config(R"({"model_type": "llama", "hidden_size": 1024, "num_attention_heads": 8})")
                .config.layout,
            PairLayout::HalfSplit);
}

// Llama 4 Scout's text_config as on the hub: llama3 scaling with high_freq_factor == low_freq_factor (HF
// warns, a step), interleaved pairs, an empty no_rope_layers (HF: every 4th layer is NoPE) and query
// temperature tuning on the NoPE layers.
TEST(HfConfig, Llama4ScoutNoPeLayersAndStepScaling) {
  const std::string scout =
      R"({"model_type": "llama4", "text_config": {"model_type": "llama4_text", "head_dim": 128,
          "hidden_size": 5120, "num_attention_heads": 40, "num_hidden_layers": 48,
          "max_position_embeddings": 10485760, "rope_theta": 500000.0, "no_rope_layers": [],
          "rope_scaling": {"factor": 16.0, "high_freq_factor": 1.0, "low_freq_factor": 1.0,
                           "original_max_position_embeddings": 8192, "rope_type": "llama3"},
          "attn_temperature_tuning": true, "floor_scale": 8192, "attn_scale": 0.1}})";
  const RopeImport r = parse_rope_config(scout);
  EXPECT_EQ(r.model_type, "llama4_text");
  EXPECT_EQ(r.config.layout, PairLayout::Interleaved);
  EXPECT_EQ(r.config.scaling.type, RopeType::Llama3);
  EXPECT_EQ(r.config.scaling.low_freq_factor, r.config.scaling.high_freq_factor);
  std::vector<int64_t> every4;
  for (int64_t i = 3; i < 48; i += 4) every4.push_back(i);
  EXPECT_EQ(r.nope_layers, every4);
  EXPECT_EQ(r.source_of("nope_layers"), "default (every no_rope_layer_interval = 4-th layer)");
  EXPECT_TRUE(
      warned(r, "layers 3, 7, 11, 15, 19, 23, ..., 47 (0-based; 12 of 48) use no positional encoding"))
      << all_warnings(r);
  EXPECT_TRUE(warned(r, "attn_scale = 0.1, floor_scale = 8192")) << all_warnings(r);
  // An explicit plan (1: RoPE, 0: NoPE; booleans as Python's truthiness), longer than the layers: the
  // first num_hidden_layers entries; no temperature warning when tuning is off.
  const std::string small =
      R"({"model_type": "llama4_text", "hidden_size": 512, "num_attention_heads": 4, "num_hidden_layers": 4,
          "attn_temperature_tuning": false, "rope_theta": 500000, "no_rope_layers": )";
  const RopeImport given = parse_rope_config(small + "[1, 0, true, false, 0]}");
  EXPECT_EQ(given.nope_layers, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(given.source_of("nope_layers"), "no_rope_layers (entries 0)");
  EXPECT_FALSE(warned(given, "attn_scale")) << all_warnings(given);
  EXPECT_TRUE(parse_rope_config(small + "[1, 1, 1, 1]}").nope_layers.empty());
  expect_error(small + "[1, 1, 2, 1]}", {"no_rope_layers[2]", "2", "1 (the layer uses RoPE) or 0 (NoPE)"});
  expect_error(small + "[1, 1]}", {"no_rope_layers", "2 entries", "num_hidden_layers = 4"});
  expect_error(small + "\"all\"}", {"no_rope_layers", "\"all\""});
  // SmolLM3: the same plan with interval 4 by default; another interval.
  const RopeImport smol = parse_rope_config(
      R"({"model_type": "smollm3", "hidden_size": 2048, "num_attention_heads": 16, "num_hidden_layers": 9,
          "no_rope_layer_interval": 3, "rope_theta": 5000000})");
  EXPECT_EQ(smol.nope_layers, (std::vector<int64_t>{2, 5, 8}));
  EXPECT_EQ(smol.config.layout, PairLayout::HalfSplit);
  const RopeImport unknown =
      parse_rope_config(R"({"model_type": "smollm3", "hidden_size": 2048, "num_attention_heads": 16})");
  EXPECT_TRUE(unknown.nope_layers.empty());
  EXPECT_TRUE(warned(unknown, "num_hidden_layers is absent")) << all_warnings(unknown);
}

// Cohere 2: RoPE only on the sliding-window layers; its full_attention layers are NoPE.
TEST(HfConfig, Cohere2FullAttentionLayersAreNoPe) {
  const std::string base =
      R"({"model_type": "cohere2", "hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 8,
          "rope_theta": 50000)";
  const RopeImport typed = parse_rope_config(
      base + R"(, "layer_types": ["sliding_attention", "full_attention", "sliding_attention",
                                  "sliding_attention", "full_attention", "sliding_attention",
                                  "sliding_attention", "sliding_attention"]})");
  EXPECT_EQ(typed.nope_layers, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(typed.source_of("nope_layers"), "layer_types (full_attention layers)");
  EXPECT_EQ(parse_rope_config(base + "}").nope_layers, (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(parse_rope_config(base + R"(, "sliding_window_pattern": 2})").nope_layers,
            (std::vector<int64_t>{1, 3, 5, 7}));
  LoadOptions full;
  full.layer_type = "full_attention";
  expect_error(base + "}", {"layer_type", "full_attention", "NoPE"}, full);
  expect_error(base + R"(, "layer_types": ["sliding_attention", 3]})", {"layer_types[1]", "3"});
  // Cohere (1) has no such plan.
  EXPECT_TRUE(parse_rope_config(R"({"model_type": "cohere", "hidden_size": 4096, "num_attention_heads": 32,
                                   "num_hidden_layers": 8})")
                  .nope_layers.empty());
}

// A second audit of HF's model classes (a helper's report, each point read in HF's code): EXAONE 4's
// full-attention layers are NoPE; LongCat-Flash's MLA always interleaves; Bamba fixes partial_rotary_factor
// to 0.5; Zamba2's attention head is 2 * hidden / heads and rotates only with use_mem_rope; Granite 4.0
// hybrids (granitemoehybrid) rotate only with position_embedding_type "rope".
TEST(HfConfig, ModelClassesThatOverrideTheirConfig) {
  const std::string exaone =
      R"({"model_type": "exaone4", "hidden_size": 5120, "num_attention_heads": 40, "head_dim": 128,
          "num_hidden_layers": 8, "rope_theta": 1000000, "sliding_window": 4096)";
  const RopeImport typed = parse_rope_config(
      exaone +
      R"(, "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention", "full_attention",
                                    "sliding_attention", "sliding_attention", "sliding_attention", "full_attention"]})");
  EXPECT_EQ(typed.nope_layers, (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(typed.config.layout, PairLayout::HalfSplit);
  EXPECT_EQ(parse_rope_config(exaone + R"(, "sliding_window_pattern": "LLG"})").nope_layers,
            (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(parse_rope_config(exaone + "}").nope_layers, (std::vector<int64_t>{3, 7}));
  EXPECT_TRUE(parse_rope_config(R"({"model_type": "exaone4", "hidden_size": 5120, "num_attention_heads": 40,
                                   "num_hidden_layers": 8, "sliding_window": null})")
                  .nope_layers.empty());
  LoadOptions full;
  full.layer_type = "full_attention";
  expect_error(exaone + "}", {"layer_type", "EXAONE 4", "NoPE"}, full);
  expect_error(exaone + R"(, "sliding_window_pattern": "LLX"})", {"sliding_window_pattern", "LLX"});

  const RopeImport longcat = parse_rope_config(
      R"({"model_type": "longcat_flash", "hidden_size": 6144, "num_attention_heads": 64, "qk_rope_head_dim": 64,
          "rope_theta": 10000000})");
  EXPECT_EQ(longcat.config.layout, PairLayout::Interleaved);
  EXPECT_EQ(longcat.config.head_dim, 64);

  const std::string bamba = R"({"model_type": "bamba", "hidden_size": 4096, "num_attention_heads": 32,
                                "attn_rotary_emb": 64, "rope_theta": 10000)";
  const RopeImport b = parse_rope_config(bamba + "}");
  EXPECT_EQ(b.config.head_dim, 128);
  EXPECT_EQ(b.config.rotary_dim, 64);
  const RopeImport b2 = parse_rope_config(bamba + R"(, "partial_rotary_factor": 1.0})");
  EXPECT_EQ(b2.config.rotary_dim, 64);
  EXPECT_TRUE(warned(b2, "overridden")) << all_warnings(b2);

  const std::string zamba = R"({"model_type": "zamba2", "hidden_size": 2560, "num_attention_heads": 32,
                                "rope_theta": 10000)";
  const RopeImport z = parse_rope_config(zamba + R"(, "use_mem_rope": true})");
  EXPECT_EQ(z.config.head_dim, 160);
  EXPECT_EQ(z.source_of("head_dim"), "2 * hidden_size // num_attention_heads (Zamba2's attention_head_dim)");
  expect_error(zamba + "}", {"use_mem_rope", "absent", "NoPE"});
  expect_error(zamba + R"(, "use_mem_rope": false})", {"use_mem_rope", "false"});

  const std::string granite =
      R"({"model_type": "granitemoehybrid", "hidden_size": 4096, "num_attention_heads": 32,
                                  "rope_theta": 10000)";
  expect_error(granite + R"(, "position_embedding_type": "nope"})",
               {"position_embedding_type", "\"nope\"", "NoPE"});
  expect_error(granite + "}", {"position_embedding_type", "absent"});
  EXPECT_EQ(parse_rope_config(granite + R"(, "position_embedding_type": "rope"})").config.head_dim, 128);

  // PhiMoE: cos/sin times short_mscale / long_mscale (HF's PhimoeRotaryEmbedding), not the derived factor.
  const std::string phimoe = R"({"model_type": "phimoe", "hidden_size": 4096, "num_attention_heads": 32,
      "max_position_embeddings": 131072, "original_max_position_embeddings": 4096, "rope_theta": 10000,
      "rope_scaling": {"type": "longrope", )" +
                             longrope_lists(64);
  const RopeImport pm = parse_rope_config(
      phimoe + R"(, "short_mscale": 1.243163121016122, "long_mscale": 1.243163121016122}})");
  EXPECT_EQ(pm.config.scaling.attention_factor, 1.243163121016122);
  EXPECT_EQ(rope_frequencies(pm.config).attention_scaling, 1.243163121016122);
  EXPECT_FALSE(warned(pm, "short_mscale is not a parameter")) << all_warnings(pm);
  expect_error(phimoe + R"(, "short_mscale": 1.2, "long_mscale": 1.3}})",
               {"long_mscale", "1.3", "short_mscale = 1.2"});
  expect_error(phimoe + R"(, "long_mscale": 1.3}})", {"short_mscale", "missing"});

  // HunYuan: rope_type dynamic with alpha is a fixed base theta * alpha^(d / (d - 2)) (HF's
  // HunYuanDenseV1RotaryEmbedding), i.e. static NTK with factor alpha; it was read as dynamic NTK with
  // factor 1 (the base stayed 10000) and alpha reported as ignored.
  for (const char* mt : {"hunyuan_v1_dense", "hunyuan_v1_moe"}) {
    SCOPED_TRACE(mt);
    const RopeImport h =
        parse_rope_config(std::string(R"({"model_type": ")") + mt + R"(", "hidden_size": 4096,
        "num_attention_heads": 32, "head_dim": 128, "max_position_embeddings": 32768, "rope_theta": 10000,
        "rope_scaling": {"type": "dynamic", "alpha": 1000.0, "factor": 1.0}})");
    EXPECT_EQ(h.config.scaling.type, RopeType::Ntk);
    EXPECT_EQ(h.config.scaling.factor, 1000.0);
    EXPECT_EQ(h.source_of("scaling.factor"), "rope_scaling.alpha");
    EXPECT_FALSE(warned(h, "alpha is not a parameter")) << all_warnings(h);
    const double base = 10000.0 * std::pow(1000.0, 128.0 / 126.0);
    const RopeFrequencies f = rope_frequencies(h.config);
    for (size_t i : {size_t{1}, size_t{32}, size_t{63}})
      EXPECT_NEAR(f.inv_freq[i], std::pow(base, -2.0 * static_cast<double>(i) / 128.0), 1e-12 * f.inv_freq[i])
          << i;
  }
  // The class defaults of partial_rotary_factor when a config leaves it out: HF's config classes set it
  // (Glm4Config's head_dim defaults to 128 and Qwen3NextConfig's to 256: int(128 * 0.5), int(256 * 0.25)).
  for (const auto& [mt, rot] :
       {std::pair{"phi", 40}, std::pair{"nemotron", 40}, std::pair{"persimmon", 40}, std::pair{"glm4", 64},
        std::pair{"stablelm", 20}, std::pair{"qwen3_next", 64}, std::pair{"llama", 80}}) {
    const RopeImport r =
        parse_rope_config(std::string(R"({"model_type": ")") + mt +
                          R"(", "hidden_size": 2560, "num_attention_heads": 32, "rope_theta": 10000})");
    EXPECT_EQ(r.config.rotary_dim, rot) << mt;
  }
  // JetMoE: head_dim is kv_channels (attribute_map), default 128; no num_attention_heads needed.
  const RopeImport jet = parse_rope_config(R"({"model_type": "jetmoe", "hidden_size": 2048, "kv_channels": 64,
      "num_key_value_heads": 16, "num_experts_per_tok": 2, "rope_theta": 10000})");
  EXPECT_EQ(jet.config.head_dim, 64);
  EXPECT_EQ(parse_rope_config(R"({"model_type": "jetmoe", "hidden_size": 2048, "rope_theta": 10000})")
                .config.head_dim,
            128);
  expect_error(R"({"model_type": "jetmoe", "hidden_size": 2048, "kv_channels": 64, "head_dim": 128})",
               {"kv_channels", "head_dim"});
  // Without alpha, or another model type, dynamic stays dynamic.
  EXPECT_EQ(parse_rope_config(R"({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
      "max_position_embeddings": 4096, "rope_scaling": {"type": "dynamic", "alpha": 1000.0, "factor": 2.0}})")
                .config.scaling.type,
            RopeType::Dynamic);
}

// The defaults of HF 5.x's config classes for a config.json without rope_theta / head_dim /
// partial_rotary_factor (src/hf/class_defaults.cpp names the HF file of each): the class's default_theta
// (RotaryEmbeddingConfigMixin's 10000 unless the class sets its own), its head_dim default (None:
// hidden_size // num_attention_heads, here 1536 // 16 = 96) and its partial_rotary_factor. Given fields win.
TEST(HfConfig, ConfigClassDefaults) {
  const auto mixin = [](const std::string& cls) {
    return "default (" + cls + ": RotaryEmbeddingConfigMixin.default_theta = 10000)";
  };
  const auto own = [](const std::string& cls, const std::string& v) {
    return "default (" + cls + ".default_theta = " + v + ")";
  };
  const auto head = [](const std::string& cls, int v) {
    return "default (" + cls + ".head_dim = " + std::to_string(v) + ")";
  };
  const std::string split = "hidden_size / num_attention_heads";
  const auto mla = [](const std::string& cls) {
    return "default (" + cls + ".qk_rope_head_dim = 64) (multi-head latent attention: the rotated part)";
  };
  struct Case {
    const char* model_type;
    double base;
    std::string base_from;
    int64_t head_dim;
    std::string head_from;
    int64_t rotary_dim;  // int(head_dim * the class's partial_rotary_factor)
  };
  const Case cases[] = {
      {"llama", 1e4, mixin("LlamaConfig"), 96, split, 96},
      {"mistral", 1e4, mixin("MistralConfig"), 96, split, 96},
      {"nemotron", 1e4, mixin("NemotronConfig"), 96, split, 48},
      {"hunyuan_v1_moe", 1e4, mixin("HunYuanMoEV1Config"), 96, split, 96},
      {"mixtral", 1e6, own("MixtralConfig", "1000000"), 96, split, 96},
      {"qwen2", 1e4, mixin("Qwen2Config"), 96, split, 96},
      {"qwen2_moe", 1e4, mixin("Qwen2MoeConfig"), 96, split, 96},
      {"qwen3_moe", 1e4, mixin("Qwen3MoeConfig"), 96, split, 96},
      {"qwen2_vl_text", 1e6, own("Qwen2VLTextConfig", "1000000"), 96, split, 96},
      {"phi", 1e4, mixin("PhiConfig"), 96, split, 48},
      {"phi3", 1e4, own("Phi3Config", "10000"), 96, split, 96},
      {"phimoe", 1e6, own("PhimoeConfig", "1000000"), 96, split, 96},
      {"gpt_neox", 1e4, mixin("GPTNeoXConfig"), 96, split, 24},
      {"stablelm", 1e4, mixin("StableLmConfig"), 96, split, 24},
      {"starcoder2", 1e4, mixin("Starcoder2Config"), 96, split, 96},
      {"olmo", 1e4, mixin("OlmoConfig"), 96, split, 96},
      {"olmo2", 1e4, mixin("Olmo2Config"), 96, split, 96},
      {"cohere", 5e5, own("CohereConfig", "500000"), 96, split, 96},
      {"cohere2", 1e4, mixin("Cohere2Config"), 96, split + " (Cohere2Config ignores head_dim)", 96},
      {"granite", 1e4, mixin("GraniteConfig"), 96, split, 96},
      {"granitemoe", 1e4, mixin("GraniteMoeConfig"), 96, split, 96},
      {"persimmon", 1e4, "default (10000, HF's default_theta)", 96, split, 48},  // base not listed
      {"smollm3", 2e6, own("SmolLM3Config", "2000000"), 96, split, 96},
      {"glm4_moe", 1e4, mixin("Glm4MoeConfig"), 96, split, 48},
      {"ernie4_5_moe", 5e5, own("Ernie4_5_MoeConfig", "500000"), 96, split, 96},
      {"exaone4", 1e4, mixin("Exaone4Config"), 96, split, 96},
      {"mllama_text_model", 5e5, own("MllamaTextConfig", "500000"), 96, split, 96},
      {"qwen3", 1e4, mixin("Qwen3Config"), 128, head("Qwen3Config", 128), 128},
      {"qwen3_next", 1e4, mixin("Qwen3NextConfig"), 256, head("Qwen3NextConfig", 256), 64},
      {"gemma", 1e4, mixin("GemmaConfig"), 256, head("GemmaConfig", 256), 256},
      {"gemma2", 1e4, mixin("Gemma2Config"), 256, head("Gemma2Config", 256), 256},
      {"gemma3_text", 1e6, "default (Gemma3TextConfig.default_theta[\"global\"] = 1000000)", 256,
       head("Gemma3TextConfig", 256), 256},
      {"glm", 1e4, mixin("GlmConfig"), 128, head("GlmConfig", 128), 64},
      {"glm4", 1e4, mixin("Glm4Config"), 128, head("Glm4Config", 128), 64},
      {"ernie4_5", 5e5, own("Ernie4_5Config", "500000"), 128, head("Ernie4_5Config", 128), 128},
      {"helium", 1e5, own("HeliumConfig", "100000"), 128, head("HeliumConfig", 128), 128},
      {"llama4_text", 5e5, own("Llama4TextConfig", "500000"), 128, head("Llama4TextConfig", 128), 128},
      {"deepseek_v2", 1e4, mixin("DeepseekV2Config"), 64, mla("DeepseekV2Config"), 64},
      {"deepseek_v3", 1e4, mixin("DeepseekV3Config"), 64, mla("DeepseekV3Config"), 64},
      {"glm4_moe_lite", 1e4, mixin("Glm4MoeLiteConfig"), 64, mla("Glm4MoeLiteConfig"), 64},
  };
  LoadOptions sliding;  // Cohere 2 and EXAONE 4: their RoPE is the sliding_attention layers'
  sliding.layer_type = "sliding_attention";
  LoadOptions full;  // Gemma 3: two RoPEs (GemmaLocalBaseIsTheSlidingLayersRope)
  full.layer_type = "full_attention";
  for (const Case& c : cases) {
    SCOPED_TRACE(c.model_type);
    const std::string mt = c.model_type;
    const LoadOptions opt = mt == "cohere2" || mt == "exaone4" ? sliding
                            : mt == "gemma3_text"              ? full
                                                               : LoadOptions{};
    const std::string sizes = R"(", "hidden_size": 1536, "num_attention_heads": 16, "num_hidden_layers": 4)";
    const RopeImport r = parse_rope_config(R"({"model_type": ")" + mt + sizes + "}", opt);
    EXPECT_EQ(r.config.base, c.base);
    EXPECT_EQ(r.source_of("base"), c.base_from);
    EXPECT_EQ(r.config.head_dim, c.head_dim);
    EXPECT_EQ(r.source_of("head_dim"), c.head_from);
    EXPECT_EQ(r.config.rotary_dim, c.rotary_dim);
    EXPECT_EQ(warned(r, "rope_theta is absent"), mt == "persimmon") << all_warnings(r);
    EXPECT_FALSE(warned(r, "not one posenc knows to use RoPE")) << all_warnings(r);
    // The fields, when given, win over the class defaults.
    const RopeImport g =
        parse_rope_config(R"({"model_type": ")" + mt + sizes +
                              R"(, "rope_theta": 12345, "head_dim": 80, "partial_rotary_factor": 0.25})",
                          opt);
    EXPECT_EQ(g.config.base, 12345.0);
    EXPECT_EQ(g.source_of("base"), "rope_theta");
    const bool deepseek = mt == "deepseek_v2" || mt == "deepseek_v3";
    if (deepseek) {  // head_dim = qk_rope_head_dim, whatever head_dim says
      EXPECT_EQ(g.config.head_dim, 64);
      EXPECT_TRUE(warned(g, "head_dim = 80 is not the rotary head")) << all_warnings(g);
      EXPECT_EQ(g.config.rotary_dim, 16);
      const RopeImport q =
          parse_rope_config(R"({"model_type": ")" + mt + sizes + R"(, "qk_rope_head_dim": 32})");
      EXPECT_EQ(q.config.head_dim, 32);
    } else if (mt == "cohere2") {  // Cohere2Config.__post_init__ sets head_dim = hidden // heads
      EXPECT_EQ(g.config.head_dim, 96);
      // ... floor-divided, and head_dim is no way out of missing sizes.
      EXPECT_EQ(
          parse_rope_config(
              R"({"model_type": "cohere2", "hidden_size": 104, "num_attention_heads": 3, "head_dim": 32})",
              opt)
              .config.head_dim,
          34);  // 104 // 3
      expect_error(R"({"model_type": "cohere2", "num_attention_heads": 3, "head_dim": 32})",
                   {"hidden_size", "missing", "Cohere2Config sets head_dim"}, opt);
      expect_error(R"({"model_type": "cohere2", "hidden_size": 2, "num_attention_heads": 4})",
                   {"hidden_size", "less than", "num_attention_heads"}, opt);
      EXPECT_TRUE(warned(g, "head_dim = 80 is not used: HF's Cohere2Config")) << all_warnings(g);
      EXPECT_EQ(g.config.rotary_dim, 24);
    } else {
      EXPECT_EQ(g.config.head_dim, 80);
      EXPECT_EQ(g.source_of("head_dim"), "head_dim");
      EXPECT_EQ(g.config.rotary_dim, 20);
    }
  }

  // Multimodal configs: the class of the object read. A text_config without model_type is the parent's
  // text sub-config class (Qwen2-VL builds it from the flat top level too); one with its own model_type,
  // that type's class.
  const std::string text = R"({"hidden_size": 1536, "num_attention_heads": 16, "num_hidden_layers": 4})";
  const RopeImport g3 = parse_rope_config(R"({"model_type": "gemma3", "text_config": )" + text + "}", full);
  EXPECT_EQ(g3.config.base, 1e6);
  EXPECT_EQ(g3.config.head_dim, 256);
  EXPECT_EQ(g3.source_of("head_dim"), "default (Gemma3TextConfig.head_dim = 256)");
  const RopeImport l4 = parse_rope_config(R"({"model_type": "llama4", "text_config": )" + text + "}");
  EXPECT_EQ(l4.config.base, 5e5);
  EXPECT_EQ(l4.config.head_dim, 128);
  const RopeImport ml = parse_rope_config(R"({"model_type": "mllama", "text_config": )" + text + "}");
  EXPECT_EQ(ml.config.base, 5e5);
  EXPECT_EQ(ml.config.head_dim, 96);
  const RopeImport vl =
      parse_rope_config(R"({"model_type": "qwen2_vl", "hidden_size": 1536, "num_attention_heads": 16})");
  EXPECT_EQ(vl.config.base, 1e6);
  EXPECT_EQ(vl.source_of("base"), "default (Qwen2VLTextConfig.default_theta = 1000000)");
  // HF's multimodal configs build their own text class: a text_config.model_type naming another is
  // not used (a warning), one naming that class is the usual form.
  const RopeImport own_type = parse_rope_config(
      R"({"model_type": "gemma3", "text_config": {"model_type": "llama", "hidden_size": 1536, "num_attention_heads": 16}})",
      full);
  EXPECT_EQ(own_type.config.base, 1e6);
  EXPECT_EQ(own_type.config.head_dim, 256);
  EXPECT_TRUE(warned(own_type, "text_config.model_type = \"llama\" is not used")) << all_warnings(own_type);
  const RopeImport usual = parse_rope_config(
      R"({"model_type": "llama4", "text_config": {"model_type": "llama4_text", "hidden_size": 1536, "num_attention_heads": 16}})");
  EXPECT_EQ(usual.config.base, 5e5);
  EXPECT_FALSE(warned(usual, "is not used")) << all_warnings(usual);
  // Another model's text_config keeps its own model type.
  const RopeImport llava = parse_rope_config(
      R"({"model_type": "llava", "text_config": {"model_type": "mixtral", "hidden_size": 1536, "num_attention_heads": 16}})");
  EXPECT_EQ(llava.config.base, 1e6);
  EXPECT_EQ(llava.source_of("base"), "default (MixtralConfig.default_theta = 1000000)");

  // A class posenc has not checked: 10000, with the warning.
  const RopeImport unknown =
      parse_rope_config(R"({"model_type": "new_model", "hidden_size": 1536, "num_attention_heads": 16})");
  EXPECT_EQ(unknown.config.base, 1e4);
  EXPECT_EQ(unknown.config.head_dim, 96);
  EXPECT_EQ(unknown.source_of("base"), "default (10000, HF's default_theta)");
  EXPECT_TRUE(warned(unknown, "rope_theta is absent")) << all_warnings(unknown);
}

// The config classes of hybrid, MoE and encoder models whose head_dim, rotary fraction or RoPE switch
// follow rules of their own (tested above): the base they default to, read in HF 5.x's sources.
TEST(HfConfig, ClassDefaultsOfHybridAndEncoderModels) {
  const auto mixin = [](const std::string& cls) {
    return "default (" + cls + ": RotaryEmbeddingConfigMixin.default_theta = 10000)";
  };
  struct Case {
    std::string fields;  // after "model_type"
    double base;
    std::string base_from;
    int64_t head_dim, rotary_dim;
  };
  const std::string sizes = R"(, "hidden_size": 1536, "num_attention_heads": 16)";
  const Case cases[] = {
      {R"("falcon")" + sizes, 1e4, mixin("FalconConfig"), 96, 96},
      {R"("jetmoe", "hidden_size": 2048)", 1e4, mixin("JetMoeConfig"), 128, 128},
      {R"("zamba2", "use_mem_rope": true)" + sizes, 1e4, mixin("Zamba2Config"), 192, 192},
      {R"("bamba")" + sizes, 1e4, mixin("BambaConfig"), 96, 48},
      {R"("granitemoehybrid", "position_embedding_type": "rope")" + sizes, 1e4,
       mixin("GraniteMoeHybridConfig"), 96, 96},
      {R"("hunyuan_v1_dense")" + sizes, 1e4, mixin("HunYuanDenseV1Config"), 96, 96},
      {R"("esm", "position_embedding_type": "rotary")" + sizes, 1e4, "default (EsmConfig.rope_theta = 10000)",
       96, 96},
      {R"("longcat_flash")" + sizes, 1e7, "default (LongcatFlashConfig.default_theta = 10000000)", 64, 64},
      {R"("roformer")" + sizes, 1e4, "default (GPT-J/CodeGen/RoFormer fix 10000)", 96, 96},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fields);
    const RopeImport r = parse_rope_config(R"({"model_type": )" + c.fields + "}");
    EXPECT_EQ(r.config.base, c.base);
    EXPECT_EQ(r.source_of("base"), c.base_from);
    EXPECT_EQ(r.config.head_dim, c.head_dim);
    EXPECT_EQ(r.config.rotary_dim, c.rotary_dim);
    EXPECT_FALSE(warned(r, "rope_theta is absent")) << all_warnings(r);
    EXPECT_FALSE(warned(r, "not one posenc knows to use RoPE")) << all_warnings(r);
    // A rope_theta in the config wins (RoFormer's code ignores it: a warning says so).
    const RopeImport g = parse_rope_config(R"({"model_type": )" + c.fields + R"(, "rope_theta": 12345})");
    EXPECT_EQ(g.config.base, 12345.0);
    EXPECT_EQ(warned(g, "RoFormerSinusoidalPositionalEmbedding fixes the base at 10000"),
              c.fields.rfind(R"("roformer")", 0) == 0)
        << all_warnings(g);
  }
  // LongcatFlashMLA rotates interleaved pairs whatever rope_interleave says.
  const RopeImport lc =
      parse_rope_config(R"({"model_type": "longcat_flash", "rope_interleave": false)" + sizes + "}");
  EXPECT_EQ(lc.config.layout, PairLayout::Interleaved);
  EXPECT_EQ(lc.source_of("layout"), "model_type longcat_flash (always interleaved)");
  EXPECT_TRUE(warned(lc, "rope_interleave = false is not used")) << all_warnings(lc);
  // ESM rotates only with position_embedding_type "rotary" (ESM-2); HF's default "absolute" (ESM-1b)
  // is a learned table.
  expect_error(R"({"model_type": "esm")" + sizes + "}", {"position_embedding_type", "absent", "absolute"});
  expect_error(R"({"model_type": "esm", "position_embedding_type": "absolute")" + sizes + "}",
               {"position_embedding_type", "\"absolute\"", "rotary"});
  // RoFormer with rotary_value rotates v too: said.
  EXPECT_TRUE(warned(parse_rope_config(R"({"model_type": "roformer", "rotary_value": true)" + sizes + "}"),
                     "rotates the values too"));
}

// Gemma 3's 4.x config (CLI audit: the sliding-window layers were given the global RoPE): rope_theta
// and rope_scaling are the full-attention layers', rope_local_base_freq the sliding-window layers'
// default RoPE. As with HF 5.x's dict per attention type, layer_type chooses.
TEST(HfConfig, GemmaLocalBaseIsTheSlidingLayersRope) {
  const std::string g =
      R"({"model_type": "gemma3_text", "hidden_size": 2560, "num_attention_heads": 8, "head_dim": 256,
          "max_position_embeddings": 131072, "rope_theta": 1000000, "rope_local_base_freq": 10000,
          "rope_scaling": {"rope_type": "linear", "factor": 8}})";
  expect_error(g, {"rope_local_base_freq", "sliding_attention", "--layer-type"});
  LoadOptions sliding;
  sliding.layer_type = "sliding_attention";
  const RopeImport s = parse_rope_config(g, sliding);
  EXPECT_EQ(s.config.base, 10000.0);
  EXPECT_EQ(s.config.scaling.type, RopeType::Default);
  EXPECT_EQ(s.source_of("base"), "rope_local_base_freq (the sliding-window layers' base)");
  for (const std::string& w : s.warnings) EXPECT_EQ(w.find("ignored"), std::string::npos) << w;
  LoadOptions full;
  full.layer_type = "full_attention";
  const RopeImport f = parse_rope_config(g, full);
  EXPECT_EQ(f.config.base, 1e6);
  EXPECT_EQ(f.config.scaling.type, RopeType::Linear);
  EXPECT_EQ(f.config.scaling.factor, 8.0);
  for (const std::string& w : f.warnings) EXPECT_EQ(w.find("ignored"), std::string::npos) << w;
  LoadOptions other;
  other.layer_type = "global";
  expect_error(g, {"rope_local_base_freq", "'global'"}, other);

  // Without rope_local_base_freq Gemma3TextConfig still builds two RoPEs, the sliding layers' of base
  // default_theta["local"] = 10000 (and the full layers' default_theta["global"] = 1e6).
  const std::string bare =
      R"({"model_type": "gemma3_text", "hidden_size": 2560, "num_attention_heads": 8, "head_dim": 256})";
  expect_error(bare, {"model_type", "gemma3_text", "two RoPEs", "10000", "--layer-type"});
  const RopeImport bs = parse_rope_config(bare, sliding);
  EXPECT_EQ(bs.config.base, 10000.0);
  EXPECT_EQ(bs.source_of("base"),
            "default (Gemma3TextConfig.default_theta[\"local\"] = 10000) (the sliding-window layers' base)");
  const RopeImport bf = parse_rope_config(bare, full);
  EXPECT_EQ(bf.config.base, 1e6);
  const RopeImport mm = parse_rope_config(
      R"({"model_type": "gemma3", "text_config": {"hidden_size": 2560, "num_attention_heads": 8}})", sliding);
  EXPECT_EQ(mm.config.base, 10000.0);
  EXPECT_EQ(mm.config.head_dim, 256);
  // A type with one RoPE is not asked for a layer type.
  EXPECT_EQ(parse_rope_config(R"({"model_type": "gemma2", "hidden_size": 2560, "num_attention_heads": 8})")
                .config.base,
            10000.0);
}

TEST(HfConfig, DeeplyNestedJsonIsRefused) {
  const auto nested = [](int depth, const char* key) {
    return std::string(R"({"model_type": "bloom", ")") + key + R"(": )" + std::string(depth, '[') +
           std::string(depth, ']') + "}";
  };
  for (const char* key : {"n_head", "unused"}) {
    expect_error(nested(100000, key), {"nested more than 64 levels"});
    try {
      hf::parse_alibi_config(nested(100000, key));
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("nested more than 64"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(hf::parse_alibi_config(R"({"model_type": "bloom", "n_head": 4, "x": )" +
                                         std::string(63, '[') + std::string(63, ']') + "}"));
  try {
    hf::parse_alibi_config(R"({"model_type": "bloom", "n_head": 4, "x": )" + std::string(64, '[') +
                           std::string(64, ']') + "}");
    ADD_FAILURE() << "65 levels accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nested more than 64"), std::string::npos) << e.what();
  }
}

TEST(HfConfig, ErrorsNameTheField) {
  const std::string llama = R"("hidden_size": 4096, "num_attention_heads": 32, "rope_theta": 1e4,
                              "max_position_embeddings": 4096)";
  const auto cfg = [&](const std::string& extra) { return "{" + llama + extra + "}"; };
  expect_error(cfg(R"(, "rope_scaling": {"type": "ntk-by-parts", "factor": 2})"),
               {"rope_scaling.type", "ntk-by-parts", "llama3", "longrope"});
  expect_error(cfg(R"(, "rope_parameters": {"rope_type": "proportional"})"),
               {"rope_parameters.rope_type", "not supported"});
  expect_error(cfg(R"(, "rope_scaling": {"type": "linear"})"), {"rope_scaling.factor", "missing"});
  expect_error(cfg(R"(, "rope_parameters": {"rope_type": "linear", "factor": "4"})"),
               {"rope_parameters.factor", "\"4\" (a string)", "a number"});
  expect_error(cfg(R"(, "rope_parameters": {"rope_type": "linear", "factor": 0.5})"),
               {"rope_parameters.factor", "0.5", ">= 1"});
  expect_error(cfg(R"(, "rope_parameters": {"rope_type": "default", "rope_theta": 500000})"),
               {"rope_parameters.rope_theta", "500000", "rope_theta = 10000", "contradict"});
  expect_error(cfg(R"(, "rope_scaling": {"type": "linear", "factor": 2},
                   "rope_parameters": {"rope_type": "linear", "factor": 4})"),
               {"rope_scaling.factor", "rope_parameters.factor"});
  expect_error(cfg(R"(, "rope_scaling": {"type": "linear", "rope_type": "dynamic", "factor": 2})"),
               {"rope_scaling.rope_type", "rope_scaling.type"});
  expect_error(cfg(R"(, "rope_scaling": [1, 2])"), {"rope_scaling", "an object"});
  expect_error(R"({"hidden_size": 4096, "num_attention_heads": 30})",
               {"hidden_size", "not divisible", "num_attention_heads = 30"});
  expect_error(R"({"rope_theta": 10000})", {"head_dim", "missing"});
  expect_error(R"({"head_dim": 64, "num_attention_heads": -1, "rope_theta": 1e4})", {"num_attention_heads"});
  expect_error(R"({"head_dim": 64, "rope_theta": 1})", {"rope_theta", "> 1"});
  expect_error(R"({"head_dim": 64, "max_position_embeddings": -5})", {"max_position_embeddings", "-5"});
  expect_error(R"({"head_dim": 64, "max_position_embeddings": 4096.5})",
               {"max_position_embeddings", "4096.5"});
  expect_error(R"({"head_dim": 64, "rotary_dim": 32, "partial_rotary_factor": 0.25})",
               {"rotary_dim", "int(head_dim * partial_rotary_factor) = 16", "contradict"});
  expect_error(R"({"head_dim": 64, "rotary_dim": 96})", {"rotary_dim", "96", "head_dim = 64"});
  expect_error(R"({"model_type": "gptj", "n_embd": 512, "n_head": 16})",
               {"rotary_dim = 64 (absent: the gptj default)", "head_dim = 32"});
  expect_error(R"({"head_dim": 96, "partial_rotary_factor": 0.33})",
               {"partial_rotary_factor", "int(96 * 0.33) = 31", "even"});
  expect_error(R"({"head_dim": 96, "partial_rotary_factor": 1.5})", {"partial_rotary_factor", "(0, 1]"});
  expect_error(R"({"head_dim": 65})", {"head_dim", "65", "even"});
  expect_error(R"({"head_dim": 64, "rotary_pct": 0.5, "partial_rotary_factor": 0.25})",
               {"rotary_pct", "partial_rotary_factor"});
  expect_error(R"({"head_dim": 64, "rope_scaling": {"type": "dynamic", "factor": 2}})",
               {"max_position_embeddings", "missing", "dynamic"});
  expect_error(cfg(R"(, "rope_scaling": {"rope_type": "llama3", "factor": 8,
                   "high_freq_factor": 4, "original_max_position_embeddings": 1024})"),
               {"rope_scaling.low_freq_factor", "missing"});
  expect_error(cfg(R"(, "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1,
                   "high_freq_factor": 4, "original_max_position_embeddings": 8192})"),
               {"rope_scaling.original_max_position_embeddings", "8192"});
  expect_error(cfg(R"(, "original_max_position_embeddings": 2048, "rope_scaling": {
                   "rope_type": "yarn", "factor": 2, "original_max_position_embeddings": 1024})"),
               {"original_max_position_embeddings", "2048", "1024", "contradict"});
  expect_error(cfg(R"(, "rope_scaling": {"rope_type": "yarn"})"), {"rope_scaling.factor", "missing", "yarn"});
  expect_error(cfg(R"(, "rope_scaling": {"rope_type": "longrope", "long_factor": [1]})"),
               {"rope_scaling.short_factor", "missing"});
  expect_error(cfg(R"(, "rope_scaling": {"rope_type": "longrope", )" + longrope_lists(32) + "}"),
               {"rope_scaling.short_factor", "32 entries", "64 entries"});
  expect_error(cfg(R"(, "rope_scaling": {"rope_type": "longrope", "short_factor": [1, "x"],
                   "long_factor": [1, 2]})"),
               {"rope_scaling.short_factor[1]", "a number"});
  expect_error(cfg(R"(, "rope_scaling": {"rope_type": "yarn", "factor": 2, "beta_fast": 1,
                   "beta_slow": 2})"),
               {"rope_scaling.beta_fast", "beta_slow"});
}

// Models whose positions are not rotary: the RoPE importer would otherwise describe a default RoPE
// from their head sizes (it did: `posenc inspect` explained BERT's and BLOOM's "RoPE"). Each is an
// error naming model_type (Falcon: alibi) and the importer that loads the model; parse_encoding_kind
// says which one it is.
TEST(HfConfig, ModelsWithoutRopeAreRefusedNamingTheirImporter) {
  using posenc::hf::EncodingKind;
  using posenc::hf::parse_encoding_kind;
  using posenc::test::expect_error_naming;
  struct Case {
    const char* json;
    EncodingKind kind;
    const char* field;
    const char* importer;
  };
  const Case cases[] = {
      {R"({"model_type": "bert", "hidden_size": 768, "num_attention_heads": 12, "max_position_embeddings": 512})",
       EncodingKind::Absolute, "model_type", "load_absolute_config"},
      {R"({"model_type": "gpt2", "n_embd": 768, "n_head": 12, "n_positions": 1024})", EncodingKind::Absolute,
       "model_type", "load_absolute_config"},
      {R"({"model_type": "bloom", "n_head": 16, "hidden_size": 1024})", EncodingKind::Alibi, "model_type",
       "load_alibi_config"},
      {R"({"model_type": "mpt", "n_heads": 16, "d_model": 2048})", EncodingKind::Alibi, "model_type",
       "load_alibi_config"},
      {R"({"model_type": "falcon", "alibi": true, "num_attention_heads": 8, "hidden_size": 512})",
       EncodingKind::Alibi, "alibi", "load_alibi_config"},
      {R"({"model_type": "t5", "d_model": 512, "num_heads": 8, "d_kv": 64})", EncodingKind::T5Bias,
       "model_type", "load_t5_bias_config"},
      {R"({"relative_attention_num_buckets": 32, "hidden_size": 512, "num_attention_heads": 8})",
       EncodingKind::T5Bias, "relative_attention_num_buckets", "load_t5_bias_config"},
      // Speech models and CTRL: absolute tables (sinusoidal, and Whisper's decoder learned).
      {R"({"model_type": "whisper", "d_model": 384, "encoder_attention_heads": 6})", EncodingKind::Absolute,
       "model_type", "load_absolute_config"},
      {R"({"model_type": "speech_to_text", "d_model": 256, "encoder_attention_heads": 4})",
       EncodingKind::Absolute, "model_type", "load_absolute_config"},
      {R"({"model_type": "ctrl", "n_embd": 1280, "n_head": 16})", EncodingKind::Absolute, "model_type",
       "load_absolute_config"},
      // A multimodal config read from text_config: BLIP-2's OPT has learned positions.
      {R"({"model_type": "blip-2", "text_config": {"model_type": "opt", "hidden_size": 2560, "num_attention_heads": 32}})",
       EncodingKind::Absolute, "text_config.model_type", "load_absolute_config"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    EXPECT_EQ(parse_encoding_kind(c.json), c.kind);
    expect_error_naming([&] { parse_rope_config(c.json); }, c.field, {c.importer});
  }
  // RoPE models, Falcon without alibi among them.
  for (
      const char* json : {
          R"({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32})",
          R"({"model_type": "falcon", "alibi": false, "num_attention_heads": 71, "hidden_size": 4544})",
          R"({"model_type": "falcon", "num_attention_heads": 71, "hidden_size": 4544})",
          R"({"model_type": "llava", "text_config": {"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32}})",
          R"({"hidden_size": 256, "num_attention_heads": 4})",
      }) {
    SCOPED_TRACE(json);
    EXPECT_EQ(parse_encoding_kind(json), EncodingKind::Rope);
    EXPECT_NO_THROW(parse_rope_config(json));
  }
  // A model type posenc does not know, without any rope field: described, with a warning that it may
  // not be a RoPE model at all (ProphetNet's positions are learned, for one).
  const auto doubts = [](const char* json) {
    int n = 0;
    for (const std::string& w : parse_rope_config(json).warnings)
      n += w.find("not one posenc knows to use RoPE") != std::string::npos;
    return n;
  };
  EXPECT_EQ(doubts(R"({"model_type": "xlm-prophetnet", "hidden_size": 768, "num_attention_heads": 12})"), 1);
  // Known models of an encoding no importer reads are refused, naming it.
  expect_error_naming(
      [] {
        parse_rope_config(R"({"model_type": "deberta-v2", "hidden_size": 768, "num_attention_heads": 12})");
      },
      "model_type", {"deberta-v2", "relative", "does not import"});
  EXPECT_EQ(doubts(R"({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32})"), 0)
      << "early Llama configs have no rope field";
  EXPECT_EQ(
      doubts(
          R"({"model_type": "new_model", "hidden_size": 64, "num_attention_heads": 2, "rope_theta": 1e6})"),
      0);
  EXPECT_STREQ(hf::encoding_kind_name(EncodingKind::T5Bias), "t5_bias");
  expect_error_naming([] { parse_encoding_kind(R"({"model_type": 7})"); }, "model_type", {"7"});
}

TEST(HfConfig, LoadFromFile) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/posenc_hf_config_test.json";
  {
    std::ofstream f(path);
    f << R"({"head_dim": 64, "rope_theta": 10000, "rope_scaling": {"type": "linear", "factor": 2}})";
  }
  const RopeImport r = hf::load_rope_config(path);
  EXPECT_EQ(r.config.scaling.factor, 2.0);
  LoadOptions hf;
  hf.precision = Precision::HfCompat;
  EXPECT_EQ(hf::load_rope_config(path, hf).config.precision, Precision::HfCompat);
  std::remove(path.c_str());
  try {
    hf::load_rope_config(path);
    ADD_FAILURE() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no such file"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_THROW(hf::load_rope_config(dir), Error);
}
