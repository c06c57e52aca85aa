// tests/fuzz/fuzz_hf_config.cpp — fuzz target: posenc::hf::parse_rope_config on arbitrary bytes.
//
// Properties: the parser returns or throws posenc::Error with a where, an argument and an allowed range
// (any other exception escapes and fails the run, as does a crash or a sanitizer report); a returned
// config passes posenc::validate, and its frequencies and cos/sin tables, for the lengths a model sees
// (0, 1, max_position_embeddings and past it), are finite, with |cos|, |sin| <= attention scaling.
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"
#include "posenc/hf_config.hpp"
#include "posenc/rope.hpp"

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

}  // namespace

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
      check_tables(imp.config);
    }
  }
  return 0;
}
