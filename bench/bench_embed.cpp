// bench/bench_embed.cpp — the fused embedding step (forward, backward) and the sinusoidal table,
// each next to its bandwidth ceiling (a parallel memcpy moving the same bytes) and LibTorch eager,
// one run.
//
// Names are <op>/<impl>/<shape>/<dtype>; bench/summarize.py pairs rows by op, shape and dtype.
//   op    embed_fwd_table       out = E[ids] * scale + PE[pos], PE a learned or cached table
//         embed_fwd_sinusoidal  the same with PE computed on the fly (exact double-double angles)
//         embed_bwd             dE[ids] += scale * dout, dPE[pos] += dout (sums in token order)
//         sin_table_exact       posenc::sinusoidal_table, Precision::Exact
//         sin_table_hf          posenc::sinusoidal_table, Precision::HfCompat
//   impl  posenc | copy (std::memcpy ceiling) | torch (LibTorch eager) | variants, see below
//
// Byte counting rule (SetBytesProcessed; GB/s = bytes / wall time): bytes = what the op must read
// plus what it must write, each row counted once per pass the op makes over it, only rows it
// touches; ids and positions (8 bytes a token) are not counted. s = element size, U = distinct ids.
//   embed_fwd_table       read T rows of E, read T rows of PE, write out         3 T C s
//   embed_fwd_sinusoidal  read T rows of E, write out (PE is computed)           2 T C s
//   embed_bwd             read dout twice (dE pass, dPE pass), read and write
//                         the U touched dE rows and the T touched dPE rows       (4 T + 2 U) C 4
//   sin_table_*           write N rows                                           N d 4
// Every impl of an op is charged the same bytes, so a ratio of GB/s is a speed ratio. The copy row
// of an op memcpys bytes / 2 from one buffer to another (reads bytes / 2, writes bytes / 2), split
// over the same threads.
//
// Variants: torch_out (torch with preallocated outputs: no allocator in the loop); torch_index_add
// (the backward formula by hand instead of autograd); copy_temporal (a copy with ordinary stores);
// proto_plain, proto_nt, proto_avx2 (bench/proto_gather_add.cpp: the core's forward loop with
// ordinary stores, with non-temporal stores, and for bf16 with AVX2).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_main.hpp"
#include "bench_util.hpp"
#include "posenc/posenc.hpp"
#include "proto_gather_add.hpp"

namespace pb = posenc_bench;
using pb::timed;
using posenc::DType;
using posenc::TensorView;

