// Word- and character-level tokenizers, the kind names, and (de)serialization of all three kinds.
#include "model/tokenizer.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <utility>

#include "posenc/error.hpp"

namespace posenc::model {

namespace {

constexpr std::string_view kMagic = "posenc-tokenizer v1 ";

// A piece of text for an error message: quoted, control characters and backslashes escaped, UTF-8 kept.
std::string quote(std::string_view s, size_t max_bytes = 64) {
  std::string out = "'";
  size_t n = std::min(s.size(), max_bytes);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (n < s.size()) out += "...";
  return out + "'";
}

std::string hex_byte(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", c);
  return buf;
}

// Length in bytes of the valid UTF-8 sequence at s[i] and its code point, or 0 when invalid (bad lead
// byte, truncated, bad continuation, overlong, surrogate, above U+10FFFF).
size_t utf8_next(std::string_view s, size_t i, char32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t len;
  char32_t v;
  char32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, v = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, v = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, v = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

// Throws for the first invalid UTF-8 byte of text.
void check_utf8(std::string_view text, const char* where, const char* argument) {
  for (size_t i = 0; i < text.size();) {
    char32_t cp;
    const size_t n = utf8_next(text, i, &cp);
    if (n == 0) {
      throw Error(where, argument,
                  "invalid UTF-8 (byte " + hex_byte(static_cast<unsigned char>(text[i])) + ") at byte " +
                      std::to_string(i),
                  "valid UTF-8 text");
    }
    i += n;
  }
}

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool is_word_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

struct Span {
  size_t offset;
  size_t size;
};

// The words of text (see the header): maximal runs of word characters with inner apostrophes, single
// punctuation characters; whitespace dropped.
std::vector<Span> split_words(std::string_view text) {
  std::vector<Span> out;
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (is_space(c)) {
      ++i;
    } else if (is_word_char(c)) {
      const size_t start = i;
      ++i;
      while (i < n) {
        const auto d = static_cast<unsigned char>(text[i]);
        if (is_word_char(d)) {
          ++i;
        } else if (d == '\'' && i + 1 < n && is_word_char(static_cast<unsigned char>(text[i + 1]))) {
          i += 2;
        } else {
          break;
        }
      }
      out.push_back({start, i - start});
    } else {
      out.push_back({i, 1});
      ++i;
    }
  }
  return out;
}

bool is_closing(std::string_view piece) {
  return piece.size() == 1 && std::string_view(".,;:!?)]}'").find(piece[0]) != std::string_view::npos;
}
bool is_opening(std::string_view piece) {
  return piece.size() == 1 && (piece[0] == '(' || piece[0] == '[' || piece[0] == '{');
}

void check_id(int64_t id, int64_t vocab_size, const std::string& where, const std::string& argument) {
  if (id < 0 || id >= vocab_size) {
    throw Error(where, argument, std::to_string(id),
                "0 .. " + std::to_string(vocab_size - 1) + ", the vocabulary has " +
                    std::to_string(vocab_size) + " pieces");
  }
}

// Vocabulary payload: "<count>\n" then, per entry, "<byte length> <bytes>\n".
std::string serialize_entries(TokenizerKind kind, const std::vector<std::string>& entries) {
  std::string out(kMagic);
  out += to_string(kind);
  out += '\n';
  out += std::to_string(entries.size());
  out += '\n';
  for (const auto& e : entries) {
    out += std::to_string(e.size());
    out += ' ';
    out += e;
    out += '\n';
  }
  return out;
}

// Reads serialize()'s bytes; every failure is a posenc::Error naming where the bytes went wrong.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(
        "posenc::model::deserialize_tokenizer", "bytes",
        what + " at byte " + std::to_string(pos_) + " (of " + std::to_string(bytes_.size()) + ")",
        "the bytes of Tokenizer::serialize(): a header 'posenc-tokenizer v1 <word|char|sentencepiece>' "
        "and its payload");
  }
  size_t pos() const { return pos_; }
  bool at_end() const { return pos_ == bytes_.size(); }
  std::string_view rest() const { return bytes_.substr(pos_); }

  // A decimal number (at most 18 digits) ended by `end`.
  uint64_t number(char end, const std::string& what) {
    size_t i = pos_;
    while (i < bytes_.size() && bytes_[i] >= '0' && bytes_[i] <= '9' && i - pos_ < 19) ++i;
    if (i == pos_ || i - pos_ > 18) fail("a malformed " + what);
    if (i == bytes_.size()) fail("a truncated " + what);
    if (bytes_[i] != end) fail("a malformed " + what);
    uint64_t v = 0;
    std::from_chars(bytes_.data() + pos_, bytes_.data() + i, v);
    pos_ = i + 1;
    return v;
  }
  // n bytes.
  std::string_view take(uint64_t n, const std::string& what) {
    if (n > bytes_.size() - pos_) fail("a truncated " + what);
    auto out = bytes_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  void expect(char c, const std::string& what) {
    if (pos_ == bytes_.size()) fail("a truncated " + what);
    if (bytes_[pos_] != c) fail("a malformed " + what);
    ++pos_;
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

std::vector<std::string> read_entries(Reader& r, const char* noun) {
  const uint64_t count = r.number('\n', std::string(noun) + " count");
  if (count == 0) r.fail(std::string("an empty vocabulary (0 ") + noun + "s)");
  std::vector<std::string> entries;
  entries.reserve(static_cast<size_t>(std::min<uint64_t>(count, r.rest().size() / 3 + 1)));
  for (uint64_t k = 0; k < count; ++k) {
    const std::string what = std::string(noun) + " " + std::to_string(k) + " of " + std::to_string(count);
    const uint64_t len = r.number(' ', "length of " + what);
    entries.emplace_back(r.take(len, what));
    r.expect('\n', "end of " + what);
  }
  if (!r.at_end()) r.fail("trailing bytes after the " + std::to_string(count) + " " + noun + "s");
  return entries;
}

// ---- word-level ---------------------------------------------------------------------------------------
class WordTokenizer final : public Tokenizer {
 public:
  // words: distinct, valid words (checked by the callers).
  explicit WordTokenizer(std::vector<std::string> words) : words_(std::move(words)) {
    ids_.reserve(words_.size());
    for (size_t i = 0; i < words_.size(); ++i) ids_.emplace(words_[i], static_cast<int64_t>(i));
  }

  TokenizerKind kind() const override { return TokenizerKind::Word; }
  int64_t vocab_size() const override { return static_cast<int64_t>(words_.size()); }

  std::vector<int64_t> encode(std::string_view text) const override {
    static constexpr const char* kWhere = "posenc::model::WordTokenizer::encode";
    check_utf8(text, kWhere, "text");
    std::vector<int64_t> out;
    for (const Span& w : split_words(text)) {
      const std::string word(text.substr(w.offset, w.size));
      const auto it = ids_.find(word);
      if (it == ids_.end()) {
        throw Error(kWhere, "text", quote(word) + " at byte " + std::to_string(w.offset),
                    "a word of the vocabulary (" + std::to_string(words_.size()) + " words)");
      }
      out.push_back(it->second);
    }
    return out;
  }

  std::string id_to_piece(int64_t id) const override {
    check_id(id, vocab_size(), "posenc::model::WordTokenizer::id_to_piece", "id");
    return words_[static_cast<size_t>(id)];
  }

  std::string decode(std::span<const int64_t> ids) const override {
    std::string out;
    std::string_view prev;
    for (size_t i = 0; i < ids.size(); ++i) {
      check_id(ids[i], vocab_size(), "posenc::model::WordTokenizer::decode",
               "ids[" + std::to_string(i) + "]");
      const std::string& w = words_[static_cast<size_t>(ids[i])];
      if (i > 0 && !is_closing(w) && !is_opening(prev)) out += ' ';
      out += w;
      prev = w;
    }
    return out;
  }

  std::string serialize() const override { return serialize_entries(TokenizerKind::Word, words_); }

 private:
  std::vector<std::string> words_;
  std::unordered_map<std::string, int64_t> ids_;
};

// ---- character-level ----------------------------------------------------------------------------------
class CharTokenizer final : public Tokenizer {
 public:
  // code_points: strictly increasing, valid scalar values (checked by the callers).
  explicit CharTokenizer(std::vector<char32_t> code_points) : code_points_(std::move(code_points)) {
    pieces_.reserve(code_points_.size());
    for (char32_t cp : code_points_) pieces_.push_back(encode_utf8(cp));
  }

  static std::string encode_utf8(char32_t cp) {
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
  }

  TokenizerKind kind() const override { return TokenizerKind::Char; }
  int64_t vocab_size() const override { return static_cast<int64_t>(code_points_.size()); }

  std::vector<int64_t> encode(std::string_view text) const override {
    static constexpr const char* kWhere = "posenc::model::CharTokenizer::encode";
    check_utf8(text, kWhere, "text");
    std::vector<int64_t> out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      char32_t cp = 0;
      const size_t n = utf8_next(text, i, &cp);
      const auto it = std::lower_bound(code_points_.begin(), code_points_.end(), cp);
      if (it == code_points_.end() || *it != cp) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
        throw Error(kWhere, "text", quote(text.substr(i, n)) + " (" + buf + ") at byte " + std::to_string(i),
                    "a character of the vocabulary (" + std::to_string(code_points_.size()) + " characters)");
      }
      out.push_back(it - code_points_.begin());
      i += n;
    }
    return out;
  }

  std::string id_to_piece(int64_t id) const override {
    check_id(id, vocab_size(), "posenc::model::CharTokenizer::id_to_piece", "id");
    return pieces_[static_cast<size_t>(id)];
  }

  std::string decode(std::span<const int64_t> ids) const override {
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) {
      check_id(ids[i], vocab_size(), "posenc::model::CharTokenizer::decode",
               "ids[" + std::to_string(i) + "]");
      out += pieces_[static_cast<size_t>(ids[i])];
    }
    return out;
  }

  std::string serialize() const override { return serialize_entries(TokenizerKind::Char, pieces_); }

 private:
  std::vector<char32_t> code_points_;
  std::vector<std::string> pieces_;
};

}  // namespace

