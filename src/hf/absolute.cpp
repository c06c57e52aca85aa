// src/hf/absolute.cpp — HF config.json -> sinusoidal or learned absolute encoding (see
// posenc/hf_config.hpp): the sizes each model class reads, and the row offsets its position-embedding
// module applies (fairseq's padding rows, the "offset 2" of OPT / BART / BioGPT / XGLM, RoBERTa's
// positions counted from the padding index).
#include <cmath>
#include <string>
#include <utility>

#include "families.hpp"
#include "json_fields.hpp"
#include "posenc/error.hpp"
#include "posenc/hf_config.hpp"

namespace posenc::hf {

using detail::Fields;
using detail::Json;

namespace {

constexpr int64_t kMaxInt = 2147483647;

// The position table of one model type (Role::Both) or of one stack of it (Encoder / Decoder: models
// whose stacks build different tables).
enum class Role : uint8_t { Both, Encoder, Decoder };
// What the class does with scale_embedding: no such field (1), read with default false / true,
// read but never applied (Whisper), or sqrt(d) always (CTRL).
enum class Scale : uint8_t { None, DefaultOff, DefaultOn, Ignored, Always };

struct Family {
  const char* model_type;
  Role role;
  AbsoluteKind kind;
  SinusoidalPreset preset;  // sinusoidal only
  const char* dim_key;
  const char* rows_key;
  enum class Offset { None, PadPlusOne, Two } offset;
  Scale scale;
  // A boolean field that, when true, fills a learned family's table with the sinusoidal `preset`
  // (XLM's sinusoidal_embeddings, DistilBERT's sinusoidal_pos_embds); nullptr where there is none.
  const char* sinusoidal_flag = nullptr;
};

using O = Family::Offset;
constexpr auto kSin = AbsoluteKind::Sinusoidal;
constexpr auto kLearned = AbsoluteKind::Learned;
constexpr auto kVaswani = SinusoidalPreset::Vaswani;

constexpr Family kFamilies[] = {
    {"m2m_100", Role::Both, kSin, SinusoidalPreset::Fairseq, "d_model", "max_position_embeddings",
     O::PadPlusOne, Scale::DefaultOn},
    {"nllb-moe", Role::Both, kSin, SinusoidalPreset::Fairseq, "d_model", "max_position_embeddings",
     O::PadPlusOne, Scale::DefaultOn},
    {"fsmt", Role::Both, kSin, SinusoidalPreset::Fairseq, "d_model", "max_position_embeddings", O::PadPlusOne,
     Scale::DefaultOn},
    {"speech_to_text", Role::Encoder, kSin, SinusoidalPreset::Fairseq, "d_model", "max_source_positions",
     O::PadPlusOne, Scale::DefaultOn},
    {"speech_to_text", Role::Decoder, kSin, SinusoidalPreset::Fairseq, "d_model", "max_target_positions",
     O::PadPlusOne, Scale::DefaultOn},
    {"marian", Role::Both, kSin, SinusoidalPreset::Marian, "d_model", "max_position_embeddings", O::None,
     Scale::DefaultOff},
    {"pegasus", Role::Both, kSin, SinusoidalPreset::Marian, "d_model", "max_position_embeddings", O::None,
     Scale::DefaultOff},
    {"ctrl", Role::Both, kSin, SinusoidalPreset::Marian, "n_embd", "n_positions", O::None, Scale::Always},
    {"whisper", Role::Encoder, kSin, SinusoidalPreset::Tensor2Tensor, "d_model", "max_source_positions",
     O::None, Scale::Ignored},
    {"whisper", Role::Decoder, kLearned, kVaswani, "d_model", "max_target_positions", O::None,
     Scale::Ignored},
    {"xglm", Role::Both, kSin, SinusoidalPreset::Fairseq, "d_model", "max_position_embeddings", O::Two,
     Scale::DefaultOn},
    {"xlm", Role::Both, kLearned, kVaswani, "emb_dim", "max_position_embeddings", O::None, Scale::None,
     "sinusoidal_embeddings"},
    {"distilbert", Role::Both, kLearned, kVaswani, "dim", "max_position_embeddings", O::None, Scale::None,
     "sinusoidal_pos_embds"},
    {"gpt2", Role::Both, kLearned, kVaswani, "n_embd", "n_positions", O::None, Scale::None},
    {"gpt_bigcode", Role::Both, kLearned, kVaswani, "n_embd", "n_positions", O::None, Scale::None},
    {"gpt_neo", Role::Both, kLearned, kVaswani, "hidden_size", "max_position_embeddings", O::None,
     Scale::None},
    {"bert", Role::Both, kLearned, kVaswani, "hidden_size", "max_position_embeddings", O::None, Scale::None},
    // ALBERT and ELECTRA embed in embedding_size columns (then project to hidden_size).
    {"albert", Role::Both, kLearned, kVaswani, "embedding_size", "max_position_embeddings", O::None,
     Scale::None},
    {"electra", Role::Both, kLearned, kVaswani, "embedding_size", "max_position_embeddings", O::None,
     Scale::None},
    {"roberta", Role::Both, kLearned, kVaswani, "hidden_size", "max_position_embeddings", O::PadPlusOne,
     Scale::None},
    {"xlm-roberta", Role::Both, kLearned, kVaswani, "hidden_size", "max_position_embeddings", O::PadPlusOne,
     Scale::None},
    {"camembert", Role::Both, kLearned, kVaswani, "hidden_size", "max_position_embeddings", O::PadPlusOne,
     Scale::None},
    {"longformer", Role::Both, kLearned, kVaswani, "hidden_size", "max_position_embeddings", O::PadPlusOne,
     Scale::None},
    {"opt", Role::Both, kLearned, kVaswani, "hidden_size", "max_position_embeddings", O::Two, Scale::None},
    {"bart", Role::Both, kLearned, kVaswani, "d_model", "max_position_embeddings", O::Two, Scale::DefaultOff},
    {"mbart", Role::Both, kLearned, kVaswani, "d_model", "max_position_embeddings", O::Two,
     Scale::DefaultOff},
    {"biogpt", Role::Both, kLearned, kVaswani, "hidden_size", "max_position_embeddings", O::Two,
     Scale::DefaultOn},
};

// Aliases HF's attribute_map gives these sizes (GPT-2: max_position_embeddings -> n_positions, ...).
const char* alias_of(std::string_view key) {
  if (key == "n_embd") return "hidden_size";
  if (key == "n_positions") return "max_position_embeddings";
  if (key == "d_model" || key == "emb_dim" || key == "dim") return "hidden_size";
  return nullptr;
}

// A required size: `key`, or its alias (both given must agree); absent is an error naming both.
// Returns the value and the JSON field it came from.
std::pair<int64_t, std::string> required(const Fields& c, const char* key, const std::string& model_type) {
  const char* alias = alias_of(key);
  if (alias != nullptr) detail::agree(c, key, c, alias);
  const char* k = alias != nullptr && !c.has(key) && c.has(alias) ? alias : key;
  const auto v = c.integer(k, 1, kMaxInt);
  if (!v)
    c.fail(k, "absent",
           std::string("an integer >= 1") + (alias != nullptr ? " (or " + c.path(alias) + ")" : "") +
               ": HF's " + model_type + " config always has it");
  return {*v, c.path(k)};
}

const char* kind_word(AbsoluteKind k) {
  return k == kSin ? "sinusoidal" : "learned";
}
const char* stack_word(Role r) {
  return r == Role::Encoder ? "encoder" : "decoder";
}

// The family of model_type for `stack` (its Both entry, or the entry of the stack asked for, the encoder's
// by default with a warning naming the decoder's table); nullptr for an unknown model type.
const Family* find_family(const std::string& model_type, Stack stack, const Fields& c, AbsoluteImport& r) {
  const Family* role[3] = {nullptr, nullptr, nullptr};
  for (const Family& fam : kFamilies)
    if (model_type == fam.model_type) role[static_cast<int>(fam.role)] = &fam;
  if (role[0] != nullptr) return role[0];
  const Family* enc = role[static_cast<int>(Role::Encoder)];
  const Family* dec = role[static_cast<int>(Role::Decoder)];
  if (enc == nullptr || dec == nullptr) return nullptr;
  // FromConfig: is_decoder (a decoder-only use of the model, e.g. WhisperForCausalLM), else the encoder.
  const bool is_decoder = c.boolean("is_decoder").value_or(false);
  const bool decoder = stack == Stack::Decoder || (stack == Stack::FromConfig && is_decoder);
  const Family* f = decoder ? dec : enc;
  r.stack = decoder ? Stack::Decoder : Stack::Encoder;
  r.sources.push_back({"stack", stack != Stack::FromConfig
                                    ? std::string(stack_word(f->role)) + " (as requested)"
                                : is_decoder ? c.path("is_decoder")
                                             : std::string("default (the encoder)")});
  if (stack == Stack::FromConfig && !is_decoder)
    r.warnings.push_back("an encoder-decoder config with a table per stack: this is the encoder's (" +
                         std::string(kind_word(enc->kind)) + ", " + enc->rows_key + "); the decoder's is " +
                         kind_word(dec->kind) + ", " + dec->rows_key +
                         (dec->kind == kSin ? " (Stack::Decoder; posenc inspect / table --stack decoder)"
                                            : " (Stack::Decoder; posenc inspect --stack decoder)"));
  return f;
}

AbsoluteImport parse(std::string_view text, Stack stack, std::string_view origin, const char* function) {
  const std::string where = std::string(function) + "(" + std::string(origin) + ")";
  const Json root = detail::parse_object(text, where, std::string(origin));
  const Fields c(root, "", where);
  AbsoluteImport r;
  r.model_type = c.string("model_type").value_or("");
  const Family* f = find_family(r.model_type, stack, c, r);
  if (f == nullptr) {
    std::string names;
    std::string_view last;  // the entries of one model type are adjacent
    for (const Family& fam : kFamilies)
      if (fam.model_type != std::exchange(last, fam.model_type))
        names += (names.empty() ? "" : ", ") + std::string(fam.model_type);
    throw Error(where, "model_type", r.model_type.empty() ? "absent" : "\"" + r.model_type + "\"",
                names +
                    " (RoPE models: load_rope_config, posenc rope --config; ALiBi: load_alibi_config, posenc "
                    "alibi --config; T5: load_t5_bias_config, posenc t5-bucket --config)");
  }
  r.kind = f->kind;
  r.audio_frames = f->role == Role::Encoder;  // the encoders of the speech models
  if (f->sinusoidal_flag != nullptr && c.boolean(f->sinusoidal_flag).value_or(false)) {
    r.kind = kSin;
    r.sources.push_back({"kind", c.path(f->sinusoidal_flag)});
  } else {
    r.sources.push_back({"kind", std::string(kind_word(r.kind)) + " (" + r.model_type +
                                     (f->role == Role::Both ? "" : std::string(" ") + stack_word(f->role)) +
                                     ")"});
  }
  // BERT-style models may replace the absolute table by relative scores (Shaw et al.).
  if (const auto pet = c.string("position_embedding_type"); pet && *pet != "absolute")
    c.fail("position_embedding_type", "\"" + *pet + "\"",
           "\"absolute\" (relative_key / relative_key_query models have no absolute position table)");
  const auto [dim, dim_from] = required(c, f->dim_key, r.model_type);
  r.dim = dim;
  r.sources.push_back({"dim", dim_from});
  const auto [max_pos, rows_from] = required(c, f->rows_key, r.model_type);
  // The padding index: RoBERTa-style positions count from it, fairseq tables have a zero row there.
  const bool fairseq = r.kind == kSin && f->preset == SinusoidalPreset::Fairseq;
  int64_t pad = 1;
  if (f->offset == O::PadPlusOne || fairseq) {
    const auto p = c.integer("pad_token_id", 0, kMaxInt - 1);
    if (p) pad = *p;
    const std::string pad_source = p ? c.path("pad_token_id") : "default (pad_token_id = 1)";
    if (f->offset == O::PadPlusOne) r.sources.push_back({"first_row", pad_source + " + 1"});
    if (fairseq) r.sources.push_back({"padding_idx", pad_source});
    // Speech2Text's encoder numbers its frames from a 0/1 padding mask (1 = padded) compared with
    // padding_idx: with padding_idx 0 the real frames count as padding.
    if (fairseq && r.audio_frames && pad == 0)
      r.warnings.push_back(c.path("pad_token_id") + " = 0: HF's " + r.model_type +
                           " encoder numbers frames from a padding mask of 0 (frame) and 1 (padded) compared "
                           "with padding_idx, so every real frame reads the zero row 0 (no position) and "
                           "the padded ones count from row 1; this table is what the other padding "
                           "indices give");
  }
  // The table's rows and the row of position 0, as each position-embedding module builds them.
  const bool fsmt = r.model_type == "fsmt";
  int64_t extra = 0;
  switch (f->offset) {
    case O::None:
      break;
    case O::PadPlusOne:
      r.first_row = pad + 1;
      extra = r.kind == kSin ? (fsmt ? pad + 1 : 2) : 0;
      break;
    case O::Two:
      r.first_row = 2;
      extra = 2;
      r.sources.push_back({"first_row", "2 (the position embedding's offset)"});
      break;
  }
  if (max_pos > kMaxInt - extra) c.fail(f->rows_key, std::to_string(max_pos), "a table size below 2^31");
  r.num_rows = max_pos + extra;
  r.sources.push_back({"num_rows", extra == 0 ? rows_from
                                   : fsmt     ? rows_from + " + pad_token_id + 1"
                                              : rows_from + " + " + std::to_string(extra)});
  // A learned table must have a row for position 0 (HF's sinusoidal modules grow their buffer instead).
  if (r.kind == kLearned && r.first_row >= r.num_rows)
    c.fail("pad_token_id", std::to_string(pad),
           "< " + c.path(f->rows_key) + " - 1 = " + std::to_string(r.num_rows - 1) +
               ": position 0 reads row pad_token_id + 1, which the table must have");
  if (r.kind == kSin) {
    // HF's Whisper sinusoids() refuses an odd number of channels (posenc's Tensor2Tensor layout would
    // add a zero column).
    if (f->preset == SinusoidalPreset::Tensor2Tensor && r.dim % 2 != 0)
      c.fail(r.source_of("dim"), std::to_string(r.dim),
             "an even width: HF's " + r.model_type + " sinusoids() needs an even number of channels");
    SinusoidalConfig& s = r.sinusoidal;
    s.dim = r.dim;
    s.preset = f->preset;
    s.padding_idx = fairseq ? pad : -1;
    detail::validated(r, where, [&] { validate(s, where.c_str()); });
  }
  const auto sqrt_dim = static_cast<float>(std::sqrt(static_cast<double>(r.dim)));
  switch (f->scale) {
    case Scale::None:
      break;
    case Scale::Always:
      r.embed_scale = sqrt_dim;
      r.sources.push_back({"embed_scale", "sqrt(" + r.source_of("dim") + ") (HF's " + r.model_type +
                                              " always scales its token embeddings)"});
      break;
    case Scale::Ignored:
      r.sources.push_back({"embed_scale", "1 (HF's " + r.model_type + " does not apply scale_embedding)"});
      if (c.boolean("scale_embedding").value_or(false))
        r.warnings.push_back(c.path("scale_embedding") + " = true, but HF's " + r.model_type +
                             " never multiplies by sqrt(d_model) (its embed_scale is unused): embed_scale 1");
      break;
    case Scale::DefaultOff:
    case Scale::DefaultOn: {
      bool scale = f->scale == Scale::DefaultOn;
      if (const auto v = c.boolean("scale_embedding")) {
        scale = *v;
        r.sources.push_back({"embed_scale", c.path("scale_embedding")});
      } else {
        r.sources.push_back(
            {"embed_scale", std::string("default (scale_embedding = ") + (scale ? "true" : "false") + ")"});
        r.warnings.push_back("scale_embedding absent: assumed " + std::string(scale ? "true" : "false") +
                             ", the default of HF's " + r.model_type + " config class");
      }
      if (scale) r.embed_scale = sqrt_dim;
      break;
    }
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

AbsoluteImport parse_absolute_config(std::string_view json_text, Stack stack, std::string_view origin) {
  return parse(json_text, stack, origin, "posenc::hf::parse_absolute_config");
}

AbsoluteImport load_absolute_config(const std::filesystem::path& path, Stack stack) {
  const char* f = "posenc::hf::load_absolute_config";
  return parse(detail::read_config_file(path, f), stack, path.string(), f);
}

}  // namespace posenc::hf
