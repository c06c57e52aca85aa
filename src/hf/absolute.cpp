// src/hf/absolute.cpp — HF config.json -> sinusoidal or learned absolute encoding (see
// posenc/hf_config.hpp): the sizes each model class reads, and the row offsets its position-embedding
// module applies (fairseq's padding rows, the "offset 2" of OPT / BART / BioGPT / XGLM, RoBERTa's
// positions counted from the padding index).
#include <cmath>
#include <string>

#include "families.hpp"
#include "json_fields.hpp"
#include "posenc/error.hpp"
#include "posenc/hf_config.hpp"

namespace posenc::hf {

using detail::Fields;
using detail::Json;

namespace {

constexpr int64_t kMaxInt = 2147483647;

struct Family {
  const char* model_type;
  AbsoluteKind kind;
  SinusoidalPreset preset;  // sinusoidal only
  const char* dim_key;
  const char* rows_key;
  enum class Offset { None, PadPlusOne, Two } offset;
  bool scale_default;  // the class's scale_embedding default (false where it has none)
  bool has_scale;      // the class reads scale_embedding
  // A boolean field that, when true, fills a learned family's table with the sinusoidal `preset`
  // (XLM's sinusoidal_embeddings, DistilBERT's sinusoidal_pos_embds); nullptr where there is none.
  const char* sinusoidal_flag = nullptr;
};

constexpr Family kFamilies[] = {
    {"m2m100", AbsoluteKind::Sinusoidal, SinusoidalPreset::Fairseq, "d_model", "max_position_embeddings",
     Family::Offset::PadPlusOne, true, true},
    {"fsmt", AbsoluteKind::Sinusoidal, SinusoidalPreset::Fairseq, "d_model", "max_position_embeddings",
     Family::Offset::PadPlusOne, true, true},
    {"marian", AbsoluteKind::Sinusoidal, SinusoidalPreset::Marian, "d_model", "max_position_embeddings",
     Family::Offset::None, false, true},
    {"pegasus", AbsoluteKind::Sinusoidal, SinusoidalPreset::Marian, "d_model", "max_position_embeddings",
     Family::Offset::None, false, true},
    {"xglm", AbsoluteKind::Sinusoidal, SinusoidalPreset::Fairseq, "d_model", "max_position_embeddings",
     Family::Offset::Two, true, true},
    {"xlm", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "emb_dim", "max_position_embeddings",
     Family::Offset::None, false, false, "sinusoidal_embeddings"},
    {"distilbert", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "dim", "max_position_embeddings",
     Family::Offset::None, false, false, "sinusoidal_pos_embds"},
    {"gpt2", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "n_embd", "n_positions", Family::Offset::None,
     false, false},
    {"gpt_bigcode", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "n_embd", "n_positions",
     Family::Offset::None, false, false},
    {"gpt_neo", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "hidden_size", "max_position_embeddings",
     Family::Offset::None, false, false},
    {"bert", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "hidden_size", "max_position_embeddings",
     Family::Offset::None, false, false},
    // ALBERT and ELECTRA embed in embedding_size columns (then project to hidden_size).
    {"albert", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "embedding_size", "max_position_embeddings",
     Family::Offset::None, false, false},
    {"electra", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "embedding_size", "max_position_embeddings",
     Family::Offset::None, false, false},
    {"roberta", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "hidden_size", "max_position_embeddings",
     Family::Offset::PadPlusOne, false, false},
    {"xlm-roberta", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "hidden_size",
     "max_position_embeddings", Family::Offset::PadPlusOne, false, false},
    {"camembert", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "hidden_size", "max_position_embeddings",
     Family::Offset::PadPlusOne, false, false},
    {"longformer", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "hidden_size", "max_position_embeddings",
     Family::Offset::PadPlusOne, false, false},
    {"opt", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "hidden_size", "max_position_embeddings",
     Family::Offset::Two, false, false},
    {"bart", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "d_model", "max_position_embeddings",
     Family::Offset::Two, false, true},
    {"mbart", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "d_model", "max_position_embeddings",
     Family::Offset::Two, false, true},
    {"biogpt", AbsoluteKind::Learned, SinusoidalPreset::Vaswani, "hidden_size", "max_position_embeddings",
     Family::Offset::Two, true, true},
};

// Aliases HF's attribute_map gives these sizes (GPT-2: max_position_embeddings -> n_positions, ...).
const char* alias_of(std::string_view key) {
  if (key == "n_embd") return "hidden_size";
  if (key == "n_positions") return "max_position_embeddings";
  if (key == "d_model" || key == "emb_dim" || key == "dim") return "hidden_size";
  return nullptr;
}

// A required size: `key`, or its alias (both given must agree); absent is an error naming both.
int64_t required(const Fields& c, const char* key, AbsoluteImport& r, const char* field) {
  const char* alias = alias_of(key);
  if (alias != nullptr) detail::agree(c, key, c, alias);
  const char* k = alias != nullptr && !c.has(key) && c.has(alias) ? alias : key;
  const auto v = c.integer(k, 1, kMaxInt);
  if (!v)
    c.fail(k, "absent",
           std::string("an integer >= 1") + (alias != nullptr ? " (or " + c.path(alias) + ")" : "") +
               ": HF's " + r.model_type + " config always has it");
  r.sources.push_back({field, c.path(k)});
  return *v;
}

AbsoluteImport parse(std::string_view text, std::string_view origin, const char* function) {
  const std::string where = std::string(function) + "(" + std::string(origin) + ")";
  const Json root = detail::parse_object(text, where, std::string(origin));
  const Fields c(root, "", where);
  AbsoluteImport r;
  r.model_type = c.string("model_type").value_or("");
  const Family* f = nullptr;
  for (const Family& fam : kFamilies)
    if (r.model_type == fam.model_type) f = &fam;
  if (f == nullptr) {
    std::string names;
    for (const Family& fam : kFamilies) names += (names.empty() ? "" : ", ") + std::string(fam.model_type);
    throw Error(
        where, "model_type", r.model_type.empty() ? "absent" : "\"" + r.model_type + "\"",
        names + " (RoPE models: load_rope_config; ALiBi: load_alibi_config; T5: load_t5_bias_config)");
  }
  r.kind = f->kind;
  if (f->sinusoidal_flag != nullptr && c.boolean(f->sinusoidal_flag).value_or(false)) {
    r.kind = AbsoluteKind::Sinusoidal;
    r.sources.push_back({"kind", c.path(f->sinusoidal_flag)});
  } else {
    r.sources.push_back({"kind", std::string(r.kind == AbsoluteKind::Sinusoidal ? "sinusoidal" : "learned") +
                                     " (" + r.model_type + ")"});
  }
  // BERT-style models may replace the absolute table by relative scores (Shaw et al.).
  if (const auto pet = c.string("position_embedding_type"); pet && *pet != "absolute")
    c.fail("position_embedding_type", "\"" + *pet + "\"",
           "\"absolute\" (relative_key / relative_key_query models have no absolute position table)");
  r.dim = required(c, f->dim_key, r, "dim");
  const int64_t max_pos = required(c, f->rows_key, r, "num_rows");
  // The padding index: RoBERTa-style positions count from it, fairseq tables have a zero row there.
  const bool fairseq = r.kind == AbsoluteKind::Sinusoidal && f->preset == SinusoidalPreset::Fairseq;
  int64_t pad = 1;
  if (f->offset == Family::Offset::PadPlusOne || fairseq) {
    const auto p = c.integer("pad_token_id", 0, kMaxInt - 1);
    if (p) pad = *p;
    const std::string pad_source = p ? c.path("pad_token_id") : "default (pad_token_id = 1)";
    if (f->offset == Family::Offset::PadPlusOne) r.sources.push_back({"first_row", pad_source + " + 1"});
    if (fairseq) r.sources.push_back({"padding_idx", pad_source});
  }
  // The table's rows and the row of position 0, as each position-embedding module builds them.
  const bool fsmt = r.model_type == "fsmt";
  int64_t extra = 0;
  switch (f->offset) {
    case Family::Offset::None:
      break;
    case Family::Offset::PadPlusOne:
      r.first_row = pad + 1;
      extra = r.kind == AbsoluteKind::Sinusoidal ? (fsmt ? pad + 1 : 2) : 0;
      break;
    case Family::Offset::Two:
      r.first_row = 2;
      extra = 2;
      r.sources.push_back({"first_row", "2 (the position embedding's offset)"});
      break;
  }
  if (max_pos > kMaxInt - extra) c.fail(f->rows_key, std::to_string(max_pos), "a table size below 2^31");
  r.num_rows = max_pos + extra;
  if (extra > 0)
    for (FieldSource& fs : r.sources)
      if (fs.field == "num_rows") fs.from += fsmt ? " + pad_token_id + 1" : " + " + std::to_string(extra);
  // A learned table must have a row for position 0 (HF's sinusoidal modules grow their buffer instead).
  if (r.kind == AbsoluteKind::Learned && r.first_row >= r.num_rows)
    c.fail("pad_token_id", std::to_string(pad),
           "< " + c.path(f->rows_key) + " - 1 = " + std::to_string(r.num_rows - 1) +
               ": position 0 reads row pad_token_id + 1, which the table must have");
  if (r.kind == AbsoluteKind::Sinusoidal) {
    SinusoidalConfig& s = r.sinusoidal;
    s.dim = r.dim;
    s.preset = f->preset;
    s.padding_idx = fairseq ? pad : -1;
    detail::validated(r, where, [&] { validate(s, where.c_str()); });
  }
  if (f->has_scale) {
    bool scale = f->scale_default;
    if (const auto v = c.boolean("scale_embedding")) {
      scale = *v;
      r.sources.push_back({"embed_scale", c.path("scale_embedding")});
    } else {
      r.sources.push_back(
          {"embed_scale", std::string("default (scale_embedding = ") + (scale ? "true" : "false") + ")"});
      r.warnings.push_back("scale_embedding absent: assumed " + std::string(scale ? "true" : "false") +
                           ", the default of HF's " + r.model_type + " config class");
    }
    if (scale) r.embed_scale = static_cast<float>(std::sqrt(static_cast<double>(r.dim)));
  }
  return r;
}

}  // namespace

bool detail::is_absolute_model(const Fields& c) {
  const std::string mt = c.string("model_type").value_or("");
  for (const Family& fam : kFamilies)
    if (mt == fam.model_type) return true;
  return false;
}

AbsoluteImport parse_absolute_config(std::string_view json_text, std::string_view origin) {
  return parse(json_text, origin, "posenc::hf::parse_absolute_config");
}

AbsoluteImport load_absolute_config(const std::filesystem::path& path) {
  const char* f = "posenc::hf::load_absolute_config";
  return parse(detail::read_config_file(path, f), path.string(), f);
}

}  // namespace posenc::hf
