// cli/cmd_bench.cpp — `posenc bench`: run the Google Benchmark suite, print one table.
//
//   posenc bench [--quick] [--json PATH] [--threads N[,M...]] [--precision exact|hf_compat]
//                [--ops LIST] [--dtype f32|bf16] [--bench-dir DIR] [--repetitions N] [--min-time S]
// Runs posenc_bench_rope, posenc_bench_embed and posenc_bench_bias (found next to this executable, or
// in --bench-dir)
// with --benchmark_format=json and a --benchmark_filter naming exactly the rows needed, and pairs
// their rows by (op, shape, dtype), as bench/summarize.py does (names are <op>/<impl>/<shape>/<dtype>,
// see the header comments of bench/bench_rope.cpp, bench/bench_embed.cpp and bench/bench_bias.cpp):
//   posenc  rope_fwd, rope_bwd: posenc_exact (--precision hf_compat: posenc_hf); embed_*: posenc
//           (one precision); sin_table_exact / sin_table_hf (chosen by --precision): posenc;
//           rope_fwd+cache, rope_bwd+cache: posenc_cached / posenc_hf_cached (a RopeCache built
//           before timing) against torch_pre / torch_explicit (HF with cos/sin given);
//           rope_fwd+out, rope_bwd+out: posenc_exact_out / posenc_hf_out (out of place, per call,
//           the GQA shape, not with --quick); alibi_bias, t5_fwd, t5_bwd: posenc
//   copy    the memcpy ceiling of the same bytes (read + written), same run: op "rope" for the RoPE
//           ops, the same op otherwise
//   torch   LibTorch eager, the formula as HF writes it (impl "torch"; rope_fwd: cos/sin computed in
//           the call, rope_bwd: autograd; sin_table: torch's float32 recipe)
// GB/s = 10^9 bytes / s of wall time, each impl charged the same bytes, so the two ratios
// (posenc / copy, posenc / torch) are speed ratios. With repetitions, the median is used; with one,
// the run itself. A baseline that is missing (a build without LibTorch) or that reported an error is
// "n/a" (null in the JSON), with the reason under the table.
//
// --json PATH writes the same rows, atomically:
//   {"machine": {...}, "rows": [{"op", "shape", "dtype", "threads", "posenc_GBps", "copy_GBps",
//    "torch_eager_GBps", "ratio_vs_copy", "ratio_vs_torch"}], "notes": [...]}
// --threads 1,2 runs each binary once per thread count (--posenc_threads=N, which sets posenc's, the
// copy's and LibTorch's threads alike) and adds a scaling table.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cli_error.hpp"
#include "commands.hpp"
#include "io/paths.hpp"
#include "json_text.hpp"
#include "posenc/threads.hpp"
#include "posenc/version.hpp"
#include "validators.hpp"

namespace posenc::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kRopeBinary = "posenc_bench_rope";
constexpr const char* kEmbedBinary = "posenc_bench_embed";
constexpr const char* kBiasBinary = "posenc_bench_bias";

struct BenchArgs {
  bool quick = false;
  bool quiet = false;
  std::string json_path;
  std::vector<int> threads;  // empty: the binaries' default (POSENC_BENCH_THREADS or all hardware threads)
  std::string precision = "exact";
  std::vector<std::string> ops;
  std::string dtype;  // empty: f32 and bf16
  std::string bench_dir;
  int repetitions = 0;    // 0: the binaries' default (9), or 2 with --quick
  double min_time = 0.0;  // 0: the binaries' default (0.1 s), or 0.02 s with --quick
  CLI::Option* o_json = nullptr;
};

