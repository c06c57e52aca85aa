// posenc::hf::parse_absolute_config / load_absolute_config: config.json files of models with a
// sinusoidal table or a learned position embedding (fields as their hub configs write them, trimmed):
// the preset, the table's rows and the row of position 0 that HF's module uses (fairseq's padding rows,
// OPT / BART / BioGPT / XGLM's offset 2, RoBERTa's positions from the padding index), the embedding
// scale, the stack of Whisper and Speech2Text, against the Hugging Face reference table where it has one
// (M2M100 / XGLM / Speech2Text: fairseq), the model's own formula (DistilBERT, Whisper, CTRL), and every
// error and warning.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "golden.hpp"
#include "posenc/hf_config.hpp"
#include "posenc/posenc.hpp"
#include "test_util.hpp"

using namespace posenc;
using posenc::hf::AbsoluteKind;
using posenc::hf::parse_absolute_config;
using posenc::test::expect_error_naming;

// The golden fairseq table (HF's SinusoidalPositionalEmbedding.get_embedding with padding_idx) is
// M2M100's buffer for max_position_embeddings = rows - 2: same rows, the padding row zero, and the
// fused embedding of a sentence reading rows padding_idx + 1, ... (HF's float32 recipe: HfCompat,
// within the 2^-22 that tests/test_golden_fairseq.cpp explains).
TEST(HfAbsolute, M2m100MatchesTheFairseqReference) {
  for (const auto& c : posenc::test::golden_cases("sinusoidal_concat")) {
    const int64_t rows = c.at("num_embeddings").get<int64_t>(), dim = c.at("dim").get<int64_t>();
    const int64_t pad = c.at("padding_idx").get<int64_t>();
    const auto table = c.at("table").get<std::vector<std::vector<double>>>();
    hf::AbsoluteImport r = parse_absolute_config(R"({"model_type": "m2m_100", "d_model": )" +
                                                 std::to_string(dim) + R"(, "max_position_embeddings": )" +
                                                 std::to_string(rows - 2) + R"(, "pad_token_id": )" +
                                                 std::to_string(pad) + R"(, "scale_embedding": true})");
    ASSERT_EQ(r.kind, AbsoluteKind::Sinusoidal);
    EXPECT_EQ(r.sinusoidal.preset, SinusoidalPreset::Fairseq);
    EXPECT_EQ(r.sinusoidal.padding_idx, pad);
    EXPECT_EQ(r.num_rows, rows);
    EXPECT_EQ(r.first_row, pad + 1);
    EXPECT_EQ(r.embed_scale, static_cast<float>(std::sqrt(static_cast<double>(dim))));
    EXPECT_TRUE(r.warnings.empty());
    r.sinusoidal.precision = Precision::HfCompat;
    // A sentence of T tokens, fused: E[id] * scale + PE(first_row + t).
    const int64_t T = r.num_rows - r.first_row, V = 5;
    std::vector<float> E(static_cast<size_t>(V * dim)), out(static_cast<size_t>(T * dim));
    for (size_t i = 0; i < E.size(); ++i) E[i] = static_cast<float>(i % 13) * 0.125f - 0.75f;
    std::vector<int64_t> ids(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) ids[static_cast<size_t>(t)] = (t * 3) % V;
    embed_forward(TensorView::contiguous(out.data(), DType::F32, {1, T, dim}),
                  TensorView::contiguous(ids.data(), DType::I64, {1, T}),
                  TensorView::contiguous(E.data(), DType::F32, {V, dim}), PeSource::sinusoidal(r.sinusoidal),
                  Positions::offset(r.first_row), r.embed_scale);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < dim; ++j) {
        const double want =
            double{E[static_cast<size_t>(ids[static_cast<size_t>(t)] * dim + j)] * r.embed_scale} +
            table[static_cast<size_t>(r.first_row + t)][static_cast<size_t>(j)];
        EXPECT_NEAR(out[static_cast<size_t>(t * dim + j)], want, 0x1p-22 + 1e-6 * std::fabs(want))
            << "token " << t << " column " << j;
      }
  }
}

