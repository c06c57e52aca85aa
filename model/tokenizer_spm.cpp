// The SentencePiece tokenizer: libsentencepiece (0.1.97) behind posenc::model::Tokenizer.
//
// This file never touches sentencepiece itself: libsentencepiece exports its own bundled protobuf-lite,
// which breaks any process that also loads the system libprotobuf (LibTorch does). All sentencepiece
// code lives in the posenc_spm module (model/spm_shim.cpp, C API in model/spm_shim.h), loaded once on
// first use with dlopen(RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND): sentencepiece binds to its own protobuf
// and none of its symbols reach the global scope. The module is looked for at $POSENC_SPM_MODULE, next
// to the running executable, in the executable's ../lib/posenc/ (or ../<install libdir>/posenc), then at its
// build-tree path.
#include <dlfcn.h>

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "io/atomic_file.hpp"
#include "io/paths.hpp"
#include "model/spm_shim.h"
#include "model/tokenizer.hpp"
#include "posenc/error.hpp"

#ifndef POSENC_SPM_MODULE_NAME
#define POSENC_SPM_MODULE_NAME "libposenc_spm.so"
#endif

namespace posenc::model {

namespace {

std::string quote_path(const std::string& path) {
  return "'" + path + "'";
}

// SentencePiece's message without the source location and failed condition it may start with
// ("./src/trainer_interface.cc(660) [(a) == (b)] Vocabulary size too high ...").
std::string spm_message(std::string msg) {
  if (msg.empty()) return "the bytes do not parse as a SentencePiece ModelProto";
  const size_t open = msg.find(") [");
  if (open != std::string::npos && msg.rfind("./", 0) == 0) {
    const size_t close = msg.find("] ", open);
    if (close != std::string::npos) msg.erase(0, close + 2);
  }
  return msg;
}

// ---- the posenc_spm module --------------------------------------------------------------------------------
struct SpmApi {
  decltype(&posenc_spm_abi_version) abi_version = nullptr;
  decltype(&posenc_spm_free) free = nullptr;
  decltype(&posenc_spm_train) train = nullptr;
  decltype(&posenc_spm_load) load = nullptr;
  decltype(&posenc_spm_free_model) free_model = nullptr;
  decltype(&posenc_spm_vocab_size) vocab_size = nullptr;
  decltype(&posenc_spm_encode) encode = nullptr;
  decltype(&posenc_spm_id_to_piece) id_to_piece = nullptr;
  decltype(&posenc_spm_decode) decode = nullptr;
};

// RTLD_DEEPBIND isolates sentencepiece's protobuf; the sanitizer runtimes refuse it (they must interpose
// malloc & co.), so sanitized builds do without.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL;
#else
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif
#else
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif

// Where the module may be, in order (no duplicates).
std::vector<std::string> module_candidates() {
  std::vector<std::string> paths;
  auto add = [&](const std::string& p) {
    if (p.empty()) return;
    for (const auto& q : paths) {
      if (q == p) return;
    }
    paths.push_back(p);
  };
  if (const char* env = std::getenv("POSENC_SPM_MODULE"); env != nullptr) add(env);
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec && !exe.empty()) {
    const std::filesystem::path dir = exe.parent_path();
    add((dir / POSENC_SPM_MODULE_NAME).lexically_normal().string());
    add((dir / ".." / "lib" / "posenc" / POSENC_SPM_MODULE_NAME).lexically_normal().string());
#ifdef POSENC_SPM_MODULE_INSTALL_DIR
    add((dir / ".." / POSENC_SPM_MODULE_INSTALL_DIR / POSENC_SPM_MODULE_NAME).lexically_normal().string());
#endif
  }
#ifdef POSENC_SPM_MODULE_BUILD_PATH
  add(std::filesystem::path(POSENC_SPM_MODULE_BUILD_PATH).lexically_normal().string());
#endif
  return paths;
}

// Opens one candidate; nullptr and the reason in *why when it does not load or is not the module.
void* open_module(const std::string& path, SpmApi* api, std::string* why) {
  void* handle = ::dlopen(path.c_str(), kDlopenFlags);
  if (handle == nullptr) {
    const char* err = ::dlerror();
    *why = err != nullptr ? err : "dlopen failed";
    if (why->rfind(path + ": ", 0) == 0) why->erase(0, path.size() + 2);  // dlerror repeats the path
    return nullptr;
  }
  bool ok = true;
  auto get = [&](auto& fn, const char* name) {
    ::dlerror();
    void* sym = ::dlsym(handle, name);
    if (sym == nullptr) {
      if (ok) {
        const char* err = ::dlerror();
        *why = err != nullptr ? err : std::string("no symbol ") + name;
      }
      ok = false;
      return;
    }
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(sym);
  };
  get(api->abi_version, "posenc_spm_abi_version");
  get(api->free, "posenc_spm_free");
  get(api->train, "posenc_spm_train");
  get(api->load, "posenc_spm_load");
  get(api->free_model, "posenc_spm_free_model");
  get(api->vocab_size, "posenc_spm_vocab_size");
  get(api->encode, "posenc_spm_encode");
  get(api->id_to_piece, "posenc_spm_id_to_piece");
  get(api->decode, "posenc_spm_decode");
  if (ok && api->abi_version() != POSENC_SPM_ABI_VERSION) {
    *why = "ABI version " + std::to_string(api->abi_version()) + ", expected " +
           std::to_string(POSENC_SPM_ABI_VERSION);
    ok = false;
  }
  if (!ok) {
    ::dlclose(handle);
    *api = SpmApi{};
    return nullptr;
  }
  return handle;
}

struct LoadedModule {
  SpmApi api;
  std::string error;  // empty when loaded
};

// Loads the module on first use (thread-safe); it stays loaded for the life of the process.
const LoadedModule& loaded_module() {
  static const LoadedModule module = [] {
    LoadedModule m;
    std::string tried;
    for (const auto& path : module_candidates()) {
      std::string why;
      if (open_module(path, &m.api, &why) != nullptr) return m;
      if (!tried.empty()) tried += "; ";
      tried += quote_path(path) + ": " + why;
    }
    m.error = "cannot be loaded (tried " + (tried.empty() ? std::string("no path") : tried) + ")";
    return m;
  }();
  return module;
}

// The module's functions, or a posenc::Error from where when it cannot be loaded.
const SpmApi& spm_api(const char* where) {
  const LoadedModule& m = loaded_module();
  if (!m.error.empty()) {
    throw Error(where, "the SentencePiece module " POSENC_SPM_MODULE_NAME, m.error,
                "the module next to the executable, in its ../lib/posenc/, at its build path, or named by "
                "the POSENC_SPM_MODULE environment variable");
  }
  return m.api;
}

// Takes ownership of a buffer the module allocated.
struct ModuleFree {
  void (*free)(void*);
  void operator()(void* p) const { free(p); }
};
using ModuleBuffer = std::unique_ptr<char, ModuleFree>;

// The module's error message (freed); empty when there is none.
std::string take_error(const SpmApi& api, char* error) {
  ModuleBuffer owned(error, ModuleFree{api.free});
  return error != nullptr ? std::string(error) : std::string();
}

std::string take_bytes(const SpmApi& api, char* bytes, size_t size) {
  ModuleBuffer owned(bytes, ModuleFree{api.free});
  return bytes != nullptr ? std::string(bytes, size) : std::string();
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // A loaded model of proto; on failure nullptr and SentencePiece's message in *error.
  static std::unique_ptr<SentencePieceTokenizer> load(const SpmApi& api, std::string proto,
                                                      std::string* error) {
    char* err = nullptr;
    posenc_spm_model* model = api.load(proto.data(), proto.size(), &err);
    if (model == nullptr) {
      *error = spm_message(take_error(api, err));
      return nullptr;
    }
    return std::unique_ptr<SentencePieceTokenizer>(new SentencePieceTokenizer(api, std::move(proto), model));
  }
  ~SentencePieceTokenizer() override { api_.free_model(model_); }
  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;

  TokenizerKind kind() const override { return TokenizerKind::SentencePiece; }
  int64_t vocab_size() const override { return api_.vocab_size(model_); }

  std::vector<int64_t> encode(std::string_view text) const override {
    int32_t* ids = nullptr;
    size_t n = 0;
    char* err = nullptr;
    if (api_.encode(model_, text.data(), text.size(), &ids, &n, &err) != 0) {
      throw Error("posenc::model::SentencePieceTokenizer::encode", "text",
                  "a text of " + std::to_string(text.size()) + " bytes",
                  "text SentencePiece can encode (it says: " + spm_message(take_error(api_, err)) + ")");
    }
    std::unique_ptr<int32_t, ModuleFree> owned(ids, ModuleFree{api_.free});
    return std::vector<int64_t>(ids, ids + n);
  }

  std::string id_to_piece(int64_t id) const override {
    check_id(id, "posenc::model::SentencePieceTokenizer::id_to_piece", "id");
    char* piece = nullptr;
    size_t size = 0;
    char* err = nullptr;
    if (api_.id_to_piece(model_, static_cast<int32_t>(id), &piece, &size, &err) != 0) {
      throw Error("posenc::model::SentencePieceTokenizer::id_to_piece", "id", std::to_string(id),
                  "an id SentencePiece knows (it says: " + spm_message(take_error(api_, err)) + ")");
    }
    return take_bytes(api_, piece, size);
  }

  std::string decode(std::span<const int64_t> ids) const override {
    std::vector<int32_t> ids32;
    ids32.reserve(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      check_id(ids[i], "posenc::model::SentencePieceTokenizer::decode", "ids[" + std::to_string(i) + "]");
      ids32.push_back(static_cast<int32_t>(ids[i]));
    }
    char* text = nullptr;
    size_t size = 0;
    char* err = nullptr;
    if (api_.decode(model_, ids32.data(), ids32.size(), &text, &size, &err) != 0) {
      throw Error("posenc::model::SentencePieceTokenizer::decode", "ids", std::to_string(ids.size()) + " ids",
                  "ids SentencePiece can decode (it says: " + spm_message(take_error(api_, err)) + ")");
    }
    return take_bytes(api_, text, size);
  }

  std::string serialize() const override {
    return "posenc-tokenizer v1 sentencepiece\n" + std::to_string(proto_.size()) + "\n" + proto_;
  }

  const std::string& proto() const { return proto_; }

 private:
  SentencePieceTokenizer(const SpmApi& api, std::string proto, posenc_spm_model* model)
      : api_(api), proto_(std::move(proto)), model_(model) {}

  void check_id(int64_t id, const std::string& where, const std::string& argument) const {
    const int64_t n = vocab_size();
    if (id < 0 || id >= n) {
      throw Error(where, argument, std::to_string(id),
                  "0 .. " + std::to_string(n - 1) + ", the vocabulary has " + std::to_string(n) + " pieces");
    }
  }

  const SpmApi& api_;
  std::string proto_;
  posenc_spm_model* model_;
};

// The whole file (io::read_file: directories and devices refused), or false with the reason.
bool read_file(const std::string& path, std::string* out, std::string* why) {
  try {
    *out = io::read_file(path);
    return true;
  } catch (const io::IoError& e) {
    *why = e.allowed();  // the OS's or io's reason
    return false;
  }
}

std::string format_double(double v) {
  std::ostringstream ss;
  ss.imbue(std::locale::classic());
  ss.precision(17);
  ss << v;
  return ss.str();
}

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_proto(std::string_view serialized_model_proto) {
  static constexpr const char* kWhere = "posenc::model::load_sentencepiece_proto";
  const SpmApi& api = spm_api(kWhere);
  std::string error;
  auto tok = SentencePieceTokenizer::load(api, std::string(serialized_model_proto), &error);
  if (!tok) {
    throw Error(
        kWhere, "serialized_model_proto",
        std::to_string(serialized_model_proto.size()) + " bytes that SentencePiece rejects (" + error + ")",
        "a serialized SentencePiece ModelProto");
  }
  return tok;
}

std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& model_path) {
  static constexpr const char* kWhere = "posenc::model::load_sentencepiece";
  std::string bytes, why;
  if (!read_file(model_path, &bytes, &why)) {
    throw Error(kWhere, "model_path", quote_path(model_path) + " (cannot be read: " + why + ")",
                "a readable SentencePiece .model file");
  }
  const SpmApi& api = spm_api(kWhere);
  std::string error;
  auto tok = SentencePieceTokenizer::load(api, std::move(bytes), &error);
  if (!tok) {
    throw Error(kWhere, "model_path", quote_path(model_path) + " (not a SentencePiece model: " + error + ")",
                "a readable SentencePiece .model file");
  }
  return tok;
}

