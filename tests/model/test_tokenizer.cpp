// Tests of model/tokenizer.hpp: word, char and SentencePiece tokenizers, their errors and serialization.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "model/tokenizer.hpp"
#include "posenc/error.hpp"

namespace fs = std::filesystem;
using posenc::model::Tokenizer;
using posenc::model::TokenizerKind;

namespace {

// The message of the posenc::Error that f throws; fails the test if it throws nothing or something else.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const posenc::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-posenc exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "threw nothing";
  return {};
}

#define EXPECT_CONTAINS(haystack, needle)                          \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) \
      << "'" << (haystack) << "' lacks '" << (needle) << "'"

std::vector<std::string> strings(std::initializer_list<const char*> xs) {
  return {xs.begin(), xs.end()};
}

// ---- kinds ------------------------------------------------------------------------------------------------
TEST(TokenizerKind, NamesRoundTrip) {
  for (auto k : {TokenizerKind::Word, TokenizerKind::Char, TokenizerKind::SentencePiece}) {
    EXPECT_EQ(posenc::model::parse_tokenizer_kind(posenc::model::to_string(k)), k);
  }
  EXPECT_STREQ(posenc::model::to_string(TokenizerKind::Word), "word");
  EXPECT_STREQ(posenc::model::to_string(TokenizerKind::Char), "char");
  EXPECT_STREQ(posenc::model::to_string(TokenizerKind::SentencePiece), "sentencepiece");
  const std::string msg = error_of([] { posenc::model::parse_tokenizer_kind("bpe"); });
  EXPECT_CONTAINS(msg, "'bpe'");
  EXPECT_CONTAINS(msg, "word, char or sentencepiece");
}