// XGLM builds the same fairseq table (get_embedding(max + 2, d_model, pad_token_id)) but reads it at
// position + 2 whatever the padding index is: through an XGLM config the golden table's rows come back,
// position 0 at row 2. With pad_token_id 3 the zero row 3 is position 1's row, as in HF's module.
TEST(HfAbsolute, XglmMatchesTheFairseqReference) {
  for (const auto& c : posenc::test::golden_cases("sinusoidal_concat")) {
    const int64_t rows = c.at("num_embeddings").get<int64_t>(), dim = c.at("dim").get<int64_t>();
    const int64_t pad = c.at("padding_idx").get<int64_t>();
    const auto table = c.at("table").get<std::vector<std::vector<double>>>();
    hf::AbsoluteImport r = parse_absolute_config(
        R"({"model_type": "xglm", "d_model": )" + std::to_string(dim) + R"(, "max_position_embeddings": )" +
        std::to_string(rows - 2) + R"(, "pad_token_id": )" + std::to_string(pad) + "}");
    ASSERT_EQ(r.kind, AbsoluteKind::Sinusoidal);
    EXPECT_EQ(r.sinusoidal.preset, SinusoidalPreset::Fairseq);
    EXPECT_EQ(r.sinusoidal.padding_idx, pad);
    EXPECT_EQ(r.num_rows, rows);
    EXPECT_EQ(r.first_row, 2);
    EXPECT_EQ(r.source_of("padding_idx"), "pad_token_id");
    EXPECT_EQ(r.embed_scale, static_cast<float>(std::sqrt(static_cast<double>(dim))))
        << "XGLMConfig's scale_embedding default is true";
    EXPECT_EQ(r.warnings.size(), 1u);
    r.sinusoidal.precision = Precision::HfCompat;
    const int64_t T = r.num_rows - r.first_row;
    std::vector<float> pe(static_cast<size_t>(T * dim));
    sinusoidal_table(TensorView::contiguous(pe.data(), DType::F32, {T, dim}), r.sinusoidal, r.first_row);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < dim; ++j) {
        const double want = table[static_cast<size_t>(r.first_row + t)][static_cast<size_t>(j)];
        EXPECT_NEAR(pe[static_cast<size_t>(t * dim + j)], want, 0x1p-22 + 1e-6 * std::fabs(want))
            << "position " << t << " column " << j;
      }
  }
  const hf::AbsoluteImport q = parse_absolute_config(
      R"({"model_type": "xglm", "d_model": 8, "max_position_embeddings": 16, "pad_token_id": 3, "scale_embedding": false})");
  EXPECT_EQ(q.first_row, 2);
  EXPECT_EQ(q.num_rows, 18);
  EXPECT_EQ(q.embed_scale, 1.0f);
  EXPECT_TRUE(q.warnings.empty());
  std::vector<float> pe(3 * 8);
  sinusoidal_table(TensorView::contiguous(pe.data(), DType::F32, {3, 8}), q.sinusoidal, q.first_row);
  for (int64_t j = 0; j < 8; ++j) {
    EXPECT_EQ(pe[static_cast<size_t>(8 + j)], 0.0f) << "position 1 reads the padding row 3, column " << j;
    EXPECT_NE(pe[static_cast<size_t>(16 + j)], 0.0f) << "position 2 reads row 4, column " << j;
  }
}

// DistilBERT with sinusoidal_pos_embds fills its table with create_sinusoidal_embeddings: column j of
// row p is sin (j even) or cos (j odd) of p / 10000^(2 floor(j/2) / dim), computed in double by numpy
// and rounded to float32. The same formula in double here is the reference; posenc's exact table is
// within 1 ulp of the true value, the reference within half an ulp plus the double angle's error
// (about 1e-16 * p, hence the 1e-12 absolute slack near zero crossings).
TEST(HfAbsolute, DistilbertSinusoidalMatchesItsFormula) {
  const hf::AbsoluteImport d = parse_absolute_config(
      R"({"model_type": "distilbert", "dim": 96, "max_position_embeddings": 512, "sinusoidal_pos_embds": true, "n_heads": 12})");
  ASSERT_EQ(d.kind, AbsoluteKind::Sinusoidal);
  EXPECT_EQ(d.source_of("kind"), "sinusoidal_pos_embds");
  EXPECT_EQ(d.sinusoidal.preset, SinusoidalPreset::Vaswani);
  EXPECT_EQ(d.dim, 96);
  EXPECT_EQ(d.num_rows, 512);
  EXPECT_EQ(d.first_row, 0);
  EXPECT_EQ(d.embed_scale, 1.0f);
  const int64_t rows = d.num_rows, dim = d.dim;
  const std::vector<float> pe = sinusoidal_table(d.sinusoidal, rows);
  ASSERT_EQ(pe.size(), static_cast<size_t>(rows * dim));
  for (int64_t p = 0; p < rows; ++p)
    for (int64_t j = 0; j < dim; ++j) {
      const double angle =
          static_cast<double>(p) / std::pow(10000.0, 2.0 * static_cast<double>(j / 2) / 96.0);
      const float want = static_cast<float>(j % 2 == 0 ? std::sin(angle) : std::cos(angle));
      const float got = pe[static_cast<size_t>(p * dim + j)];
      const float mag = std::max(std::fabs(want), std::fabs(got));
      EXPECT_LE(std::fabs(got - want), std::nextafter(mag, INFINITY) - mag + 1e-12)
          << "row " << p << " column " << j;
    }
  // The default is learned; the width may also be given by dim's attribute_map alias hidden_size.
  const hf::AbsoluteImport l = parse_absolute_config(
      R"({"model_type": "distilbert", "hidden_size": 768, "max_position_embeddings": 512})");
  EXPECT_EQ(l.kind, AbsoluteKind::Learned);
  EXPECT_EQ(l.dim, 768);
  EXPECT_EQ(l.source_of("dim"), "hidden_size");
}

