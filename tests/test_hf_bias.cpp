// posenc::hf::parse_alibi_config / parse_t5_bias_config (and the load_ forms): config.json files of
// BLOOM, Falcon, MPT and T5-family models (fields as their hub configs write them, trimmed), against
// the Hugging Face reference vectors where they have cases (BLOOM's bias rows, T5's buckets with
// is_decoder choosing the direction), every error naming its JSON field, and every warning.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "golden.hpp"
#include "posenc/hf_config.hpp"
#include "posenc/posenc.hpp"
#include "test_util.hpp"

using namespace posenc;
using posenc::hf::T5Stack;
using posenc::test::expect_error_naming;
using posenc::test::golden_cases;

namespace {

// The error's argument (a JSON path) and the needles of its message.

bool warned(const hf::ImportReport& r, std::string_view needle) {
  for (const std::string& w : r.warnings)
    if (w.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

// BLOOM: the golden cases are HF's build_alibi_tensor rows (slope * key position) for a head count;
// a config with that n_head must give those rows through alibi_bias.
TEST(HfBias, BloomConfigGivesHfBiasRows) {
  for (const auto& c : golden_cases("alibi")) {
    const int64_t H = c.at("num_heads").get<int64_t>(), T = c.at("seq").get<int64_t>();
    const std::string json = R"({"model_type": "bloom", "n_head": )" + std::to_string(H) +
                             R"(, "hidden_size": 1024, "n_layer": 24, "vocab_size": 250880})";
    const hf::AlibiImport r = hf::parse_alibi_config(json);
    EXPECT_EQ(r.config.num_heads, H);
    EXPECT_EQ(r.config.form, AlibiForm::KeyPosition);
    EXPECT_EQ(r.config.mask, AlibiMask::Causal);
    EXPECT_EQ(r.config.max_bias, 8.0);
    EXPECT_EQ(r.source_of("num_heads"), "n_head");
    EXPECT_TRUE(r.warnings.empty());
    std::vector<int64_t> keys(static_cast<size_t>(T));
    for (int64_t j = 0; j < T; ++j) keys[static_cast<size_t>(j)] = j;
    const std::vector<int64_t> query = {T - 1};  // the last query: no key masked
    std::vector<float> out(static_cast<size_t>(H * T));
    alibi_bias(TensorView::contiguous(out.data(), DType::F32, {H, 1, T}), r.config, query, keys);
    const auto ref = c.at("bias_row").get<std::vector<std::vector<double>>>();
    for (int64_t h = 0; h < H; ++h)
      for (int64_t j = 0; j < T; ++j) {
        const double want = ref[static_cast<size_t>(h)][static_cast<size_t>(j)];
        // BLOOM's float32 slopes are within 1e-6 relative of the exact ones (see test_alibi.cpp).
        EXPECT_NEAR(out[static_cast<size_t>(h * T + j)], want, 1e-6 * std::fabs(want) + 1e-7)
            << c.at("name") << " h=" << h << " j=" << j;
      }
  }
  // num_attention_heads (BloomConfig's attribute_map alias) is read too; both given must agree.
  EXPECT_EQ(hf::parse_alibi_config(R"({"model_type": "bloom", "num_attention_heads": 32})").config.num_heads,
            32);
  const hf::AlibiImport d = hf::parse_alibi_config(R"({"model_type": "bloom"})");
  EXPECT_EQ(d.config.num_heads, 8);
  EXPECT_EQ(d.source_of("num_heads"), "default (BloomConfig n_head = 8)");
  expect_error_naming(
      [] { hf::parse_alibi_config(R"({"model_type": "bloom", "n_head": 16, "num_attention_heads": 8})"); },
      "n_head", {"num_attention_heads = 8", "contradict"});
}

TEST(HfBias, FalconOnlyWithAlibi) {
  const hf::AlibiImport r = hf::parse_alibi_config(
      R"({"model_type": "falcon", "alibi": true, "num_attention_heads": 71, "hidden_size": 4544})");
  EXPECT_EQ(r.config.num_heads, 71);
  EXPECT_EQ(r.config.form, AlibiForm::KeyPosition);
  EXPECT_EQ(r.config.mask, AlibiMask::Causal);
  EXPECT_EQ(
      hf::parse_alibi_config(R"({"model_type": "falcon", "alibi": true, "n_head": 12})").config.num_heads,
      12);
  // Falcon-7B and -40B use RoPE (alibi false, or absent: FalconConfig's default).
  expect_error_naming(
      [] { hf::parse_alibi_config(R"({"model_type": "falcon", "alibi": false, "n_head": 71})"); }, "alibi",
      {"false", "RoPE", "load_rope_config"});
  expect_error_naming([] { hf::parse_alibi_config(R"({"model_type": "falcon", "n_head": 71})"); }, "alibi",
                      {"absent", "default is false"});
  expect_error_naming([] { hf::parse_alibi_config(R"({"model_type": "falcon", "alibi": "yes"})"); }, "alibi",
                      {"\"yes\""});
}

TEST(HfBias, MptAlibiBiasMax) {
  // mosaicml/mpt-7b (trimmed).
  const hf::AlibiImport r = hf::parse_alibi_config(R"({
      "model_type": "mpt", "d_model": 4096, "n_heads": 32, "max_seq_len": 2048,
      "attn_config": {"alibi": true, "alibi_bias_max": 8, "attn_impl": "torch", "clip_qkv": null}})");
  EXPECT_EQ(r.config.num_heads, 32);
  EXPECT_EQ(r.config.max_bias, 8.0);
  EXPECT_EQ(r.config.form, AlibiForm::Relative);
  EXPECT_EQ(r.source_of("max_bias"), "attn_config.alibi_bias_max");
  EXPECT_TRUE(warned(r, "same attention weights")) << "the MPT tensor form differs by a row constant";
  EXPECT_FALSE(warned(r, "ignores it"));
  // The slopes of the imported config are MPT's for max_bias 16 (checked against MPT's formula in
  // test_alibi.cpp); HF's MptModel would use 8: a warning.
  const hf::AlibiImport m = hf::parse_alibi_config(
      R"({"model_type": "mpt", "n_heads": 12, "attn_config": {"alibi_bias_max": 16}})");
  EXPECT_EQ(m.config.max_bias, 16.0);
  EXPECT_TRUE(warned(m, "HF's MptModel ignores it and uses 8"));
  const hf::AlibiImport d = hf::parse_alibi_config(R"({"model_type": "mpt"})");
  EXPECT_EQ(d.config.num_heads, 16);
  EXPECT_EQ(d.config.max_bias, 8.0);
  expect_error_naming(
      [] { hf::parse_alibi_config(R"({"model_type": "mpt", "attn_config": {"alibi": false}})"); },
      "attn_config.alibi", {"learned"});
  expect_error_naming(
      [] { hf::parse_alibi_config(R"({"model_type": "mpt", "attn_config": {"alibi_bias_max": -1}})"); },
      "attn_config.alibi_bias_max", {"-1", "(0, 126]"});
  // Found by fuzz_hf_config: a huge max_bias flushed the far heads' slopes to zero, silently.
  expect_error_naming(
      [] {
        hf::parse_alibi_config(
            R"({"model_type": "mpt", "attn_config": {"alibi_bias_max": 92233720368547758070}})");
      },
      "attn_config.alibi_bias_max", {"92233720368547758080", "normal float32"});
  expect_error_naming([] { hf::parse_alibi_config(R"({"model_type": "mpt", "n_heads": 0})"); }, "n_heads",
                      {"0"});
}

TEST(HfBias, AlibiOtherModelsAreErrors) {
  expect_error_naming([] { hf::parse_alibi_config(R"({"model_type": "llama", "num_attention_heads": 32})"); },
                      "model_type", {"\"llama\"", "bloom", "mpt"});
  expect_error_naming([] { hf::parse_alibi_config(R"({"n_head": 32})"); }, "model_type", {"absent"});
  expect_error_naming([] { hf::parse_alibi_config(R"({"model_type": "bloom",)"); }, "config.json",
                      {"offset"});
}

// T5: the golden cases are HF's _relative_position_bucket for (bidirectional, num_buckets,
// max_distance); a config with those fields and is_decoder = not bidirectional must give them.
TEST(HfBias, T5ConfigGivesHfBuckets) {
  for (const auto& c : golden_cases("t5_bucket")) {
    const bool bidirectional = c.at("bidirectional").get<bool>();
    const std::string json = R"({"model_type": "t5", "num_heads": 8, "relative_attention_num_buckets": )" +
                             std::to_string(c.at("num_buckets").get<int64_t>()) +
                             R"(, "relative_attention_max_distance": )" +
                             std::to_string(c.at("max_distance").get<int64_t>()) + R"(, "is_decoder": )" +
                             (bidirectional ? "false" : "true") + "}";
    const hf::T5BiasImport r = hf::parse_t5_bias_config(json);
    EXPECT_EQ(r.config.bidirectional, bidirectional) << json;
    EXPECT_EQ(r.num_heads, 8);
    const auto rel = c.at("relative_position").get<std::vector<int64_t>>();
    const auto want = c.at("bucket").get<std::vector<int64_t>>();
    for (size_t i = 0; i < rel.size(); ++i)
      ASSERT_EQ(t5_relative_bucket(rel[i], r.config), want[i]) << c.at("name") << " relative " << rel[i];
  }
}

TEST(HfBias, T5StacksDefaultsAndWarnings) {
  // google-t5/t5-small (trimmed): one config for both stacks.
  const std::string t5_small = R"({"model_type": "t5", "d_model": 512, "num_heads": 8, "num_layers": 6,
      "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128, "is_encoder_decoder": true})";
  const hf::T5BiasImport enc = hf::parse_t5_bias_config(t5_small);
  EXPECT_TRUE(enc.config.bidirectional);
  EXPECT_EQ(enc.config.num_buckets, 32);
  EXPECT_EQ(enc.config.max_distance, 128);
  EXPECT_EQ(enc.source_of("num_buckets"), "relative_attention_num_buckets");
  EXPECT_TRUE(warned(enc, "decoder's self-attention uses causal buckets"));
  const hf::T5BiasImport dec = hf::parse_t5_bias_config(t5_small, T5Stack::Decoder);
  EXPECT_FALSE(dec.config.bidirectional);
  EXPECT_TRUE(dec.warnings.empty());
  EXPECT_TRUE(hf::parse_t5_bias_config(t5_small, T5Stack::Encoder).config.bidirectional);
  EXPECT_TRUE(hf::parse_t5_bias_config(t5_small, T5Stack::Encoder).warnings.empty());
  // Defaults of T5Config; num_attention_heads is its alias of num_heads.
  const hf::T5BiasImport d = hf::parse_t5_bias_config(R"({"model_type": "mt5", "num_attention_heads": 6})");
  EXPECT_EQ(d.config.num_buckets, 32);
  EXPECT_EQ(d.config.max_distance, 128);
  EXPECT_EQ(d.num_heads, 6);
  EXPECT_EQ(d.source_of("max_distance"), "default (T5Config relative_attention_max_distance = 128)");
  EXPECT_TRUE(warned(hf::parse_t5_bias_config(R"({"model_type": "umt5", "is_encoder_decoder": false})"),
                     "every layer has its own bias table"));
  EXPECT_TRUE(warned(hf::parse_t5_bias_config(R"({"model_type": "longt5"})"), "local blocks"));
  // T5Config defaults is_encoder_decoder to true (the warning naming the decoder's buckets); an
  // encoder-only model with T5 buckets (MPNet) does not get it (CLI audit).
  EXPECT_TRUE(warned(hf::parse_t5_bias_config(R"({"model_type": "t5"})"), "an encoder-decoder config"));
  EXPECT_FALSE(warned(
      hf::parse_t5_bias_config(
          R"({"model_type": "mpnet", "relative_attention_num_buckets": 32, "num_attention_heads": 12})"),
      "an encoder-decoder config"));
  // Another model type with T5's fields is read; without them it is an error.
  EXPECT_EQ(hf::parse_t5_bias_config(R"({"model_type": "pop2piano", "relative_attention_num_buckets": 64})")
                .config.num_buckets,
            64);
  expect_error_naming(
      [] { hf::parse_t5_bias_config(R"({"model_type": "bert", "num_attention_heads": 12})"); }, "model_type",
      {"\"bert\"", "t5"});
}

TEST(HfBias, T5ErrorsNameTheJsonField) {
  // 3 buckets cannot split into two directions: the error names the JSON field, not num_buckets.
  expect_error_naming(
      [] { hf::parse_t5_bias_config(R"({"model_type": "t5", "relative_attention_num_buckets": 3})"); },
      "relative_attention_num_buckets", {"3", "bidirectional"});
  EXPECT_NO_THROW(hf::parse_t5_bias_config(R"({"model_type": "t5", "relative_attention_num_buckets": 3})",
                                           T5Stack::Decoder));
  expect_error_naming(
      [] {
        hf::parse_t5_bias_config(
            R"({"model_type": "t5", "relative_attention_num_buckets": 32, "relative_attention_max_distance": 8})");
      },
      "relative_attention_max_distance", {"8"});
  expect_error_naming(
      [] { hf::parse_t5_bias_config(R"({"model_type": "t5", "relative_attention_num_buckets": "32"})"); },
      "relative_attention_num_buckets", {"\"32\""});
  expect_error_naming(
      [] { hf::parse_t5_bias_config(R"({"model_type": "t5", "num_heads": 8, "num_attention_heads": 12})"); },
      "num_heads", {"contradict"});
  expect_error_naming([] { hf::parse_t5_bias_config(R"({"model_type": "t5", "is_decoder": 1})"); },
                      "is_decoder");
}

TEST(HfBias, LoadFromFiles) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "posenc_test_hf_bias";
  std::filesystem::create_directories(dir);
  const std::filesystem::path bloom = dir / "bloom.json", t5 = dir / "t5.json";
  std::ofstream(bloom) << R"({"model_type": "bloom", "n_head": 16})";
  std::ofstream(t5) << R"({"model_type": "t5", "num_heads": 12, "is_decoder": true})";
  EXPECT_EQ(hf::load_alibi_config(bloom).config.num_heads, 16);
  const hf::T5BiasImport r = hf::load_t5_bias_config(t5);
  EXPECT_EQ(r.num_heads, 12);
  EXPECT_FALSE(r.config.bidirectional);
  EXPECT_EQ(r.source_of("bidirectional"), "not is_decoder");
  expect_error_naming([&] { hf::load_alibi_config(dir / "missing.json"); }, "path", {"no such file"});
  expect_error_naming([&] { hf::load_t5_bias_config(dir); }, "path", {"a directory"});
  // Errors name the file they came from.
  std::ofstream(t5) << R"({"model_type": "t5", "num_heads": 0})";
  expect_error_naming([&] { hf::load_t5_bias_config(t5); }, "num_heads", {t5.string()});
  std::filesystem::remove_all(dir);
}
