// model/tokenizer.hpp — the pipeline's tokenizers behind one interface (library posenc::tokenize, no torch).
//
// Three kinds:
//   Word           vocabulary = every distinct word of a corpus, ids in order of first appearance.
//                  Splitting: a word is a maximal run of word characters — ASCII letters and digits and
//                  every byte >= 0x80 (so any non-ASCII UTF-8 character, e.g. "é", "—", "東"), plus an
//                  apostrophe between two word characters ("don't", "rock'n'roll"). Every other
//                  non-whitespace ASCII character (punctuation, symbols, control bytes) is a token of
//                  its own; ASCII whitespace (space, \t, \n, \v, \f, \r) separates and is dropped. Case
//                  is preserved: "The quick brown fox jumps." -> The|quick|brown|fox|jumps|.
//                  decode joins the words with single spaces, with no space before closing punctuation
//                  . , ; : ! ? ) ] } ' and none after opening ( [ {, so decode(encode(t)) == t for text
//                  written that way (whitespace runs and newlines become single spaces).
//   Char           vocabulary = every distinct UTF-8 code point of a corpus, ids in code point order.
//                  decode(encode(t)) == t exactly for valid UTF-8 text (whitespace and newlines are
//                  characters too).
//   SentencePiece  a SentencePiece model (libsentencepiece), unigram or BPE, trained on a text file or
//                  loaded from a .model file. Unknown text maps to its <unk> id, never an error.
//                  decode follows SentencePiece (its normalization: whitespace runs become one space).
//
// Word and Char reject invalid UTF-8 (building and encoding) and text outside the vocabulary with a
// posenc::Error naming the word or character (quoted; control characters escaped) and its byte offset:
//   "posenc::model::WordTokenizer::encode: text = 'zebra' at byte 12 is invalid (allowed: a word of the
//    vocabulary (6 words))".
// id_to_piece / decode reject ids outside [0, vocab_size). serialize() gives self-contained bytes
// (a header line "posenc-tokenizer v1 <kind>\n", then a length-prefixed vocabulary or model proto) that
// deserialize_tokenizer() turns back into an equal tokenizer; malformed or truncated bytes are a
// posenc::Error, never a crash. Tokenizers are immutable after construction: const members may be
// called from several threads. train_sentencepiece sets SentencePiece's process-wide random seed and
// log level: do not train two models concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace posenc::model {

enum class TokenizerKind : uint8_t { Word, Char, SentencePiece };

// "word", "char", "sentencepiece".
const char* to_string(TokenizerKind kind);
// The inverse of to_string; any other name is a posenc::Error listing the allowed names.
TokenizerKind parse_tokenizer_kind(std::string_view name);

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual TokenizerKind kind() const = 0;
  virtual int64_t vocab_size() const = 0;
  // Token ids of text. Word/Char: a word or character not in the vocabulary is a posenc::Error naming it
  // (quoted, UTF-8) and its byte offset in the text. SentencePiece maps unknowns to its <unk> id.
  virtual std::vector<int64_t> encode(std::string_view text) const = 0;
  // The piece strings of encode(text), one per id (for display).
  std::vector<std::string> pieces(std::string_view text) const;
  // The piece of an id; an id outside [0, vocab_size) is a posenc::Error.
  virtual std::string id_to_piece(int64_t id) const = 0;
  // The text of ids; an id outside [0, vocab_size) is a posenc::Error.
  virtual std::string decode(std::span<const int64_t> ids) const = 0;
  // Self-contained bytes that deserialize_tokenizer() turns back into an equal tokenizer (stored in
  // checkpoints).
  virtual std::string serialize() const = 0;
};

// The tokenizer of serialize()'s bytes; malformed or truncated bytes are a posenc::Error.
std::unique_ptr<Tokenizer> deserialize_tokenizer(std::string_view bytes);

// Word-level: vocabulary = every distinct word of corpus, ids in order of first appearance
// (deterministic). A corpus without words or with invalid UTF-8 is a posenc::Error.
std::unique_ptr<Tokenizer> build_word_tokenizer(std::string_view corpus);
// Character-level: vocabulary = every distinct UTF-8 code point of corpus (sorted by code point). Invalid
// UTF-8 (with its byte offset) or an empty corpus is a posenc::Error.
std::unique_ptr<Tokenizer> build_char_tokenizer(std::string_view corpus);

// SentencePiece training options. vocab_size in [1, 2^31 - 1] (SentencePiece itself needs more than its
// 3 special pieces <unk> <s> </s> and at most what the text supports); model_type "unigram" or "bpe";
// character_coverage in (0, 1]; seed in [0, 2^32 - 2] (SentencePiece's random generator seed).
struct SentencePieceOptions {
  int64_t vocab_size = 256;
  std::string model_type = "unigram";
  double character_coverage = 1.0;
  uint64_t seed = 0;
};
// Trains a SentencePiece model on the lines of a text file, in memory (no files written), deterministic
// for the same text and options. An unreadable or empty (whitespace-only) file is a posenc::Error naming
// the path; SentencePiece's own refusals (e.g. a vocab_size too large for the text) are a posenc::Error
// carrying SentencePiece's message.
std::unique_ptr<Tokenizer> train_sentencepiece(const std::string& text_path,
                                               const SentencePieceOptions& options);
// Loads a SentencePiece .model file; a missing, unreadable or corrupt file is a posenc::Error naming the path.
std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& model_path);
// A SentencePiece tokenizer from the bytes of a serialized model proto (a .model file's contents);
// corrupt bytes are a posenc::Error.
std::unique_ptr<Tokenizer> load_sentencepiece_proto(std::string_view serialized_model_proto);
// The serialized model proto of a SentencePiece tokenizer (the contents of a .model file). Any other
// tokenizer is a posenc::Error.
std::string sentencepiece_model_proto(const Tokenizer& tokenizer);

}  // namespace posenc::model
