// posenc_bench_gpu — posenc's CUDA kernels against a device-to-device copy of the same bytes, timed with
// CUDA events on the shapes of issue 6:
//   RoPE q + k [8, 32, 4096, 128] ([B, H, T, D], as HF's apply_rotary_pos_emb takes them), bf16 and f32,
//   forward and backward; embedding + PE bf16 [8, 4096, 4096], V = 32000 (forward; backward for reference).
// Each measurement: warm-up, then `groups` groups of `per_group` back-to-back calls between two events;
// the median group time / per_group is the time per call (host work of a call overlaps the previous
// call's kernels, as in a real step; a call that waits for the GPU shows it). Inputs are far larger than
// L2 (50-60 MB), except the embed PE table of the shape ([4096, 4096] bf16, 32 MiB), which the
// `pe_beyond_l2` row replaces by one four times the L2. Bytes: what the op must read and write once (RoPE: q and k read and written; embed: the
// E rows, the PE rows and out); the copy moves the same number of bytes (half read, half written), so
// copy_ms / time_ms is the fraction of copy bandwidth reached.
// Usage: posenc_bench_gpu [--quick] [--json FILE]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cuda/cuda_ops.hpp"
#include "posenc/cuda.hpp"
#include "posenc/posenc.hpp"

using namespace posenc;