// ---- kinds ----------------------------------------------------------------------------------------------
const char* to_string(TokenizerKind kind) {
  switch (kind) {
    case TokenizerKind::Word:
      return "word";
    case TokenizerKind::Char:
      return "char";
    case TokenizerKind::SentencePiece:
      return "sentencepiece";
  }
  return "unknown";
}

TokenizerKind parse_tokenizer_kind(std::string_view name) {
  for (auto k : {TokenizerKind::Word, TokenizerKind::Char, TokenizerKind::SentencePiece}) {
    if (name == to_string(k)) return k;
  }
  throw Error("posenc::model::parse_tokenizer_kind", "name", quote(name), "word, char or sentencepiece");
}

std::vector<std::string> Tokenizer::pieces(std::string_view text) const {
  std::vector<std::string> out;
  for (int64_t id : encode(text)) out.push_back(id_to_piece(id));
  return out;
}

// ---- builders -------------------------------------------------------------------------------------------
std::unique_ptr<Tokenizer> build_word_tokenizer(std::string_view corpus) {
  static constexpr const char* kWhere = "posenc::model::build_word_tokenizer";
  check_utf8(corpus, kWhere, "corpus");
  std::vector<std::string> words;
  std::unordered_map<std::string_view, size_t> seen;
  for (const Span& w : split_words(corpus)) {
    const std::string_view word = corpus.substr(w.offset, w.size);
    if (seen.emplace(word, words.size()).second) words.emplace_back(word);
  }
  if (words.empty()) {
    throw Error(kWhere, "corpus", "text of " + std::to_string(corpus.size()) + " bytes without a word",
                "text with at least one word or punctuation character");
  }
  return std::make_unique<WordTokenizer>(std::move(words));
}