// |got - want| within 1 ulp of the larger (posenc's exact table is within 1 ulp of the true value; the
// double-precision reference within half an ulp plus its angle's error, about 1e-16 * p: the 1e-12 slack
// near zero crossings).
::testing::AssertionResult within_an_ulp(float got, float want) {
  const float mag = std::max(std::fabs(want), std::fabs(got));
  if (std::fabs(got - want) <= std::nextafter(mag, INFINITY) - mag + 1e-12)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got << ", want " << want;
}

// Whisper (openai/whisper-tiny, trimmed): the encoder adds HF's sinusoids(max_source_positions, d_model)
// to its convolution's frames: [sin | cos] of p * exp(-i ln(10000) / (d/2 - 1)), from position 0 (the
// formula in double here); the decoder has a learned table of max_target_positions rows. Neither stack
// multiplies by scale_embedding.
TEST(HfAbsolute, WhisperStacksMatchHfSinusoidsAndLearnedTable) {
  const std::string tiny =
      R"({"model_type": "whisper", "d_model": 384, "encoder_attention_heads": 6, "max_source_positions": 1500, "max_target_positions": 448, "pad_token_id": 50257, "scale_embedding": false})";
  const hf::AbsoluteImport e = parse_absolute_config(tiny, hf::Stack::Encoder);
  ASSERT_EQ(e.kind, AbsoluteKind::Sinusoidal);
  EXPECT_EQ(e.stack, hf::Stack::Encoder);
  EXPECT_TRUE(e.audio_frames);
  EXPECT_EQ(e.sinusoidal.preset, SinusoidalPreset::Tensor2Tensor);
  EXPECT_EQ(e.sinusoidal.padding_idx, -1) << "Whisper's table has no padding row";
  EXPECT_EQ(e.dim, 384);
  EXPECT_EQ(e.num_rows, 1500);
  EXPECT_EQ(e.source_of("num_rows"), "max_source_positions");
  EXPECT_EQ(e.first_row, 0);
  EXPECT_EQ(e.embed_scale, 1.0f);
  EXPECT_TRUE(e.warnings.empty());
  const int64_t rows = e.num_rows, dim = e.dim, half = dim / 2;
  const std::vector<float> pe = sinusoidal_table(e.sinusoidal, rows);
  const double increment = std::log(10000.0) / static_cast<double>(half - 1);
  for (int64_t p = 0; p < rows; ++p)
    for (int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(p) * std::exp(-increment * static_cast<double>(i));
      ASSERT_TRUE(within_an_ulp(pe[static_cast<size_t>(p * dim + i)], static_cast<float>(std::sin(angle))))
          << "row " << p << " sin column " << i;
      ASSERT_TRUE(
          within_an_ulp(pe[static_cast<size_t>(p * dim + half + i)], static_cast<float>(std::cos(angle))))
          << "row " << p << " cos column " << half + i;
    }
  const hf::AbsoluteImport d = parse_absolute_config(tiny, hf::Stack::Decoder);
  EXPECT_EQ(d.kind, AbsoluteKind::Learned);
  EXPECT_EQ(d.stack, hf::Stack::Decoder);
  EXPECT_FALSE(d.audio_frames);
  EXPECT_EQ(d.num_rows, 448);
  EXPECT_EQ(d.source_of("num_rows"), "max_target_positions");
  EXPECT_EQ(d.first_row, 0);
  EXPECT_TRUE(d.warnings.empty());
  // Without a choice: the encoder, with a warning naming the decoder's table.
  const hf::AbsoluteImport f = parse_absolute_config(tiny);
  EXPECT_EQ(f.stack, hf::Stack::Encoder);
  EXPECT_EQ(f.num_rows, 1500);
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_NE(f.warnings[0].find("max_target_positions"), std::string::npos) << f.warnings[0];
  EXPECT_NE(f.warnings[0].find("Stack::Decoder"), std::string::npos) << f.warnings[0];
  // is_decoder (a decoder-only use, WhisperForCausalLM): the decoder's table without a warning.
  const hf::AbsoluteImport id =
      parse_absolute_config(tiny.substr(0, tiny.size() - 1) + R"(, "is_decoder": true})");
  EXPECT_EQ(id.stack, hf::Stack::Decoder);
  EXPECT_EQ(id.source_of("stack"), "is_decoder");
  EXPECT_TRUE(id.warnings.empty());
  EXPECT_EQ(
      parse_absolute_config(tiny.substr(0, tiny.size() - 1) + R"(, "is_decoder": true})", hf::Stack::Encoder)
          .stack,
      hf::Stack::Encoder);
  // scale_embedding = true is read by WhisperConfig but never applied.
  const hf::AbsoluteImport s = parse_absolute_config(
      R"({"model_type": "whisper", "d_model": 64, "max_source_positions": 8, "max_target_positions": 4, "scale_embedding": true})",
      hf::Stack::Decoder);
  EXPECT_EQ(s.embed_scale, 1.0f);
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_NE(s.warnings[0].find("never multiplies"), std::string::npos) << s.warnings[0];
  // HF's sinusoids() refuses an odd width; the learned decoder table does not care.
  expect_error_naming(
      [] {
        parse_absolute_config(
            R"({"model_type": "whisper", "d_model": 383, "max_source_positions": 8, "max_target_positions": 4})",
            hf::Stack::Encoder);
      },
      "d_model", {"383", "even"});
  EXPECT_EQ(
      parse_absolute_config(
          R"({"model_type": "whisper", "d_model": 383, "max_source_positions": 8, "max_target_positions": 4})",
          hf::Stack::Decoder)
          .dim,
      383);
  expect_error_naming(
      [] {
        parse_absolute_config(R"({"model_type": "whisper", "d_model": 64, "max_source_positions": 8})",
                              hf::Stack::Decoder);
      },
      "max_target_positions", {"absent"});
}