// ---- word-level -------------------------------------------------------------------------------------------
TEST(WordTokenizer, SeedSplit) {
  const std::string text = "The quick brown fox jumps.";
  auto tok = posenc::model::build_word_tokenizer(text);
  EXPECT_EQ(tok->kind(), TokenizerKind::Word);
  EXPECT_EQ(tok->vocab_size(), 6);
  EXPECT_EQ(tok->pieces(text), strings({"The", "quick", "brown", "fox", "jumps", "."}));
  EXPECT_EQ(tok->encode(text), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(tok->decode(tok->encode(text)), text);
}

TEST(WordTokenizer, IdsInOrderOfFirstAppearanceCasePreserved) {
  auto tok = posenc::model::build_word_tokenizer("b a b The the a");
  EXPECT_EQ(tok->vocab_size(), 4);
  EXPECT_EQ(tok->id_to_piece(0), "b");
  EXPECT_EQ(tok->id_to_piece(1), "a");
  EXPECT_EQ(tok->id_to_piece(2), "The");
  EXPECT_EQ(tok->id_to_piece(3), "the");
  EXPECT_EQ(tok->encode("the b\n\ta"), (std::vector<int64_t>{3, 0, 1}));
}

TEST(WordTokenizer, SplittingRules) {
  const std::string text = "Don't stop: rock'n'roll (now), dogs' 'bones' x2 -- 3.14!";
  auto tok = posenc::model::build_word_tokenizer(text);
  EXPECT_EQ(tok->pieces(text),
            strings({"Don't", "stop",  ":", "rock'n'roll", "(", "now", ")", ",", "dogs", "'",
                     "'",     "bones", "'", "x2",          "-", "-",   "3", ".", "14",   "!"}));
  // Non-ASCII UTF-8 is word characters.
  const std::string utf8 = "naïve café — 東京";
  auto tok2 = posenc::model::build_word_tokenizer(utf8);
  EXPECT_EQ(tok2->pieces(utf8), strings({"naïve", "café", "—", "東京"}));
}

TEST(WordTokenizer, RoundTrips) {
  for (const std::string text : {"The quick brown fox jumps.", "naïve café — 東京",
                                 "Hello, world! (Really?) Yes: [a] {b}; don't.", "one"}) {
    auto tok = posenc::model::build_word_tokenizer(text);
    EXPECT_EQ(tok->decode(tok->encode(text)), text) << text;
  }
  // Newlines and whitespace runs separate words and come back as single spaces.
  const std::string lines = "line one.\nline  two!\n";
  auto tok = posenc::model::build_word_tokenizer(lines);
  EXPECT_EQ(tok->decode(tok->encode(lines)), "line one. line two!");
  EXPECT_EQ(tok->decode(std::vector<int64_t>{}), "");
}

TEST(WordTokenizer, OutOfVocabularyNamesWordAndOffset) {
  auto tok = posenc::model::build_word_tokenizer("the cat sat on the mat .");
  const std::string msg = error_of([&] { tok->encode("the cat sat on zebra"); });
  EXPECT_EQ(
      msg,
      "posenc::model::WordTokenizer::encode: text = 'zebra' at byte 15 is invalid (allowed: a word of the "
      "vocabulary (6 words))");
  const std::string msg2 = error_of([&] { tok->encode("the cat café"); });
  EXPECT_CONTAINS(msg2, "'café' at byte 8");
  const std::string msg3 = error_of([&] { tok->encode("the cat!"); });
  EXPECT_CONTAINS(msg3, "'!' at byte 7");
}

TEST(WordTokenizer, InvalidUtf8AndEmptyCorpus) {
  EXPECT_CONTAINS(error_of([] { posenc::model::build_word_tokenizer("ok caf\xc3 x"); }), "at byte 6");
  EXPECT_CONTAINS(error_of([] { posenc::model::build_word_tokenizer(" \n\t "); }), "without a word");
  auto tok = posenc::model::build_word_tokenizer("a b");
  EXPECT_CONTAINS(error_of([&] { tok->encode("a \xff"); }), "at byte 2");
}

// ---- character-level --------------------------------------------------------------------------------------
TEST(CharTokenizer, VocabularySortedByCodePoint) {
  auto tok = posenc::model::build_char_tokenizer("cab\na😀é");
  EXPECT_EQ(tok->kind(), TokenizerKind::Char);
  ASSERT_EQ(tok->vocab_size(), 6);
  EXPECT_EQ(tok->id_to_piece(0), "\n");
  EXPECT_EQ(tok->id_to_piece(1), "a");
  EXPECT_EQ(tok->id_to_piece(2), "b");
  EXPECT_EQ(tok->id_to_piece(3), "c");
  EXPECT_EQ(tok->id_to_piece(4), "é");
  EXPECT_EQ(tok->id_to_piece(5), "😀");
  EXPECT_EQ(tok->pieces("é😀a"), strings({"é", "😀", "a"}));
}

TEST(CharTokenizer, RoundTripsExactly) {
  const std::string text = "naïve café — 東京\nline 2:\ttab,  two spaces\r\n😀 end \n\n";
  auto tok = posenc::model::build_char_tokenizer(text);
  const auto ids = tok->encode(text);
  EXPECT_EQ(ids.size(), 50u);  // code points, not bytes
  EXPECT_EQ(tok->decode(ids), text);
  EXPECT_EQ(tok->decode(tok->encode("東京 café")), "東京 café");
}

TEST(CharTokenizer, OutOfVocabularyNamesCharAndOffset) {
  auto tok = posenc::model::build_char_tokenizer("abc é");
  const std::string msg = error_of([&] { tok->encode("ab é x"); });
  EXPECT_CONTAINS(msg, "'x' (U+0078) at byte 6");
  EXPECT_CONTAINS(msg, "a character of the vocabulary (5 characters)");
  EXPECT_CONTAINS(error_of([&] { tok->encode("a東"); }), "'東' (U+6771) at byte 1");
  EXPECT_CONTAINS(error_of([&] { tok->encode("a\n"); }), "'\\n' (U+000A) at byte 1");
}

TEST(CharTokenizer, InvalidUtf8NamesOffset) {
  // Stray continuation byte, truncated sequence, overlong encoding, surrogate, above U+10FFFF.
  EXPECT_CONTAINS(error_of([] { posenc::model::build_char_tokenizer("ab\x80"); }), "at byte 2");
  EXPECT_CONTAINS(error_of([] { posenc::model::build_char_tokenizer("abc\xe6\x9d"); }), "at byte 3");
  EXPECT_CONTAINS(error_of([] { posenc::model::build_char_tokenizer("a\xc0\xaf"); }), "at byte 1");
  EXPECT_CONTAINS(error_of([] { posenc::model::build_char_tokenizer("\xed\xa0\x80"); }), "at byte 0");
  EXPECT_CONTAINS(error_of([] { posenc::model::build_char_tokenizer("xy\xf4\x90\x80\x80"); }), "at byte 2");
  const std::string msg = error_of([] { posenc::model::build_char_tokenizer("ok\xff"); });
  EXPECT_CONTAINS(msg, "invalid UTF-8 (byte 0xff) at byte 2");
  EXPECT_CONTAINS(error_of([] { posenc::model::build_char_tokenizer(""); }), "empty");
  auto tok = posenc::model::build_char_tokenizer("ab");
  EXPECT_CONTAINS(error_of([&] { tok->encode("ab\xc3"); }), "at byte 2");
}

// ---- ids out of range (word, char) --------------------------------------------------------------------------
TEST(Tokenizer, IdsOutOfRange) {
  std::vector<std::unique_ptr<Tokenizer>> toks;
  toks.push_back(posenc::model::build_word_tokenizer("a b c"));
  toks.push_back(posenc::model::build_char_tokenizer("abc"));
  for (const auto& tok : toks) {
    EXPECT_CONTAINS(error_of([&] { tok->id_to_piece(3); }), "id = 3 is invalid (allowed: 0 .. 2");
    EXPECT_CONTAINS(error_of([&] { tok->id_to_piece(-1); }), "id = -1");
    const std::vector<int64_t> ids = {0, 1, 7};
    EXPECT_CONTAINS(error_of([&] { tok->decode(ids); }), "ids[2] = 7");
  }
}

// ---- serialization (word, char) -----------------------------------------------------------------------------
void expect_same_tokenizer(const Tokenizer& a, const Tokenizer& b, const std::string& text) {
  EXPECT_EQ(a.kind(), b.kind());
  EXPECT_EQ(a.vocab_size(), b.vocab_size());
  EXPECT_EQ(a.encode(text), b.encode(text));
  EXPECT_EQ(a.serialize(), b.serialize());
  for (int64_t id = 0; id < a.vocab_size(); ++id) EXPECT_EQ(a.id_to_piece(id), b.id_to_piece(id));
}

// Every prefix (with stride > 1: the first and last 512 and every stride-th in between).
void expect_every_truncation_fails(const std::string& bytes, size_t stride = 1) {
  for (size_t n = 0; n < bytes.size(); n += (n < 512 || n + 512 >= bytes.size()) ? 1 : stride) {
    const std::string msg =
        error_of([&] { posenc::model::deserialize_tokenizer(std::string_view(bytes).substr(0, n)); });
    if (msg.empty()) {
      ADD_FAILURE() << "prefix of " << n << " of " << bytes.size() << " bytes was accepted";
      return;
    }
  }
}

TEST(Serialization, WordAndCharRoundTrip) {
  const std::string text = "Spaces  and\nnewlines, tabs\t— naïve 東京 don't (x)!";
  auto word = posenc::model::build_word_tokenizer(text);
  auto chr = posenc::model::build_char_tokenizer(text);
  for (const Tokenizer* tok : {word.get(), chr.get()}) {
    const std::string bytes = tok->serialize();
    EXPECT_EQ(
        bytes.rfind(std::string("posenc-tokenizer v1 ") + posenc::model::to_string(tok->kind()) + "\n", 0),
        0u);
    auto back = posenc::model::deserialize_tokenizer(bytes);
    expect_same_tokenizer(*tok, *back, text);
  }
  EXPECT_EQ(chr->decode(posenc::model::deserialize_tokenizer(chr->serialize())->encode(text)), text);
}

TEST(Serialization, TruncatedOrMalformedBytesAreErrors) {
  const std::string text = "a b, c\nd é";
  expect_every_truncation_fails(posenc::model::build_word_tokenizer(text)->serialize());
  expect_every_truncation_fails(posenc::model::build_char_tokenizer(text)->serialize());
  const std::string good = posenc::model::build_char_tokenizer("ab")->serialize();
  EXPECT_CONTAINS(error_of([&] { posenc::model::deserialize_tokenizer(good + "x"); }), "trailing bytes");
  EXPECT_CONTAINS(error_of([] { posenc::model::deserialize_tokenizer("hello"); }), "header 'hello'");
  EXPECT_CONTAINS(
      error_of([] { posenc::model::deserialize_tokenizer("posenc-tokenizer v1 bytes\n1\n1 a\n"); }),
      "unknown kind 'bytes'");
  // Entries that do not fit the kind: chars out of order or not one character, words with spaces, repeats.
  for (const char* bad :
       {"posenc-tokenizer v1 char\n2\n1 b\n1 a\n", "posenc-tokenizer v1 char\n1\n2 ab\n",
        "posenc-tokenizer v1 char\n1\n1 \xff\n", "posenc-tokenizer v1 word\n1\n3 a b\n",
        "posenc-tokenizer v1 word\n2\n1 a\n1 a\n", "posenc-tokenizer v1 word\n0\n",
        "posenc-tokenizer v1 word\n1\n99999999999999999999 a\n", "posenc-tokenizer v1 word\n1\n1 a"}) {
    EXPECT_FALSE(error_of([&] { posenc::model::deserialize_tokenizer(bad); }).empty()) << bad;
  }
}

// ---- SentencePiece ------------------------------------------------------------------------------------------
// libsentencepiece exports its own bundled protobuf-lite; linked into a process that also loads the system
// libprotobuf (LibTorch does) it hijacked libprotobuf's calls and the process crashed during libprotobuf's
// static initialisation. The tokenizer now reaches sentencepiece through a module dlopen()ed with
// RTLD_LOCAL | RTLD_DEEPBIND. This test runs before the fixture below loads that module, so it covers
// "libprotobuf first, then sentencepiece" (the LibTorch binaries' order); the whole binary also covers the
// reverse order for the tests after it.
TEST(SentencePieceIsolation, TrainsAndEncodesWithSystemProtobufLoaded) {
  void* protobuf = ::dlopen("libprotobuf.so.32", RTLD_NOW | RTLD_GLOBAL);
  if (protobuf == nullptr) GTEST_SKIP() << "libprotobuf.so.32 is not installed: " << ::dlerror();
  std::random_device rd;
  const fs::path dir = fs::temp_directory_path() / ("posenc_test_spm_protobuf_" + std::to_string(::getpid()) +
                                                    "_" + std::to_string(rd()));
  fs::create_directories(dir);
  const std::string path = (dir / "train.txt").string();
  {
    std::ofstream out(path, std::ios::binary);
    const char* words[] = {"alpha", "beta", "gamma", "delta", "river", "garden", "lamp", "train"};
    for (int i = 0; i < 60; ++i)
      out << words[i % 8] << " " << words[(i * 3 + 1) % 8] << " " << words[(i * 5 + 2) % 8] << ".\n";
  }
  std::unique_ptr<Tokenizer> tok;
  EXPECT_NO_THROW(tok = posenc::model::train_sentencepiece(path, {.vocab_size = 24}));
  std::error_code ec;
  fs::remove_all(dir, ec);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->vocab_size(), 24);
  const std::string text = "alpha river lamp.";
  const auto ids = tok->encode(text);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(tok->decode(ids), text);
  auto back = posenc::model::deserialize_tokenizer(tok->serialize());
  EXPECT_EQ(back->encode(text), ids);
  ::dlclose(protobuf);
}

class SentencePieceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::random_device rd;
    dir_ = fs::temp_directory_path() /
           ("posenc_test_tokenizer_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    fs::create_directories(dir_);
    // A few KB of English-like sentences from a fixed generator.
    const std::vector<std::string> subjects = {"the cat",     "a dog",       "my friend",    "the old man",
                                               "every child", "the teacher", "a small bird", "our neighbour"};
    const std::vector<std::string> verbs = {"sees",      "likes",   "finds", "follows",
                                            "remembers", "watches", "helps"};
    const std::vector<std::string> objects = {"the red ball",     "a quiet garden", "the morning train",
                                              "some fresh bread", "the long river", "a bright lamp"};
    const std::vector<std::string> tails = {".", " today.", " again.", " in the park.", " every day.", "!"};
    std::mt19937 rng(12345);
    auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
    std::string text;
    for (int i = 0; i < 120; ++i) {
      std::string s = pick(subjects) + " " + pick(verbs) + " " + pick(objects) + pick(tails);
      s[0] = static_cast<char>(s[0] - 'a' + 'A');
      sentences_.push_back(s);
      text += s + "\n";
    }
    text_path_ = write("train.txt", text);
    model_ = posenc::model::train_sentencepiece(text_path_, {.vocab_size = 64});
  }
  static void TearDownTestSuite() {
    model_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static std::string write(const std::string& name, const std::string& bytes) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
  }

  static inline fs::path dir_;
  static inline std::string text_path_;
  static inline std::vector<std::string> sentences_;
  static inline std::unique_ptr<Tokenizer> model_;
};