namespace {

void ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "posenc_bench_gpu: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

struct Dev {
  void* p = nullptr;
  size_t bytes = 0;
  explicit Dev(size_t n) : bytes(n) { ok(cudaMalloc(&p, n), "cudaMalloc"); }
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
};

// Random floats in [-1, 1) stored as t, generated on the host in chunks.
void fill_random(Dev& d, DType t, uint32_t seed) {
  const size_t es = static_cast<size_t>(dtype_size(t)), n = d.bytes / es, chunk = size_t{1} << 22;
  std::vector<unsigned char> buf(chunk * es);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (size_t at = 0; at < n; at += chunk) {
    const size_t m = std::min(chunk, n - at);
    for (size_t i = 0; i < m; ++i) {
      const float f = u(rng);
      if (t == DType::F32) {
        std::memcpy(buf.data() + i * 4, &f, 4);
      } else {
        const uint16_t h = t == DType::BF16 ? f32_to_bf16_bits(f) : f32_to_f16_bits(f);
        std::memcpy(buf.data() + i * 2, &h, 2);
      }
    }
    ok(cudaMemcpy(static_cast<unsigned char*>(d.p) + at * es, buf.data(), m * es, cudaMemcpyHostToDevice),
       "fill");
  }
}

struct Opts {
  int warmup = 3, groups = 15, per_group = 10;
};

// Median time per call in ms.
double time_ms(const std::function<void()>& f, const Opts& o) {
  for (int i = 0; i < o.warmup; ++i) f();
  ok(cudaDeviceSynchronize(), "warm-up");
  cudaEvent_t a, b;
  ok(cudaEventCreate(&a), "event");
  ok(cudaEventCreate(&b), "event");
  std::vector<double> t;
  for (int g = 0; g < o.groups; ++g) {
    ok(cudaEventRecord(a, static_cast<cudaStream_t>(cuda_stream())), "record");
    for (int i = 0; i < o.per_group; ++i) f();
    ok(cudaEventRecord(b, static_cast<cudaStream_t>(cuda_stream())), "record");
    ok(cudaEventSynchronize(b), "sync");
    float ms = 0;
    ok(cudaEventElapsedTime(&ms, a, b), "elapsed");
    t.push_back(ms / o.per_group);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// A device-to-device copy moving `bytes` (bytes / 2 read, bytes / 2 written).
double copy_ms(size_t bytes, const Opts& o) {
  const size_t half = bytes / 2;
  Dev src(half), dst(half);
  ok(cudaMemset(src.p, 1, half), "memset");
  return time_ms([&] { ok(cudaMemcpyAsync(dst.p, src.p, half, cudaMemcpyDeviceToDevice, nullptr), "copy"); },
                 o);
}

struct Row {
  std::string op, shape, dtype, variant;
  double ms = 0, bytes = 0, copy = 0;
};
std::vector<Row> rows;

void report(const Row& r) {
  const double gbps = r.bytes / (r.ms * 1e-3) / 1e9;
  std::printf("%-10s %-22s %-5s %-26s %9.4f ms %8.1f GB/s  copy %8.4f ms  %.2fx copy bw\n", r.op.c_str(),
              r.shape.c_str(), r.dtype.c_str(), r.variant.c_str(), r.ms, gbps, r.copy, r.copy / r.ms);
  std::fflush(stdout);
  rows.push_back(r);
}

TensorView view4(void* p, DType t, int64_t B, int64_t H, int64_t T, int64_t D) {
  // [B, H, T, D] memory (HF's layout) seen as posenc's [B, T, H, D].
  return bhtd(TensorView::contiguous(p, t, {B, H, T, D}, Device::CUDA));
}

void bench_rope(DType t, const Opts& o) {
  const int64_t B = 8, H = 32, T = 4096, D = 128;
  const size_t bytes = static_cast<size_t>(B * H * T * D * dtype_size(t));
  Dev q(bytes), k(bytes), qo(bytes), ko(bytes);
  fill_random(q, t, 1);
  fill_random(k, t, 2);
  const double copy = copy_ms(4 * bytes, o);
  const std::string shape = "[8, 32, 4096, 128] q+k", dt(dtype_name(t));
  for (Precision p : {Precision::Exact, Precision::HfCompat})
    for (bool bwd : {false, true})
      for (int form = 0; form < 3; ++form) {  // out of place, in place, out of place in token-major order
        const bool in_place = form == 1, token_major = form == 2;
        if (p == Precision::HfCompat && (bwd || form > 0)) continue;
        if (bwd && form > 0) continue;
        // The first version's block order (src/cuda/rope.cu), read at each launch: side by side.
        if (token_major) setenv("POSENC_CUDA_ROPE_TOKEN_MAJOR", "1", 1);
        RopeConfig cfg;
        cfg.head_dim = D;
        cfg.precision = p;
        RopeTensors rt;
        rt.q = view4(q.p, t, B, H, T, D);
        rt.k = view4(k.p, t, B, H, T, D);
        if (!in_place) {
          rt.q_out = view4(qo.p, t, B, H, T, D);
          rt.k_out = view4(ko.p, t, B, H, T, D);
        }
        const Positions pos = Positions::offset(0);
        const double ms = time_ms(
            [&] {
              if (bwd)
                rope_backward(rt, cfg, pos);
              else
                rope_forward(rt, cfg, pos);
            },
            o);
        if (token_major) unsetenv("POSENC_CUDA_ROPE_TOKEN_MAJOR");
        std::string variant = p == Precision::Exact ? "exact" : "hf_compat";
        if (in_place) variant += ",in_place";
        if (token_major) variant += ",token_major";
        report(
            {bwd ? "rope_bwd" : "rope_fwd", shape, dt, variant, ms, 4.0 * static_cast<double>(bytes), copy});
      }
}

void bench_embed(const Opts& o) {
  const int64_t B = 8, T = 4096, C = 4096, V = 32000;
  const DType t = DType::BF16;
  const size_t row = static_cast<size_t>(C * dtype_size(t));
  Dev E(static_cast<size_t>(V) * row), P(static_cast<size_t>(T) * row), out(static_cast<size_t>(B * T) * row);
  Dev ids(static_cast<size_t>(B * T) * sizeof(int64_t));
  fill_random(E, t, 3);
  fill_random(P, t, 4);
  {
    std::vector<int64_t> h(static_cast<size_t>(B * T));
    std::mt19937 rng(5);
    for (auto& v : h) v = static_cast<int64_t>(rng() % static_cast<uint32_t>(V));
    ok(cudaMemcpy(ids.p, h.data(), h.size() * 8, cudaMemcpyHostToDevice), "ids");
  }
  const TensorView Ev = TensorView::contiguous(E.p, t, {V, C}, Device::CUDA);
  const TensorView Pv = TensorView::contiguous(P.p, t, {T, C}, Device::CUDA);
  const TensorView ov = TensorView::contiguous(out.p, t, {B, T, C}, Device::CUDA);
  const TensorView iv = TensorView::contiguous(ids.p, DType::I64, {B, T}, Device::CUDA);
  const double bytes = 3.0 * static_cast<double>(B * T) * static_cast<double>(row);  // E rows, P rows, out
  const double copy = copy_ms(static_cast<size_t>(bytes), o);
  const std::string shape = "[8, 4096, 4096] V=32000";
  const Positions pos = Positions::offset(0);
  for (bool check : {true, false}) {
    detail::cuda::set_check_ids(check);
    const double ms = time_ms([&] { embed_forward(ov, iv, Ev, PeSource::table(Pv), pos, 1.0f); }, o);
    report(
        {"embed_fwd", shape, "bf16", check ? "table,ids_checked" : "table,ids_unchecked", ms, bytes, copy});
  }
  detail::cuda::set_check_ids(true);
  {
    // The same op with its PE rows out of L2. Above, P (32 MiB) stays in the 50-60 MB L2 after the first
    // sequence, so its 'x copy' counts bytes that do not all come from DRAM. Here one PE table of B * T
    // rows (256 MiB) and sequence b at positions b * T .. b * T + T - 1: every PE row is read once, from
    // DRAM. Another workload than torch's (bench_torch.py compares no other impl with it); the issue's
    // 'x copy' target is read from this row.
    Dev P2(static_cast<size_t>(B * T) * row);
    fill_random(P2, t, 6);
    const TensorView P2v = TensorView::contiguous(P2.p, t, {B * T, C}, Device::CUDA);
    std::vector<int64_t> offsets(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) offsets[static_cast<size_t>(b)] = b * T;
    const Positions spread = Positions::offsets(offsets);
    const double ms = time_ms([&] { embed_forward(ov, iv, Ev, PeSource::table(P2v), spread, 1.0f); }, o);
    report({"embed_fwd", shape, "bf16", "table,ids_checked,pe_beyond_l2", ms, bytes, copy});
  }
  SinusoidalConfig sc;
  sc.dim = C;
  const double ms_sin = time_ms([&] { embed_forward(ov, iv, Ev, PeSource::sinusoidal(sc), pos, 1.0f); }, o);
  report({"embed_fwd", shape, "bf16", "sinusoidal_exact,ids_checked", ms_sin, bytes, copy});
  // Backward: dE += scatter of dout by id, dPE += scatter by position (bf16 gradients, as the forward).
  Dev dE(static_cast<size_t>(V) * row), dP(static_cast<size_t>(T) * row);
  ok(cudaMemset(dE.p, 0, dE.bytes), "memset");
  ok(cudaMemset(dP.p, 0, dP.bytes), "memset");
  const TensorView dEv = TensorView::contiguous(dE.p, t, {V, C}, Device::CUDA);
  const TensorView dPv = TensorView::contiguous(dP.p, t, {T, C}, Device::CUDA);
  Opts ob = o;
  ob.per_group = std::max(1, o.per_group / 2);
  const double ms_b = time_ms([&] { embed_backward(dEv, dPv, ov, iv, pos, 1.0f); }, ob);
  // Reads dout twice (dE and dPE), reads and writes the touched rows of dE and dPE.
  report({"embed_bwd", shape, "bf16", "dE+dPE", ms_b,
          2.0 * static_cast<double>(B * T) * static_cast<double>(row) +
              2.0 * static_cast<double>(T + std::min<int64_t>(V, B * T)) * static_cast<double>(row),
          copy});
}

void write_json(const char* path) {
  FILE* f = std::fopen(path, "w");
  if (f == nullptr) {
    std::fprintf(stderr, "posenc_bench_gpu: cannot write %s\n", path);
    std::exit(1);
  }
  cudaDeviceProp prop{};
  int dev = 0;
  cudaGetDevice(&dev);
  cudaGetDeviceProperties(&prop, dev);
  std::fprintf(f, "{\n  \"device\": \"%s\",\n  \"rows\": [\n", prop.name);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::fprintf(f,
                 "    {\"impl\": \"posenc\", \"op\": \"%s\", \"shape\": \"%s\", \"dtype\": \"%s\", "
                 "\"variant\": \"%s\", "
                 "\"ms\": %.6f, \"bytes\": %.0f, \"copy_ms\": %.6f}%s\n",
                 r.op.c_str(), r.shape.c_str(), r.dtype.c_str(), r.variant.c_str(), r.ms, r.bytes, r.copy,
                 i + 1 < rows.size() ? "," : "");
  }
  std::fprintf(f, "  ]\n}\n");
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  Opts o;
  const char* json = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      o.groups = 5;
      o.per_group = 3;
    } else if (a == "--json" && i + 1 < argc) {
      json = argv[++i];
    } else {
      std::fprintf(stderr, "usage: posenc_bench_gpu [--quick] [--json FILE]\n");
      return 2;
    }
  }
  if (!cuda_available()) {
    std::fprintf(stderr, "posenc_bench_gpu: no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  ok(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  std::printf("device: %s (%d SMs, L2 %d MB)\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
  try {
    bench_rope(DType::BF16, o);
    bench_rope(DType::F32, o);
    bench_embed(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "posenc_bench_gpu: %s\n", e.what());
    return 1;
  }
  if (json != nullptr) write_json(json);
  return 0;
}
