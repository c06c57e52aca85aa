// The posenc_spm module: libsentencepiece (0.1.97) behind the C API of model/spm_shim.h. Built with
// hidden visibility: it exports the posenc_spm_* functions only. model/tokenizer_spm.cpp loads it with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND) so that sentencepiece's bundled protobuf never meets the system one.
#include "model/spm_shim.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

// Exported by libsentencepiece but not declared in its public headers: the minimum log level of its
// LOG(INFO/WARNING/ERROR) output on stderr (0 = info, 1 = warning, 2 = error).
namespace sentencepiece::logging {
int GetMinLogLevel();
void SetMinLogLevel(int v);
}  // namespace sentencepiece::logging

struct posenc_spm_model {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {

// Keeps SentencePiece quiet (errors only) for the lifetime of the guard.
class QuietLogs {
 public:
  QuietLogs() : saved_(sentencepiece::logging::GetMinLogLevel()) {
    if (saved_ < 2) sentencepiece::logging::SetMinLogLevel(2);
  }
  ~QuietLogs() { sentencepiece::logging::SetMinLogLevel(saved_); }
  QuietLogs(const QuietLogs&) = delete;
  QuietLogs& operator=(const QuietLogs&) = delete;

 private:
  int saved_;
};

// The given sentences, one after the other.
class LineIterator final : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(std::vector<std::string> lines) : lines_(std::move(lines)) {}
  bool done() const override { return index_ >= lines_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return lines_[index_]; }
  sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

 private:
  std::vector<std::string> lines_;
  size_t index_ = 0;
};

// A malloc'ed copy of bytes (NUL-terminated, so texts are C strings too); NULL when out of memory.
char* copy_bytes(std::string_view bytes) {
  auto* out = static_cast<char*>(std::malloc(bytes.size() + 1));
  if (out == nullptr) return nullptr;
  if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
  out[bytes.size()] = '\0';
  return out;
}

int fail(char** error_out, std::string_view message) {
  if (error_out != nullptr) *error_out = copy_bytes(message);
  return 1;
}

// Runs f, turning an exception into a failure: no exception crosses the C API.
template <class F>
int guarded(char** error_out, F&& f) {
  if (error_out != nullptr) *error_out = nullptr;
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return fail(error_out, "out of memory");
  } catch (const std::exception& e) {
    return fail(error_out, e.what());
  } catch (...) {
    return fail(error_out, "unknown exception");
  }
}

int give_bytes(std::string_view bytes, char** out, size_t* size_out, char** error_out) {
  char* copy = copy_bytes(bytes);
  if (copy == nullptr) return fail(error_out, "out of memory");
  *out = copy;
  *size_out = bytes.size();
  return 0;
}

}  // namespace

extern "C" {

int posenc_spm_abi_version(void) {
  return POSENC_SPM_ABI_VERSION;
}

void posenc_spm_free(void* buffer) {
  std::free(buffer);
}

int posenc_spm_train(const char* const* lines, const size_t* line_sizes, size_t n_lines,
                     const char* const* keys, const char* const* values, size_t n_args, uint32_t seed,
                     char** proto_out, size_t* proto_size_out, char** error_out) {
  return guarded(error_out, [&] {
    std::vector<std::string> sentences;
    sentences.reserve(n_lines);
    for (size_t i = 0; i < n_lines; ++i) sentences.emplace_back(lines[i], line_sizes[i]);
    std::unordered_map<std::string, std::string> args;
    for (size_t i = 0; i < n_args; ++i) args[keys[i]] = values[i];

    QuietLogs quiet;
    sentencepiece::SetRandomGeneratorSeed(static_cast<unsigned int>(seed));
    LineIterator it(std::move(sentences));
    std::string proto;
    const auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, &proto);
    if (!status.ok()) return fail(error_out, status.message());
    return give_bytes(proto, proto_out, proto_size_out, error_out);
  });
}

posenc_spm_model* posenc_spm_load(const char* proto, size_t proto_size, char** error_out) {
  posenc_spm_model* result = nullptr;
  guarded(error_out, [&] {
    auto model = std::make_unique<posenc_spm_model>();
    QuietLogs quiet;
    const auto status = model->sp.LoadFromSerializedProto(absl::string_view(proto, proto_size));
    if (!status.ok()) return fail(error_out, status.message());
    if (model->sp.GetPieceSize() <= 0) return fail(error_out, "the model has no pieces");
    result = model.release();
    return 0;
  });
  return result;
}

void posenc_spm_free_model(posenc_spm_model* model) {
  delete model;
}

int32_t posenc_spm_vocab_size(const posenc_spm_model* model) {
  return model->sp.GetPieceSize();
}

int posenc_spm_encode(const posenc_spm_model* model, const char* text, size_t text_size, int32_t** ids_out,
                      size_t* n_ids_out, char** error_out) {
  return guarded(error_out, [&] {
    std::vector<int> ids;
    const auto status = model->sp.Encode(absl::string_view(text, text_size), &ids);
    if (!status.ok()) return fail(error_out, status.message());
    int32_t* out = nullptr;
    if (!ids.empty()) {
      out = static_cast<int32_t*>(std::malloc(ids.size() * sizeof(int32_t)));
      if (out == nullptr) return fail(error_out, "out of memory");
      for (size_t i = 0; i < ids.size(); ++i) out[i] = static_cast<int32_t>(ids[i]);
    }
    *ids_out = out;
    *n_ids_out = ids.size();
    return 0;
  });
}

int posenc_spm_id_to_piece(const posenc_spm_model* model, int32_t id, char** piece_out,
                           size_t* piece_size_out, char** error_out) {
  return guarded(error_out, [&] {
    if (id < 0 || id >= model->sp.GetPieceSize()) {
      return fail(error_out, "id " + std::to_string(id) + " is out of range");
    }
    return give_bytes(model->sp.IdToPiece(id), piece_out, piece_size_out, error_out);
  });
}

int posenc_spm_decode(const posenc_spm_model* model, const int32_t* ids, size_t n_ids, char** text_out,
                      size_t* text_size_out, char** error_out) {
  return guarded(error_out, [&] {
    const int n = model->sp.GetPieceSize();
    std::vector<int> ids32(n_ids);
    for (size_t i = 0; i < n_ids; ++i) {
      if (ids[i] < 0 || ids[i] >= n)
        return fail(error_out, "id " + std::to_string(ids[i]) + " is out of range");
      ids32[i] = ids[i];
    }
    std::string text;
    const auto status = model->sp.Decode(ids32, &text);
    if (!status.ok()) return fail(error_out, status.message());
    return give_bytes(text, text_out, text_size_out, error_out);
  });
}

}  // extern "C"
