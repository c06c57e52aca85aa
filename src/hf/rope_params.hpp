// src/hf/rope_params.hpp — the steps of parse_rope_config (src/hf/config.cpp), shared by
// src/hf/dims.cpp (base, head and rotary dims, layout, lengths) and src/hf/scaling.cpp (the
// parameters of each rope_type).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "class_defaults.hpp"
#include "json_fields.hpp"
#include "posenc/hf_config.hpp"

namespace posenc::hf::detail {

// What is being built, and where errors say they come from.
struct Ctx {
  std::string where;
  std::string model_prefix;  // "" or "text_config.": where the model's fields are
  RopeImport out;
  // The HF config class of out.model_type (class_defaults.hpp), looked up once by parse(); nullptr when
  // posenc has not read that class.
  const ClassDefaults* cls = nullptr;
  // Gemma 3 (4.x config): the sliding-window layers' RoPE, default with base rope_local_base_freq.
  bool local_base = false;

  void source(std::string field, std::string from);
  void warn(std::string message) { out.warnings.push_back(std::move(message)); }
};

// The rope parameter dict: rope_parameters and/or rope_scaling (4.x), each key read from the first
// that has it, so that messages name the key where it was written.
struct RopeFields {
  std::vector<Fields> dicts;  // never empty (an empty dict named rope_parameters if none)
  const Fields& at(std::string_view key) const;
};

// Both given (not null) must be equal (numbers by value); else a posenc::Error naming fa.path(a).
void agree(const Fields& fa, std::string_view a, const Fields& fb, std::string_view b, const Ctx& ctx);

// Shortest round-trip decimal of v.
std::string num(double v);

// Fields of the model (top level, or text_config for multimodal configs).
Fields model_fields(const Json& root, const std::string& where);
// rope_parameters / rope_scaling merged (contradicting keys are an error).
RopeFields merge_rope_dicts(const Fields& c, const LoadOptions& opt, Ctx& ctx);

// base, head_dim, rotary_dim, layout, max_position_embeddings.
void read_model_dims(const Fields& c, const RopeFields& rp, Ctx& ctx);
// Throws for the models that apply no positional encoding unless a field says so (granitemoehybrid
// position_embedding_type, zamba2 use_mem_rope), naming that field (src/hf/layers.cpp).
void refuse_nope_models(const Fields& c, const Ctx& ctx);
// Cohere 2 and EXAONE 4: RoPE only on their sliding_attention layers, the full_attention ones are NoPE
// (layer_type names one of the two, without a rope dict per type).
bool full_attention_is_nope(const std::string& model_type);
// ctx.out.nope_layers: the layers without RoPE of Llama 4, SmolLM3, Cohere 2 and EXAONE 4 (src/hf/layers.cpp).
void read_nope_layers(const Fields& c, const LoadOptions& opt, Ctx& ctx);
// scaling.* for ctx.out.config.scaling.type (set before), with the warnings about its behaviour.
void read_scaling(const Fields& c, const RopeFields& rp, Ctx& ctx);

}  // namespace posenc::hf::detail
