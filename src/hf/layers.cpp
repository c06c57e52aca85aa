// src/hf/layers.cpp — which layers of a model apply no RoPE at all (NoPE).
//
// HF's attention of these models skips apply_rotary_pos_emb on some layers:
//   llama4, llama4_text, smollm3  use_rope = no_rope_layers[layer_idx]; when no_rope_layers is absent
//                                  or empty: int((i + 1) % no_rope_layer_interval != 0) for the
//                                  num_hidden_layers layers (interval default 4). Llama 4's NoPE layers
//                                  also scale their queries by 1 + attn_scale * log1p(floor((pos + 1) /
//                                  floor_scale)) when attn_temperature_tuning (default true).
//   cohere2, exaone4               RoPE only where layer_types[i] == "sliding_attention"; when absent:
//                                  "sliding_attention" if (i + 1) % sliding_window_pattern else
//                                  "full_attention" (pattern default 4; EXAONE 4 also writes it as a
//                                  string, "LLLG": L sliding, G full). EXAONE 4 rotates every layer when
//                                  sliding_window is null (its default is 4096).
// And models that apply no positional encoding at all unless a field says so (refuse_nope_models):
//   granitemoehybrid               position_embedding_type (default None; Granite 4.0 ships "nope")
//   zamba2                         use_mem_rope (default false)
//   esm                            position_embedding_type (default "absolute": learned absolute
//                                  positions; ESM-2 ships "rotary")
#include <optional>
#include <string>
#include <vector>

#include "posenc/error.hpp"
#include "rope_params.hpp"

namespace posenc::hf::detail {

namespace {

constexpr int64_t kMaxLayers = int64_t{1} << 20;

// "3, 7, 11" or, for many, the first six, "...", and the last.
std::string layer_list(const std::vector<int64_t>& layers) {
  std::string s;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers.size() > 8 && i == 6) {
      s += ", ..., " + std::to_string(layers.back());
      break;
    }
    s += (i == 0 ? "" : ", ") + std::to_string(layers[i]);
  }
  return s;
}

// Every `interval`-th layer (1-based), as HF's defaults: i with (i + 1) % interval == 0.
std::vector<int64_t> every(int64_t interval, int64_t n) {
  std::vector<int64_t> out;
  for (int64_t i = interval - 1; i < n; i += interval) out.push_back(i);
  return out;
}

// no_rope_layers as given (0 / 1 or false / true per layer); nullopt when absent, null or empty (HF then
// uses its default).
std::optional<std::vector<int64_t>> given_no_rope_layers(const Fields& c, std::optional<int64_t> n_layers) {
  const Json* v = c.get("no_rope_layers");
  if (v == nullptr) return std::nullopt;
  if (!v->is_array())
    c.fail("no_rope_layers", describe(*v), "a list with one 1 (RoPE) or 0 (NoPE) per layer");
  if (v->empty()) return std::nullopt;
  const auto size = static_cast<int64_t>(v->size());
  if (n_layers && size < *n_layers)
    c.fail("no_rope_layers", describe(*v) + " (" + std::to_string(size) + " entries)",
           "one entry per layer: at least num_hidden_layers = " + std::to_string(*n_layers));
  std::vector<int64_t> nope;
  for (int64_t i = 0; i < (n_layers ? *n_layers : size); ++i) {
    const Json& e = (*v)[static_cast<size_t>(i)];
    const bool zero = e.is_boolean() ? !e.get<bool>() : e.is_number() && e.get<double>() == 0.0;
    const bool one = e.is_boolean() ? e.get<bool>() : e.is_number() && e.get<double>() == 1.0;
    if (!zero && !one)
      throw Error(c.where(), c.path("no_rope_layers") + "[" + std::to_string(i) + "]", describe(e),
                  "1 (the layer uses RoPE) or 0 (NoPE)");
    if (zero) nope.push_back(i);
  }
  return nope;
}

// The layers that are not "sliding_attention" (Cohere 2, EXAONE 4): from layer_types, or else from
// sliding_window_pattern (every N-th layer is full_attention; or a string such as "LLLG"). False (with a
// warning) when the plan cannot be known.
bool layer_type_nope(const Fields& c, Ctx& ctx, std::optional<int64_t> n_layers, const std::string& name,
                     std::vector<int64_t>* nope, std::string* from) {
  if (const Json* types = c.get("layer_types"); types != nullptr) {
    if (!types->is_array())
      c.fail("layer_types", describe(*types), "a list of attention types, one per layer");
    for (size_t i = 0; i < types->size(); ++i) {
      const Json& t = (*types)[i];
      if (!t.is_string())
        throw Error(ctx.where, c.path("layer_types") + "[" + std::to_string(i) + "]", describe(t),
                    "\"sliding_attention\" or \"full_attention\"");
      if (t.get<std::string>() != "sliding_attention") nope->push_back(static_cast<int64_t>(i));
    }
    *from = c.path("layer_types") + " (full_attention layers)";
    return true;
  }
  if (!n_layers) {
    ctx.warn("num_hidden_layers is absent: which layers use no RoPE (" + name +
             "'s full_attention layers, every sliding_window_pattern-th) is unknown");
    return false;
  }
  if (const Json* p = c.get("sliding_window_pattern"); p != nullptr && p->is_string()) {
    const std::string pattern = p->get<std::string>();
    if (pattern.empty() || pattern.find_first_not_of("LG") != std::string::npos)
      c.fail("sliding_window_pattern", describe(*p),
             "a layer count, or a string of L (sliding) and G (full)");
    for (int64_t i = 0; i < *n_layers; ++i)
      if (pattern[static_cast<size_t>(i) % pattern.size()] == 'G') nope->push_back(i);
    *from = c.path("sliding_window_pattern") + " (G layers are full_attention)";
    return true;
  }
  const int64_t pattern = c.integer("sliding_window_pattern", 1, kMaxLayers).value_or(4);
  *nope = every(pattern, *n_layers);
  *from =
      "default (every sliding_window_pattern = " + std::to_string(pattern) + "-th layer is full_attention)";
  return true;
}

}  // namespace

