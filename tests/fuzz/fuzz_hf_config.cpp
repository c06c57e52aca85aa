// tests/fuzz/fuzz_hf_config.cpp — fuzz target: posenc::hf::parse_rope_config, parse_alibi_config,
// parse_t5_bias_config, parse_absolute_config and parse_encoding_kind on arbitrary bytes.
//
// Properties: each parser returns or throws posenc::Error with a where, an argument and an allowed range
// (any other exception escapes and fails the run, as does a crash or a sanitizer report); a returned
// config passes posenc::validate, and its frequencies and cos/sin tables, for the lengths a model sees
// (0, 1, max_position_embeddings and past it), are finite, with |cos|, |sin| <= attention scaling; an
// ALiBi config's slopes lie in [2^-126, 1] and its bias is finite where unmasked; a T5 config's buckets
// lie in [0, num_buckets) and its head count is >= 1; an absolute encoding has sizes >= 1, a finite
// embedding scale >= 1, a valid sinusoidal config or (learned) a row for position 0; parse_encoding_kind's
// answer agrees with the importers (check_kind).
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"
#include "posenc/alibi.hpp"
#include "posenc/hf_config.hpp"
#include "posenc/rope.hpp"
#include "posenc/t5_bias.hpp"

namespace {

void check_tables(const posenc::RopeConfig& cfg) {
  using posenc::fuzz::check_error;
  const int64_t r = cfg.rot();
  const int64_t max_pos = cfg.max_position_embeddings;
  for (int64_t seq_len : {int64_t{0}, int64_t{1}, max_pos, 2 * max_pos + 1}) {
    posenc::RopeFrequencies f;
    try {
      f = posenc::rope_frequencies(cfg, seq_len);
    } catch (const posenc::Error& e) {
      check_error(e);
      continue;
    }
    FUZZ_CHECK(static_cast<int64_t>(f.inv_freq.size()) == r / 2, "%zu frequencies for r = %lld",
               f.inv_freq.size(), static_cast<long long>(r));
    FUZZ_CHECK(std::isfinite(f.attention_scaling) && f.attention_scaling > 0, "attention scaling %g",
               f.attention_scaling);
    for (size_t i = 0; i < f.inv_freq.size(); ++i) {
      FUZZ_CHECK(std::isfinite(f.inv_freq[i]) && f.inv_freq[i] >= 0, "inv_freq[%zu] = %g", i, f.inv_freq[i]);
      FUZZ_CHECK(std::isfinite(f.inv_freq_f32[i]) && f.inv_freq_f32[i] >= 0, "inv_freq_f32[%zu] = %g", i,
                 static_cast<double>(f.inv_freq_f32[i]));
    }
    if (r > 4096) continue;  // tables of a few positions; big r only costs time
    const std::vector<int64_t> pos = {0, 1, 7, max_pos > 0 ? max_pos - 1 : 0};
    std::vector<float> c(pos.size() * static_cast<size_t>(r)), s(c.size());
    const auto view = [&](std::vector<float>& v) {
      return posenc::TensorView::contiguous(v.data(), posenc::DType::F32,
                                            {static_cast<int64_t>(pos.size()), r});
    };
    try {
      posenc::rope_cos_sin(view(c), view(s), cfg, pos, seq_len);
    } catch (const posenc::Error& e) {
      check_error(e);
      continue;
    }
    const double bound = f.attention_scaling * (1 + 1e-6);
    for (size_t i = 0; i < c.size(); ++i)
      FUZZ_CHECK(std::fabs(c[i]) <= bound && std::fabs(s[i]) <= bound, "cos %g sin %g, scaling %g",
                 static_cast<double>(c[i]), static_cast<double>(s[i]), f.attention_scaling);
  }
}

void check_alibi(std::string_view text) {
  posenc::hf::AlibiImport imp;
  try {
    imp = posenc::hf::parse_alibi_config(text);
  } catch (const posenc::Error& e) {
    posenc::fuzz::check_error(e);
    return;
  }
  const posenc::AlibiConfig& cfg = imp.config;
  posenc::validate(cfg);
  FUZZ_CHECK(cfg.mask == posenc::AlibiMask::Causal, "an imported ALiBi config is causal");
  if (cfg.num_heads > 4096) return;  // a valid but huge head count: not worth the memory here
  for (double s : posenc::alibi_slopes(cfg.num_heads, cfg.max_bias))
    FUZZ_CHECK(s >= std::ldexp(1.0, -126) && s <= 1, "slope %g", s);
  const std::vector<int64_t> q = {0, 5}, k = {0, 1, 2, 3, 4, 5};
  std::vector<float> out(static_cast<size_t>(cfg.num_heads) * q.size() * k.size());
  posenc::alibi_bias(posenc::TensorView::contiguous(
                         out.data(), posenc::DType::F32,
                         {cfg.num_heads, static_cast<int64_t>(q.size()), static_cast<int64_t>(k.size())}),
                     cfg, q, k);
  for (size_t i = 0; i < out.size(); ++i) {
    const size_t j = i % k.size(), r = i / k.size() % q.size();
    if (k[j] <= q[r])
      FUZZ_CHECK(std::isfinite(out[i]), "unmasked ALiBi value %g", static_cast<double>(out[i]));
  }
}

// Each choice of stack (posenc::hf::Stack): the import, checked, or a well-formed error.
template <class Parse, class Check>
void for_each_stack(Parse parse, Check check) {
  using posenc::hf::Stack;
  for (Stack stack : {Stack::FromConfig, Stack::Encoder, Stack::Decoder}) {
    decltype(parse(stack)) imp;
    try {
      imp = parse(stack);
    } catch (const posenc::Error& e) {
      posenc::fuzz::check_error(e);
      continue;
    }
    check(imp, stack);
  }
}

void check_t5(std::string_view text) {
  using posenc::hf::Stack;
  for_each_stack(
      [&](Stack stack) { return posenc::hf::parse_t5_bias_config(text, stack); },
      [](const posenc::hf::T5BiasImport& imp, Stack stack) {
        posenc::validate(imp.config);
        FUZZ_CHECK(imp.num_heads >= 1, "num_heads %lld", static_cast<long long>(imp.num_heads));
        if (stack != Stack::FromConfig)
          FUZZ_CHECK(imp.config.bidirectional == (stack == Stack::Encoder), "stack not followed");
        for (int64_t rel : {int64_t{-1000000}, int64_t{-3}, int64_t{0}, int64_t{1}, int64_t{1000000}}) {
          const int64_t b = posenc::t5_relative_bucket(rel, imp.config);
          FUZZ_CHECK(b >= 0 && b < imp.config.num_buckets, "bucket %lld of %lld", static_cast<long long>(b),
                     static_cast<long long>(imp.config.num_buckets));
        }
      });
}

void check_absolute(std::string_view text) {
  using posenc::hf::Stack;
  for_each_stack([&](Stack stack) { return posenc::hf::parse_absolute_config(text, stack); },
                 [](const posenc::hf::AbsoluteImport& imp, Stack stack) {
                   FUZZ_CHECK(imp.dim >= 1 && imp.num_rows >= 1 && imp.first_row >= 0, "sizes %lld %lld %lld",
                              static_cast<long long>(imp.dim), static_cast<long long>(imp.num_rows),
                              static_cast<long long>(imp.first_row));
                   FUZZ_CHECK(std::isfinite(imp.embed_scale) && imp.embed_scale >= 1.0f, "embed_scale %g",
                              static_cast<double>(imp.embed_scale));
                   FUZZ_CHECK(imp.stack == Stack::FromConfig ||
                                  imp.stack == (stack == Stack::Decoder ? Stack::Decoder : Stack::Encoder),
                              "stack not followed");
                   if (imp.kind == posenc::hf::AbsoluteKind::Learned) {
                     FUZZ_CHECK(imp.first_row < imp.num_rows, "no row for position 0");
                   } else {
                     posenc::validate(imp.sinusoidal);
                     FUZZ_CHECK(imp.sinusoidal.dim == imp.dim, "sinusoidal dim");
                   }
                 });
}

}  // namespace

