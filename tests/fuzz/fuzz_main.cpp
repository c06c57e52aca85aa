// tests/fuzz/fuzz_main.cpp — a standalone driver for posenc's fuzz targets, for builds without libFuzzer
// (GCC, the release and asan presets, CI).
//
// Each fuzz target defines LLVMFuzzerTestOneInput (the libFuzzer entry point, so the same file also
// builds with clang -fsanitize=fuzzer for long runs: cmake -DPOSENC_LIBFUZZER=ON, see tests/fuzz/README.md).
// This driver runs every file of the corpus directories given, then `--runs N` inputs made by mutating
// them with a seeded generator (`--seed S`): byte flips, inserted and deleted spans, splices of two
// inputs, copies of a span within an input and tokens from `--dict FILE` (libFuzzer's dictionary format:
// one "token" per line). The same seed gives the same inputs, so a failure in CI replays exactly; when
// an input crashes (a signal, an abort from a failed check or an uncaught exception, or a sanitizer
// report), it is written to `<--crash-dir>/fuzz-crash-input` (default: the working directory).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Present when a sanitizer runtime is linked: called before a sanitizer ends the process.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));
// UBSan's own runtime (GCC links it apart from ASan's) does not call that callback: let it end with abort(),
// which the SIGABRT handler below sees. UBSAN_OPTIONS still add to this.
extern "C" const char* __ubsan_default_options() {
  return "abort_on_error=1";
}