std::unique_ptr<Tokenizer> train_sentencepiece(const std::string& text_path,
                                               const SentencePieceOptions& options) {
  static constexpr const char* kWhere = "posenc::model::train_sentencepiece";
  // SentencePiece's trainer needs more pieces than its three meta pieces <unk>, <s>, </s> (it fails on
  // fewer without a message).
  if (options.vocab_size < 4 || options.vocab_size > INT32_MAX) {
    throw Error(kWhere, "options.vocab_size", std::to_string(options.vocab_size),
                "4 .. 2147483647 (more than the 3 meta pieces <unk>, <s>, </s>)");
  }
  if (options.model_type != "unigram" && options.model_type != "bpe") {
    throw Error(kWhere, "options.model_type", "'" + options.model_type + "'", "unigram or bpe");
  }
  if (!(options.character_coverage > 0.0 && options.character_coverage <= 1.0)) {
    throw Error(kWhere, "options.character_coverage", format_double(options.character_coverage), "(0, 1]");
  }
  // SentencePiece treats seed 2^32 - 1 as "no seed" (a random_device seed): not deterministic.
  if (options.seed >= UINT32_MAX) {
    throw Error(kWhere, "options.seed", std::to_string(options.seed), "0 .. 4294967294");
  }

  std::string text, why;
  if (!read_file(text_path, &text, &why)) {
    throw Error(kWhere, "text_path", quote_path(text_path) + " (cannot be read: " + why + ")",
                "a readable, non-empty text file");
  }
  std::vector<std::string> lines;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t\v\f\r") != std::string::npos) lines.push_back(std::move(line));
    start = end + 1;
  }
  if (lines.empty()) {
    throw Error(kWhere, "text_path",
                quote_path(text_path) + " (" + std::to_string(text.size()) + " bytes, no non-blank line)",
                "a readable, non-empty text file");
  }

  // In memory: no input file, no model_prefix; the model comes back as a serialized proto. A fixed thread
  // count keeps the (order-dependent) floating-point sums, hence the model, the same on every machine.
  const std::vector<std::pair<std::string, std::string>> args = {
      {"vocab_size", std::to_string(options.vocab_size)},
      {"model_type", options.model_type},
      {"character_coverage", format_double(options.character_coverage)},
      {"num_threads", "4"},
      {"input_sentence_size", "0"},
      {"shuffle_input_sentence", "false"},
      {"minloglevel", "2"},
  };
  const SpmApi& api = spm_api(kWhere);
  std::vector<const char*> line_data, keys, values;
  std::vector<size_t> line_sizes;
  for (const auto& line : lines) {
    line_data.push_back(line.data());
    line_sizes.push_back(line.size());
  }
  for (const auto& [key, value] : args) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  char* proto = nullptr;
  size_t proto_size = 0;
  char* err = nullptr;
  // The module sets SentencePiece's random seed and keeps its logging to errors while it trains.
  if (api.train(line_data.data(), line_sizes.data(), line_data.size(), keys.data(), values.data(),
                keys.size(), static_cast<uint32_t>(options.seed), &proto, &proto_size, &err) != 0) {
    throw Error(kWhere, "options",
                "vocab_size " + std::to_string(options.vocab_size) + ", model_type " + options.model_type +
                    " on " + quote_path(text_path),
                "options SentencePiece can train with on this text (it says: " +
                    spm_message(take_error(api, err)) + ")");
  }
  return load_sentencepiece_proto(take_bytes(api, proto, proto_size));
}

std::string sentencepiece_model_proto(const Tokenizer& tokenizer) {
  const auto* spm = dynamic_cast<const SentencePieceTokenizer*>(&tokenizer);
  if (spm == nullptr) {
    throw Error("posenc::model::sentencepiece_model_proto", "tokenizer",
                std::string("a ") + to_string(tokenizer.kind()) + " tokenizer", "a sentencepiece tokenizer");
  }
  return spm->proto();
}

}  // namespace posenc::model
