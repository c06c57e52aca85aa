// src/hf/dims.cpp — base, head dim, rotary dim, pair layout and context length from config.json.
//
// HF: head_dim = config.head_dim or hidden_size // num_attention_heads; rotary dim =
// int(head_dim * partial_rotary_factor) (Python's int() truncates, so 96 * 0.33 gives 31, which no
// model can use); GPT-NeoX names the fraction rotary_pct (0.25 by default) and the base
// rotary_emb_base; GPT-J and CodeGen rotate the first rotary_dim dims (64 by default) with pairs
// (x0, x1), (x2, x3), ... and a base of 10000 fixed in create_sinusoidal_positions. An absent base,
// head_dim or partial_rotary_factor takes the default of the model type's config class
// (class_defaults.hpp); an absent base of an unlisted class, 10000 with a warning.
#include <limits>
#include <optional>

#include "class_defaults.hpp"
#include "posenc/error.hpp"
#include "posenc/positions.hpp"
#include "rope_params.hpp"

namespace posenc::hf::detail {

namespace {

constexpr int64_t kMaxDim = int64_t{1} << 20;
constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();

// GPT-J and CodeGen: a fixed base of 10000 and rotary_dim 64 when absent.
bool gptj_family(const std::string& model_type) {
  return model_type == "gptj" || model_type == "codegen";
}

// Models whose HF code fixes the base at 10000 whatever the config says: GPT-J and CodeGen
// (create_sinusoidal_positions) and RoFormer (RoFormerSinusoidalPositionalEmbedding).
bool fixed_base_model(const std::string& model_type) {
  return gptj_family(model_type) || model_type == "roformer";
}

// Model types whose HF code rotates pairs (x0, x1), (x2, x3), ... and returns them in place: GPT-J and
// CodeGen (rotate_every_two), Cohere, GLM, ERNIE 4.5 and Helium (rotate_half of x[..., 0::2] and x[..., 1::2] with
// repeat_interleave'd cos/sin), Llama 4 (view_as_complex of (x0, x1) pairs) and RoFormer (stacked
// sin/cos). The other model types use Llama's rotate_half (pairs (i, i + r/2)) unless rope_interleave.
bool interleaved_model(const std::string& model_type) {
  static constexpr const char* kTypes[] = {"gptj",   "codegen", "cohere",      "cohere2",
                                           "glm",    "glm4",    "ernie4_5",    "ernie4_5_moe",
                                           "helium", "llama4",  "llama4_text", "roformer"};
  for (const char* t : kTypes)
    if (model_type == t) return true;
  return false;
}

// "default (GemmaConfig.head_dim = 256)": where a class default comes from.
std::string class_default(const ClassDefaults& cls, const std::string& attr, const std::string& value) {
  return std::string("default (") + cls.class_name + "." + attr + " = " + value + ")";
}

void read_base(const Fields& c, const RopeFields& rp, Ctx& ctx) {
  RopeConfig& cfg = ctx.out.config;
  if (ctx.local_base) {  // Gemma 3's sliding-window layers
    const auto v = c.number("rope_local_base_freq");
    const ClassDefaults* cls = ctx.cls;
    if (!v && cls != nullptr && cls->local_rope_theta > 0) {
      cfg.base = cls->local_rope_theta;
      ctx.source("base", class_default(*cls, "default_theta[\"local\"]", num(cfg.base)) +
                             " (the sliding-window layers' base)");
      return;
    }
    cfg.base = v.value_or(0.0);
    if (!(cfg.base > 1.0))
      throw Error(ctx.where, c.path("rope_local_base_freq"), num(cfg.base),
                  "a number > 1 (the RoPE base theta)");
    ctx.source("base", c.path("rope_local_base_freq") + " (the sliding-window layers' base)");
    return;
  }
  const Fields& ft = rp.at("rope_theta");
  agree(ft, "rope_theta", c, "rope_theta", ctx);
  agree(c, "rotary_emb_base", c, "rope_theta", ctx);
  agree(ft, "rope_theta", c, "rotary_emb_base", ctx);
  const bool fixed = fixed_base_model(ctx.out.model_type);
  std::string from;
  if (const auto v = ft.number("rope_theta")) {
    cfg.base = *v;
    from = ft.path("rope_theta");
  } else if (const auto w = c.number("rope_theta")) {
    cfg.base = *w;
    from = c.path("rope_theta");
  } else if (const auto b = c.number("rotary_emb_base")) {
    cfg.base = *b;
    from = c.path("rotary_emb_base");
  } else if (fixed) {
    cfg.base = 10000.0;
    from = "default (GPT-J/CodeGen/RoFormer fix 10000)";
  } else if (const ClassDefaults* cls = ctx.cls; cls && cls->rope_theta > 0) {
    cfg.base = cls->rope_theta;
    const std::string theta = std::to_string(static_cast<int64_t>(cls->rope_theta));  // all are whole
    from = cls->theta_attr != nullptr ? class_default(*cls, cls->theta_attr, theta)
                                      : std::string("default (") + cls->class_name +
                                            ": RotaryEmbeddingConfigMixin.default_theta = " + theta + ")";
  } else {
    cfg.base = 10000.0;
    from = "default (10000, HF's default_theta)";
    ctx.warn(
        "rope_theta is absent: using 10000, the default of most HF model classes (a model class "
        "may set another default_theta; give rope_theta to be sure)");
  }
  if (fixed && from.rfind("default", 0) != 0)
    ctx.warn(from + " = " + num(cfg.base) + " is used, but HF's " + ctx.out.model_type + " ignores it: " +
             (ctx.out.model_type == "roformer" ? "RoFormerSinusoidalPositionalEmbedding"
                                               : "create_sinusoidal_positions") +
             " fixes the base at 10000");
  if (!(cfg.base > 1.0)) throw Error(ctx.where, from, num(cfg.base), "a number > 1 (the RoPE base theta)");
  ctx.source("base", from);
}

int64_t read_head_dim(const Fields& c, Ctx& ctx) {
  agree(c, "hidden_size", c, "n_embd", ctx);
  agree(c, "num_attention_heads", c, "n_head", ctx);
  const char* hkey = c.has("hidden_size") || !c.has("n_embd") ? "hidden_size" : "n_embd";
  const char* nkey = c.has("num_attention_heads") || !c.has("n_head") ? "num_attention_heads" : "n_head";
  const auto hidden = c.integer(hkey, 1, kMaxInt);  // checked even when head_dim is given
  const auto heads = c.integer(nkey, 1, kMaxDim);
  const ClassDefaults* cls = ctx.cls;
  // Multi-head latent attention (DeepSeek-V2/V3, Kimi-K2, ...): only qk_rope_head_dim dims of each
  // head rotate, and HF's config classes set head_dim to it.
  if (const auto q = c.integer("qk_rope_head_dim", 1, kMaxDim)) {
    if (const auto d = c.integer("head_dim", 1, kMaxDim); d && *d != *q)
      ctx.warn(c.path("head_dim") + " = " + std::to_string(*d) +
               " is not the rotary head: HF's MLA models rotate " + c.path("qk_rope_head_dim") + " = " +
               std::to_string(*q) + " dims, which is used");
    ctx.source("head_dim", c.path("qk_rope_head_dim") + " (multi-head latent attention: the rotated part)");
    return *q;
  }
  // ... and its class default when absent (unless head_dim stands for it: Glm4MoeLiteConfig's attribute_map).
  if (cls != nullptr && cls->qk_rope_head_dim > 0 && !(cls->head_dim_is_qk_rope && c.has("head_dim"))) {
    const int64_t q = cls->qk_rope_head_dim;
    if (const auto d = c.integer("head_dim", 1, kMaxDim); d && *d != q)
      ctx.warn(c.path("head_dim") + " = " + std::to_string(*d) + " is not the rotary head: HF's " +
               cls->class_name + " rotates qk_rope_head_dim (absent: " + std::to_string(q) +
               ") dims of each head, which is used");
    ctx.source("head_dim", class_default(*cls, "qk_rope_head_dim", std::to_string(q)) +
                               " (multi-head latent attention: the rotated part)");
    return q;
  }
  // JetMoeConfig maps head_dim to kv_channels (default 128); it has no num_attention_heads of its own.
  if (ctx.out.model_type == "jetmoe") {
    agree(c, "head_dim", c, "kv_channels", ctx);
    const char* key = c.has("kv_channels") || !c.has("head_dim") ? "kv_channels" : "head_dim";
    if (const auto d = c.integer(key, 1, kMaxDim)) {
      ctx.source("head_dim", c.path(key) + " (JetMoE's head_dim)");
      return *d;
    }
    ctx.source("head_dim", "default (JetMoeConfig.kv_channels = 128)");
    return 128;
  }
  // Zamba2Config maps head_dim to attention_head_dim = 2 * hidden_size // num_attention_heads (its
  // attention runs on the concatenation of the hidden state and the original embeddings).
  if (ctx.out.model_type == "zamba2" && hidden && heads) {
    if (*hidden / *heads > kMaxDim)  // 2 * hidden // heads, without overflow
      c.fail(hkey, std::to_string(*hidden), "a head dim 2 * hidden / heads <= " + std::to_string(kMaxDim));
    const int64_t d = *hidden / *heads * 2 + 2 * (*hidden % *heads) / *heads;
    if (const auto given = c.integer("head_dim", 1, kMaxDim); given && *given != d)
      ctx.warn(c.path("head_dim") + " = " + std::to_string(*given) +
               " is not used: HF's Zamba2Config sets the attention head dim to 2 * hidden_size // "
               "num_attention_heads = " +
               std::to_string(d));
    ctx.source("head_dim", "2 * " + c.path(hkey) + " // " + c.path(nkey) + " (Zamba2's attention_head_dim)");
    return d;
  }
  const bool from_hidden = cls != nullptr && cls->head_dim_from_hidden;
  const auto given = c.integer("head_dim", 1, kMaxDim);
  if (given && !from_hidden) {
    ctx.source("head_dim", c.path("head_dim"));
    return *given;
  }
  if (cls != nullptr && cls->head_dim > 0) {
    ctx.source("head_dim", class_default(*cls, "head_dim", std::to_string(cls->head_dim)));
    return cls->head_dim;
  }
  if (!hidden || !heads) {
    if (from_hidden)  // head_dim would not help: the class replaces it
      c.fail(hidden ? nkey : hkey, "missing",
             std::string("hidden_size and num_attention_heads (") + cls->class_name +
                 " sets head_dim = hidden_size // num_attention_heads)");
    c.fail("head_dim", "missing (and " + c.path(hidden ? nkey : hkey) + " is missing too)",
           "head_dim, or hidden_size and num_attention_heads");
  }
  // HF's classes that replace head_dim floor-divide (the projections are heads * head_dim wide).
  if (from_hidden && *hidden < *heads)
    c.fail(hkey,
           std::to_string(*hidden) + " (less than " + c.path(nkey) + " = " + std::to_string(*heads) + ")",
           "at least the number of heads (head_dim = hidden_size // num_attention_heads >= 1)");
  if (*hidden % *heads != 0 && !from_hidden)
    c.fail(
        hkey,
        std::to_string(*hidden) + " (not divisible by " + c.path(nkey) + " = " + std::to_string(*heads) + ")",
        "a multiple of the number of heads, or give head_dim");
  if (*hidden / *heads > kMaxDim)
    c.fail(hkey, std::to_string(*hidden), "a head dim hidden / heads <= " + std::to_string(kMaxDim));
  const int64_t d = *hidden / *heads;
  if (from_hidden && given && *given != d)
    ctx.warn(c.path("head_dim") + " = " + std::to_string(*given) + " is not used: HF's " + cls->class_name +
             " sets head_dim to hidden_size // num_attention_heads = " + std::to_string(d));
  ctx.source("head_dim", c.path(hkey) + " / " + c.path(nkey) +
                             (from_hidden ? std::string(" (") + cls->class_name + " ignores head_dim)" : ""));
  return d;
}

// The fraction of the head that rotates and where it was read; 0 if none is given.
double read_fraction(const Fields& c, const RopeFields& rp, Ctx& ctx, std::string* from) {
  const Fields& fp = rp.at("partial_rotary_factor");
  if (ctx.out.model_type == "bamba") {  // BambaConfig: kwargs["partial_rotary_factor"] = 0.5, always
    for (const auto& [f, key] :
         {std::pair{&fp, "partial_rotary_factor"}, std::pair{&c, "partial_rotary_factor"}})
      if (const auto v = f->number(key); v && *v != 0.5)
        ctx.warn(f->path(key) + " = " + num(*v) + " is overridden: HF's BambaConfig fixes it to 0.5");
    *from = "bamba (HF's BambaConfig fixes partial_rotary_factor = 0.5)";
    return 0.5;
  }
  agree(fp, "partial_rotary_factor", c, "partial_rotary_factor", ctx);
  agree(c, "rotary_pct", c, "partial_rotary_factor", ctx);
  agree(c, "rotary_pct", fp, "partial_rotary_factor", ctx);
  for (const auto& [f, key] : {std::pair{&fp, "partial_rotary_factor"},
                               std::pair{&c, "partial_rotary_factor"}, std::pair{&c, "rotary_pct"}})
    if (const auto v = f->number(key)) {
      *from = f->path(key);
      if (!(*v > 0.0 && *v <= 1.0)) f->fail(key, num(*v), "a fraction in (0, 1]");
      return *v;
    }
  // The class default when the config leaves the fraction out (hub configs usually write it).
  if (const ClassDefaults* cls = ctx.cls; cls && cls->partial_rotary_factor > 0.0) {
    *from = class_default(*cls, "partial_rotary_factor", num(cls->partial_rotary_factor));
    return cls->partial_rotary_factor;
  }
  return 0.0;
}

void read_rotary_dim(const Fields& c, const RopeFields& rp, Ctx& ctx) {
  RopeConfig& cfg = ctx.out.config;
  const int64_t D = cfg.head_dim;
  const std::string head_from = ctx.out.source_of("head_dim");
  std::string frac_from;
  const double frac = read_fraction(c, rp, ctx, &frac_from);
  int64_t from_frac = 0;
  if (frac > 0.0) {
    from_frac = static_cast<int64_t>(static_cast<double>(D) * frac);  // Python int(): truncation
    if (from_frac < 2 || from_frac % 2 != 0)
      throw Error(ctx.where, frac_from,
                  num(frac) + " (rotary dim int(" + std::to_string(D) + " * " + num(frac) +
                      ") = " + std::to_string(from_frac) + ")",
                  "a fraction of head_dim = " + std::to_string(D) + " giving an even rotary dim >= 2");
  }
  std::optional<int64_t> given = c.integer("rotary_dim", 1, kMaxDim);
  std::string dim_from = c.path("rotary_dim"), shown = given ? std::to_string(*given) : "";
  if (!given && gptj_family(ctx.out.model_type)) {
    given = 64;
    shown = "64 (absent: the " + ctx.out.model_type + " default)";
    dim_from = "default (" + ctx.out.model_type + " rotary_dim = 64)";
  }
  if (given) {
    if (*given > D || *given % 2 != 0)
      throw Error(ctx.where, c.path("rotary_dim"), shown,
                  "an even rotary dim <= head_dim = " + std::to_string(D) + " (" + head_from + ")");
    if (from_frac != 0 && from_frac != *given)
      throw Error(ctx.where, c.path("rotary_dim"), shown,
                  "int(head_dim * " + frac_from + ") = " + std::to_string(from_frac) +
                      " (both are given and they contradict each other)");
    cfg.rotary_dim = *given;
    ctx.source("rotary_dim", dim_from);
  } else if (from_frac != 0) {
    cfg.rotary_dim = from_frac;
    ctx.source("rotary_dim", "int(head_dim * " + frac_from + ")");
  } else {
    if (D % 2 != 0)
      throw Error(ctx.where, head_from, std::to_string(D),
                  "an even head dim when all of it rotates (or a partial_rotary_factor / "
                  "rotary_dim giving an even rotary dim)");
    cfg.rotary_dim = D;
    ctx.source("rotary_dim", "default (= head_dim)");
  }
}

}  // namespace

void read_model_dims(const Fields& c, const RopeFields& rp, Ctx& ctx) {
  RopeConfig& cfg = ctx.out.config;
  read_base(c, rp, ctx);
  cfg.head_dim = read_head_dim(c, ctx);
  read_rotary_dim(c, rp, ctx);

  const std::string& mt = ctx.out.model_type;
  // rope_interleave's default: true for these MLA models (LongCat-Flash, below, always interleaves;
  // Glm4MoeLiteConfig's rope_interleave defaults to True and its attention is DeepseekV3Attention).
  const bool mla_default =
      mt == "deepseek_v2" || mt == "deepseek_v3" || mt == "kimi_k2" || mt == "glm4_moe_lite";
  const std::optional<bool> interleave = c.boolean("rope_interleave");
  // LongcatFlashMLA calls apply_rotary_pos_emb_interleave whatever rope_interleave says.
  if (mt == "longcat_flash" && interleave == false)
    ctx.warn(c.path("rope_interleave") +
             " = false is not used: HF's LongCat-Flash attention always rotates interleaved pairs");
  if (interleaved_model(mt)) {
    cfg.layout = PairLayout::Interleaved;
    ctx.source("layout", "model_type " + mt + " (pairs (x0, x1), (x2, x3), ...)");
  } else if (interleave.value_or(mla_default) || mt == "longcat_flash") {
    // DeepSeek-style MLA and GLM: pairs (x0, x1), (x2, x3), ...; HF's apply_rotary_pos_emb_interleave
    // de-interleaves them and rotates with rotate_half, returning the dims in [even | odd] order.
    cfg.layout = PairLayout::Interleaved;
    ctx.source("layout", mt == "longcat_flash" ? "model_type longcat_flash (always interleaved)"
                         : interleave          ? c.path("rope_interleave")
                                               : "model_type " + mt + " (rope_interleave defaults to true)");
    if (mt != "deepseek_v2")
      ctx.warn(
          "interleaved pairs (x0, x1), (x2, x3), ...: HF's apply_rotary_pos_emb_interleave returns the "
          "rotated dims reordered as [x0, x2, ... | x1, x3, ...]; posenc keeps them in place (the same "
          "attention scores: q and k are permuted alike)");
  } else {
    cfg.layout = PairLayout::HalfSplit;
    ctx.source("layout", interleave
                             ? c.path("rope_interleave") + " (false: HF rotate_half, pairs (i, i + r/2))"
                             : "default (HF rotate_half: pairs (i, i + r/2))");
  }

  if (mt == "roformer" && c.boolean("rotary_value").value_or(false))
    ctx.warn(c.path("rotary_value") +
             " = true: HF's RoFormer rotates the values too (apply the same rotation to v as to q and k)");

  agree(c, "max_position_embeddings", c, "n_positions", ctx);
  const char* mkey =
      c.has("max_position_embeddings") || !c.has("n_positions") ? "max_position_embeddings" : "n_positions";
  if (const auto m = c.integer(mkey, 1, kMaxPosition + 1)) {
    cfg.max_position_embeddings = *m;
    ctx.source("max_position_embeddings", c.path(mkey));
  }
}

}  // namespace posenc::hf::detail