std::unique_ptr<Tokenizer> build_char_tokenizer(std::string_view corpus) {
  static constexpr const char* kWhere = "posenc::model::build_char_tokenizer";
  check_utf8(corpus, kWhere, "corpus");
  if (corpus.empty()) throw Error(kWhere, "corpus", "'' (empty)", "text with at least one character");
  std::vector<char32_t> cps;
  for (size_t i = 0; i < corpus.size();) {
    char32_t cp = 0;
    i += utf8_next(corpus, i, &cp);
    cps.push_back(cp);
  }
  std::sort(cps.begin(), cps.end());
  cps.erase(std::unique(cps.begin(), cps.end()), cps.end());
  return std::make_unique<CharTokenizer>(std::move(cps));
}

// ---- deserialization ------------------------------------------------------------------------------------
std::unique_ptr<Tokenizer> deserialize_tokenizer(std::string_view bytes) {
  Reader r(bytes);
  const size_t eol = bytes.find('\n');
  if (eol == std::string_view::npos || bytes.substr(0, kMagic.size()) != kMagic) {
    r.fail("header " + quote(bytes.substr(0, std::min<size_t>(eol, 40)), 40));
  }
  const std::string_view name = bytes.substr(kMagic.size(), eol - kMagic.size());
  TokenizerKind kind;
  if (name == "word") {
    kind = TokenizerKind::Word;
  } else if (name == "char") {
    kind = TokenizerKind::Char;
  } else if (name == "sentencepiece") {
    kind = TokenizerKind::SentencePiece;
  } else {
    r.fail("unknown kind " + quote(name, 40) + " in the header");
  }
  r.take(eol + 1, "header");

  switch (kind) {
    case TokenizerKind::Word: {
      std::vector<std::string> words = read_entries(r, "word");
      std::unordered_map<std::string_view, size_t> seen;
      for (size_t k = 0; k < words.size(); ++k) {
        const std::string& w = words[k];
        const auto spans = split_words(w);
        bool ok = spans.size() == 1 && spans[0].offset == 0 && spans[0].size == w.size();
        for (size_t i = 0; ok && i < w.size();) {
          char32_t cp;
          const size_t n = utf8_next(w, i, &cp);
          ok = n > 0;
          i += n;
        }
        if (!ok) r.fail("word " + std::to_string(k) + " = " + quote(w) + ", not a single valid word,");
        if (!seen.emplace(w, k).second)
          r.fail("a repeated word " + quote(w) + " (entry " + std::to_string(k) + ")");
      }
      return std::make_unique<WordTokenizer>(std::move(words));
    }
    case TokenizerKind::Char: {
      const std::vector<std::string> chars = read_entries(r, "char");
      std::vector<char32_t> cps;
      cps.reserve(chars.size());
      for (size_t k = 0; k < chars.size(); ++k) {
        const std::string& c = chars[k];
        char32_t cp = 0;
        if (c.empty() || utf8_next(c, 0, &cp) != c.size()) {
          r.fail("char " + std::to_string(k) + " = " + quote(c) + ", not one valid UTF-8 character,");
        }
        if (!cps.empty() && cp <= cps.back()) {
          r.fail("char " + std::to_string(k) + " = " + quote(c) + " out of code point order");
        }
        cps.push_back(cp);
      }
      return std::make_unique<CharTokenizer>(std::move(cps));
    }
    case TokenizerKind::SentencePiece: {
      const uint64_t len = r.number('\n', "length of the model proto");
      const std::string_view proto = r.take(len, "model proto");
      if (!r.at_end()) r.fail("trailing bytes after the model proto");
      try {
        return load_sentencepiece_proto(proto);
      } catch (const Error& e) {
        r.fail("a model proto that SentencePiece rejects (" + e.value() + ")");
      }
    }
  }
  r.fail("an unknown kind");
}

}  // namespace posenc::model
