// tests/fuzz/fuzz_tokenizer.cpp — fuzz target: the pipeline's tokenizers (model/tokenizer.hpp) on
// arbitrary bytes. The first byte picks what the rest is:
//   0: the bytes of Tokenizer::serialize() (as stored in a checkpoint) for deserialize_tokenizer;
//   1: a corpus for build_word_tokenizer, 2: a corpus for build_char_tokenizer;
//   3: a SentencePiece model proto for load_sentencepiece_proto.
// Properties: every failure is a posenc::Error with where, argument and allowed range (anything else
// escapes and fails the run); a tokenizer that loads serializes to bytes that load back to the same
// bytes, and its ids [0, vocab) have pieces and decode; the ids of a tokenizer built from a corpus encode
// that corpus (the char tokenizer decodes it back exactly); ids outside [0, vocab) are errors.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"
#include "model/tokenizer.hpp"

namespace pm = posenc::model;
using posenc::fuzz::check_error;

namespace {

void check_tokenizer(const pm::Tokenizer& tok) {
  const int64_t V = tok.vocab_size();
  FUZZ_CHECK(V > 0, "vocab_size %lld", static_cast<long long>(V));
  const std::string bytes = tok.serialize();
  const std::unique_ptr<pm::Tokenizer> again = pm::deserialize_tokenizer(bytes);  // must load
  FUZZ_CHECK(again->kind() == tok.kind() && again->vocab_size() == V, "round trip changed the tokenizer");
  FUZZ_CHECK(again->serialize() == bytes, "serialize(deserialize(serialize())) differs");
  std::vector<int64_t> ids;
  for (int64_t id = 0; id < V && id < 64; ++id) {
    tok.id_to_piece(id);
    ids.push_back(id);
  }
  const std::string text = tok.decode(ids);
  try {
    tok.encode(text);  // word tokenizers may refuse the joined text (a piece split differently)
  } catch (const posenc::Error& e) {
    check_error(e);
  }
  for (const int64_t bad : {int64_t{-1}, V}) {
    try {
      tok.id_to_piece(bad);
      FUZZ_CHECK(false, "id_to_piece(%lld) with vocab %lld did not throw", static_cast<long long>(bad),
                 static_cast<long long>(V));
    } catch (const posenc::Error& e) {
      check_error(e);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::unique_ptr<pm::Tokenizer> tok;
  try {
    switch (data[0] % 4) {
      case 0:
        tok = pm::deserialize_tokenizer(rest);
        break;
      case 1:
        tok = pm::build_word_tokenizer(rest);
        break;
      case 2:
        tok = pm::build_char_tokenizer(rest);
        break;
      default:
        tok = pm::load_sentencepiece_proto(rest);
        break;
    }
  } catch (const posenc::Error& e) {
    check_error(e);
    return 0;
  }
  check_tokenizer(*tok);
  if (data[0] % 4 == 1 || data[0] % 4 == 2) {
    const std::vector<int64_t> ids = tok->encode(rest);  // the corpus is in its own vocabulary
    for (const int64_t id : ids)
      FUZZ_CHECK(id >= 0 && id < tok->vocab_size(), "id %lld", static_cast<long long>(id));
    if (data[0] % 4 == 2)
      FUZZ_CHECK(tok->decode(ids) == rest, "char tokenizer: decode(encode(corpus)) differs");
  }
  return 0;
}