TEST_F(SentencePieceTest, TrainsEncodesDecodes) {
  ASSERT_TRUE(model_);
  EXPECT_EQ(model_->kind(), TokenizerKind::SentencePiece);
  EXPECT_EQ(model_->vocab_size(), 64);
  const std::string& s = sentences_[0];
  const auto ids = model_->encode(s);
  ASSERT_FALSE(ids.empty());
  EXPECT_LT(ids.size(), s.size());  // pieces longer than single characters
  for (int64_t id : ids) EXPECT_TRUE(id >= 0 && id < 64) << id;
  EXPECT_EQ(model_->decode(ids), s);
  const auto pieces = model_->pieces(s);
  ASSERT_EQ(pieces.size(), ids.size());
  std::string joined;
  for (const auto& p : pieces) joined += p;
  EXPECT_EQ(joined.rfind("\xe2\x96\x81", 0), 0u) << joined;  // SentencePiece's word-boundary marker U+2581
  // Unknown characters map to <unk> instead of failing.
  const auto unk = model_->encode("東");
  EXPECT_FALSE(unk.empty());
}

TEST_F(SentencePieceTest, TrainingIsDeterministic) {
  auto again = posenc::model::train_sentencepiece(text_path_, {.vocab_size = 64});
  EXPECT_EQ(posenc::model::sentencepiece_model_proto(*again),
            posenc::model::sentencepiece_model_proto(*model_));
  auto bpe = posenc::model::train_sentencepiece(text_path_, {.vocab_size = 64, .model_type = "bpe"});
  EXPECT_EQ(bpe->vocab_size(), 64);
  EXPECT_EQ(bpe->decode(bpe->encode(sentences_[1])), sentences_[1]);
  auto bpe2 = posenc::model::train_sentencepiece(text_path_, {.vocab_size = 64, .model_type = "bpe"});
  EXPECT_EQ(bpe->serialize(), bpe2->serialize());
}