void refuse_nope_models(const Fields& c, const Ctx& ctx) {
  const std::string& mt = ctx.out.model_type;
  // position_embedding_type must be `rope` ("absent (HF's default ...)" otherwise).
  const auto need_type = [&](const char* rope, const char* absent, const std::string& otherwise) {
    const std::optional<std::string> pe = c.string("position_embedding_type");
    if (pe != rope)
      throw Error(ctx.where, c.path("position_embedding_type"),
                  pe ? "\"" + *pe + "\"" : "absent (HF's default " + std::string(absent) + ")",
                  "\"" + std::string(rope) + "\"" + otherwise);
  };
  if (mt == "granitemoehybrid")
    need_type("rope", "None",
              ": otherwise granitemoehybrid applies no positional encoding in any layer (NoPE), so there is "
              "no RoPE to describe");
  if (mt == "esm")
    need_type("rotary", "\"absolute\"",
              " (ESM-2): otherwise ESM adds learned absolute position embeddings (ESM-1b), which posenc does "
              "not import, and applies no RoPE");
  if (mt == "zamba2" && !c.boolean("use_mem_rope").value_or(false))
    throw Error(ctx.where, c.path("use_mem_rope"),
                c.has("use_mem_rope") ? "false" : "absent (HF's default false)",
                "true: otherwise Zamba2's attention applies no RoPE (NoPE), so there is no RoPE to describe");
}

bool full_attention_is_nope(const std::string& model_type) {
  return model_type == "cohere2" || model_type == "exaone4";
}

void read_nope_layers(const Fields& c, const LoadOptions& opt, Ctx& ctx) {
  const std::string& mt = ctx.out.model_type;
  const bool llama4 = mt == "llama4" || mt == "llama4_text";
  const bool by_layer_type = full_attention_is_nope(mt);
  if (!llama4 && mt != "smollm3" && !by_layer_type) return;
  const std::optional<int64_t> n_layers = c.integer("num_hidden_layers", 1, kMaxLayers);
  std::vector<int64_t> nope;
  std::string from;
  if (by_layer_type) {
    const std::string name = mt == "cohere2" ? "Cohere 2" : "EXAONE 4";
    if (mt == "exaone4" && c.contains("sliding_window") && !c.has("sliding_window"))
      return;  // sliding_window null: every layer rotates
    if (opt.layer_type == "full_attention")
      throw Error(ctx.where, "layer_type", "\"full_attention\"",
                  "sliding_attention: " + name + "'s full_attention layers use no RoPE (NoPE)");
    if (!layer_type_nope(c, ctx, n_layers, name, &nope, &from)) return;
  } else if (auto given = given_no_rope_layers(c, n_layers)) {
    nope = std::move(*given);
    from = c.path("no_rope_layers") + " (entries 0)";
  } else {
    const int64_t interval = c.integer("no_rope_layer_interval", 1, kMaxLayers).value_or(4);
    if (!n_layers) {
      ctx.warn("num_hidden_layers is absent: which layers use no RoPE (every no_rope_layer_interval-th, as " +
               mt + " defaults no_rope_layers) is unknown");
      return;
    }
    nope = every(interval, *n_layers);
    from = "default (every no_rope_layer_interval = " + std::to_string(interval) + "-th layer)";
  }
  if (nope.empty()) return;
  const std::string total = n_layers ? " of " + std::to_string(*n_layers) : "";
  ctx.warn("layers " + layer_list(nope) + " (0-based; " + std::to_string(nope.size()) + total +
           ") use no positional encoding (NoPE; " + from + "): this RoPE is that of the other layers");
  ctx.out.nope_layers = std::move(nope);
  ctx.source("nope_layers", from);
  if (llama4 && c.boolean("attn_temperature_tuning").value_or(true)) {
    const double scale = c.number("attn_scale").value_or(0.1),
                 floor_scale = c.number("floor_scale").value_or(8192);
    ctx.warn(
        "Llama 4's NoPE layers scale their queries by 1 + attn_scale * log1p(floor((position + 1) / "
        "floor_scale)) with attn_scale = " +
        num(scale) + ", floor_scale = " + num(floor_scale) +
        " (attn_temperature_tuning), a position-dependent factor that posenc does not apply");
  }
}

}  // namespace posenc::hf::detail
