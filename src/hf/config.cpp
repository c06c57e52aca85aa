// src/hf/config.cpp — HF config.json -> RopeConfig (see posenc/hf_config.hpp).
//
// Follows HF 5.x: convert_rope_params_to_dict (rope_scaling becomes rope_parameters; rope_theta and
// partial_rotary_factor move into it), standardize_rope_params (`type` -> `rope_type`, default
// "default"; original_max_position_embeddings top-level wins, else max_position_embeddings for
// llama3 / yarn / longrope), the _validate_*_rope_parameters key sets (required keys missing is an
// error there too; unknown keys a warning), and what the _compute_*_parameters functions read.
#include <charconv>
#include <set>

#include "class_defaults.hpp"
#include "families.hpp"
#include "json_fields.hpp"
#include "posenc/error.hpp"
#include "posenc/hf_config.hpp"
#include "rope_params.hpp"

namespace posenc::hf {

using detail::Fields;
using detail::Json;

const char* rope_type_name(RopeType t) {
  switch (t) {
    case RopeType::Default:
      return "default";
    case RopeType::Linear:
      return "linear";
    case RopeType::Ntk:
      return "ntk";
    case RopeType::Dynamic:
      return "dynamic";
    case RopeType::Yarn:
      return "yarn";
    case RopeType::Llama3:
      return "llama3";
    case RopeType::LongRope:
      return "longrope";
  }
  return "?";
}

std::string ImportReport::source_of(std::string_view field) const {
  for (const FieldSource& s : sources)
    if (s.field == field) return s.from;
  return "";
}

namespace detail {

std::string num(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

void Ctx::source(std::string field, std::string from) {
  for (FieldSource& s : out.sources)
    if (s.field == field) {
      s.from = std::move(from);
      return;
    }
  out.sources.push_back({std::move(field), std::move(from)});
}

namespace {

// Keys that can appear in a rope parameter dict; a dict without any of them whose values are all
// objects is one dict per attention type.
const std::set<std::string, std::less<>> kRopeKeys = {"rope_type",
                                                      "type",
                                                      "rope_theta",
                                                      "factor",
                                                      "attention_factor",
                                                      "beta_fast",
                                                      "beta_slow",
                                                      "mscale",
                                                      "mscale_all_dim",
                                                      "truncate",
                                                      "short_factor",
                                                      "long_factor",
                                                      "low_freq_factor",
                                                      "high_freq_factor",
                                                      "partial_rotary_factor",
                                                      "original_max_position_embeddings",
                                                      "mrope_section",
                                                      "mrope_interleaved"};

bool per_layer_type(const Json& obj) {
  if (obj.empty()) return false;
  for (const auto& [key, value] : obj.items())
    if (kRopeKeys.count(key) > 0 || !(value.is_object() || value.is_null())) return false;
  return true;
}

std::string key_list(const Json& obj) {
  std::string s;
  for (const auto& [key, value] : obj.items()) s += (s.empty() ? "" : ", ") + key;
  return s;
}

// The rope dict of `name` (rope_scaling / rope_parameters) at fields `c`, one attention type chosen
// if it has one dict per type. Returns the dict and sets *prefix to its path.
const Json* rope_dict(const Fields& c, const char* name, const LoadOptions& opt, Ctx& ctx,
                      std::string* prefix, bool* nested) {
  const Json* d = c.object(name);
  if (d == nullptr) return nullptr;
  *prefix = c.path(name) + ".";
  if (!per_layer_type(*d)) return d;
  *nested = true;
  if (opt.layer_type.empty())
    c.fail(name, "one rope dict per attention type (" + key_list(*d) + ")",
           "a single rope dict; choose one attention type with layer_type (CLI: --layer-type)");
  const auto it = d->find(opt.layer_type);
  if (it == d->end())
    c.fail(name, "no entry '" + opt.layer_type + "' (it has " + key_list(*d) + ")",
           "an entry for the requested layer_type");
  *prefix += opt.layer_type + ".";
  if (it->is_null()) return nullptr;  // HF: None for this type = default RoPE
  if (!it->is_object()) throw Error(ctx.where, *prefix, detail::describe(*it), "an object (or null)");
  return &*it;
}

}  // namespace

// The part of config.json that describes the text model: `text_config` for multimodal configs that
// keep nothing rope-related at the top level.
Fields model_fields(const Json& root, const std::string& where) {
  static const char* kTopKeys[] = {"head_dim",  "hidden_size", "n_embd",       "num_attention_heads",
                                   "n_head",    "rope_theta",  "rope_scaling", "rope_parameters",
                                   "rotary_dim"};
  Fields top(root, "", where);
  for (const char* k : kTopKeys)
    if (top.has(k)) return top;
  if (const Json* t = top.object("text_config"); t != nullptr) return Fields(*t, "text_config.", where);
  return top;
}

void agree(const Fields& fa, std::string_view a, const Fields& fb, std::string_view b, const Ctx&) {
  detail::agree(fa, a, fb, b);
}

// One rope parameter dict from rope_parameters and/or rope_scaling: each key read from whichever
// has it (rope_parameters first); keys in both must agree.
RopeFields merge_rope_dicts(const Fields& c, const LoadOptions& opt, Ctx& ctx) {
  std::string p_prefix, s_prefix;
  bool nested = false;
  const Json* params = rope_dict(c, "rope_parameters", opt, ctx, &p_prefix, &nested);
  const Json* scaling = rope_dict(c, "rope_scaling", opt, ctx, &s_prefix, &nested);
  static const Json kEmpty = Json::object();
  // Gemma 3's 4.x config: rope_theta and rope_scaling are the full-attention layers', the sliding-window
  // layers rotate with default RoPE of base rope_local_base_freq (HF 5.x writes the two as one dict
  // per attention type).
  // Gemma3TextConfig builds the two even when rope_local_base_freq is absent (the local base is then
  // its default_theta["local"]).
  const detail::ClassDefaults* cls = ctx.cls;
  const bool local = c.has("rope_local_base_freq");
  if ((local || (cls != nullptr && cls->local_rope_theta > 0)) && !nested) {
    // The field that makes two RoPEs: rope_local_base_freq, or the model type of a class that has two.
    const char* key = local ? "rope_local_base_freq" : "model_type";
    const std::string value = local ? detail::describe(*c.get(key)) : "\"" + ctx.out.model_type + "\"";
    const std::string both =
        std::string(
            "two RoPEs: full_attention (rope_theta, rope_scaling) and sliding_attention (default "
            "RoPE, base rope_local_base_freq") +
        (local ? ")"
               : std::string(", absent: ") + cls->class_name + "'s " + num(cls->local_rope_theta) + ")");
    const auto fail = [&](const std::string& v, const std::string& allowed) {
      if (local) c.fail(key, v, allowed);
      throw Error(ctx.where, key, v, allowed);  // model_type may be the top level's, not c's
    };
    if (opt.layer_type.empty())
      fail(value + ": the config has " + both,
           "one RoPE; choose the attention type with layer_type (CLI: --layer-type full_attention or "
           "sliding_attention)");
    if (opt.layer_type != "full_attention" && opt.layer_type != "sliding_attention")
      fail(value + ": no layer type '" + opt.layer_type + "' (the config has " + both + ")",
           "layer_type full_attention or sliding_attention");
    if (opt.layer_type == "sliding_attention") {
      ctx.local_base = true;
      RopeFields rf;
      rf.dicts.emplace_back(kEmpty, "rope_parameters.", ctx.where);
      return rf;
    }
    nested = true;  // full_attention: the top-level fields, as asked
  }
  // Cohere 2 and EXAONE 4 name their attention types without a rope dict per type: sliding_attention is
  // the RoPE described, full_attention has none (read_nope_layers refuses it).
  const bool nope_type = detail::full_attention_is_nope(ctx.out.model_type) &&
                         (opt.layer_type == "sliding_attention" || opt.layer_type == "full_attention");
  if (!opt.layer_type.empty() && !nested && !nope_type)
    ctx.warn("layer_type '" + opt.layer_type +
             "' was asked for, but the config has one rope dict for every layer: layer_type is "
             "ignored");
  RopeFields rf;
  if (params != nullptr) rf.dicts.emplace_back(*params, p_prefix, ctx.where);
  if (scaling != nullptr) rf.dicts.emplace_back(*scaling, s_prefix, ctx.where);
  if (params != nullptr && scaling != nullptr) {
    for (const auto& [key, value] : scaling->items()) agree(rf.dicts[1], key, rf.dicts[0], key, ctx);
  }
  if (rf.dicts.empty()) rf.dicts.emplace_back(kEmpty, "rope_parameters.", ctx.where);
  return rf;
}

const Fields& RopeFields::at(std::string_view key) const {
  for (const Fields& f : dicts)
    if (f.has(key)) return f;
  for (const Fields& f : dicts)
    if (f.contains(key)) return f;
  return dicts.front();
}

}  // namespace detail

namespace {

using detail::Ctx;
using detail::num;
using detail::RopeFields;

const char* kRopeTypes = "default, linear, dynamic, yarn, llama3, longrope (aliases: su, mrope)";

// rope_type (or legacy `type`) with HF's aliases.
RopeType read_rope_type(const RopeFields& rp, Ctx& ctx) {
  const Fields& ft = rp.at("rope_type");
  const Fields& fl = rp.at("type");
  const std::optional<std::string> t1 = ft.string("rope_type"), t2 = fl.string("type");
  if (t1 && t2 && *t1 != *t2)
    throw Error(ctx.where, ft.path("rope_type"), "\"" + *t1 + "\"",
                "the same value as " + fl.path("type") + " = \"" + *t2 +
                    "\" (`type` is the legacy name of `rope_type`)");
  const std::string name = t1 ? *t1 : t2 ? *t2 : "default";
  const std::string path = t1 ? ft.path("rope_type") : t2 ? fl.path("type") : "";
  ctx.out.rope_type_given = t1 || t2 ? name : "";
  ctx.source("scaling.type", path.empty() ? "default (no rope_type)" : path);
  struct Alias {
    const char* name;
    RopeType type;
  };
  static const Alias kNames[] = {{"default", RopeType::Default}, {"linear", RopeType::Linear},
                                 {"dynamic", RopeType::Dynamic}, {"yarn", RopeType::Yarn},
                                 {"llama3", RopeType::Llama3},   {"longrope", RopeType::LongRope},
                                 {"su", RopeType::LongRope},     {"mrope", RopeType::Default}};
  for (const Alias& a : kNames) {
    if (name != a.name) continue;
    if (name == "mrope")
      ctx.warn(path +
               " = \"mrope\": HF maps it to default RoPE; multimodal (t, h, w) position ids "
               "split by mrope_section are not modelled here, text positions (all three equal) "
               "are exactly default RoPE");
    if (name == "su") ctx.warn(path + " = \"su\" is the old name of \"longrope\" (HF renames it)");
    return a.type;
  }
  if (name == "proportional")
    throw Error(ctx.where, path, "\"proportional\"",
                std::string(kRopeTypes) +
                    "; proportional RoPE (exponent 2i / head_dim with "
                    "unrotated tail frequencies) is not supported by posenc");
  throw Error(ctx.where, path, "\"" + name + "\"", kRopeTypes);
}

RopeImport parse(std::string_view json_text, const LoadOptions& options, std::string_view origin,
                 const char* function) {
  Ctx ctx;
  ctx.where = std::string(function) + "(" + std::string(origin) + ")";
  const Json root = detail::parse_object(json_text, ctx.where, std::string(origin));
  const Fields c = detail::model_fields(root, ctx.where);
  const std::string top_type = Fields(root, "", ctx.where).string("model_type").value_or("");
  ctx.out.model_type = c.string("model_type").value_or(top_type);
  // Gemma3Config, Llama4Config, MllamaConfig and Qwen2VLConfig build their own text class from
  // text_config: a model_type written there does not choose another.
  if (const char* text = detail::text_model_type(top_type);
      text != nullptr && ctx.out.model_type != top_type && ctx.out.model_type != text) {
    ctx.warn(c.path("model_type") + " = \"" + ctx.out.model_type + "\" is not used: HF's " + top_type +
             " config builds its text model as " + text + " whatever text_config says");
    ctx.out.model_type = top_type;
  }
  ctx.cls = detail::class_defaults(ctx.out.model_type);
  // An ALiBi, T5 or absolute-position model has no RoPE to describe.
  detail::refuse_unless_rope(c);
  detail::refuse_nope_models(c, ctx);
  if (std::string doubt = detail::rope_doubt(c); !doubt.empty()) ctx.warn(std::move(doubt));
  const RopeFields rp = detail::merge_rope_dicts(c, options, ctx);
  RopeConfig& cfg = ctx.out.config;
  cfg.precision = options.precision;
  cfg.scaling.type = read_rope_type(rp, ctx);
  ctx.out.rope_type = rope_type_name(cfg.scaling.type);
  detail::read_model_dims(c, rp, ctx);
  detail::read_nope_layers(c, options, ctx);
  detail::read_scaling(c, rp, ctx);

  try {
    validate(cfg, ctx.where.c_str());
  } catch (const Error& e) {
    // Name the config.json field that the RopeConfig field came from.
    std::string arg = e.argument(), best;
    for (const FieldSource& s : ctx.out.sources)
      if (arg.rfind(s.field, 0) == 0 && s.field.size() > best.size()) best = s.field;
    if (!best.empty()) {
      const std::string from = ctx.out.source_of(best);
      // A JSON path ("rope_scaling.factor"), without its remark in parentheses; a defaulted field
      // keeps the RopeConfig name and says so.
      arg = (from.rfind("default", 0) == 0 ? best + " [" + from + "]" : from.substr(0, from.find(" ("))) +
            arg.substr(best.size());
    }
    throw Error(ctx.where, arg, e.value(), e.allowed());
  }
  return std::move(ctx.out);
}

}  // namespace

RopeImport parse_rope_config(std::string_view json_text, const LoadOptions& options,
                             std::string_view origin) {
  return parse(json_text, options, origin, "posenc::hf::parse_rope_config");
}

RopeImport load_rope_config(const std::filesystem::path& path, const LoadOptions& options) {
  const std::string text = detail::read_config_file(path, "posenc::hf::load_rope_config");
  return parse(text, options, path.string(), "posenc::hf::load_rope_config");
}

std::string read_config_text(const std::filesystem::path& path) {
  return detail::read_config_file(path, "posenc::hf::read_config_text");
}

}  // namespace posenc::hf
