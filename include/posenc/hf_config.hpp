// posenc/hf_config.hpp — a RopeConfig (and, at the end, ALiBi / T5 bias configs and absolute encodings)
// from a Hugging Face config.json (library posenc::hf).
//
// Reads what HF transformers reads to build its rotary embedding, with HF 5.x's meaning
// (RotaryEmbeddingConfigMixin.standardize_rope_params + ROPE_INIT_FUNCTIONS):
//   rope parameters: `rope_parameters` (5.x: {rope_type, rope_theta, factor, ...}) or `rope_scaling`
//     (4.x: the same keys, `type` for `rope_type`, rope_theta top-level); null or absent = default
//     RoPE. Aliases as HF: "su" -> longrope, "mrope" -> default. A dict per attention type
//     ({"full_attention": {...}, ...}) needs LoadOptions::layer_type.
//   A field config.json leaves out takes the default of the model type's HF config class, where posenc
//   has read it in HF's source (src/hf/class_defaults.cpp; a multimodal config's text_config gets its
//   text class): the source line then reads "default (GemmaConfig.head_dim = 256)".
//   base: rope_parameters.rope_theta, else top-level rope_theta, GPT-NeoX rotary_emb_base, else the
//     class's default_theta (Mixtral 1e6, Cohere 5e5, SmolLM3 2e6, LongCat-Flash 1e7, ...), else 10000
//     with a warning. GPT-J, CodeGen and RoFormer: 10000, which their HF code fixes (a rope_theta given
//     is used, with a warning that HF ignores it).
//   head dim D: head_dim, else the class's default (Gemma 256, Qwen3 128, GLM 128, ...), else
//     hidden_size / num_attention_heads (GPT-J/CodeGen: n_embd / n_head). Multi-head latent attention
//     (DeepSeek V2/V3, ...): qk_rope_head_dim (class default 64); Cohere 2: always hidden / heads, as
//     its class sets it; JetMoE kv_channels; Zamba2 2 * hidden / heads.
//   rotary dim r: int(D * partial_rotary_factor) as HF truncates it (GPT-NeoX: rotary_pct; absent: the
//     class's default, 0.25 for GPT-NeoX and StableLM, 0.5 for Phi and GLM, ...), or GPT-J/CodeGen
//     rotary_dim (64 by default); else D.
//   layout: Interleaved for model types whose code rotates adjacent pairs (gptj, codegen, cohere,
//     cohere2, glm, glm4, ernie4_5, ernie4_5_moe, helium, llama4, llama4_text, roformer) and with
//     rope_interleave (default true for deepseek_v2, deepseek_v3, kimi_k2, glm4_moe_lite; always for
//     longcat_flash, whose attention ignores it); HalfSplit otherwise.
//   two RoPEs: Gemma 3 (rope_local_base_freq, or Gemma3TextConfig's sliding base 10000 when absent)
//     and 5.x dicts per attention type: LoadOptions::layer_type chooses.
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

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "posenc/alibi.hpp"
#include "posenc/error.hpp"
#include "posenc/rope.hpp"
#include "posenc/sinusoidal.hpp"
#include "posenc/t5_bias.hpp"

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

// What every import reports besides the config it builds.
struct ImportReport {
  std::string model_type;             // as in config.json ("" if absent)
  std::vector<FieldSource> sources;   // one entry per field read or defaulted
  std::vector<std::string> warnings;  // sentences, no trailing newline

  // The JSON path a config field came from ("" if unknown).
  std::string source_of(std::string_view field) const;
};

struct RopeImport : ImportReport {
  RopeConfig config;            // validated (posenc::validate)
  std::string rope_type;        // HF's name after aliasing: default, linear, dynamic, ...
  std::string rope_type_given;  // as written ("su", "mrope", ...), "" if absent
  // The layers (0-based) that apply no positional encoding at all (NoPE), from the model's layer plan:
  // Llama 4 and SmolLM3 no_rope_layers (entries 0; absent or empty: every no_rope_layer_interval-th
  // layer, default 4, of num_hidden_layers), Cohere 2 and EXAONE 4 layer_types other than
  // "sliding_attention" (absent: every sliding_window_pattern-th layer, default 4, or a "LLLG" string;
  // EXAONE 4 with sliding_window null rotates every layer). `config` is the RoPE of the other layers; a
  // warning lists these. Empty when every layer rotates (or the plan is unknown, with a warning).
  // Models with no RoPE in any layer unless a field says so are refused naming it: granitemoehybrid
  // (position_embedding_type other than "rope"; Granite 4.0 ships "nope"), zamba2 (use_mem_rope false),
  // esm (position_embedding_type other than "rotary": ESM-1b's learned absolute table).
  std::vector<int64_t> nope_layers;
};