// One line of the table: which benchmark rows hold its posenc, copy and torch numbers.
struct Case {
  std::string binary;  // kRopeBinary, kEmbedBinary or kBiasBinary
  std::string group;   // rope, embed, table, bias (for --ops)
  std::string op, shape, dtype;
  std::string posenc_impl, copy_op;
  std::string torch_impl = "torch";
  std::string label;  // the op column; empty: op
  Case(std::string binary_, std::string group_, std::string op_, std::string shape_, std::string dtype_,
       std::string posenc_impl_, std::string copy_op_, std::string torch_impl_ = "torch",
       std::string label_ = "")
      : binary(std::move(binary_)),
        group(std::move(group_)),
        op(std::move(op_)),
        shape(std::move(shape_)),
        dtype(std::move(dtype_)),
        posenc_impl(std::move(posenc_impl_)),
        copy_op(std::move(copy_op_)),
        torch_impl(std::move(torch_impl_)),
        label(std::move(label_)) {}
  std::string posenc_name() const { return op + "/" + posenc_impl + "/" + shape + "/" + dtype; }
  std::string copy_name() const { return copy_op + "/copy/" + shape + "/" + dtype; }
  std::string torch_name() const { return op + "/" + torch_impl + "/" + shape + "/" + dtype; }
  const std::string& shown() const { return label.empty() ? op : label; }
};

const std::vector<std::string> kOpNames = {
    "rope",      "rope_fwd", "rope_bwd",  "embed", "embed_fwd_table", "embed_fwd_sinusoidal",
    "embed_bwd", "table",    "sin_table", "bias",  "alibi_bias",      "t5_fwd",
    "t5_bwd"};

// The full suite's main rows; --quick keeps the shapes of the issue (RoPE q+k GQA, the 131072-row table)
// and drops embed_fwd_sinusoidal (about 1 s a call).
std::vector<Case> plan(const BenchArgs& a) {
  const bool hf = a.precision == "hf_compat";
  std::vector<Case> all;
  std::vector<std::string> rope_shapes = {"T4096_Hq32_Hk8_D128"};
  if (!a.quick) rope_shapes.push_back("T4096_H32_D128");
  for (const std::string& shape : rope_shapes)
    for (const char* dt : {"f32", "bf16"})
      for (const char* op : {"rope_fwd", "rope_bwd"})
        all.push_back({kRopeBinary, "rope", op, shape, dt, hf ? "posenc_hf" : "posenc_exact", "rope"});
  // With the cos/sin built once per forward (posenc::RopeCache; HF's rotary module does the same), next
  // to HF's apply_rotary_pos_emb with cos/sin given (torch_pre) and the explicit backward formula.
  for (const std::string& shape : rope_shapes)
    for (const char* dt : {"f32", "bf16"})
      for (const char* op : {"rope_fwd", "rope_bwd"}) {
        const bool fwd = std::string(op) == "rope_fwd";
        all.push_back({kRopeBinary, "rope", op, shape, dt, hf ? "posenc_hf_cached" : "posenc_cached", "rope",
                       fwd ? "torch_pre" : "torch_explicit", std::string(op) + "+cache"});
      }
  // Out of place (q_out, k_out written; what the LibTorch adapter does, and what torch's formula does),
  // per call: the full suite only.
  if (!a.quick)
    for (const char* dt : {"f32", "bf16"})
      for (const char* op : {"rope_fwd", "rope_bwd"})
        all.push_back({kRopeBinary, "rope", op, rope_shapes[0], dt, hf ? "posenc_hf_out" : "posenc_exact_out",
                       "rope", "torch", std::string(op) + "+out"});
  const std::string embed_shape = "V32000_C4096_T4096_B1";
  for (const char* dt : {"f32", "bf16"})
    all.push_back({kEmbedBinary, "embed", "embed_fwd_table", embed_shape, dt, "posenc", "embed_fwd_table"});
  if (!a.quick)
    all.push_back({kEmbedBinary, "embed", "embed_fwd_sinusoidal", embed_shape, "f32", "posenc",
                   "embed_fwd_sinusoidal"});
  all.push_back({kEmbedBinary, "embed", "embed_bwd", embed_shape, "f32", "posenc", "embed_bwd"});
  const std::string table_op = hf ? "sin_table_hf" : "sin_table_exact";
  std::vector<std::string> table_shapes = {"N131072_d128"};
  if (!a.quick) table_shapes.insert(table_shapes.begin(), "N4096_d128");
  for (const std::string& shape : table_shapes)
    all.push_back({kEmbedBinary, "table", table_op, shape, "f32", "posenc", table_op});
  // The attention-score biases (one precision: ALiBi and T5 have no angles); bf16 in the full suite.
  const std::string bias_shape = "H32_T1024";
  for (const char* dt : {"f32", "bf16"}) {
    if (a.quick && std::string(dt) == "bf16") continue;
    for (const char* op : {"alibi_bias", "t5_fwd"})
      all.push_back({kBiasBinary, "bias", op, bias_shape, dt, "posenc", op});
  }
  all.push_back({kBiasBinary, "bias", "t5_bwd", bias_shape, "f32", "posenc", "t5_bwd"});

  std::vector<Case> chosen;
  for (const Case& c : all) {
    if (!a.dtype.empty() && c.dtype != a.dtype) continue;
    if (!a.ops.empty()) {
      const bool hit = std::any_of(a.ops.begin(), a.ops.end(), [&](const std::string& o) {
        return o == c.group || o == c.op || (o == "sin_table" && c.group == "table");
      });
      if (!hit) continue;
    }
    chosen.push_back(c);
  }
  if (chosen.empty())
    throw CliError(
        "--ops / --dtype: no benchmark rows match (bf16 exists only for rope, embed_fwd_table, "
        "alibi_bias and t5_fwd, the last two not with --quick)");
  return chosen;
}

