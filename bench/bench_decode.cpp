// posenc_bench_decode: the per-call cost of every entry point at decode size (one token per call), where
// the fixed costs of a call (checks, position lists, plans, the OpenMP region) dominate instead of
// bandwidth. A plain loop of calls after a warm-up, one thread by default (--threads N), the mean per
// call printed in microseconds; a memcpy of the one 16 KiB row is the yardstick.
//   posenc_bench_decode [--calls N] [--threads N]
// Shapes: x / out [1, 1, 4096] f32, E [32000, 4096], PE table [8192, 4096], position 1000; RoPE on
// q [1, 1, 32, 128] and k [1, 1, 8, 128] (GQA), Default and Dynamic NTK scaling; ALiBi and T5 biases
// [32 heads, 1 query, 4096 keys] (512 KiB, eight times the row).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "posenc/posenc.hpp"

using namespace posenc;

namespace {
template <class F>
double us_per_call(F&& f, int64_t calls) {
  for (int64_t i = 0; i < std::min<int64_t>(calls, 1000); ++i) f();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < calls; ++i) f();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::micro>(t1 - t0).count() / static_cast<double>(calls);
}
// The yardstick: a plain copy of the bytes a call writes.
double memcpy_us(void* dst, const void* src, size_t bytes, int64_t calls) {
  return us_per_call(
      [&] {
        std::memcpy(dst, src, bytes);
        asm volatile("" ::: "memory");
      },
      calls);
}
}  // namespace

int main(int argc, char** argv) {
  int64_t calls = 100000;
  int threads = 1;
  for (int a = 1; a + 1 < argc; a += 2) {
    const std::string k = argv[a];
    if (k == "--calls") {
      calls = std::atoll(argv[a + 1]);
    } else if (k == "--threads") {
      threads = std::atoi(argv[a + 1]);
    } else {
      std::fprintf(stderr, "usage: posenc_bench_decode [--calls N] [--threads N]\n");
      return 2;
    }
  }
  if (calls < 10 || threads < 1) {
    std::fprintf(stderr, "posenc_bench_decode: --calls must be >= 10 and --threads >= 1\n");
    return 2;
  }
  set_num_threads(threads);
  const int64_t C = 4096, V = 32000, P = 8192;
  std::vector<float> E(static_cast<size_t>(V * C), 0.01f), table(static_cast<size_t>(P * C), 0.02f);
  std::vector<float> dE(E.size()), dT(table.size());
  std::vector<float> out(static_cast<size_t>(C)), x(out.size(), 0.5f), dout(out.size(), 1.0f);
  const int64_t id = 123;
  const auto ids = TensorView::contiguous(&id, DType::I64, {1, 1});
  const auto Ev = TensorView::contiguous(E.data(), DType::F32, {V, C});
  const auto Tv = TensorView::contiguous(table.data(), DType::F32, {P, C});
  const auto ov = TensorView::contiguous(out.data(), DType::F32, {1, 1, C});
  const auto xv = TensorView::contiguous(x.data(), DType::F32, {1, 1, C});
  const auto dov = TensorView::contiguous(dout.data(), DType::F32, {1, 1, C});
  const auto dEv = TensorView::contiguous(dE.data(), DType::F32, {V, C});
  const auto dTv = TensorView::contiguous(dT.data(), DType::F32, {P, C});
  SinusoidalConfig sc;
  sc.dim = C;
  const Positions pos = Positions::offset(1000);
  std::vector<float> q(32 * 128, 0.3f), k(8 * 128, 0.2f);
  const auto qv = TensorView::contiguous(q.data(), DType::F32, {1, 1, 32, 128});
  const auto kv = TensorView::contiguous(k.data(), DType::F32, {1, 1, 8, 128});
  RopeConfig rc;
  rc.head_dim = 128;
  RopeConfig dyn = rc;
  dyn.max_position_embeddings = 512;
  dyn.scaling.type = RopeType::Dynamic;
  dyn.scaling.factor = 2.0;
  dyn.scaling.original_max_position_embeddings = 512;

  // Attention biases for one query against 4096 keys, 32 heads (T5: a [32, 32] bucket table).
  const int64_t H = 32, Tk = 4096;
  std::vector<float> bias(static_cast<size_t>(H * Tk)), bias_src(bias.size(), 0.5f), t5_table(32 * 32, 0.1f);
  const auto bias_v = TensorView::contiguous(bias.data(), DType::F32, {H, 1, Tk});
  const auto t5_v = TensorView::contiguous(t5_table.data(), DType::F32, {32, H});
  std::vector<int64_t> keys(static_cast<size_t>(Tk));
  for (int64_t k = 0; k < Tk; ++k) keys[static_cast<size_t>(k)] = k;
  const std::vector<int64_t> query{Tk - 1};
  AlibiConfig alibi;
  alibi.num_heads = H;
  alibi.mask = AlibiMask::Causal;
  T5BiasConfig t5;
  t5.bidirectional = false;

  struct Row {
    const char* name;
    double us;
  };
  const Row rows[] = {
      {"sinusoidal_add (exact, d 4096)", us_per_call([&] { sinusoidal_add(xv, sc, pos); }, calls / 10)},
      {"embed_forward (sinusoidal source)",
       us_per_call([&] { embed_forward(ov, ids, Ev, PeSource::sinusoidal(sc), pos, 1.0f); }, calls / 10)},
      {"embed_forward (table source)",
       us_per_call([&] { embed_forward(ov, ids, Ev, PeSource::table(Tv), pos, 1.0f); }, calls)},
      {"embed_backward (dE + dPE)",
       us_per_call([&] { embed_backward(dEv, dTv, dov, ids, pos, 1.0f); }, calls)},
      {"learned_add", us_per_call([&] { learned_add(xv, Tv, pos); }, calls)},
      {"learned_forward", us_per_call([&] { learned_forward(ov, Tv, pos); }, calls)},
      {"learned_backward", us_per_call([&] { learned_backward(dTv, dov, pos); }, calls)},
      {"rope_forward q+k (default)", us_per_call(
                                         [&] {
                                           rope_forward(RopeTensors{qv, kv}, rc, pos);
                                         },
                                         calls)},
      {"rope_forward q+k (dynamic NTK, seq_len 1001)", us_per_call(
                                                           [&] {
                                                             rope_forward(RopeTensors{qv, kv}, dyn, pos);
                                                           },
                                                           calls / 10)},
      {"alibi_bias (32 heads, 1 query x 4096 keys)",
       us_per_call([&] { alibi_bias(bias_v, alibi, query, keys); }, calls / 10)},
      {"t5_bias_forward (32 heads, 1 query x 4096 keys)",
       us_per_call([&] { t5_bias_forward(bias_v, t5_v, t5, query, keys); }, calls / 10)},
      {"memcpy of the 16 KiB row", memcpy_us(out.data(), x.data(), x.size() * sizeof(float), calls)},
      {"memcpy of the 512 KiB bias",
       memcpy_us(bias.data(), bias_src.data(), bias.size() * sizeof(float), calls / 10)},
  };
  std::printf("%-46s %12s\n", "call (one token)", "us/call");
  for (const Row& r : rows) std::printf("%-46s %12.3f\n", r.name, r.us);
  return 0;
}