TEST_F(SentencePieceTest, ModelFileAndSerializationGiveIdenticalIds) {
  const std::string model_path = write("m.model", posenc::model::sentencepiece_model_proto(*model_));
  auto loaded = posenc::model::load_sentencepiece(model_path);
  auto back = posenc::model::deserialize_tokenizer(model_->serialize());
  std::string all;
  for (const auto& s : sentences_) all += s + " ";
  for (const Tokenizer* t : {loaded.get(), back.get()}) {
    EXPECT_EQ(t->kind(), TokenizerKind::SentencePiece);
    EXPECT_EQ(t->vocab_size(), model_->vocab_size());
    EXPECT_EQ(t->encode(all), model_->encode(all));
    EXPECT_EQ(t->serialize(), model_->serialize());
  }
}

TEST_F(SentencePieceTest, TruncatedSerializationIsAnError) {
  const std::string bytes = model_->serialize();
  expect_every_truncation_fails(bytes, 61);
  // The length prefix is what catches these: a model proto cut short can still parse.
  EXPECT_CONTAINS(error_of([&] { posenc::model::deserialize_tokenizer(bytes.substr(0, bytes.size() - 1)); }),
                  "truncated model proto");
  EXPECT_CONTAINS(
      error_of([] { posenc::model::deserialize_tokenizer("posenc-tokenizer v1 sentencepiece\n4\nabcd"); }),
      "a model proto that SentencePiece rejects");
}