// ---- locating and running the binaries ----

std::string self_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec)
    throw CliError("cannot find the posenc executable (/proc/self/exe): " + ec.message() +
                   "; pass --bench-dir DIR");
  return exe.parent_path().string();
}

std::map<std::string, std::string> locate(const BenchArgs& a, const std::set<std::string>& needed) {
  const std::string dir = a.bench_dir.empty() ? self_dir() : a.bench_dir;
  std::map<std::string, std::string> found;
  std::vector<std::string> missing;
  for (const std::string& name : needed) {
    const std::string path = (fs::path(dir) / name).string();
    if (::access(path.c_str(), X_OK) == 0 && fs::is_regular_file(path))
      found[name] = path;
    else
      missing.push_back(path);
  }
  if (!missing.empty()) {
    std::string msg = "the benchmark binaries were not found (tried";
    for (const std::string& p : missing) msg += " " + p;
    msg +=
        "). They are built next to posenc when Google Benchmark (libbenchmark-dev) is installed: "
        "cmake --build build/release --target posenc_bench_rope posenc_bench_embed posenc_bench_bias; "
        "then run that "
        "build's posenc, or pass --bench-dir DIR";
    throw CliError(msg);
  }
  return found;
}

struct ChildResult {
  int status = 0;
  std::string out, err;
};

std::string last_lines(const std::string& text, size_t n) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  size_t pos = t.size();
  for (size_t k = 0; k < n && pos != std::string::npos && pos > 0; ++k) pos = t.rfind('\n', pos - 1);
  return pos == std::string::npos || pos == 0 ? t : t.substr(pos + 1);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "died of signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : std::string());
  }
  return "ended with wait status " + std::to_string(status);
}

// Runs argv[0] with argv, collecting stdout and stderr (read together, so neither pipe fills up).
ChildResult run_child(const std::vector<std::string>& argv) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw CliError(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int e = errno;
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw CliError(std::string("pipe: ") + std::strerror(e));
  }
  std::vector<char*> cargv;
  for (const std::string& s : argv) cargv.push_back(const_cast<char*>(s.c_str()));
  cargv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    throw CliError(std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::execv(cargv[0], cargv.data());
    const std::string msg = std::string("cannot run ") + argv[0] + ": " + std::strerror(errno) + "\n";
    (void)!::write(STDERR_FILENO, msg.data(), msg.size());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ChildResult r;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (const pollfd& p : fds)
    if (p.fd >= 0) ::close(p.fd);
  while (::waitpid(pid, &r.status, 0) < 0)
    if (errno != EINTR) throw CliError(std::string("waitpid: ") + std::strerror(errno));
  return r;
}

