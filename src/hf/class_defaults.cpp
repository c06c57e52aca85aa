// src/hf/class_defaults.cpp — the defaults of HF transformers 5.x's config classes (see
// class_defaults.hpp), each read in HF's src/transformers/models/<type>/configuration_<type>.py (or the
// modular_<type>.py it is generated from). Only classes checked there are listed; an unlisted model type
// gets 10000 with a warning (src/hf/dims.cpp).
#include "class_defaults.hpp"

namespace posenc::hf::detail {

namespace {

constexpr double kMixinTheta = 10000.0;  // RotaryEmbeddingConfigMixin.default_theta (modeling_rope_utils.py)

// model_type, class, rope_theta, its attribute (nullptr: the mixin's), head_dim, partial_rotary_factor,
// qk_rope_head_dim, head_dim_is_qk_rope.
constexpr ClassDefaults kClasses[] = {
    // head_dim: int | None = None, filled with hidden_size // num_attention_heads.
    {"llama", "LlamaConfig", kMixinTheta, nullptr, 0, 0.0, 0, false},
    {"mistral", "MistralConfig", kMixinTheta, nullptr, 0, 0.0, 0, false},
    {"nemotron", "NemotronConfig", kMixinTheta, nullptr, 0, 0.5, 0, false},
    {"hunyuan_v1_moe", "HunYuanMoEV1Config", kMixinTheta, nullptr, 0, 0.0, 0, false},
    // head_dim: int | None = None, not filled in (the modeling code uses hidden_size // num_attention_heads).
    {"mixtral", "MixtralConfig", 1e6, "default_theta", 0, 0.0, 0, false},
    {"hunyuan_v1_dense", "HunYuanDenseV1Config", kMixinTheta, nullptr, 0, 0.0, 0, false},
    // No head_dim field (the modeling code uses hidden_size // num_attention_heads).
    {"qwen2", "Qwen2Config", kMixinTheta, nullptr, 0, 0.0, 0, false},
    {"qwen2_moe", "Qwen2MoeConfig", kMixinTheta, nullptr, 0, 0.0, 0, false},
    {"qwen3_moe", "Qwen3MoeConfig", kMixinTheta, nullptr, 0, 0.0, 0, false},
    {"qwen2_vl_text", "Qwen2VLTextConfig", 1e6, "default_theta", 0, 0.0, 0, false},
    {"phi", "PhiConfig", kMixinTheta, nullptr, 0, 0.5, 0, false},
    {"phi3", "Phi3Config", kMixinTheta, "default_theta", 0, 0.0, 0,
     false},  // its convert_rope_params_to_dict
    {"phimoe", "PhimoeConfig", 1e6, "default_theta", 0, 0.0, 0, false},
    // GPTNeoXConfig.convert_rope_params_to_dict: rotary_emb_base (default default_theta), rotary_pct 0.25.
    {"gpt_neox", "GPTNeoXConfig", kMixinTheta, nullptr, 0, 0.25, 0, false},
    {"stablelm", "StableLmConfig", kMixinTheta, nullptr, 0, 0.25, 0, false},
    {"starcoder2", "Starcoder2Config", kMixinTheta, nullptr, 0, 0.0, 0, false},
    {"olmo", "OlmoConfig", kMixinTheta, nullptr, 0, 0.0, 0, false},
    {"olmo2", "Olmo2Config", kMixinTheta, nullptr, 0, 0.0, 0, false},
    {"cohere", "CohereConfig", 5e5, "default_theta", 0, 0.0, 0, false},
    // Cohere2Config.__post_init__ sets head_dim = hidden_size // num_attention_heads.
    {"cohere2", "Cohere2Config", kMixinTheta, nullptr, 0, 0.0, 0, false, /*head_dim_from_hidden=*/true},
    {"granite", "GraniteConfig", kMixinTheta, nullptr, 0, 0.0, 0, false},
    {"granitemoe", "GraniteMoeConfig", kMixinTheta, nullptr, 0, 0.0, 0, false},
    // The base is not listed (0: 10000 with the warning): 4.x and early 5.x default to 25000, the later
    // 5.x dataclass to the mixin's 10000. Hub configs write rope_theta.
    {"persimmon", "PersimmonConfig", 0.0, nullptr, 0, 0.5, 0, false},
    {"smollm3", "SmolLM3Config", 2e6, "default_theta", 0, 0.0, 0, false},
    {"glm4_moe", "Glm4MoeConfig", kMixinTheta, nullptr, 0, 0.5, 0, false},
    {"ernie4_5_moe", "Ernie4_5_MoeConfig", 5e5, "default_theta", 0, 0.0, 0, false},
    {"exaone4", "Exaone4Config", kMixinTheta, nullptr, 0, 0.0, 0, false},
    {"mllama_text_model", "MllamaTextConfig", 5e5, "default_theta", 0, 0.0, 0, false},
    // Hybrid and MoE models whose head_dim or rotary fraction follows a rule of its own (dims.cpp):
    // FalconConfig.head_dim is a property, hidden_size // num_attention_heads; JetMoeConfig maps head_dim
    // to kv_channels (default 128); Zamba2Config to attention_head_dim = 2 * hidden_size //
    // num_attention_heads; BambaConfig sets partial_rotary_factor 0.5. Granite 4.0 hybrids and Zamba2
    // rotate only when position_embedding_type / use_mem_rope say so (layers.cpp).
    {"falcon", "FalconConfig", kMixinTheta, nullptr, 0, 0.0, 0, false},
    {"jetmoe", "JetMoeConfig", kMixinTheta, nullptr, 0, 0.0, 0, false},
    {"zamba2", "Zamba2Config", kMixinTheta, nullptr, 0, 0.0, 0, false},
    {"bamba", "BambaConfig", kMixinTheta, nullptr, 0, 0.0, 0, false},
    {"granitemoehybrid", "GraniteMoeHybridConfig", kMixinTheta, nullptr, 0, 0.0, 0, false},
    // EsmConfig has no rope_parameters: a plain field rope_theta = 10000.0, read by the modeling code.
    {"esm", "EsmConfig", 1e4, "rope_theta", 0, 0.0, 0, false},
    // head_dim with a number for its default.
    {"qwen3", "Qwen3Config", kMixinTheta, nullptr, 128, 0.0, 0, false},
    {"qwen3_next", "Qwen3NextConfig", kMixinTheta, nullptr, 256, 0.25, 0, false},
    {"gemma", "GemmaConfig", kMixinTheta, nullptr, 256, 0.0, 0, false},
    {"gemma2", "Gemma2Config", kMixinTheta, nullptr, 256, 0.0, 0, false},
    // The full-attention layers' base; the sliding ones' is default_theta["local"] = 10000 (rope_local_base_freq).
    {"gemma3_text", "Gemma3TextConfig", 1e6, "default_theta[\"global\"]", 256, 0.0, 0, false, false,
     /*local_rope_theta=*/1e4},
    {"glm", "GlmConfig", kMixinTheta, nullptr, 128, 0.5, 0, false},
    {"glm4", "Glm4Config", kMixinTheta, nullptr, 128, 0.5, 0, false},
    {"ernie4_5", "Ernie4_5Config", 5e5, "default_theta", 128, 0.0, 0, false},
    {"helium", "HeliumConfig", 1e5, "default_theta", 128, 0.0, 0, false},
    {"llama4_text", "Llama4TextConfig", 5e5, "default_theta", 128, 0.0, 0, false},  // configuration_llama4.py
    // Multi-head latent attention: __post_init__ sets head_dim = qk_rope_head_dim (default 64).
    {"deepseek_v2", "DeepseekV2Config", kMixinTheta, nullptr, 0, 0.0, 64, false},
    {"deepseek_v3", "DeepseekV3Config", kMixinTheta, nullptr, 0, 0.0, 64, false},
    {"glm4_moe_lite", "Glm4MoeLiteConfig", kMixinTheta, nullptr, 0, 0.0, 64, true},
    // LongcatFlashConfig: default_theta 1e7; its head_dim field (64) sizes the rotary table, and the
    // attention rotates qk_rope_head_dim (64) dims (not linked as in DeepseekV3Config: both must agree).
    {"longcat_flash", "LongcatFlashConfig", 1e7, "default_theta", 0, 0.0, 64, false},
};

// Multimodal configs: the class of their text_config (sub_configs["text_config"]).
struct TextClass {
  const char* model_type;
  const char* text_model_type;
};
constexpr TextClass kTextClasses[] = {
    {"gemma3", "gemma3_text"},        // Gemma3Config
    {"llama4", "llama4_text"},        // Llama4Config
    {"mllama", "mllama_text_model"},  // MllamaConfig
    {"qwen2_vl", "qwen2_vl_text"},    // Qwen2VLConfig (also from a flat top level)
};

}  // namespace

const char* text_model_type(std::string_view model_type) {
  for (const TextClass& t : kTextClasses)
    if (model_type == t.model_type) return t.text_model_type;
  return nullptr;
}

const ClassDefaults* class_defaults(std::string_view model_type) {
  if (const char* text = text_model_type(model_type)) model_type = text;
  for (const ClassDefaults& d : kClasses)
    if (model_type == d.model_type) return &d;
  return nullptr;
}

}  // namespace posenc::hf::detail