namespace {

constexpr int64_t kV = 32000, kC = 4096, kT = 4096, kB = 1;
const std::string kEmbedShape = "V32000_C4096_T4096_B1";
constexpr double kBase = 10000.0;

std::string dtype_label(DType t) {
  return std::string(posenc::dtype_name(t));
}
int64_t esize(DType t) {
  return posenc::dtype_size(t);
}

// ---- inputs, built once per dtype and kept for the whole run ----

// Token ids [B*T], uniform in [0, V), the same for every case.
const std::vector<int64_t>& token_ids() {
  static const std::vector<int64_t> ids = pb::random_ids(kB * kT, kV, 3);
  return ids;
}

struct EmbedInputs {
  DType dtype;
  pb::Buffer E, pe;  // [V, C], [T, C]
  const std::vector<int64_t>& ids = token_ids();
  float scale = 1.0f;
};

const EmbedInputs& embed_inputs(DType t) {
  static std::unique_ptr<EmbedInputs> cache[2];
  auto& slot = cache[t == DType::BF16 ? 1 : 0];
  if (!slot) {
    slot = std::make_unique<EmbedInputs>();
    slot->dtype = t;
    slot->E = pb::random_floats(t, kV * kC, 1, 0.02f);
    slot->pe = pb::random_floats(t, kT * kC, 2, 1.0f);
    slot->scale = posenc::embed_scale(posenc::EmbedScale::SqrtC, kC);
  }
  return *slot;
}

TensorView view2(const pb::Buffer& b, DType t, int64_t r, int64_t c) {
  return TensorView::contiguous(b.data(), t, {r, c});
}
TensorView ids_view(const EmbedInputs& in) {
  return TensorView::contiguous(in.ids.data(), DType::I64, {kB, kT});
}
posenc::SinusoidalConfig sin_config(int64_t d, posenc::Precision p) {
  posenc::SinusoidalConfig cfg;
  cfg.dim = d;
  cfg.base = kBase;
  cfg.precision = p;
  return cfg;
}

int64_t fwd_bytes(DType t, bool sinusoidal) {
  return (sinusoidal ? 2 : 3) * kT * kC * esize(t);
}
int64_t bwd_bytes() {
  return (2 * kT + 2 * pb::count_distinct(token_ids()) + 2 * kT) * kC * 4;
}

// ---- the cases ----

void embed_fwd_posenc(benchmark::State& st, DType t, bool sinusoidal) {
  const EmbedInputs& in = embed_inputs(t);
  pb::Buffer out(static_cast<size_t>(kB * kT * kC * esize(t)));
  const TensorView out_v = TensorView::contiguous(out.data(), t, {kB, kT, kC});
  const posenc::PeSource pe = sinusoidal
                                  ? posenc::PeSource::sinusoidal(sin_config(kC, posenc::Precision::Exact))
                                  : posenc::PeSource::table(view2(in.pe, t, kT, kC));
  const TensorView E = view2(in.E, t, kV, kC), ids = ids_view(in);
  timed(st, fwd_bytes(t, sinusoidal),
        [&] { posenc::embed_forward(out_v, ids, E, pe, posenc::Positions::offset(0), in.scale); });
}

enum class Proto { Plain, NonTemporal, Bf16Avx2 };

void embed_fwd_proto(benchmark::State& st, Proto kind) {
  const DType t = kind == Proto::Bf16Avx2 ? DType::BF16 : DType::F32;
  const EmbedInputs& in = embed_inputs(t);
  pb::Buffer out(static_cast<size_t>(kT * kC * esize(t))), ref(out.bytes());
  std::vector<int64_t> rows(static_cast<size_t>(kT));
  for (int64_t r = 0; r < kT; ++r) rows[static_cast<size_t>(r)] = r;
  auto run = [&] {
    if (kind == Proto::Bf16Avx2)
      return pb::proto_embed_forward_bf16_avx2(out.as<uint16_t>(), in.E.as<uint16_t>(), in.ids.data(),
                                               in.pe.as<uint16_t>(), rows.data(), kT, kC, in.scale);
    pb::proto_embed_forward(out.as<float>(), in.E.as<float>(), in.ids.data(), in.pe.as<float>(), rows.data(),
                            kT, kC, in.scale,
                            kind == Proto::Plain ? pb::StoreKind::Plain : pb::StoreKind::NonTemporal);
    return true;
  };
  if (!run()) {
    st.SkipWithError("this CPU has no AVX2");
    return;
  }
  // The prototype must be a drop-in: same bits as posenc::embed_forward.
  posenc::embed_forward(TensorView::contiguous(ref.data(), t, {kB, kT, kC}), ids_view(in),
                        view2(in.E, t, kV, kC), posenc::PeSource::table(view2(in.pe, t, kT, kC)),
                        posenc::Positions::offset(0), in.scale);
  if (std::memcmp(out.data(), ref.data(), out.bytes()) != 0) {
    st.SkipWithError("prototype output differs from posenc::embed_forward");
    return;
  }
  timed(st, fwd_bytes(t, false), run);
}

void embed_bwd_posenc(benchmark::State& st) {
  const EmbedInputs& in = embed_inputs(DType::F32);
  pb::Buffer dout = pb::random_floats(DType::F32, kT * kC, 4, 1e-3f);
  pb::Buffer dE(static_cast<size_t>(kV * kC * 4)), dPE(static_cast<size_t>(kT * kC * 4));
  const TensorView dE_v = view2(dE, DType::F32, kV, kC), dPE_v = view2(dPE, DType::F32, kT, kC);
  const TensorView dout_v = TensorView::contiguous(dout.data(), DType::F32, {kB, kT, kC});
  const TensorView ids = ids_view(in);
  timed(st, bwd_bytes(),
        [&] { posenc::embed_backward(dE_v, dPE_v, dout_v, ids, posenc::Positions::offset(0), in.scale); });
}

void sin_table_posenc(benchmark::State& st, int64_t N, int64_t d, posenc::Precision p) {
  pb::Buffer out(static_cast<size_t>(N * d * 4));
  const TensorView out_v = view2(out, DType::F32, N, d);
  const posenc::SinusoidalConfig cfg = sin_config(d, p);
  timed(st, N * d * 4, [&] { posenc::sinusoidal_table(out_v, cfg, 0); });
}

#ifdef POSENC_BENCH_TORCH
pb::TorchEmbedInputs torch_inputs(const EmbedInputs& in, bool with_table) {
  pb::TorchEmbedInputs t;
  t.E = in.E.data();
  t.pe = with_table ? in.pe.data() : nullptr;
  t.ids = in.ids.data();
  t.V = kV, t.C = kC, t.T = kB * kT, t.P = kT;
  t.scale = in.scale;
  t.bf16 = in.dtype == DType::BF16;
  t.base = kBase;
  return t;
}

enum class TorchCase { Fwd, FwdOut, FwdSin, BwdAutograd, BwdIndexAdd };

// The baseline must compute what posenc computes. Tolerances: f32 within 1e-6 (values are
// below 2.5, so a few ulps: torch's add_out may fuse the multiply); bf16 within 0.05 (torch rounds
// E * scale to bf16 before the add: 2 roundings of <= 2^-7 relative); the sinusoidal source within
// 2e-3 (torch's float32 angles pos * omega are off by up to ~5e-4 at positions near 4096).
bool torch_matches(benchmark::State& st, const pb::TorchOp& op, const EmbedInputs& in, bool sinusoidal) {
  if (!op.max_abs_diff) return true;
  op.run();
  pb::Buffer ref(static_cast<size_t>(kT * kC * esize(in.dtype)));
  const posenc::PeSource pe = sinusoidal
                                  ? posenc::PeSource::sinusoidal(sin_config(kC, posenc::Precision::Exact))
                                  : posenc::PeSource::table(view2(in.pe, in.dtype, kT, kC));
  posenc::embed_forward(TensorView::contiguous(ref.data(), in.dtype, {kB, kT, kC}), ids_view(in),
                        view2(in.E, in.dtype, kV, kC), pe, posenc::Positions::offset(0), in.scale);
  const double diff = op.max_abs_diff(ref.data());
  const double tol = sinusoidal ? 2e-3 : in.dtype == DType::BF16 ? 0.05 : 1e-6;
  if (diff <= tol) return true;
  st.SkipWithError(("torch output differs from posenc by " + std::to_string(diff)).c_str());
  return false;
}

void embed_torch(benchmark::State& st, DType t, TorchCase c) {
  const EmbedInputs& in = embed_inputs(t);
  pb::TorchEmbedInputs ti = torch_inputs(in, c != TorchCase::FwdSin);
  pb::Buffer dout, dE, dPE;
  pb::TorchOp op;
  int64_t bytes = fwd_bytes(t, false);
  switch (c) {
    case TorchCase::Fwd:
      op = pb::torch_embed_forward(ti);
      break;
    case TorchCase::FwdOut:
      op = pb::torch_embed_forward_out(ti);
      break;
    case TorchCase::FwdSin:
      op = pb::torch_embed_forward_sinusoidal(ti);
      bytes = fwd_bytes(t, true);
      break;
    case TorchCase::BwdAutograd:
    case TorchCase::BwdIndexAdd:
      dout = pb::random_floats(DType::F32, kT * kC, 4, 1e-3f);
      bytes = bwd_bytes();
      if (c == TorchCase::BwdAutograd) {
        op = pb::torch_embed_backward_autograd(ti, dout.as<float>());
      } else {
        dE = pb::Buffer(static_cast<size_t>(kV * kC * 4));
        dPE = pb::Buffer(static_cast<size_t>(kT * kC * 4));
        op = pb::torch_embed_backward_index_add(ti, dout.as<float>(), dE.as<float>(), dPE.as<float>());
      }
      break;
  }
  if (!torch_matches(st, op, in, c == TorchCase::FwdSin)) return;
  timed(st, bytes, op.run);
}

void sin_table_torch(benchmark::State& st, int64_t N, int64_t d) {
  timed(st, N * d * 4, pb::torch_sinusoidal_table(N, d, kBase).run);
}
#endif

// ---- registration ----

template <typename F, typename... Args>
void add(const std::string& op, const std::string& impl, const std::string& shape, const std::string& dt, F f,
         Args... args) {
  const std::string name = op + "/" + impl + "/" + shape + "/" + dt;
  benchmark::RegisterBenchmark(name.c_str(), f, args...)->UseRealTime()->Unit(benchmark::kMillisecond);
}

void register_all() {
  using posenc::Precision;
  for (DType t : {DType::F32, DType::BF16}) {
    const std::string dt = dtype_label(t);
    add("embed_fwd_table", "posenc", kEmbedShape, dt, embed_fwd_posenc, t, false);
    add("embed_fwd_table", "copy", kEmbedShape, dt, pb::copy_ceiling, fwd_bytes(t, false),
        pb::CopyKind::Memcpy);
#ifdef POSENC_BENCH_TORCH
    add("embed_fwd_table", "torch", kEmbedShape, dt, embed_torch, t, TorchCase::Fwd);
    add("embed_fwd_table", "torch_out", kEmbedShape, dt, embed_torch, t, TorchCase::FwdOut);
#endif
  }
  add("embed_fwd_table", "copy_temporal", kEmbedShape, "f32", pb::copy_ceiling, fwd_bytes(DType::F32, false),
      pb::CopyKind::Temporal);
  add("embed_fwd_table", "proto_plain", kEmbedShape, "f32", embed_fwd_proto, Proto::Plain);
  add("embed_fwd_table", "proto_nt", kEmbedShape, "f32", embed_fwd_proto, Proto::NonTemporal);
  add("embed_fwd_table", "proto_avx2", kEmbedShape, "bf16", embed_fwd_proto, Proto::Bf16Avx2);

  add("embed_fwd_sinusoidal", "posenc", kEmbedShape, "f32", embed_fwd_posenc, DType::F32, true);
  add("embed_fwd_sinusoidal", "copy", kEmbedShape, "f32", pb::copy_ceiling, fwd_bytes(DType::F32, true),
      pb::CopyKind::Memcpy);
#ifdef POSENC_BENCH_TORCH
  add("embed_fwd_sinusoidal", "torch", kEmbedShape, "f32", embed_torch, DType::F32, TorchCase::FwdSin);
#endif

  add("embed_bwd", "posenc", kEmbedShape, "f32", embed_bwd_posenc);
  add("embed_bwd", "copy", kEmbedShape, "f32", pb::copy_ceiling, bwd_bytes(), pb::CopyKind::Memcpy);
#ifdef POSENC_BENCH_TORCH
  add("embed_bwd", "torch", kEmbedShape, "f32", embed_torch, DType::F32, TorchCase::BwdAutograd);
  add("embed_bwd", "torch_index_add", kEmbedShape, "f32", embed_torch, DType::F32, TorchCase::BwdIndexAdd);
#endif

  for (int64_t N : {int64_t{4096}, int64_t{131072}}) {
    const int64_t d = 128;
    std::string shape = "N";  // (not "N" + to_string(N): GCC 12 warns falsely, -Wrestrict)
    shape += std::to_string(N) + "_d" + std::to_string(d);
    for (Precision p : {Precision::Exact, Precision::HfCompat}) {
      const std::string op = p == Precision::Exact ? "sin_table_exact" : "sin_table_hf";
      add(op, "posenc", shape, "f32", sin_table_posenc, N, d, p);
      add(op, "copy", shape, "f32", pb::copy_ceiling, N * d * 4, pb::CopyKind::Memcpy);
#ifdef POSENC_BENCH_TORCH
      add(op, "torch", shape, "f32", sin_table_torch, N, d);
#endif
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  return pb::bench_main(argc, argv, "posenc_bench_embed", register_all, pb::torch_context);
}