// A GB/s figure for one benchmark row (the median over repetitions, or the mean of single runs), or the
// error it reported.
struct Cell {
  std::optional<double> gbps;
  std::string error;
  double sum = 0;
  int n = 0;
  bool median = false;
};

struct RunOutput {
  json context;
  std::map<std::string, Cell> cells;  // key: <op>/<impl>/<shape>/<dtype>
};

RunOutput parse_run(const std::string& binary, const std::string& text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    throw CliError(binary + " printed output that is not JSON (" + e.what() + ")");
  }
  RunOutput r;
  r.context = doc.value("context", json::object());
  if (!doc.contains("benchmarks") || !doc["benchmarks"].is_array())
    throw CliError(binary + ": no \"benchmarks\" array in its JSON output");
  for (const json& b : doc["benchmarks"]) {
    const std::string name = b.value("run_name", b.value("name", std::string()));
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      const size_t slash = name.find('/', start);
      parts.push_back(name.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (parts.size() < 4) continue;
    const std::string key = parts[0] + "/" + parts[1] + "/" + parts[2] + "/" + parts[3];
    Cell& cell = r.cells[key];
    if (b.value("error_occurred", false)) {
      cell.error = b.value("error_message", std::string("error"));
      continue;
    }
    const std::string run_type = b.value("run_type", std::string("iteration"));
    const std::string agg = b.value("aggregate_name", std::string());
    if (!b.contains("bytes_per_second") || !b["bytes_per_second"].is_number()) continue;
    const double gbps = b["bytes_per_second"].get<double>() / 1e9;
    if (run_type == "aggregate") {
      if (agg == "median") {
        cell.gbps = gbps;
        cell.median = true;
      }
    } else if (!cell.median) {
      cell.sum += gbps;
      cell.n += 1;
      cell.gbps = cell.sum / cell.n;
    }
  }
  return r;
}

std::string filter_for(const std::vector<std::string>& names) {
  std::string re = "^(";
  for (size_t i = 0; i < names.size(); ++i) re += (i ? "|" : "") + names[i];
  return re + ")(/|$)";  // the binaries append /real_time
}

// ---- the machine ----

std::string cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  }
  return "";
}

// The SIMD target: what the binaries report (a context entry naming simd), else the widest x86
// extension /proc/cpuinfo lists (posenc picks its vector target at run time from those).
std::string simd_description(const json& ctx) {
  for (const auto& [k, v] : ctx.items()) {
    std::string lower = k;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (lower.find("simd") != std::string::npos) return v.is_string() ? v.get<std::string>() : v.dump();
  }
  const std::string flags = " " + cpuinfo_field("flags") + " ";
  const auto has = [&](const char* f) { return flags.find(std::string(" ") + f + " ") != std::string::npos; };
  if (has("avx512f")) return "AVX-512 (CPU flags)";
  if (has("avx2")) return "AVX2 (CPU flags)";
  if (has("sse4_2")) return "SSE4.2 (CPU flags)";
  if (has("ssse3")) return "SSSE3 (CPU flags)";
  if (has("asimd")) return "NEON (CPU flags)";
  return "unknown";
}

// ---- output ----

std::string fmt_gbps(const std::optional<double>& v) {
  if (!v) return "n/a";
  char b[32];
  std::snprintf(b, sizeof b, *v < 1 ? "%.3f" : "%.2f", *v);
  return b;
}