TEST_F(SentencePieceTest, IdsOutOfRange) {
  EXPECT_CONTAINS(error_of([] { model_->id_to_piece(64); }), "id = 64 is invalid (allowed: 0 .. 63");
  EXPECT_CONTAINS(error_of([] { model_->id_to_piece(-5); }), "id = -5");
  const std::vector<int64_t> ids = {1, int64_t{1} << 40};
  EXPECT_CONTAINS(error_of([&] { model_->decode(ids); }), "ids[1] = 1099511627776");
}

TEST_F(SentencePieceTest, FileErrorsNameThePath) {
  const std::string missing = (dir_ / "no_such_file.txt").string();
  EXPECT_CONTAINS(error_of([&] { posenc::model::train_sentencepiece(missing, {}); }), "'" + missing + "'");
  const std::string empty = write("empty.txt", "");
  EXPECT_CONTAINS(error_of([&] { posenc::model::train_sentencepiece(empty, {}); }), "'" + empty + "'");
  const std::string blank = write("blank.txt", "  \n\n\t\n");
  EXPECT_CONTAINS(error_of([&] { posenc::model::train_sentencepiece(blank, {}); }), "no non-blank line");
  const std::string dir = dir_.string();
  EXPECT_CONTAINS(error_of([&] { posenc::model::train_sentencepiece(dir, {}); }), "'" + dir + "'");

  const std::string missing_model = (dir_ / "no_such.model").string();
  EXPECT_CONTAINS(error_of([&] { posenc::model::load_sentencepiece(missing_model); }),
                  "'" + missing_model + "'");
  for (const char* bytes : {"", "this is not a model proto\n", "\x0a\x05\x0a\x01"}) {
    const std::string bad = write("bad.model", bytes);
    const std::string msg = error_of([&] { posenc::model::load_sentencepiece(bad); });
    EXPECT_CONTAINS(msg, "'" + bad + "' (not a SentencePiece model: ");
  }
  const std::string proto = posenc::model::sentencepiece_model_proto(*model_);
  const std::string half = write("half.model", proto.substr(0, proto.size() / 2));
  EXPECT_CONTAINS(error_of([&] { posenc::model::load_sentencepiece(half); }), "'" + half + "'");
}

TEST_F(SentencePieceTest, OptionErrors) {
  const std::string msg =
      error_of([] { posenc::model::train_sentencepiece(text_path_, {.vocab_size = 5000}); });
  EXPECT_CONTAINS(msg, "vocab_size 5000");
  EXPECT_CONTAINS(msg, "Vocabulary size too high (5000). Please set it to a value <= ");
  EXPECT_CONTAINS(error_of([] { posenc::model::train_sentencepiece(text_path_, {.vocab_size = 0}); }),
                  "options.vocab_size = 0");
  // SentencePiece fails on 1 .. 3 pieces without a message (CLI audit): the range says why.
  EXPECT_CONTAINS(error_of([] { posenc::model::train_sentencepiece(text_path_, {.vocab_size = 3}); }),
                  "options.vocab_size = 3 is invalid (allowed: 4 .. 2147483647 (more than the 3 meta pieces");
  // A device never ends.
  EXPECT_CONTAINS(error_of([] { posenc::model::load_sentencepiece("/dev/zero"); }), "it is a device");
  EXPECT_CONTAINS(error_of([] { posenc::model::train_sentencepiece(text_path_, {.model_type = "char"}); }),
                  "options.model_type = 'char'");
  EXPECT_CONTAINS(
      error_of([] { posenc::model::train_sentencepiece(text_path_, {.character_coverage = 0.0}); }),
      "options.character_coverage = 0");
  EXPECT_CONTAINS(error_of([] { posenc::model::train_sentencepiece(text_path_, {.seed = 1ull << 32}); }),
                  "options.seed");
  auto word = posenc::model::build_word_tokenizer("a b");
  EXPECT_CONTAINS(error_of([&] { posenc::model::sentencepiece_model_proto(*word); }), "a word tokenizer");
}

}  // namespace
