// posenc/hf_config.hpp — a RopeConfig from a Hugging Face config.json (library posenc::hf).
//
// Reads what HF transformers reads to build its rotary embedding, with HF 5.x's meaning
// (RotaryEmbeddingConfigMixin.standardize_rope_params + ROPE_INIT_FUNCTIONS):
//   rope parameters: `rope_parameters` (5.x: {rope_type, rope_theta, factor, ...}) or `rope_scaling`
//     (4.x: the same keys, `type` for `rope_type`, rope_theta top-level); null or absent = default
//     RoPE. Aliases as HF: "su" -> longrope, "mrope" -> default. A dict per attention type
//     ({"full_attention": {...}, ...}) needs LoadOptions::layer_type.
//   base: rope_parameters.rope_theta, else top-level rope_theta, GPT-NeoX rotary_emb_base, else
//     10000.
//   head dim D: head_dim, else hidden_size / num_attention_heads (GPT-J/CodeGen: n_embd / n_head).
//   rotary dim r: int(D * partial_rotary_factor) as HF truncates it (GPT-NeoX: rotary_pct, 0.25 by
//     default), or GPT-J/CodeGen rotary_dim (64 by default); else D.
//   layout: Interleaved for model_type gptj / codegen, HalfSplit otherwise.
//   lengths: max_position_embeddings (or n_positions); original_max_position_embeddings top-level
//     (Phi-3; HF gives it priority) or in the rope parameters, defaulting to max_position_embeddings
//     for yarn, llama3 and longrope.
// A config whose rope fields sit in `text_config` (multimodal models) is read from there.
//
// Errors are posenc::Error naming the JSON field ("rope_parameters.factor", "head_dim"), its value
// and what is allowed; a JSON syntax error names the byte offset. Contradictions are errors, not
// silent choices: rope_theta top-level and in rope_parameters with different values, rope_scaling
// and rope_parameters both given and different, rotary_dim against partial_rotary_factor, and so
// on. Behaviour that is correct but easy to get wrong comes back as warnings (LongRoPE switching
// factor lists at original_max_position_embeddings, dynamic NTK with a KV cache, attention_factor
// overriding mscale, keys HF ignores, ...).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "posenc/error.hpp"
#include "posenc/rope.hpp"

namespace posenc::hf {

struct LoadOptions {
  // For configs with one rope dict per attention type (e.g. "full_attention", "sliding_attention"):
  // which one to read. Empty: the config must have a single rope dict.
  std::string layer_type;
  Precision precision = Precision::Exact;  // copied into RopeConfig::precision
};

// Where a RopeConfig field came from: {"base", "rope_parameters.rope_theta"},
// {"head_dim", "hidden_size / num_attention_heads"}, {"scaling.factor", "default"}, ...
struct FieldSource {
  std::string field;  // RopeConfig member, e.g. "scaling.original_max_position_embeddings"
  std::string from;   // JSON path(s) it was read from, or "default (...)"
};

struct RopeImport {
  RopeConfig config;                  // validated (posenc::validate)
  std::string model_type;             // as in config.json ("" if absent)
  std::string rope_type;              // HF's name after aliasing: default, linear, dynamic, ...
  std::string rope_type_given;        // as written ("su", "mrope", ...), "" if absent
  std::vector<FieldSource> sources;   // one entry per field read or defaulted
  std::vector<std::string> warnings;  // sentences, no trailing newline

  // The JSON path a RopeConfig field came from ("" if unknown).
  std::string source_of(std::string_view field) const;
};

// Parses config.json text. `origin` names the text in messages (a path, or "config.json").
RopeImport parse_rope_config(std::string_view json_text, const LoadOptions& options = {},
                             std::string_view origin = "config.json");
// Reads and parses a file; a missing or unreadable file is a posenc::Error naming the path.
RopeImport load_rope_config(const std::filesystem::path& path, const LoadOptions& options = {});

// HF's rope_type name of a RopeType ("default", "linear", "ntk", "dynamic", "yarn", "llama3",
// "longrope").
const char* rope_type_name(RopeType t);

}  // namespace posenc::hf