std::string fmt_ratio(const std::optional<double>& v) {
  if (!v) return "n/a";
  char b[32];
  std::snprintf(b, sizeof b, *v < 0.1 ? "%.3fx" : "%.2fx", *v);
  return b;
}

// Left-aligned text columns, right-aligned numbers (every column from `first_number` on).
std::string aligned(const std::vector<std::vector<std::string>>& lines, size_t first_number) {
  std::vector<size_t> w;
  for (const auto& line : lines)
    for (size_t i = 0; i < line.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], line[i].size());
    }
  std::string out;
  for (const auto& line : lines) {
    std::string s;
    for (size_t i = 0; i < line.size(); ++i) {
      const std::string pad(w[i] - line[i].size(), ' ');
      if (i) s += "  ";
      s += i >= first_number ? pad + line[i] : line[i] + (i + 1 < line.size() ? pad : "");
    }
    out += s + "\n";
  }
  return out;
}

std::optional<double> ratio(const std::optional<double>& a, const std::optional<double>& b) {
  if (!a || !b || *b <= 0) return std::nullopt;
  return *a / *b;
}

json json_value(const std::optional<double>& v) {
  return v ? json(*v) : json(nullptr);
}

struct Row {
  const Case* c;
  int threads;
  std::optional<double> posenc, copy, torch;
};