namespace {

using Bytes = std::vector<uint8_t>;

// The input being run, for the crash handlers (which may only use async-signal-safe calls).
const uint8_t* g_input = nullptr;
size_t g_input_size = 0;
char g_crash_path[4096] = "fuzz-crash-input";

void dump_input() {
  static volatile sig_atomic_t dumped = 0;
  if (dumped || g_input == nullptr) return;
  dumped = 1;
  const int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  size_t done = 0;
  while (done < g_input_size) {
    const ssize_t n = ::write(fd, g_input + done, g_input_size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  static const char kMsg[] = "fuzz driver: the failing input is in ";
  (void)!::write(2, kMsg, sizeof kMsg - 1);
  (void)!::write(2, g_crash_path, std::strlen(g_crash_path));
  (void)!::write(2, "\n", 1);
}

void on_signal(int sig) {
  dump_input();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void run_one(const Bytes& x) {
  g_input = x.data();
  g_input_size = x.size();
  LLVMFuzzerTestOneInput(x.data(), x.size());
  g_input = nullptr;
}

Bytes read_bytes(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// libFuzzer dictionary lines: name="token" or "token", with \\, \" and \xAB escapes.
std::vector<Bytes> read_dict(const std::filesystem::path& p) {
  std::vector<Bytes> out;
  std::ifstream f(p);
  std::string line;
  while (std::getline(f, line)) {
    const size_t a = line.find('"'), b = line.rfind('"');
    if (line.empty() || line[0] == '#' || a == std::string::npos || b <= a) continue;
    Bytes tok;
    for (size_t i = a + 1; i < b; ++i) {
      if (line[i] == '\\' && i + 1 < b) {
        if (line[i + 1] == 'x' && i + 3 < b) {
          tok.push_back(static_cast<uint8_t>(std::stoi(line.substr(i + 2, 2), nullptr, 16)));
          i += 3;
        } else {
          tok.push_back(static_cast<uint8_t>(line[++i]));
        }
      } else {
        tok.push_back(static_cast<uint8_t>(line[i]));
      }
    }
    out.push_back(std::move(tok));
  }
  return out;
}

class Mutator {
 public:
  Mutator(uint64_t seed, std::vector<Bytes> dict) : rng_(seed), dict_(std::move(dict)) {}

  Bytes mutate(const std::vector<Bytes>& corpus, size_t max_size) {
    Bytes x = corpus.empty() ? Bytes{} : corpus[pick(corpus.size())];
    const int steps = 1 + static_cast<int>(pick(4));
    for (int s = 0; s < steps; ++s) step(x, corpus);
    if (x.size() > max_size) x.resize(max_size);
    return x;
  }

 private:
  size_t pick(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  void step(Bytes& x, const std::vector<Bytes>& corpus) {
    switch (pick(7)) {
      case 0:  // flip bits of one byte
        if (!x.empty()) x[pick(x.size())] ^= static_cast<uint8_t>(1u << pick(8));
        break;
      case 1:  // set one byte to an interesting value
        if (!x.empty()) {
          static const uint8_t kVals[] = {0, 1, '-', '0', '9', '.', 'e', '"', ',', '{', '[', 0x7f, 0xff};
          x[pick(x.size())] = kVals[pick(sizeof kVals)];
        }
        break;
      case 2: {  // delete a span
        if (x.empty()) break;
        const size_t at = pick(x.size()), n = 1 + pick(std::min<size_t>(16, x.size() - at));
        x.erase(x.begin() + static_cast<ptrdiff_t>(at), x.begin() + static_cast<ptrdiff_t>(at + n));
        break;
      }
      case 3: {  // insert random bytes
        const size_t at = pick(x.size() + 1), n = 1 + pick(8);
        Bytes r(n);
        for (auto& b : r) b = static_cast<uint8_t>(pick(256));
        x.insert(x.begin() + static_cast<ptrdiff_t>(at), r.begin(), r.end());
        break;
      }
      case 4: {  // copy a span of the input elsewhere into it
        if (x.empty()) break;
        const size_t from = pick(x.size()), n = 1 + pick(std::min<size_t>(32, x.size() - from));
        const Bytes span(x.begin() + static_cast<ptrdiff_t>(from),
                         x.begin() + static_cast<ptrdiff_t>(from + n));
        x.insert(x.begin() + static_cast<ptrdiff_t>(pick(x.size() + 1)), span.begin(), span.end());
        break;
      }
      case 5: {  // splice: a prefix of this input and a suffix of another
        if (corpus.empty()) break;
        const Bytes& y = corpus[pick(corpus.size())];
        const size_t a = pick(x.size() + 1), b = pick(y.size() + 1);
        x.resize(a);
        x.insert(x.end(), y.begin() + static_cast<ptrdiff_t>(b), y.end());
        break;
      }
      default: {  // insert or overwrite with a dictionary token
        if (dict_.empty()) break;
        const Bytes& t = dict_[pick(dict_.size())];
        const size_t at = pick(x.size() + 1);
        if (pick(2) == 0 || at + t.size() > x.size()) {
          x.insert(x.begin() + static_cast<ptrdiff_t>(at), t.begin(), t.end());
        } else {
          std::copy(t.begin(), t.end(), x.begin() + static_cast<ptrdiff_t>(at));
        }
        break;
      }
    }
  }

  std::mt19937_64 rng_;
  std::vector<Bytes> dict_;
};

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--runs N] [--seed S] [--max-len BYTES] [--dict FILE] [--crash-dir DIR] "
               "CORPUS_DIR_OR_FILE...\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t runs = 0, seed = 1;
  size_t max_len = 4096;
  std::filesystem::path dict_path, crash_dir = ".";
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) std::exit(usage(argv[0]));
      return argv[++i];
    };
    if (a == "--runs")
      runs = std::stoull(value());
    else if (a == "--seed")
      seed = std::stoull(value());
    else if (a == "--max-len")
      max_len = std::stoull(value());
    else if (a == "--dict")
      dict_path = value();
    else if (a == "--crash-dir")
      crash_dir = value();
    else if (!a.empty() && a[0] == '-')
      return usage(argv[0]);
    else
      inputs.emplace_back(a);
  }
  std::vector<Bytes> corpus;
  for (const auto& p : inputs) {
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());  // directory order is not stable across file systems
      for (const auto& f : files) corpus.push_back(read_bytes(f));
    } else if (std::filesystem::is_regular_file(p)) {
      corpus.push_back(read_bytes(p));
    } else {
      std::fprintf(stderr, "fuzz driver: no such corpus file or directory: %s\n", p.c_str());
      return 2;
    }
  }
  std::vector<Bytes> dict;
  if (!dict_path.empty()) dict = read_dict(dict_path);

  const std::string crash_path = (crash_dir / "fuzz-crash-input").string();
  if (crash_path.size() >= sizeof g_crash_path) {
    std::fprintf(stderr, "fuzz driver: --crash-dir path too long\n");
    return 2;
  }
  std::memcpy(g_crash_path, crash_path.c_str(), crash_path.size() + 1);
  std::signal(SIGABRT, on_signal);  // failed FUZZ_CHECKs, uncaught exceptions
  if (__sanitizer_set_death_callback) {
    __sanitizer_set_death_callback(dump_input);  // the sanitizer keeps its own SEGV handler and report
  } else {
    // On an alternate stack, so that a stack overflow still reaches the handler.
    static std::vector<char> alt(1 << 16);
    stack_t ss{};
    ss.ss_sp = alt.data();
    ss.ss_size = alt.size();
    sigaltstack(&ss, nullptr);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_ONSTACK;
    for (const int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) sigaction(sig, &sa, nullptr);
  }

  for (const Bytes& x : corpus) run_one(x);
  Mutator m(seed, std::move(dict));
  for (uint64_t r = 0; r < runs; ++r) run_one(m.mutate(corpus, max_len));
  std::printf("fuzz driver: %zu corpus inputs and %llu mutations (seed %llu) ran without a failure\n",
              corpus.size(), static_cast<unsigned long long>(runs), static_cast<unsigned long long>(seed));
  return 0;
}