// Parses config.json text. `origin` names the text in messages (a path, or "config.json").
RopeImport parse_rope_config(std::string_view json_text, const LoadOptions& options = {},
                             std::string_view origin = "config.json");
// Reads and parses a file; a missing or unreadable file is a posenc::Error naming the path.
RopeImport load_rope_config(const std::filesystem::path& path, const LoadOptions& options = {});
// The text of a config.json, with the load_* functions' errors for a missing, unreadable or directory
// path: for a tool that reads one file with several importers (parse_encoding_kind, then parse_*).
std::string read_config_text(const std::filesystem::path& path);

// ---- attention biases: ALiBi and T5 ----
//
// ALiBi (posenc/alibi.hpp), for the model types whose HF implementation uses it:
//   bloom    heads n_head (or num_attention_heads; BloomConfig default 8); HF's build_alibi_tensor:
//            AlibiForm::KeyPosition, max_bias 8 (fixed in HF)
//   falcon   only with alibi = true (FalconConfig default false: the model uses RoPE, an error here);
//            heads num_attention_heads (or n_head; default 71); build_alibi_tensor as BLOOM
//   mpt      heads n_heads (or num_attention_heads; default 16); max_bias attn_config.alibi_bias_max
//            (default 8), as MosaicML's code and vLLM read it; HF's MptModel uses 8 whatever the config
//            says (a warning when they differ). attn_config.alibi = false is an error (the model
//            then has learned positions; HF's MptModel would still add ALiBi). AlibiForm::Relative:
//            MPT's tensor slope * (k - (Tk - 1)) differs from it by a constant per query row, the
//            same softmax under the causal mask (a warning says so)
// All three are decoders: AlibiMask::Causal. Other model types are an error naming model_type.
struct AlibiImport : ImportReport {
  AlibiConfig config;  // validated
};
AlibiImport parse_alibi_config(std::string_view json_text, std::string_view origin = "config.json");
AlibiImport load_alibi_config(const std::filesystem::path& path);

// T5's relative attention bias (posenc/t5_bias.hpp), for model_type t5, mt5, umt5, longt5,
// switch_transformers (and any config with relative_attention_num_buckets): num_buckets =
// relative_attention_num_buckets (default 32), max_distance = relative_attention_max_distance
// (default 128), heads num_heads (or num_attention_heads; default 8). bidirectional = not is_decoder,
// as HF's T5Attention: the encoder's self-attention is bidirectional, the decoder's causal. One
// config.json describes both stacks of an encoder-decoder model; choose with `stack` (FromConfig:
// is_decoder, default false = the encoder, with a warning naming the decoder's choice).
//
// Stack: which stack of an encoder-decoder model an import describes, where the two differ (T5's
// bias buckets, the position tables of Whisper and Speech2Text). FromConfig: what the config says, else
// the encoder, with a warning naming the decoder's choice.
enum class Stack : uint8_t { FromConfig, Encoder, Decoder };
using T5Stack = Stack;  // the name of the first importer that took a stack
struct T5BiasImport : ImportReport {
  T5BiasConfig config;    // validated
  int64_t num_heads = 0;  // H: the columns of the bias table [num_buckets, H]
};
T5BiasImport parse_t5_bias_config(std::string_view json_text, T5Stack stack = T5Stack::FromConfig,
                                  std::string_view origin = "config.json");
T5BiasImport load_t5_bias_config(const std::filesystem::path& path, T5Stack stack = T5Stack::FromConfig);

