// src/hf/bias.cpp — HF config.json -> AlibiConfig / T5BiasConfig (see posenc/hf_config.hpp).
//
// The fields each HF model class reads for its attention bias: BloomConfig / FalconConfig / MptConfig
// (+ MptAttentionConfig) for ALiBi, T5Config and its relatives for the T5 bias, with the defaults of those
// classes when a field is absent, and their attribute_map aliases (num_attention_heads).
#include <array>
#include <string>

#include "families.hpp"
#include "json_fields.hpp"
#include "posenc/error.hpp"
#include "posenc/hf_config.hpp"

namespace posenc::hf {

using detail::Fields;
using detail::Json;

namespace {

constexpr int64_t kMaxInt = 2147483647;
constexpr std::array<const char*, 5> kT5Types = {"t5", "mt5", "umt5", "longt5", "switch_transformers"};

bool is_t5_type(std::string_view model_type) {
  for (const char* t : kT5Types)
    if (model_type == t) return true;
  return false;
}

void source(ImportReport& r, std::string field, std::string from) {
  r.sources.push_back({std::move(field), std::move(from)});
}

// An integer field, else the HF class's default (recorded as the source).
int64_t read_int(const Fields& c, const char* key, int64_t fallback, const char* cls, ImportReport& r,
                 const char* field) {
  if (const auto v = c.integer(key, 1, kMaxInt)) {
    source(r, field, c.path(key));
    return *v;
  }
  source(r, field, std::string("default (") + cls + " " + key + " = " + std::to_string(fallback) + ")");
  return fallback;
}

// The head count from `key` or its alias (attribute_map; both given must agree).
int64_t read_heads(const Fields& c, const char* key, const char* alias, int64_t fallback, const char* cls,
                   ImportReport& r, const char* field) {
  detail::agree(c, key, c, alias);
  return read_int(c, c.has(key) || !c.has(alias) ? key : alias, fallback, cls, r, field);
}

AlibiImport parse_alibi(std::string_view text, std::string_view origin, const char* function) {
  const std::string where = std::string(function) + "(" + std::string(origin) + ")";
  const Json root = detail::parse_object(text, where, std::string(origin));
  const Fields c(root, "", where);
  AlibiImport r;
  r.model_type = c.string("model_type").value_or("");
  AlibiConfig& cfg = r.config;
  cfg.mask = AlibiMask::Causal;
  source(r, "mask",
         "causal (" + (r.model_type.empty() ? std::string("decoder") : r.model_type) + " is a decoder)");
  const std::string& mt = r.model_type;
  if (mt == "bloom" || mt == "falcon") {
    if (mt == "falcon") {
      const auto alibi = c.boolean("alibi");
      if (!alibi.value_or(false))
        c.fail("alibi", alibi ? "false" : "absent (FalconConfig's default is false)",
               "true: this Falcon model uses RoPE instead (load it with posenc::hf::load_rope_config)");
    }
    cfg.num_heads = mt == "bloom"
                        ? read_heads(c, "n_head", "num_attention_heads", 8, "BloomConfig", r, "num_heads")
                        : read_heads(c, "num_attention_heads", "n_head", 71, "FalconConfig", r, "num_heads");
    cfg.form = AlibiForm::KeyPosition;
    cfg.max_bias = 8.0;
    source(r, "form", "key_position (HF's build_alibi_tensor: slope * key position)");
    source(r, "max_bias", "8 (fixed in HF's build_alibi_tensor)");
  } else if (mt == "mpt") {
    cfg.num_heads = read_heads(c, "n_heads", "num_attention_heads", 16, "MptConfig", r, "num_heads");
    const Json* attn = c.object("attn_config");
    const Json empty = Json::object();
    const Fields a(attn ? *attn : empty, "attn_config.", where);
    if (a.boolean("alibi") == false)
      a.fail("alibi", "false",
             "true (the default): without ALiBi an MPT model has learned absolute positions "
             "(learned_pos_emb); HF's MptModel would add ALiBi anyway");
    if (const auto b = a.number("alibi_bias_max")) {
      cfg.max_bias = *b;
      source(r, "max_bias", a.path("alibi_bias_max"));
      if (*b != 8.0)
        r.warnings.push_back(a.path("alibi_bias_max") + " = " + a.get("alibi_bias_max")->dump() +
                             ": posenc uses it, as MosaicML's code and vLLM do; HF's MptModel ignores it "
                             "and uses 8");
    } else {
      source(r, "max_bias", "default (MptAttentionConfig alibi_bias_max = 8)");
    }
    cfg.form = AlibiForm::Relative;
    source(r, "form", "relative");
    r.warnings.push_back(
        "MPT's ALiBi tensor is slope * (k - (Tk - 1)); posenc's relative form -slope * (q - k) differs from "
        "it by a constant along each query row, which gives the same attention weights under the causal "
        "mask");
  } else {
    throw Error(
        where, "model_type", mt.empty() ? "absent" : "\"" + mt + "\"",
        "bloom, falcon (with alibi = true) or mpt: the model types whose HF implementation uses ALiBi");
  }
  detail::validated(r, where, [&] { validate(cfg, where.c_str()); });
  return r;
}

T5BiasImport parse_t5(std::string_view text, T5Stack stack, std::string_view origin, const char* function) {
  const std::string where = std::string(function) + "(" + std::string(origin) + ")";
  const Json root = detail::parse_object(text, where, std::string(origin));
  const Fields c(root, "", where);
  T5BiasImport r;
  r.model_type = c.string("model_type").value_or("");
  if (!detail::is_t5_bias_model(c))
    throw Error(
        where, "model_type", r.model_type.empty() ? "absent" : "\"" + r.model_type + "\"",
        "t5, mt5, umt5, longt5, switch_transformers, or a config with relative_attention_num_buckets");
  T5BiasConfig& cfg = r.config;
  cfg.num_buckets = read_int(c, "relative_attention_num_buckets", 32, "T5Config", r, "num_buckets");
  cfg.max_distance = read_int(c, "relative_attention_max_distance", 128, "T5Config", r, "max_distance");
  r.num_heads = read_heads(c, "num_heads", "num_attention_heads", 8, "T5Config", r, "num_heads");
  const bool is_decoder = c.boolean("is_decoder").value_or(false);
  switch (stack) {
    case T5Stack::Encoder:
      cfg.bidirectional = true;
      source(r, "bidirectional", "true (the encoder's self-attention, as requested)");
      break;
    case T5Stack::Decoder:
      cfg.bidirectional = false;
      source(r, "bidirectional", "false (the decoder's self-attention, as requested)");
      break;
    case T5Stack::FromConfig:
      cfg.bidirectional = !is_decoder;
      source(r, "bidirectional",
             c.has("is_decoder") ? "not " + c.path("is_decoder") : "default (is_decoder = false)");
      // T5Config's is_encoder_decoder defaults to true; other configs with T5 buckets (MPNet) to false.
      if (!is_decoder && c.boolean("is_encoder_decoder").value_or(is_t5_type(r.model_type)))
        r.warnings.push_back(
            "an encoder-decoder config: these are the encoder's buckets (bidirectional); the decoder's "
            "self-attention uses causal buckets (T5Stack::Decoder; posenc t5-bucket --causal)");
      break;
  }
  if (r.model_type == "umt5")
    r.warnings.push_back(
        "UMT5: every layer has its own bias table (HF: has_relative_attention_bias in each "
        "layer), with these buckets");
  if (r.model_type == "longt5" && cfg.bidirectional)
    r.warnings.push_back(
        "LongT5's encoder (encoder_attention_type local or transient-global) applies the "
        "bias within local blocks of keys around each query, with these buckets");
  detail::validated(r, where, [&] { validate(cfg, where.c_str()); });
  return r;
}

}  // namespace

bool detail::is_alibi_model(const Fields& c) {
  const std::string mt = c.string("model_type").value_or("");
  return mt == "bloom" || mt == "mpt" || (mt == "falcon" && c.boolean("alibi").value_or(false));
}

bool detail::is_t5_bias_model(const Fields& c) {
  return is_t5_type(c.string("model_type").value_or("")) || c.has("relative_attention_num_buckets");
}

AlibiImport parse_alibi_config(std::string_view json_text, std::string_view origin) {
  return parse_alibi(json_text, origin, "posenc::hf::parse_alibi_config");
}

AlibiImport load_alibi_config(const std::filesystem::path& path) {
  const char* f = "posenc::hf::load_alibi_config";
  return parse_alibi(detail::read_config_file(path, f), path.string(), f);
}

T5BiasImport parse_t5_bias_config(std::string_view json_text, T5Stack stack, std::string_view origin) {
  return parse_t5(json_text, stack, origin, "posenc::hf::parse_t5_bias_config");
}

T5BiasImport load_t5_bias_config(const std::filesystem::path& path, T5Stack stack) {
  const char* f = "posenc::hf::load_t5_bias_config";
  return parse_t5(detail::read_config_file(path, f), stack, path.string(), f);
}

}  // namespace posenc::hf