// Speech2Text (facebook/s2t-small-librispeech-asr, trimmed): both stacks build fairseq tables
// (Speech2TextSinusoidalPositionalEmbedding: get_embedding(max + 2, d_model, pad_token_id)), of
// max_source_positions + 2 and max_target_positions + 2 rows, read from row pad_token_id + 1; through a
// decoder config the golden fairseq table comes back (HF's float32 recipe: HfCompat, within 2^-22).
TEST(HfAbsolute, SpeechToTextStacksMatchTheFairseqReference) {
  const std::string small =
      R"({"model_type": "speech_to_text", "d_model": 256, "max_source_positions": 6000, "max_target_positions": 1024, "pad_token_id": 1, "scale_embedding": true})";
  const hf::AbsoluteImport e = parse_absolute_config(small, hf::Stack::Encoder);
  EXPECT_EQ(e.kind, AbsoluteKind::Sinusoidal);
  EXPECT_EQ(e.sinusoidal.preset, SinusoidalPreset::Fairseq);
  EXPECT_TRUE(e.audio_frames);
  EXPECT_EQ(e.num_rows, 6002);
  EXPECT_EQ(e.source_of("num_rows"), "max_source_positions + 2");
  EXPECT_EQ(e.first_row, 2);
  EXPECT_EQ(e.embed_scale, 16.0f);
  EXPECT_TRUE(e.warnings.empty());
  const hf::AbsoluteImport d = parse_absolute_config(small, hf::Stack::Decoder);
  EXPECT_FALSE(d.audio_frames);
  EXPECT_EQ(d.num_rows, 1026);
  EXPECT_EQ(d.first_row, 2);
  EXPECT_EQ(d.embed_scale, 16.0f);
  EXPECT_EQ(parse_absolute_config(small).num_rows, 6002) << "the encoder by default";
  // pad_token_id 0: HF's encoder compares its 0/1 padding mask with it (a warning); the decoder does not.
  const std::string pad0 =
      R"({"model_type": "speech_to_text", "d_model": 8, "max_source_positions": 6, "max_target_positions": 4, "pad_token_id": 0, "scale_embedding": true})";
  const hf::AbsoluteImport e0 = parse_absolute_config(pad0, hf::Stack::Encoder);
  EXPECT_EQ(e0.first_row, 1);
  ASSERT_EQ(e0.warnings.size(), 1u);
  EXPECT_NE(e0.warnings[0].find("every real frame reads the zero row 0"), std::string::npos)
      << e0.warnings[0];
  EXPECT_TRUE(parse_absolute_config(pad0, hf::Stack::Decoder).warnings.empty());
  for (const auto& c : posenc::test::golden_cases("sinusoidal_concat")) {
    const int64_t rows = c.at("num_embeddings").get<int64_t>(), dim = c.at("dim").get<int64_t>();
    const int64_t pad = c.at("padding_idx").get<int64_t>();
    const auto table = c.at("table").get<std::vector<std::vector<double>>>();
    hf::AbsoluteImport r = parse_absolute_config(
        R"({"model_type": "speech_to_text", "d_model": )" + std::to_string(dim) +
            R"(, "max_source_positions": 6000, "max_target_positions": )" + std::to_string(rows - 2) +
            R"(, "pad_token_id": )" + std::to_string(pad) + "}",
        hf::Stack::Decoder);
    EXPECT_EQ(r.num_rows, rows);
    EXPECT_EQ(r.first_row, pad + 1);
    EXPECT_EQ(r.sinusoidal.padding_idx, pad);
    EXPECT_EQ(r.embed_scale, static_cast<float>(std::sqrt(static_cast<double>(dim))))
        << "Speech2TextConfig's scale_embedding default is true";
    r.sinusoidal.precision = Precision::HfCompat;
    const std::vector<float> pe = sinusoidal_table(r.sinusoidal, rows);
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t j = 0; j < dim; ++j) {
        const double want = table[static_cast<size_t>(row)][static_cast<size_t>(j)];
        EXPECT_NEAR(pe[static_cast<size_t>(row * dim + j)], want, 0x1p-22 + 1e-6 * std::fabs(want))
            << "row " << row << " column " << j;
      }
  }
}