void run_bench(const BenchArgs& a) {
  for (int t : a.threads)
    if (t < 1 || t > posenc::kMaxThreads)
      throw CliError("--threads: " + std::to_string(t) + " is invalid (allowed: 1 .. " +
                     std::to_string(posenc::kMaxThreads) + ")");
  if (std::isnan(a.min_time)) throw CliError("--min-time: nan is invalid (allowed: 0.001 .. 60)");
  if (a.o_json->count() && a.json_path.empty()) throw CliError("--json: the path is empty");
  if (!a.json_path.empty()) io::check_writable_path(a.json_path, "--json");  // before minutes of measuring
  const std::vector<Case> cases = plan(a);
  std::set<std::string> needed;
  for (const Case& c : cases) needed.insert(c.binary);
  const std::map<std::string, std::string> paths = locate(a, needed);

  const int reps = a.repetitions > 0 ? a.repetitions : (a.quick ? 2 : 0);
  const double min_time = a.min_time > 0 ? a.min_time : (a.quick ? 0.02 : 0.0);
  const std::vector<int> thread_counts = a.threads.empty() ? std::vector<int>{0} : a.threads;

  std::vector<Row> rows;
  std::vector<std::string> notes;
  json context_seen = json::object();
  std::vector<int> threads_reported;
  std::map<std::string, bool> torch_built;  // per binary, from its context's "torch" entry
  for (int threads : thread_counts) {
    std::map<std::string, Cell> cells;
    int reported = threads;
    for (const auto& [binary, path] : paths) {
      std::vector<std::string> names;
      for (const Case& c : cases) {
        if (c.binary != binary) continue;
        for (const std::string& n : {c.posenc_name(), c.copy_name(), c.torch_name()})
          if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
      }
      std::vector<std::string> argv = {path, "--benchmark_format=json",
                                       "--benchmark_filter=" + filter_for(names)};
      if (reps > 0) argv.push_back("--benchmark_repetitions=" + std::to_string(reps));
      if (min_time > 0) {
        char b[64];
        std::snprintf(b, sizeof b, "--benchmark_min_time=%g", min_time);
        argv.push_back(b);
      }
      if (threads > 0) argv.push_back("--posenc_threads=" + std::to_string(threads));
      if (!a.quiet)
        std::fprintf(stderr, "posenc: running %s (%zu benchmarks%s)...\n", binary.c_str(), names.size(),
                     threads > 0 ? (", " + std::to_string(threads) + " threads").c_str() : "");
      const ChildResult r = run_child(argv);
      if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) {
        std::string msg = path + " " + describe_status(r.status);
        const std::string tail = last_lines(r.err, 8);
        if (!tail.empty()) msg += "; its last lines on stderr:\n" + tail;
        throw CliError(msg);
      }
      if (r.out.find_first_not_of(" \t\r\n") == std::string::npos) {
        std::string msg = path + " ran no benchmark (filter " + filter_for(names) + ")";
        const std::string tail = last_lines(r.err, 4);
        if (!tail.empty()) msg += ": " + tail;
        throw CliError(msg);
      }
      RunOutput out = parse_run(binary, r.out);
      if (out.context.contains("posenc_threads") && out.context["posenc_threads"].is_string())
        reported = std::atoi(out.context["posenc_threads"].get<std::string>().c_str());
      for (auto& [k, v] : out.context.items())
        if (!context_seen.contains(k)) context_seen[k] = v;
      // torch's description differs between a build with and one without LibTorch: keep each binary's.
      if (out.context.contains("torch")) {
        context_seen["torch_" + binary] = out.context["torch"];
        torch_built[binary] = !(out.context["torch"].is_string() &&
                                out.context["torch"].get<std::string>().rfind("not built", 0) == 0);
      }
      for (auto& [k, cell] : out.cells) cells[k] = cell;
    }
    threads_reported.push_back(reported);
    const std::string tag = thread_counts.size() > 1 ? " (" + std::to_string(reported) + " threads)" : "";
    for (const Case& c : cases) {
      Row row{&c, reported, {}, {}, {}};
      const auto get = [&](const std::string& name, const char* what) -> std::optional<double> {
        const auto it = cells.find(name);
        if (it == cells.end()) {
          const auto built = torch_built.find(c.binary);
          if (std::string(what) == "torch" && built != torch_built.end() && !built->second)
            notes.push_back(name + ": " + c.binary + " was built without LibTorch" + tag);
          else
            notes.push_back(name + ": not reported by the binary" + tag);
          return std::nullopt;
        }
        if (!it->second.error.empty()) {
          notes.push_back(name + ": " + it->second.error + tag);
          return std::nullopt;
        }
        return it->second.gbps;
      };
      row.posenc = get(c.posenc_name(), "posenc");
      row.copy = get(c.copy_name(), "copy");
      row.torch = get(c.torch_name(), "torch");
      rows.push_back(row);
    }
  }
  // A missing torch row is reported once per case, not once per thread count.
  {
    std::vector<std::string> unique;
    for (const std::string& n : notes)
      if (std::find(unique.begin(), unique.end(), n) == unique.end()) unique.push_back(n);
    notes = unique;
  }

  // The machine line.
  std::string cpu = cpuinfo_field("model name");
  if (cpu.empty()) cpu = cpuinfo_field("Hardware");
  if (cpu.empty()) cpu = "unknown CPU";
  const int num_cpus = context_seen.value("num_cpus", 0);
  const std::string simd = simd_description(context_seen);
  std::string torch_desc = "n/a";
  for (const auto& [binary, path] : paths) {
    const std::string k = "torch_" + binary;
    if (context_seen.contains(k) && context_seen[k].is_string()) {
      torch_desc = context_seen[k].get<std::string>();
      break;
    }
  }
  std::string threads_text;
  for (size_t i = 0; i < threads_reported.size(); ++i)
    threads_text += (i ? "," : "") + std::to_string(threads_reported[i]);
  std::string load_text;
  if (context_seen.contains("load_avg") && context_seen["load_avg"].is_array())
    for (const json& v : context_seen["load_avg"])
      if (v.is_number()) {
        char b[16];
        std::snprintf(b, sizeof b, "%s%.2f", load_text.empty() ? "" : " ", v.get<double>());
        load_text += b;
      }
  std::string machine_line = "machine: " + cpu + ", " + std::to_string(num_cpus) + " logical CPUs, threads " +
                             threads_text + ", SIMD " + simd + "; torch " + torch_desc;
  if (!load_text.empty()) machine_line += "; load average " + load_text + " at start";

  // The table.
  const bool several = thread_counts.size() > 1;
  std::vector<std::vector<std::string>> lines;
  std::vector<std::string> header = {"op", "shape", "dtype"};
  if (several) header.push_back("threads");
  for (const char* h : {"posenc GB/s", "copy GB/s", "torch GB/s", "posenc/copy", "posenc/torch"})
    header.push_back(h);
  lines.push_back(header);
  for (const Row& r : rows) {
    std::vector<std::string> l = {r.c->shown(), r.c->shape, r.c->dtype};
    if (several) l.push_back(std::to_string(r.threads));
    l.push_back(fmt_gbps(r.posenc));
    l.push_back(fmt_gbps(r.copy));
    l.push_back(fmt_gbps(r.torch));
    l.push_back(fmt_ratio(ratio(r.posenc, r.copy)));
    l.push_back(fmt_ratio(ratio(r.posenc, r.torch)));
    lines.push_back(l);
  }
  std::string text = machine_line + "\n";
  text += "precision " + a.precision + (a.quick ? ", quick run" : "") +
          "; GB/s = 1e9 bytes/s (read + written, same bytes for every impl); " +
          (reps == 1 ? std::string("one repetition") : "median of the repetitions") +
          "; torch = LibTorch eager, the formula as HF writes it\n\n";
  text += aligned(lines, several ? 4 : 3);

  if (several) {
    // Scaling: posenc's and the copy's GB/s at each thread count over the first.
    std::vector<std::vector<std::string>> sl;
    std::vector<std::string> h = {"op", "shape", "dtype"};
    for (int t : threads_reported) h.push_back("posenc@" + std::to_string(t));
    h.push_back("posenc scaling");
    h.push_back("copy scaling");
    sl.push_back(h);
    const size_t per = cases.size();
    for (size_t i = 0; i < per; ++i) {
      std::vector<std::string> l = {cases[i].shown(), cases[i].shape, cases[i].dtype};
      for (size_t k = 0; k < threads_reported.size(); ++k) l.push_back(fmt_gbps(rows[k * per + i].posenc));
      const Row& first = rows[i];
      const Row& last = rows[(threads_reported.size() - 1) * per + i];
      l.push_back(fmt_ratio(ratio(last.posenc, first.posenc)));
      l.push_back(fmt_ratio(ratio(last.copy, first.copy)));
      sl.push_back(l);
    }
    text += "\nscaling (GB/s at " + std::to_string(threads_reported.back()) + " threads / at " +
            std::to_string(threads_reported.front()) + "):\n" + aligned(sl, 3);
  }
  if (!notes.empty()) {
    text += "\nn/a:\n";
    for (const std::string& n : notes) text += "  " + n + "\n";
  }
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);

  if (!a.json_path.empty()) {
    json machine = {{"cpu", cpu},
                    {"logical_cpus", num_cpus},
                    {"threads", threads_reported},
                    {"simd", simd},
                    {"torch", torch_desc},
                    {"posenc_version", std::string(posenc::kVersion)},
                    {"precision", a.precision},
                    {"quick", a.quick},
                    {"summary", machine_line.substr(std::string("machine: ").size())}};
    if (context_seen.contains("mhz_per_cpu")) machine["mhz_per_cpu"] = context_seen["mhz_per_cpu"];
    if (context_seen.contains("load_avg")) machine["load_avg"] = context_seen["load_avg"];
    if (context_seen.contains("date")) machine["date"] = context_seen["date"];
    if (context_seen.contains("library_build_type"))
      machine["benchmark_library_build_type"] = context_seen["library_build_type"];
    json jrows = json::array();
    for (const Row& r : rows)
      jrows.push_back({{"op", r.c->shown()},
                       {"shape", r.c->shape},
                       {"dtype", r.c->dtype},
                       {"threads", r.threads},
                       {"posenc_GBps", json_value(r.posenc)},
                       {"copy_GBps", json_value(r.copy)},
                       {"torch_eager_GBps", json_value(r.torch)},
                       {"ratio_vs_copy", json_value(ratio(r.posenc, r.copy))},
                       {"ratio_vs_torch", json_value(ratio(r.posenc, r.torch))}});
    const json doc = {{"machine", machine}, {"rows", jrows}, {"notes", notes}};
    write_text(a.json_path, doc.dump(2) + "\n");
    if (!a.quiet) std::fprintf(stderr, "posenc: wrote %zu rows to %s\n", rows.size(), a.json_path.c_str());
  }
}

}  // namespace

