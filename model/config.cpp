// model/config.cpp — ModelConfig names, checks and JSON (model/config.hpp).
#include "model/config.hpp"

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "posenc/error.hpp"
#include "posenc/t5_bias.hpp"

namespace posenc::model {

namespace {
[[noreturn]] void fail(const std::string& arg, const std::string& value, const std::string& allowed) {
  throw Error("posenc::model::ModelConfig", arg, value, allowed);
}
constexpr const char* kPeNames[] = {"none", "sinusoidal", "learned", "rope", "alibi", "t5"};
constexpr const char* kRopeTypes[] = {"default", "linear", "ntk", "dynamic", "yarn", "llama3", "longrope"};
}  // namespace

const char* to_string(PeKind k) {
  return kPeNames[static_cast<int>(k)];
}
PeKind parse_pe_kind(std::string_view s) {
  for (int i = 0; i < 6; ++i)
    if (s == kPeNames[i]) return static_cast<PeKind>(i);
  if (s == "nope") return PeKind::None;
  throw Error("posenc::model", "pe", "'" + std::string(s) + "'",
              "none, sinusoidal, learned, rope, alibi, t5");
}
std::optional<RopeType> find_rope_type(std::string_view s) {
  for (int i = 0; i < 7; ++i)
    if (s == kRopeTypes[i]) return static_cast<RopeType>(i);
  return std::nullopt;
}
const char* to_string(Ops o) {
  return o == Ops::Posenc ? "posenc" : "eager";
}
Ops parse_ops(std::string_view s) {
  if (s == "posenc") return Ops::Posenc;
  if (s == "eager") return Ops::Eager;
  throw Error("posenc::model", "ops", "'" + std::string(s) + "'", "posenc, eager");
}

RopeConfig ModelConfig::rope_config() const {
  RopeConfig r;
  r.head_dim = head_dim();
  r.base = rope_base;
  r.layout = PairLayout::HalfSplit;
  r.precision = Precision::Exact;
  r.max_position_embeddings = max_positions;
  r.scaling.type = rope_scaling;
  r.scaling.factor = rope_factor;
  return r;
}

void validate(const ModelConfig& c) {
  auto pos = [](const char* n, int64_t v) {
    if (v < 1) fail(n, std::to_string(v), "an integer >= 1");
  };
  pos("vocab_size", c.vocab_size);
  pos("dim", c.dim);
  pos("layers", c.layers);
  pos("heads", c.heads);
  pos("ff_mult", c.ff_mult);
  if (c.kv_heads < 0) fail("kv_heads", std::to_string(c.kv_heads), "0 (= heads) or a divisor of heads");
  if (c.dim % c.heads != 0)
    fail("dim", std::to_string(c.dim), "a multiple of heads (" + std::to_string(c.heads) + ")");
  if (c.heads % c.kv() != 0)
    fail("kv_heads", std::to_string(c.kv_heads), "a divisor of heads (" + std::to_string(c.heads) + ")");
  if (!(c.dropout >= 0.0 && c.dropout < 1.0)) fail("dropout", std::to_string(c.dropout), "0 <= dropout < 1");
  if (c.pe == PeKind::Learned) pos("max_positions", c.max_positions);
  if (c.pe == PeKind::Sinusoidal && c.dim % 2 != 0)
    fail("dim", std::to_string(c.dim), "an even integer for the sinusoidal encoding");
  if (c.pe == PeKind::Rope) {
    if (c.head_dim() % 2 != 0)
      fail("dim / heads", std::to_string(c.head_dim()), "an even head dimension for RoPE");
    if (c.rope_scaling != RopeType::Default && c.max_positions < 1)
      fail("max_positions", std::to_string(c.max_positions), "an integer >= 1 when RoPE is scaled");
    validate(c.rope_config(), "posenc::model::ModelConfig");
  }
  if (c.pe == PeKind::T5) {
    T5BiasConfig t{c.t5_buckets, c.t5_max_distance, !c.causal};
    validate(t, "posenc::model::ModelConfig");
  }
}

std::string to_json(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["vocab_size"] = c.vocab_size;
  j["dim"] = c.dim;
  j["layers"] = c.layers;
  j["heads"] = c.heads;
  j["kv_heads"] = c.kv_heads;
  j["ff_mult"] = c.ff_mult;
  j["max_positions"] = c.max_positions;
  j["dropout"] = c.dropout;
  j["causal"] = c.causal;
  j["pe"] = to_string(c.pe);
  j["ops"] = to_string(c.ops);
  j["rope_base"] = c.rope_base;
  j["rope_scaling"] = kRopeTypes[static_cast<int>(c.rope_scaling)];
  j["rope_factor"] = c.rope_factor;
  j["t5_buckets"] = c.t5_buckets;
  j["t5_max_distance"] = c.t5_max_distance;
  j["embed_scale_sqrt"] = c.embed_scale_sqrt;
  j["seed"] = c.seed;
  return j.dump();
}

ModelConfig model_config_from_json(std::string_view text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("json", "'" + std::string(text.substr(0, 40)) + "...'",
         std::string("valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) fail("json", j.type_name(), "an object");
  ModelConfig c;
  std::set<std::string> seen;
  auto get = [&](const char* key, auto& out) {
    if (!j.contains(key)) fail(key, "missing", "present in the model config");
    try {
      j.at(key).get_to(out);
    } catch (const nlohmann::json::exception&) {
      fail(key, j.at(key).dump(), "a value of the right type");
    }
    seen.insert(key);
  };
  std::string pe, ops, rope_scaling;
  get("vocab_size", c.vocab_size);
  get("dim", c.dim);
  get("layers", c.layers);
  get("heads", c.heads);
  get("kv_heads", c.kv_heads);
  get("ff_mult", c.ff_mult);
  get("max_positions", c.max_positions);
  get("dropout", c.dropout);
  get("causal", c.causal);
  get("pe", pe);
  get("ops", ops);
  get("rope_base", c.rope_base);
  get("rope_scaling", rope_scaling);
  get("rope_factor", c.rope_factor);
  get("t5_buckets", c.t5_buckets);
  get("t5_max_distance", c.t5_max_distance);
  get("embed_scale_sqrt", c.embed_scale_sqrt);
  get("seed", c.seed);
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!seen.count(it.key())) fail(it.key(), it.value().dump(), "a known model config field");
  c.pe = parse_pe_kind(pe);
  c.ops = parse_ops(ops);
  const std::optional<RopeType> type = find_rope_type(rope_scaling);
  if (!type)
    fail("rope_scaling", "'" + rope_scaling + "'", "default, linear, ntk, dynamic, yarn, llama3, longrope");
  c.rope_scaling = *type;
  validate(c);
  return c;
}

}  // namespace posenc::model