// CTRL: HF's positional_encoding(n_positions, n_embd): column j of the angle table is
// p / 10000^(2 floor(j/2) / d); the sines of its even columns, then the cosines of its odd ones
// (posenc's Marian layout, odd widths included); token embeddings always times sqrt(n_embd).
TEST(HfAbsolute, CtrlMatchesItsFormula) {
  for (const int64_t dim : {int64_t{1280}, int64_t{7}}) {
    SCOPED_TRACE(dim);
    const hf::AbsoluteImport c =
        parse_absolute_config(R"({"model_type": "ctrl", "n_embd": )" + std::to_string(dim) +
                              R"(, "n_positions": 256, "n_head": 16})");
    ASSERT_EQ(c.kind, AbsoluteKind::Sinusoidal);
    EXPECT_EQ(c.sinusoidal.preset, SinusoidalPreset::Marian);
    EXPECT_EQ(c.num_rows, 256);
    EXPECT_EQ(c.first_row, 0);
    EXPECT_EQ(c.stack, hf::Stack::FromConfig);
    EXPECT_EQ(c.embed_scale, static_cast<float>(std::sqrt(static_cast<double>(dim))));
    EXPECT_TRUE(c.warnings.empty());
    const std::vector<float> pe = sinusoidal_table(c.sinusoidal, c.num_rows);
    const int64_t sines = (dim + 1) / 2;
    for (int64_t p = 0; p < c.num_rows; ++p)
      for (int64_t j = 0; j < dim; ++j) {
        const double angle = static_cast<double>(p) /
                             std::pow(10000.0, 2.0 * static_cast<double>(j / 2) / static_cast<double>(dim));
        const int64_t column = j % 2 == 0 ? j / 2 : sines + j / 2;
        const float want = static_cast<float>(j % 2 == 0 ? std::sin(angle) : std::cos(angle));
        ASSERT_TRUE(within_an_ulp(pe[static_cast<size_t>(p * dim + column)], want))
            << "row " << p << " angle column " << j;
      }
  }
}

// Models whose two stacks build the same table ignore the stack asked for.
TEST(HfAbsolute, OneTableModelsIgnoreTheStack) {
  const std::string bart = R"({"model_type": "bart", "d_model": 768, "max_position_embeddings": 1024})";
  for (const hf::Stack stack : {hf::Stack::Encoder, hf::Stack::Decoder}) {
    const hf::AbsoluteImport b = parse_absolute_config(bart, stack);
    EXPECT_EQ(b.stack, hf::Stack::FromConfig);
    EXPECT_EQ(b.num_rows, 1026);
    EXPECT_EQ(b.first_row, 2);
    EXPECT_EQ(b.source_of("stack"), "");
  }
}

