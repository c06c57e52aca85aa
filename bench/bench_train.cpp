// bench/bench_train.cpp — training throughput of posenc::model::Transformer, posenc ops against eager
// LibTorch ops (issue 4). See "Training throughput (issue 4)" in BENCHMARKS.md.
//
// For each size and encoding, two models are built from the same config and seed, one with
// Ops::Posenc and one with Ops::Eager (same weights; only the positional-encoding ops differ). Each is
// trained by the same minimal loop: forward, cross-entropy (causal LM on random token batches), backward,
// AdamW step. After warm-up steps, every repetition runs `steps` steps of each (encoding, posenc) and
// then (encoding, eager), for all encodings in turn, so a slow spell of the machine hits all of them.
// tokens/s = steps * B * T / wall time; the table shows the median over repetitions.
//
// Optionally (default on, --no-pe-time to skip) the PE ops alone are timed, forward and backward, as
// they occur in one training step (embedding + PE; rope in every layer; the ALiBi or T5 bias once), to
// show how much of a step they are.
//
//   posenc_bench_train [--threads N] [--quick] [--reps R] [--size small|medium|all]
//                      [--pe none,sinusoidal,...] [--no-pe-time] [--json PATH]
#include <dlfcn.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/transformer.hpp"
#include "posenc/alibi.hpp"
#include "posenc/threads.hpp"
#include "posenc/torch/eager.hpp"
#include "posenc/torch/functional.hpp"

namespace {

using posenc::model::ModelConfig;
using posenc::model::Ops;
using posenc::model::PeKind;
using posenc::model::Transformer;
namespace lt = posenc::libtorch;
using Clock = std::chrono::steady_clock;

struct Size {
  std::string name;
  int64_t dim, layers, heads, kv_heads, T, B;
  int steps, warmup;  // steps per timed repetition; warm-up steps per model
};

struct Options {
  int threads = 2;
  int blas_threads = 0;  // 0 = threads
  int reps = 7;
  bool quick = false;
  bool pe_time = true;
  std::vector<std::string> sizes{"small", "medium"};
  std::vector<PeKind> pes{PeKind::None, PeKind::Sinusoidal, PeKind::Learned,
                          PeKind::Rope, PeKind::Alibi,      PeKind::T5};
  std::string json;
};

constexpr int64_t kVocab = 1000;

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

int to_int(const std::string& s, const char* what, int lo, int hi) {
  char* end = nullptr;
  const long n = std::strtol(s.c_str(), &end, 10);
  if (end == s.c_str() || *end != '\0' || n < lo || n > hi)
    throw std::invalid_argument(std::string(what) + " must be an integer in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "], got '" + s + "'");
  return static_cast<int>(n);
}

void usage() {
  std::puts(
      "posenc_bench_train: training throughput (tokens/s) of the same Transformer, posenc ops vs eager\n"
      "  --threads N        ATen, posenc and OpenBLAS threads (default 2)\n"
      "  --blas-threads N   OpenBLAS threads (default: --threads)\n"
      "  --quick            short run (small size, 3 repetitions; under 30 s)\n"
      "  --reps R           timed repetitions (default 7; quick 3)\n"
      "  --size S           small, medium or all (default all)\n"
      "  --pe LIST          comma-separated encodings (default none,sinusoidal,learned,rope,alibi,t5)\n"
      "  --no-pe-time       skip timing the PE ops alone\n"
      "  --json PATH        also write the results as JSON");
}

Options parse(int argc, char** argv) {
  Options o;
  bool reps_set = false, size_set = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--threads") {
      o.threads = to_int(value(), "--threads", 1, 1024);
    } else if (a == "--blas-threads") {
      o.blas_threads = to_int(value(), "--blas-threads", 1, 1024);
    } else if (a == "--reps") {
      o.reps = to_int(value(), "--reps", 1, 1000);
      reps_set = true;
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--no-pe-time") {
      o.pe_time = false;
    } else if (a == "--size") {
      const std::string s = value();
      if (s == "all")
        o.sizes = {"small", "medium"};
      else if (s == "small" || s == "medium")
        o.sizes = {s};
      else
        throw std::invalid_argument("--size must be small, medium or all, got '" + s + "'");
      size_set = true;
    } else if (a == "--pe") {
      o.pes.clear();
      for (const auto& p : split(value(), ',')) o.pes.push_back(posenc::model::parse_pe_kind(p));
    } else if (a == "--json") {
      o.json = value();
    } else if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else {
      throw std::invalid_argument("unknown argument '" + a + "' (see --help)");
    }
  }
  if (o.blas_threads == 0) o.blas_threads = o.threads;
  if (o.quick) {
    if (!reps_set) o.reps = 3;
    if (!size_set) o.sizes = {"small"};
  }
  return o;
}