// ---- absolute encodings: a sinusoidal table or a learned position embedding ----
//
// What a model adds to its token embeddings (the encoder of a speech model: to the convolution's output
// frames), with the row offsets HF applies (a token at position p, counting from 0, reads row
// first_row + p of a table with num_rows rows):
//   sinusoidal  m2m_100 (NLLB), nllb-moe, fsmt  Fairseq preset, padding_idx = pad_token_id (default 1);
//                                               first_row = padding_idx + 1; num_rows = m2m_100:
//                                               max_position_embeddings + 2, fsmt: + padding_idx + 1
//               speech_to_text                  the same per stack: num_rows = max_source_positions
//                                               (encoder) or max_target_positions (decoder) + 2
//               xglm                            Fairseq preset, padding_idx = pad_token_id (default 1);
//                                               first_row 2, num_rows = max_position_embeddings + 2
//               marian, pegasus                 Marian preset ([sin | cos]), first_row 0,
//                                               num_rows = max_position_embeddings
//               ctrl                            Marian preset (HF's positional_encoding), first_row 0,
//                                               num_rows = n_positions; embed_scale sqrt(n_embd) always
//               whisper, encoder                Tensor2Tensor preset (HF's sinusoids(): [sin | cos],
//                                               omega_i = 10000^(-i / (d/2 - 1)), d even), first_row 0,
//                                               num_rows = max_source_positions (HF stores it as a
//                                               frozen nn.Embedding initialised with these values)
//               xlm with sinusoidal_embeddings, Vaswani preset, first_row 0, num_rows = max_position_embeddings
//               distilbert with sinusoidal_pos_embds
//   learned     gpt2 and gpt_bigcode (n_positions, n_embd), gpt_neo, bert, xlm and distilbert (their
//                 default): first_row 0
//               whisper, decoder: first_row 0, num_rows = max_target_positions
//               albert, electra: first_row 0, columns embedding_size (projected to hidden_size later)
//               roberta, xlm-roberta, camembert, longformer: first_row = pad_token_id + 1 (HF's
//                 create_position_ids_from_input_ids), num_rows = max_position_embeddings
//               opt, bart, mbart, biogpt: first_row 2, num_rows = max_position_embeddings + 2 (their
//                 LearnedPositionalEmbedding offset)
// embed_scale = sqrt(d_model) when scale_embedding is true (absent: the HF class's default, m2m_100,
// nllb-moe, fsmt, xglm, biogpt and speech_to_text true, the others false; a warning names the
// assumption), else 1 (posenc/embed.hpp's scale). Whisper reads scale_embedding but never applies it: 1 (a warning if true).
// Whisper and Speech2Text have different tables in their two stacks: `stack` chooses (FromConfig: the
// decoder if is_decoder is true, else the encoder with a warning naming the decoder's table); the other encoder-decoder models (BART, Marian,
// M2M100, ...) build the same table in both, and `stack` does not change it.
// With posenc: embed_forward(out, ids, E, PeSource::sinusoidal(sinusoidal) or PeSource::table(W),
// Positions::offset(first_row), embed_scale); the largest position is num_rows - 1 - first_row.
// Sizes (d_model / hidden_size / n_embd / dim / embedding_size, max_position_embeddings / n_positions /
// max_source_positions / max_target_positions) must be present; other model types are an error naming
// model_type (RoPE, ALiBi and T5 models have their own imports).
enum class AbsoluteKind : uint8_t { Sinusoidal, Learned };
struct AbsoluteImport : ImportReport {
  AbsoluteKind kind = AbsoluteKind::Learned;
  SinusoidalConfig sinusoidal;  // kind Sinusoidal: validated (dim, preset, padding_idx)
  int64_t dim = 0;              // C
  int64_t num_rows = 0;         // rows of the table
  int64_t first_row = 0;        // the row of position 0
  float embed_scale = 1.0f;     // token embeddings (audio_frames: the frames) are multiplied by this
  // Encoder or Decoder for models whose stacks have different tables (whisper, speech_to_text);
  // FromConfig for the others (one table shape for every stack).
  Stack stack = Stack::FromConfig;
  bool audio_frames = false;  // the encoder of a speech model: added to frames, not token embeddings
};
AbsoluteImport parse_absolute_config(std::string_view json_text, Stack stack = Stack::FromConfig,
                                     std::string_view origin = "config.json");
AbsoluteImport load_absolute_config(const std::filesystem::path& path, Stack stack = Stack::FromConfig);

// ---- which positional encoding a config.json describes ----
//
// The importer that loads a model's positional encoding, from model_type (read where the RoPE importer
// reads it: text_config for multimodal configs) and the field that switches it:
//   Alibi     bloom, mpt, falcon with alibi = true                load_alibi_config
//   T5Bias    t5, mt5, umt5, longt5, switch_transformers, or any  load_t5_bias_config
//             config with relative_attention_num_buckets
//   Absolute  the model types of load_absolute_config            load_absolute_config
//   Rope      every other config (load_rope_config's own checks   load_rope_config
//             decide whether it is a valid one)
// load_rope_config refuses the first three: an error naming model_type (Falcon: alibi) and the
// importer to use, where it would otherwise describe a RoPE that the model does not have; it refuses
// too the model types of encodings that no importer reads (deberta(-v2), xlnet, transfo-xl, funnel,
// reformer). Another model_type it does not know to use RoPE, in a
// config without any rope field (rope_theta, rope_scaling, rope_parameters, rotary_dim, ...), is read as
// default RoPE with a warning saying so.
enum class EncodingKind : uint8_t { Rope, Alibi, T5Bias, Absolute };
EncodingKind parse_encoding_kind(std::string_view json_text, std::string_view origin = "config.json");
EncodingKind load_encoding_kind(const std::filesystem::path& path);
const char* encoding_kind_name(EncodingKind k);  // "rope", "alibi", "t5_bias", "absolute"

// HF's rope_type name of a RopeType ("default", "linear", "ntk", "dynamic", "yarn", "llama3",
// "longrope").
const char* rope_type_name(RopeType t);

}  // namespace posenc::hf