void register_bench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  BenchArgs& a = *args;
  CLI::App* sub = app.add_subcommand(
      "bench",
      "Run the benchmark suite (posenc_bench_rope, posenc_bench_embed, posenc_bench_bias) and print one "
      "table: posenc's GB/s "
      "next to a memcpy of the same bytes and LibTorch eager, with the two ratios.");
  sub->footer(
      "The full suite takes minutes per thread count (9 interleaved repetitions of >= 0.1 s per row; "
      "LibTorch's eager rows, the bias group's above all, take most of it: 5.5 min for --threads 1,2 on an "
      "idle 2-core machine here); --quick about a minute. Benchmarks are noisy on a loaded machine: check "
      "the load average on the machine line.\n\nExamples:\n  posenc bench --quick\n  posenc bench --threads "
      "1,2 --json bench.json\n"
      "  posenc bench --ops rope --precision hf_compat");
  sub->add_flag("--quick", a.quick, "Main shapes only, 2 repetitions of >= 0.02 s each: about a minute");
  a.o_json = sub->add_option("--json", a.json_path, "Also write the rows as JSON to PATH (atomically)")
                 ->type_name("PATH");
  sub->add_option("--threads", a.threads,
                  "Thread counts for posenc, the copy and LibTorch, e.g. 2 or 1,2 (a run per count, with a "
                  "scaling table); default: POSENC_BENCH_THREADS or all hardware threads")
      ->delimiter(',')
      ->transform(decimal_integer<int>())
      ->type_name("N[,N...]");
  sub->add_option("--precision", a.precision,
                  "posenc rows: exact (posenc_exact, sin_table_exact) or hf_compat (posenc_hf, "
                  "sin_table_hf); the embedding ops have one precision")
      ->check(CLI::IsMember({"exact", "hf_compat"}))
      ->capture_default_str();
  sub->add_option("--ops", a.ops,
                  "Only these ops or groups (comma-separated): rope (rope_fwd, rope_bwd), embed "
                  "(embed_fwd_table, embed_fwd_sinusoidal, embed_bwd), table (sin_table), bias "
                  "(alibi_bias, t5_fwd, t5_bwd)")
      ->delimiter(',')
      ->check(CLI::IsMember(kOpNames))
      ->type_name("LIST");
  sub->add_option("--dtype", a.dtype, "Only this dtype (default: all)")
      ->check(CLI::IsMember({"f32", "bf16"}));
  sub->add_option("--bench-dir", a.bench_dir,
                  "Where posenc_bench_rope, posenc_bench_embed and posenc_bench_bias are (default: the "
                  "directory of this posenc executable)")
      ->type_name("DIR");
  sub->add_option(
         "--repetitions", a.repetitions,
         "Repetitions per row (default: 9, or 2 with --quick); the median (of 2: the mean) is reported")
      ->transform(decimal_integer<int>())
      ->check(CLI::Range(1, 1000));
  sub->add_option("--min-time", a.min_time,
                  "Minimum seconds per repetition (default: 0.1, or 0.02 with --quick)")
      ->check(CLI::Range(0.001, 60.0))
      ->type_name("SECONDS");
  sub->add_flag("-q,--quiet", a.quiet, "Do not print progress on stderr");
  sub->callback([args] { run_bench(*args); });
}

}  // namespace posenc::cli