TEST(HfAbsolute, SinusoidalFamilies) {
  // FSMT (facebook/wmt19-en-de, trimmed): fairseq rows max + padding_idx + 1.
  const hf::AbsoluteImport f = parse_absolute_config(
      R"({"model_type": "fsmt", "d_model": 1024, "max_position_embeddings": 1024, "pad_token_id": 1})");
  EXPECT_EQ(f.num_rows, 1026);
  EXPECT_EQ(f.first_row, 2);
  EXPECT_EQ(f.embed_scale, 32.0f) << "FSMTConfig's scale_embedding default is true";
  EXPECT_NE(f.warnings.size(), 0u);
  // FSMT's rows depend on padding_idx (M2M100's do not): pad 3 gives rows 1024 + 4, position 0 at row 4.
  const hf::AbsoluteImport f3 = parse_absolute_config(
      R"({"model_type": "fsmt", "d_model": 16, "max_position_embeddings": 1024, "pad_token_id": 3, "scale_embedding": false})");
  EXPECT_EQ(f3.num_rows, 1028);
  EXPECT_EQ(f3.source_of("num_rows"), "max_position_embeddings + pad_token_id + 1");
  EXPECT_EQ(f3.first_row, 4);
  EXPECT_EQ(f3.sinusoidal.padding_idx, 3);
  EXPECT_EQ(f3.embed_scale, 1.0f);
  const hf::AbsoluteImport m3 = parse_absolute_config(
      R"({"model_type": "m2m_100", "d_model": 16, "max_position_embeddings": 1024, "pad_token_id": 3})");
  EXPECT_EQ(m3.num_rows, 1026);
  EXPECT_EQ(m3.first_row, 4);
  // NLLB-MoE builds M2M100's table; "m2m100" is not HF's model_type (M2M100Config's is "m2m_100").
  const hf::AbsoluteImport n = parse_absolute_config(
      R"({"model_type": "nllb-moe", "d_model": 16, "max_position_embeddings": 1024, "pad_token_id": 1, "scale_embedding": true})");
  EXPECT_EQ(n.sinusoidal.preset, SinusoidalPreset::Fairseq);
  EXPECT_EQ(n.num_rows, 1026);
  EXPECT_EQ(n.first_row, 2);
  EXPECT_EQ(n.embed_scale, 4.0f);
  expect_error_naming(
      [] {
        parse_absolute_config(R"({"model_type": "m2m100", "d_model": 16, "max_position_embeddings": 8})");
      },
      "model_type", {"\"m2m100\"", "m2m_100"});
  // Marian (Helsinki-NLP opus-mt): [sin | cos], positions from 0.
  const hf::AbsoluteImport m = parse_absolute_config(
      R"({"model_type": "marian", "d_model": 512, "max_position_embeddings": 512, "scale_embedding": true, "pad_token_id": 58100})");
  EXPECT_EQ(m.kind, AbsoluteKind::Sinusoidal);
  EXPECT_EQ(m.sinusoidal.preset, SinusoidalPreset::Marian);
  EXPECT_EQ(m.sinusoidal.padding_idx, -1);
  EXPECT_EQ(m.num_rows, 512);
  EXPECT_EQ(m.first_row, 0);
  EXPECT_EQ(m.embed_scale, static_cast<float>(std::sqrt(512.0)));
  const hf::AbsoluteImport p =
      parse_absolute_config(R"({"model_type": "pegasus", "d_model": 1024, "max_position_embeddings": 1024})");
  EXPECT_EQ(p.sinusoidal.preset, SinusoidalPreset::Marian);
  EXPECT_EQ(p.embed_scale, 1.0f) << "PegasusConfig's scale_embedding default is false";
  EXPECT_EQ(p.source_of("embed_scale"), "default (scale_embedding = false)");
  // XLM: learned unless sinusoidal_embeddings, then Vaswani's interleaved layout.
  EXPECT_EQ(
      parse_absolute_config(R"({"model_type": "xlm", "emb_dim": 1024, "max_position_embeddings": 512})").kind,
      AbsoluteKind::Learned);
  const hf::AbsoluteImport x = parse_absolute_config(
      R"({"model_type": "xlm", "emb_dim": 64, "max_position_embeddings": 512, "sinusoidal_embeddings": true})");
  EXPECT_EQ(x.kind, AbsoluteKind::Sinusoidal);
  EXPECT_EQ(x.sinusoidal.preset, SinusoidalPreset::Vaswani);
  EXPECT_EQ(x.dim, 64);
}