Size make_size(const std::string& name, bool quick) {
  if (name == "small") return {"small", 64, 2, 4, 0, 64, 32, quick ? 2 : 10, quick ? 1 : 3};
  return {"medium", 256, 4, 8, 4, 256, 8, quick ? 1 : 2, 1};
}

ModelConfig make_config(const Size& s, PeKind pe, Ops ops) {
  ModelConfig c;
  c.vocab_size = kVocab;
  c.dim = s.dim;
  c.layers = s.layers;
  c.heads = s.heads;
  c.kv_heads = s.kv_heads;
  c.max_positions = s.T;
  c.causal = true;
  c.pe = pe;
  c.ops = ops;
  c.seed = 1234;
  return c;
}

// One model under training: the model, its optimizer and its step.
struct Trainee {
  Transformer model{nullptr};
  std::unique_ptr<torch::optim::AdamW> opt;
  double last_loss = 0.0;

  explicit Trainee(const ModelConfig& c) : model(c) {
    model->train();
    opt = std::make_unique<torch::optim::AdamW>(model->parameters(),
                                                torch::optim::AdamWOptions(1e-3).weight_decay(0.01));
  }

  void step(const at::Tensor& x, const at::Tensor& y) {
    opt->zero_grad();
    const at::Tensor logits = model->forward(x);
    const at::Tensor loss = at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), y.reshape({-1}));
    loss.backward();
    opt->step();
    last_loss = loss.item<double>();
  }
};

struct Pair {
  PeKind pe;
  std::unique_ptr<Trainee> p, e;  // posenc ops, eager ops
  std::vector<double> tps_p, tps_e;
  double logit_diff = 0.0;
  double pe_ms_p = 0.0, pe_ms_e = 0.0;
};

// The PE ops of one training step, forward and backward, on model m (grads accumulate into m's
// parameters; that is harmless after training). Returns the median ms over `iters` runs.
double time_pe_ops(Transformer& m, const Size& s, const at::Tensor& ids, int iters) {
  const ModelConfig& c = m->cfg;
  const int64_t B = s.B, T = s.T;
  const bool posenc_ops = c.ops == Ops::Posenc;
  std::function<void()> run;
  at::Tensor g_embed = at::randn({B, T, c.dim});
  at::Tensor q = at::randn({B, T, c.heads, c.head_dim()}).requires_grad_(true);
  at::Tensor k = at::randn({B, T, c.kv(), c.head_dim()}).requires_grad_(true);
  at::Tensor gq = at::randn_like(q), gk = at::randn_like(k);
  at::Tensor g_bias = at::randn({c.heads, T, T});
  switch (c.pe) {
    case PeKind::None:
    case PeKind::Sinusoidal:
    case PeKind::Learned:  // the token embedding with its PE (fused in posenc: not separable)
      run = [&] { m->embed(ids).backward(g_embed); };
      break;
    case PeKind::Rope:
      run = [&] {
        for (int64_t l = 0; l < c.layers; ++l) {
          auto qk = posenc_ops ? lt::rope(q, k, c.rope_config(), {}, false, T)
                               : lt::eager::rope(q, k, c.rope_config(), false);
          torch::autograd::backward({qk.first, qk.second}, {gq, gk});
        }
      };
      break;
    case PeKind::Alibi:  // as in TransformerImpl::hidden: a constant, no backward
      run = [&] {
        posenc::AlibiConfig a;
        a.num_heads = c.heads;
        at::Tensor bias;
        if (posenc_ops) {
          bias = lt::alibi_bias(a, T, T);
        } else {
          const auto sl = posenc::alibi_slopes(c.heads);
          const at::Tensor slopes =
              at::tensor(std::vector<double>(sl.begin(), sl.end()), at::kDouble).to(at::kFloat);
          const at::Tensor pos = at::arange(T, at::kFloat);
          const at::Tensor dist = (pos.unsqueeze(0) - pos.unsqueeze(1)).abs();
          bias = -slopes.view({-1, 1, 1}) * dist.unsqueeze(0);
        }
        (void)bias.data_ptr();
      };
      break;
    case PeKind::T5:
      run = [&] {
        const at::Tensor bias =
            posenc_ops ? m->t5(T, T, 0) : lt::eager::t5_bias(m->t5->weight, m->t5->cfg, T, T);
        bias.backward(g_bias);
      };
      break;
  }
  run();  // warm-up
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = Clock::now();
    run();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return median(ms);
}

