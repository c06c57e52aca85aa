// model/config.hpp — what selects a model: sizes, the positional encoding and where it plugs in.
//
// One ModelConfig selects the encoding; the rest of the Transformer is identical for all of them:
//   pe           where it acts                                         parameters
//   none         nowhere (NoPE)                                        -
//   sinusoidal   added to the token embeddings (fused, Vaswani)        -
//   learned      added to the token embeddings (fused)                 pe_weight [max_positions, dim]
//   rope         rotates q and k in every attention layer              -
//   alibi        biases the attention scores (Relative form)           -
//   t5           biases the attention scores (learned, shared)         t5 bias [t5_buckets, heads]
// ops = posenc runs the encodings through posenc's kernels (torch/functional.hpp); ops = eager writes
// the same formulas in LibTorch ops (torch/eager.hpp), as the baseline for benchmarks and tests.
// Configs round-trip through JSON (checkpoints store them); from_json rejects unknown or missing fields
// and bad values with a posenc::Error naming the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "posenc/rope.hpp"

namespace posenc::model {

enum class PeKind : uint8_t { None, Sinusoidal, Learned, Rope, Alibi, T5 };
enum class Ops : uint8_t { Posenc, Eager };

const char* to_string(PeKind);
PeKind parse_pe_kind(std::string_view);  // "none|sinusoidal|learned|rope|alibi|t5" (also "nope")
// HF's rope_type names ("default", "linear", "ntk", "dynamic", "yarn", "llama3", "longrope"); nullopt if unknown.
std::optional<RopeType> find_rope_type(std::string_view);
const char* to_string(Ops);
Ops parse_ops(std::string_view);  // "posenc|eager"

struct ModelConfig {
  int64_t vocab_size = 0;
  int64_t dim = 64;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t kv_heads = 0;       // 0 = heads (multi-head); fewer = grouped-query attention
  int64_t ff_mult = 4;        // MLP hidden = ff_mult * dim
  int64_t max_positions = 0;  // learned: rows of the table (the longest sequence it can encode)
  double dropout = 0.0;
  bool causal = true;  // decoder (causal LM) or encoder (bidirectional)
  PeKind pe = PeKind::Sinusoidal;
  Ops ops = Ops::Posenc;
  double rope_base = 10000.0;
  RopeType rope_scaling = RopeType::Default;  // linear, dynamic, yarn, llama3 use rope_factor
  double rope_factor = 1.0;
  int64_t t5_buckets = 32, t5_max_distance = 128;
  bool embed_scale_sqrt = false;  // multiply embeddings by sqrt(dim) (Vaswani et al.)
  uint64_t seed = 0;

  int64_t head_dim() const { return dim / heads; }
  int64_t kv() const { return kv_heads == 0 ? heads : kv_heads; }
  RopeConfig rope_config() const;
};

// Throws posenc::Error naming the field (sizes >= 1, dim divisible by heads, heads by kv_heads, even
// head_dim for rope, max_positions >= 1 for learned, 0 <= dropout < 1, ...).
void validate(const ModelConfig& c);

std::string to_json(const ModelConfig& c);
ModelConfig model_config_from_json(std::string_view json);

}  // namespace posenc::model