TEST(HfAbsolute, LearnedOffsets) {
  // GPT-2: n_positions / n_embd (or their attribute_map aliases), positions from row 0.
  const hf::AbsoluteImport g =
      parse_absolute_config(R"({"model_type": "gpt2", "n_embd": 768, "n_positions": 1024, "n_head": 12})");
  EXPECT_EQ(g.kind, AbsoluteKind::Learned);
  EXPECT_EQ(g.dim, 768);
  EXPECT_EQ(g.num_rows, 1024);
  EXPECT_EQ(g.first_row, 0);
  EXPECT_EQ(g.source_of("num_rows"), "n_positions");
  EXPECT_EQ(
      parse_absolute_config(R"({"model_type": "gpt2", "hidden_size": 64, "max_position_embeddings": 32})")
          .dim,
      64);
  // GPTBigCode (StarCoder 1, SantaCoder): GPT-2's fields.
  const hf::AbsoluteImport sc = parse_absolute_config(
      R"({"model_type": "gpt_bigcode", "n_embd": 6144, "n_positions": 8192, "n_head": 48, "multi_query": true})");
  EXPECT_EQ(sc.dim, 6144);
  EXPECT_EQ(sc.num_rows, 8192);
  EXPECT_EQ(sc.first_row, 0);
  // OPT and BART: nn.Embedding(max + 2) read at position + 2.
  const hf::AbsoluteImport o =
      parse_absolute_config(R"({"model_type": "opt", "hidden_size": 768, "max_position_embeddings": 2048})");
  EXPECT_EQ(o.num_rows, 2050);
  EXPECT_EQ(o.first_row, 2);
  const hf::AbsoluteImport b = parse_absolute_config(
      R"({"model_type": "bart", "d_model": 1024, "max_position_embeddings": 1024, "scale_embedding": false})");
  EXPECT_EQ(b.num_rows, 1026);
  EXPECT_EQ(b.first_row, 2);
  EXPECT_EQ(b.embed_scale, 1.0f);
  EXPECT_TRUE(b.warnings.empty());
  EXPECT_EQ(
      parse_absolute_config(
          R"({"model_type": "mbart", "d_model": 1024, "max_position_embeddings": 1024, "scale_embedding": true})")
          .embed_scale,
      32.0f);
  // RoBERTa: positions count from padding_idx + 1 in a table of max_position_embeddings rows (514).
  const hf::AbsoluteImport r = parse_absolute_config(
      R"({"model_type": "roberta", "hidden_size": 768, "max_position_embeddings": 514, "pad_token_id": 1})");
  EXPECT_EQ(r.num_rows, 514);
  EXPECT_EQ(r.first_row, 2);
  EXPECT_EQ(r.num_rows - 1 - r.first_row, 511) << "the longest sequence: 512 tokens";
  EXPECT_EQ(
      parse_absolute_config(
          R"({"model_type": "xlm-roberta", "hidden_size": 8, "max_position_embeddings": 9, "pad_token_id": 3})")
          .first_row,
      4);
  const hf::AbsoluteImport bert =
      parse_absolute_config(R"({"model_type": "bert", "hidden_size": 768, "max_position_embeddings": 512})");
  EXPECT_EQ(bert.first_row, 0);
  EXPECT_EQ(bert.num_rows, 512);
  // ALBERT and ELECTRA: the table has embedding_size columns, not hidden_size.
  for (const char* type : {"albert", "electra"}) {
    const hf::AbsoluteImport a = parse_absolute_config(
        std::string(R"({"model_type": ")") + type +
        R"(", "embedding_size": 128, "hidden_size": 4096, "max_position_embeddings": 512})");
    EXPECT_EQ(a.dim, 128) << type;
    EXPECT_EQ(a.num_rows, 512) << type;
    EXPECT_EQ(a.first_row, 0) << type;
  }
  // Longformer (RoBERTa's embeddings): positions from pad_token_id + 1 in 4098 rows.
  const hf::AbsoluteImport lf = parse_absolute_config(
      R"({"model_type": "longformer", "hidden_size": 768, "max_position_embeddings": 4098, "pad_token_id": 1})");
  EXPECT_EQ(lf.first_row, 2);
  EXPECT_EQ(lf.num_rows, 4098);
  // BioGPT: offset 2 like OPT, and the embedding scaled by sqrt(hidden_size) unless scale_embedding is
  // false (BioGptConfig's default is true).
  const hf::AbsoluteImport bg = parse_absolute_config(
      R"({"model_type": "biogpt", "hidden_size": 1024, "max_position_embeddings": 1024})");
  EXPECT_EQ(bg.first_row, 2);
  EXPECT_EQ(bg.num_rows, 1026);
  EXPECT_EQ(bg.embed_scale, 32.0f);
  EXPECT_EQ(bg.warnings.size(), 1u);
  EXPECT_EQ(
      parse_absolute_config(
          R"({"model_type": "biogpt", "hidden_size": 1024, "max_position_embeddings": 1024, "scale_embedding": false})")
          .embed_scale,
      1.0f);
}