// OpenBLAS (pthread build) keeps its own thread pool next to ATen's OpenMP one. With libgomp's default
// wait policy, idle OpenMP workers spin and starve the OpenBLAS threads on a 2-vCPU machine: a training
// step gets ~15x slower, for both paths alike, and the ratio means nothing. So the benchmark re-executes
// itself with OMP_WAIT_POLICY=PASSIVE unless the caller set a policy, and sizes OpenBLAS's pool.
void ensure_passive_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::execv("/proc/self/exe", argv);
  std::fprintf(stderr, "posenc_bench_train: re-exec failed; running with the default OpenMP wait policy\n");
}

// Returns the OpenBLAS thread count after setting it, or -1 when the BLAS is not OpenBLAS.
int set_blas_threads(int n) {
  using SetFn = void (*)(int);
  using GetFn = int (*)();
  auto set = reinterpret_cast<SetFn>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  auto get = reinterpret_cast<GetFn>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (set == nullptr || get == nullptr) return -1;
  set(n);
  return get();
}

std::string fmt(double v, int prec) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  ensure_passive_wait_policy(argv);
  at::set_num_threads(o.threads);
  posenc::set_num_threads(o.threads);
  const int blas = set_blas_threads(o.blas_threads);
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "(default)";

  std::printf(
      "posenc_bench_train: LibTorch %s, threads %d (ATen %d, posenc %d, OpenBLAS %d), OMP_WAIT_POLICY=%s, "
      "%d repetitions%s\n",
      TORCH_VERSION, o.threads, at::get_num_threads(), posenc::num_threads(), blas, wait_policy, o.reps,
      o.quick ? " (quick)" : "");
  std::fflush(stdout);

  struct Row {
    std::string size;
    Size sz;
    std::vector<Pair> pairs;
  };
  std::vector<Row> rows;
  const auto t_start = Clock::now();

  for (const auto& sname : o.sizes) {
    const Size s = make_size(sname, o.quick);
    // Random token batches (the same for both paths), input [B, T] and next-token targets [B, T].
    at::manual_seed(42);
    std::vector<std::pair<at::Tensor, at::Tensor>> batches;
    for (int i = 0; i < 4; ++i) {
      const at::Tensor seq = at::randint(kVocab, {s.B, s.T + 1}, at::kLong);
      batches.emplace_back(seq.slice(1, 0, s.T).contiguous(), seq.slice(1, 1, s.T + 1).contiguous());
    }
    Row row{s.name, s, {}};
    for (PeKind pe : o.pes) {
      Pair pr;
      pr.pe = pe;
      pr.p = std::make_unique<Trainee>(make_config(s, pe, Ops::Posenc));
      pr.e = std::make_unique<Trainee>(make_config(s, pe, Ops::Eager));
      {  // same weights, same function: the logits must agree before training
        torch::NoGradGuard ng;
        const at::Tensor lp = pr.p->model->forward(batches[0].first);
        const at::Tensor le = pr.e->model->forward(batches[0].first);
        pr.logit_diff = (lp - le).abs().max().item<double>();
        if (!(pr.logit_diff < 1e-3))
          throw std::runtime_error(std::string("posenc and eager logits differ for ") +
                                   posenc::model::to_string(pe) + " (" + s.name +
                                   "): max |diff| = " + std::to_string(pr.logit_diff));
      }
      row.pairs.push_back(std::move(pr));
    }
    // Warm-up (allocator, thread pools, tables), excluded from the timings.
    int bi = 0;
    for (auto& pr : row.pairs)
      for (int w = 0; w < s.warmup; ++w) {
        pr.p->step(batches[w % 4].first, batches[w % 4].second);
        pr.e->step(batches[w % 4].first, batches[w % 4].second);
      }
    const double tokens = static_cast<double>(s.steps) * s.B * s.T;
    for (int r = 0; r < o.reps; ++r) {
      for (auto& pr : row.pairs) {
        for (int which = 0; which < 2; ++which) {  // posenc, then eager
          Trainee& t = which == 0 ? *pr.p : *pr.e;
          const auto t0 = Clock::now();
          for (int st = 0; st < s.steps; ++st) {
            const auto& b = batches[(bi + st) % 4];
            t.step(b.first, b.second);
          }
          const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
          (which == 0 ? pr.tps_p : pr.tps_e).push_back(tokens / sec);
        }
      }
      bi += s.steps;
      std::fprintf(stderr, "  %s: repetition %d/%d done\n", s.name.c_str(), r + 1, o.reps);
    }
    if (o.pe_time) {
      const int iters = o.quick ? 5 : 15;
      for (auto& pr : row.pairs) {
        pr.pe_ms_p = time_pe_ops(pr.p->model, s, batches[0].first, iters);
        pr.pe_ms_e = time_pe_ops(pr.e->model, s, batches[0].first, iters);
      }
    }
    rows.push_back(std::move(row));
  }
  const double total_s = std::chrono::duration<double>(Clock::now() - t_start).count();

  std::printf("\n| encoding | size | posenc tok/s | eager tok/s | posenc/eager |\n");
  std::printf("| --- | --- | ---: | ---: | ---: |\n");
  for (const auto& row : rows)
    for (const auto& pr : row.pairs) {
      const double a = median(pr.tps_p), b = median(pr.tps_e);
      std::printf("| %s | %s | %s | %s | %s |\n", posenc::model::to_string(pr.pe), row.size.c_str(),
                  fmt(a, 0).c_str(), fmt(b, 0).c_str(), fmt(a / b, 3).c_str());
    }
  if (o.pe_time) {
    std::printf(
        "\nPE ops alone, forward + backward per training step (none/sinusoidal/learned: the token "
        "embedding with its PE; rope: all layers; alibi, t5: the bias once). share = PE ms / step ms.\n\n");
    std::printf(
        "| encoding | size | posenc step ms | eager step ms | posenc PE ms | eager PE ms | posenc share |"
        " eager share |\n");
    std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (const auto& row : rows)
      for (const auto& pr : row.pairs) {
        const double tok = static_cast<double>(row.sz.B) * row.sz.T;
        const double sp = 1e3 * tok / median(pr.tps_p), se = 1e3 * tok / median(pr.tps_e);
        std::printf("| %s | %s | %s | %s | %s | %s | %s%% | %s%% |\n", posenc::model::to_string(pr.pe),
                    row.size.c_str(), fmt(sp, 1).c_str(), fmt(se, 1).c_str(), fmt(pr.pe_ms_p, 3).c_str(),
                    fmt(pr.pe_ms_e, 3).c_str(), fmt(100 * pr.pe_ms_p / sp, 1).c_str(),
                    fmt(100 * pr.pe_ms_e / se, 1).c_str());
      }
  }
  std::printf("\nmax |logits posenc - eager| before training: ");
  for (const auto& row : rows)
    for (const auto& pr : row.pairs)
      std::printf("%s/%s %.1e  ", posenc::model::to_string(pr.pe), row.size.c_str(), pr.logit_diff);
  std::printf("\ntotal %.1f s\n", total_s);

  if (!o.json.empty()) {
    std::ofstream f(o.json);
    if (!f) throw std::runtime_error("cannot write " + o.json);
    f << "{\n  \"torch_version\": \"" << TORCH_VERSION << "\",\n  \"threads\": " << o.threads
      << ",\n  \"openblas_threads\": " << blas << ",\n  \"omp_wait_policy\": \"" << wait_policy << "\""
      << ",\n  \"repetitions\": " << o.reps << ",\n  \"quick\": " << (o.quick ? "true" : "false")
      << ",\n  \"vocab\": " << kVocab << ",\n  \"results\": [";
    bool first = true;
    auto arr = [](const std::vector<double>& v) {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + fmt(v[i], 1);
      return s + "]";
    };
    for (const auto& row : rows)
      for (const auto& pr : row.pairs) {
        const Size& s = row.sz;
        const double a = median(pr.tps_p), b = median(pr.tps_e);
        f << (first ? "\n" : ",\n") << "    {\"encoding\": \"" << posenc::model::to_string(pr.pe)
          << "\", \"size\": \"" << s.name << "\", \"dim\": " << s.dim << ", \"layers\": " << s.layers
          << ", \"heads\": " << s.heads << ", \"kv_heads\": " << (s.kv_heads ? s.kv_heads : s.heads)
          << ", \"T\": " << s.T << ", \"batch\": " << s.B << ", \"steps_per_rep\": " << s.steps
          << ", \"posenc_tok_s\": " << fmt(a, 1) << ", \"eager_tok_s\": " << fmt(b, 1)
          << ", \"ratio\": " << fmt(a / b, 4) << ", \"posenc_tok_s_reps\": " << arr(pr.tps_p)
          << ", \"eager_tok_s_reps\": " << arr(pr.tps_e) << ", \"logit_max_abs_diff\": " << pr.logit_diff;
        if (o.pe_time)
          f << ", \"posenc_pe_ms\": " << fmt(pr.pe_ms_p, 4) << ", \"eager_pe_ms\": " << fmt(pr.pe_ms_e, 4);
        f << "}";
        first = false;
      }
    f << "\n  ]\n}\n";
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "posenc_bench_train: %s\n", e.what());
  return 1;
}
