// src/hf/class_defaults.hpp — what Hugging Face transformers 5.x's config classes put in place of the
// RoPE fields a config.json leaves out, per model_type (the table is in class_defaults.cpp).
//
// HF 5.x: PreTrainedConfig.__post_init__ calls convert_rope_params_to_dict, which sets
// rope_parameters["rope_theta"] = kwargs.pop("rope_theta", getattr(self, "rope_theta", self.default_theta));
// RotaryEmbeddingConfigMixin.default_theta is 10000 and a class may override it (MixtralConfig: 1e6,
// CohereConfig: 5e5, ...). head_dim is a dataclass field with a per-class default: None (then
// hidden_size // num_attention_heads) in most classes, a number in some (GemmaConfig: 256). A class that
// rotates part of the head sets partial_rotary_factor in __post_init__ (kwargs.setdefault).
#pragma once

#include <cstdint>
#include <string_view>

namespace posenc::hf::detail {

struct ClassDefaults {
  const char* model_type;  // the config class's model_type
  const char* class_name;  // "GemmaConfig"
  // The base when rope_theta is absent, and the class attribute it comes from: nullptr when the class
  // keeps RotaryEmbeddingConfigMixin.default_theta (10000). 0: not known across HF versions (10000 with
  // the importer's warning).
  double rope_theta;
  const char* theta_attr;
  int64_t head_dim;              // the class's head_dim default; 0: hidden_size // num_attention_heads
  double partial_rotary_factor;  // the class's default; 0: none (the whole head rotates)
  // Multi-head latent attention: head_dim = qk_rope_head_dim (this default when absent); 0 otherwise.
  int64_t qk_rope_head_dim;
  // attribute_map {"head_dim": "qk_rope_head_dim"}: a head_dim in config.json sets qk_rope_head_dim.
  bool head_dim_is_qk_rope;
  // __post_init__ sets head_dim = hidden_size // num_attention_heads whatever config.json says (Cohere2).
  bool head_dim_from_hidden = false;
  // > 0: the class always builds two RoPEs, and this is the sliding_attention layers' base when
  // rope_local_base_freq is absent (Gemma3TextConfig.default_theta["local"]); 0: one RoPE.
  double local_rope_theta = 0.0;
};

// The defaults of the class HF builds for an object with this model_type. A multimodal model_type maps
// to its text sub-config's class, which HF builds from text_config (and Qwen2-VL also from a flat top
// level), so a text_config without its own model_type gets the right class. nullptr for a model type
// whose class posenc has not checked against HF's source.
const ClassDefaults* class_defaults(std::string_view model_type);
// The text sub-config's model_type of a multimodal model_type ("gemma3" -> "gemma3_text"), which HF
// builds from text_config whatever model_type text_config names; nullptr for other model types.
const char* text_model_type(std::string_view model_type);

}  // namespace posenc::hf::detail