TEST(HfAbsolute, Errors) {
  expect_error_naming([] { parse_absolute_config(R"({"model_type": "llama", "hidden_size": 4096})"); },
                      "model_type", {"\"llama\"", "load_rope_config", "gpt2"});
  try {
    parse_absolute_config(R"({"model_type": "llama"})");
    ADD_FAILURE() << "llama accepted";
  } catch (const Error& e) {
    // Every model type once, those with a table per stack too.
    const std::string allowed = e.allowed();
    for (const char* mt : {"whisper", "speech_to_text", "ctrl", "bert", "roberta", "bart", "mbart"}) {
      const std::string item = std::string(mt) + ",";
      size_t n = 0;
      for (size_t at = allowed.find(item); at != std::string::npos; at = allowed.find(item, at + 1))
        n += at == 0 || allowed[at - 1] == ' ';
      EXPECT_EQ(n, 1u) << mt << " in: " << allowed;
    }
  }
  expect_error_naming([] { parse_absolute_config(R"({"hidden_size": 4096})"); }, "model_type", {"absent"});
  expect_error_naming([] { parse_absolute_config(R"({"model_type": "gpt2", "n_positions": 1024})"); },
                      "n_embd", {"absent", "hidden_size"});
  expect_error_naming([] { parse_absolute_config(R"({"model_type": "bert", "hidden_size": 768})"); },
                      "max_position_embeddings", {"absent"});
  expect_error_naming(
      [] {
        parse_absolute_config(
            R"({"model_type": "electra", "hidden_size": 256, "max_position_embeddings": 512})");
      },
      "embedding_size", {"absent"});
  expect_error_naming(
      [] {
        parse_absolute_config(
            R"({"model_type": "distilbert", "dim": 768, "hidden_size": 512, "max_position_embeddings": 512})");
      },
      "dim", {"contradict"});
  expect_error_naming(
      [] {
        parse_absolute_config(
            R"({"model_type": "gpt2", "n_embd": 768, "hidden_size": 512, "n_positions": 8})");
      },
      "n_embd", {"contradict"});
  expect_error_naming(
      [] {
        parse_absolute_config(
            R"({"model_type": "bert", "hidden_size": 768, "max_position_embeddings": 512, "position_embedding_type": "relative_key"})");
      },
      "position_embedding_type", {"relative_key"});
  // XLM's interleaved (Vaswani) layout needs an even width (Marian's takes odd ones): the error names
  // the JSON field.
  expect_error_naming(
      [] {
        parse_absolute_config(
            R"({"model_type": "xlm", "emb_dim": 63, "max_position_embeddings": 8, "sinusoidal_embeddings": true})");
      },
      "emb_dim", {"63"});
  // The width given by its alias: the error names the field the config has.
  expect_error_naming(
      [] {
        parse_absolute_config(
            R"({"model_type": "distilbert", "hidden_size": 63, "max_position_embeddings": 8, "sinusoidal_pos_embds": true})");
      },
      "hidden_size", {"63"});
  expect_error_naming(
      [] {
        parse_absolute_config(R"({"model_type": "opt", "hidden_size": 8, "max_position_embeddings": 0})");
      },
      "max_position_embeddings", {"0"});
  expect_error_naming(
      [] {
        parse_absolute_config(
            R"({"model_type": "roberta", "hidden_size": 8, "max_position_embeddings": 9, "pad_token_id": -1})");
      },
      "pad_token_id", {"-1"});
  expect_error_naming(
      [] {
        parse_absolute_config(
            R"({"model_type": "roberta", "hidden_size": 8, "max_position_embeddings": 9, "pad_token_id": 8})");
      },
      "pad_token_id", {"8", "row"});
}

TEST(HfAbsolute, LoadFromFile) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "posenc_test_hf_absolute";
  std::filesystem::create_directories(dir);
  const std::filesystem::path p = dir / "config.json";
  std::ofstream(p) << R"({"model_type": "opt", "hidden_size": 64, "max_position_embeddings": 16})";
  EXPECT_EQ(hf::load_absolute_config(p).num_rows, 18);
  expect_error_naming([&] { hf::load_absolute_config(dir / "none.json"); }, "path", {"no such file"});
  std::filesystem::remove_all(dir);
}