// parse_encoding_kind returns or throws a well-formed error, and its answer holds: a config it does not
// call Rope is refused by the RoPE importer, and one it calls Alibi / T5Bias / Absolute is never
// refused by that importer for its model_type.
void check_kind(std::string_view text) {
  using posenc::hf::EncodingKind;
  EncodingKind kind;
  try {
    kind = posenc::hf::parse_encoding_kind(text);
  } catch (const posenc::Error& e) {
    posenc::fuzz::check_error(e);
    return;
  }
  if (kind != EncodingKind::Rope) {
    bool refused = false;
    try {
      posenc::hf::parse_rope_config(text);
    } catch (const posenc::Error&) {
      refused = true;
    }
    FUZZ_CHECK(refused, "parse_rope_config accepted a config of kind %s",
               posenc::hf::encoding_kind_name(kind));
  }
  try {
    if (kind == EncodingKind::Alibi) posenc::hf::parse_alibi_config(text);
    if (kind == EncodingKind::T5Bias) posenc::hf::parse_t5_bias_config(text);
    if (kind == EncodingKind::Absolute) posenc::hf::parse_absolute_config(text);
  } catch (const posenc::Error& e) {
    FUZZ_CHECK(e.argument() != "model_type", "kind %s, but its importer refuses model_type: %s",
               posenc::hf::encoding_kind_name(kind), e.what());
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (posenc::Precision precision : {posenc::Precision::Exact, posenc::Precision::HfCompat}) {
    posenc::hf::LoadOptions options;
    options.precision = precision;
    // A config with one rope dict per attention type needs layer_type; try the common one too.
    for (const char* layer : {"", "full_attention"}) {
      options.layer_type = layer;
      posenc::hf::RopeImport imp;
      try {
        imp = posenc::hf::parse_rope_config(text, options);
      } catch (const posenc::Error& e) {
        posenc::fuzz::check_error(e);
        continue;
      }
      posenc::validate(imp.config);  // a returned config is valid: throwing here fails the run
      FUZZ_CHECK(imp.config.precision == precision, "precision not copied");
      for (const auto& src : imp.sources) FUZZ_CHECK(!src.field.empty() && !src.from.empty(), "empty source");
      for (size_t i = 0; i < imp.nope_layers.size(); ++i)
        FUZZ_CHECK(imp.nope_layers[i] >= 0 && (i == 0 || imp.nope_layers[i] > imp.nope_layers[i - 1]),
                   "nope_layers not ascending layer indices");
      FUZZ_CHECK(imp.nope_layers.empty() || !imp.warnings.empty(), "NoPE layers without their warning");
      check_tables(imp.config);
    }
  }
  check_alibi(text);
  check_t5(text);
  check_absolute(text);
  check_kind(text);
  return 0;
}
