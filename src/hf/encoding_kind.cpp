// src/hf/encoding_kind.cpp — which importer a config.json belongs to (posenc/hf_config.hpp EncodingKind),
// and the RoPE importer's refusal of models whose positions are not rotary.
#include <string>

#include "class_defaults.hpp"
#include "families.hpp"
#include "json_fields.hpp"
#include "posenc/hf_config.hpp"
#include "rope_params.hpp"

namespace posenc::hf {

using detail::Fields;
using detail::Json;

EncodingKind detail::kind_of(const Fields& c) {
  if (is_alibi_model(c)) return EncodingKind::Alibi;
  if (is_t5_bias_model(c)) return EncodingKind::T5Bias;
  if (is_absolute_model(c)) return EncodingKind::Absolute;
  return EncodingKind::Rope;
}

std::string detail::rope_doubt(const Fields& c) {
  // Model types whose HF implementation uses RoPE (their configs may omit every rope field: the
  // first Llama configs on the hub have no rope_theta).
  static constexpr const char* kRopeTypes[] = {
      "llama",     "mistral",     "mixtral", "qwen2",       "qwen2_moe",   "qwen3",      "qwen3_moe",
      "gemma",     "gemma2",      "gemma3",  "gemma3_text", "phi",         "phi3",       "phimoe",
      "gpt_neox",  "gptj",        "codegen", "falcon",      "stablelm",    "starcoder2", "olmo",
      "olmo2",     "cohere",      "cohere2", "deepseek_v2", "deepseek_v3", "granite",    "granitemoe",
      "persimmon", "nemotron",    "esm",     "roformer",    "mllama",      "qwen2_vl",   "llava",
      "llama4",    "llama4_text", "smollm3", "glm",         "glm4",        "ernie4_5",   "ernie4_5_moe"};
  static constexpr const char* kRopeFields[] = {"rope_theta",     "rope_scaling",          "rope_parameters",
                                                "rotary_dim",     "partial_rotary_factor", "rotary_pct",
                                                "rotary_emb_base"};
  const std::string mt = c.string("model_type").value_or("");
  if (mt.empty()) return "";
  for (const char* t : kRopeTypes)
    if (mt == t) return "";
  if (class_defaults(mt) != nullptr) return "";  // a config class read in HF's source (class_defaults.cpp)
  for (const char* f : kRopeFields)
    if (c.has(f)) return "";
  return "model_type \"" + mt +
         "\" is not one posenc knows to use RoPE, and the config has no rope field (rope_theta, "
         "rope_scaling, rope_parameters, rotary_dim, ...): this is a default RoPE from its head sizes; check "
         "that the model uses rotary embeddings";
}

namespace {

// Models with another encoding that no posenc importer reads: the RoPE importer refuses them too.
struct OtherEncoding {
  const char* model_type;
  const char* uses;
};
constexpr OtherEncoding kOtherEncodings[] = {
    {"deberta", "disentangled relative attention (relative position embeddings)"},
    {"deberta-v2", "disentangled relative attention (relative position embeddings)"},
    {"xlnet", "Transformer-XL relative positions"},
    {"transfo-xl", "Transformer-XL relative positions"},
    {"funnel", "relative attention (Funnel's position encodings)"},
    {"reformer", "axial position embeddings"},
};

}  // namespace

void detail::refuse_unless_rope(const Fields& c) {
  const EncodingKind kind = kind_of(c);
  const std::string mt = c.string("model_type").value_or("");
  if (kind == EncodingKind::Rope) {
    for (const OtherEncoding& o : kOtherEncodings)
      if (mt == o.model_type)
        c.fail("model_type", "\"" + mt + "\"",
               "a model with rotary position embeddings: " + mt + " uses " + o.uses +
                   ", which posenc does not import");
    return;
  }
  std::string uses;
  switch (kind) {
    case EncodingKind::Alibi:
      if (mt == "falcon")
        c.fail("alibi", "true",
               "false or absent for RoPE: with alibi = true a Falcon model uses ALiBi (load it with "
               "posenc::hf::load_alibi_config; posenc alibi --config)");
      uses = "ALiBi (load it with posenc::hf::load_alibi_config; posenc alibi --config)";
      break;
    case EncodingKind::T5Bias:
      if (mt.empty())
        c.fail("relative_attention_num_buckets", c.get("relative_attention_num_buckets")->dump(),
               "absent for RoPE: a config with T5's relative attention buckets is a T5-style model (load "
               "it with posenc::hf::load_t5_bias_config; posenc t5-bucket --config)");
      uses =
          "T5's relative attention bias (load it with posenc::hf::load_t5_bias_config; posenc t5-bucket "
          "--config)";
      break;
    case EncodingKind::Absolute:
      uses =
          "absolute position embeddings (load them with posenc::hf::load_absolute_config; posenc table "
          "--config for a sinusoidal table, posenc inspect --config for a learned one's rows)";
      break;
    case EncodingKind::Rope:
      break;
  }
  c.fail("model_type", "\"" + mt + "\"", "a model with rotary position embeddings: " + mt + " uses " + uses);
}

namespace {

EncodingKind parse_kind(std::string_view text, std::string_view origin, const char* function) {
  const std::string where = std::string(function) + "(" + std::string(origin) + ")";
  const Json root = detail::parse_object(text, where, std::string(origin));
  return detail::kind_of(detail::model_fields(root, where));
}

}  // namespace

EncodingKind parse_encoding_kind(std::string_view json_text, std::string_view origin) {
  return parse_kind(json_text, origin, "posenc::hf::parse_encoding_kind");
}

EncodingKind load_encoding_kind(const std::filesystem::path& path) {
  const char* f = "posenc::hf::load_encoding_kind";
  return parse_kind(detail::read_config_file(path, f), path.string(), f);
}

const char* encoding_kind_name(EncodingKind k) {
  switch (k) {
    case EncodingKind::Rope:
      return "rope";
    case EncodingKind::Alibi:
      return "alibi";
    case EncodingKind::T5Bias:
      return "t5_bias";
    case EncodingKind::Absolute:
      return "absolute";
  }
  return "?";
}

}  // namespace posenc::hf
