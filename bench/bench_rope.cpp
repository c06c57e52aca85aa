// bench/bench_rope.cpp — RoPE forward and backward (q and k together, in place or not) next to their
// bandwidth ceiling (a parallel memcpy moving the same bytes) and LibTorch eager (HF's formula),
// one run. Target posenc_bench_rope.
//
// Names are <op>/<impl>/<shape>/<dtype>; bench/summarize.py pairs rows by op, shape and dtype.
//   op    rope_fwd    posenc::rope_forward, HalfSplit, default scaling, base 10000, positions
//                     0 .. T-1 (Positions::offset(0)), in place unless the impl ends in _out
//         rope_bwd    posenc::rope_backward, the same (dq', dk' in place -> dq, dk)
//         rope        the copy ceiling, shared by rope_fwd and rope_bwd (same bytes)
//         rope_table  the cos/sin table alone, [T, r/2] pairs (summarize.py prints ms per call)
//   impl  posenc_exact, posenc_hf   Precision::Exact, Precision::HfCompat
//         posenc_cached, posenc_hf_cached   the same with a posenc::RopeCache built before timing
//         posenc_exact_out, posenc_hf_out, posenc_cached_out   per call (Exact, HfCompat) and
//                                   cached (Exact), out of place: q, k (or
//                                   dq', dk') read, q_out, k_out written (what the LibTorch adapter
//                                   does); the same bytes are charged
//         copy                      std::memcpy ceiling
//         inplace_pass              a second ceiling (op rope): load and store back bytes / 2 in
//         place torch, torch_pre          rope_fwd: HF formula with cos/sin computed in the call /
//                                   precomputed (see torch_baselines.hpp)
//         torch, torch_explicit     rope_bwd: autograd through the HF formula / explicit formula
//         proto_verbatim, proto_halfsplit, proto_avx2   rope_fwd: the core's rotation with the
//                                   Exact table computed once outside the loop
//                                   (bench/proto_rope.hpp)
//         proto_hf_inline           rope_table: the HfCompat table with the per-pair work inlined
//   shape T4096_Hq32_Hk8_D128 (q and k, GQA, B = 1, [B, T, H, D]), T4096_H32_D128 (q alone)
//
// Byte counting rule (SetBytesProcessed; GB/s = bytes / wall time): read and write q and k once,
// bytes = 2 (Hq + Hk) T D s; positions and the cos/sin table are not counted. Every impl is charged
// the same bytes, so a ratio of GB/s is a speed ratio. The copy memcpys bytes / 2 from one buffer
// to another, split over the same threads. rope_table rows are charged the cos and sin [T, D] f32
// that HF materialises (2 T D 4 bytes); read them as ms per call.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_main.hpp"
#include "bench_util.hpp"
#include "posenc/posenc.hpp"
#include "proto_rope.hpp"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace pb = posenc_bench;
using pb::timed;
using posenc::DType;
using posenc::Precision;
using posenc::TensorView;

namespace {

constexpr int64_t kT = 4096, kHq = 32, kHk = 8, kD = 128;
constexpr double kBase = 10000.0;

struct Shape {
  std::string name;
  int64_t Hk;  // 0: q alone
};
const Shape kGqa{"T4096_Hq32_Hk8_D128", kHk};
const Shape kQOnly{"T4096_H32_D128", 0};

std::string dtype_label(DType t) {
  return std::string(posenc::dtype_name(t));
}
int64_t rope_bytes(const Shape& sh, DType t) {
  return 2 * (kHq + sh.Hk) * kT * kD * posenc::dtype_size(t);
}

posenc::RopeConfig rope_config(Precision p) {
  posenc::RopeConfig cfg;
  cfg.head_dim = kD;
  cfg.base = kBase;
  cfg.layout = posenc::PairLayout::HalfSplit;
  cfg.precision = p;
  return cfg;
}

// ---- inputs, built once per dtype and kept for the whole run ----

// q [1, T, Hq, D] and k [1, T, Hk, D] as given (never written), the gradients dq', dk', and the
// buffers posenc rotates in place, call after call (a rotation keeps the values bounded).
struct RopeInputs {
  DType dtype;
  pb::Buffer q, k, gq, gk;
  pb::Buffer qw, kw;
};

const RopeInputs& rope_inputs(DType t) {
  static std::unique_ptr<RopeInputs> cache[2];
  auto& slot = cache[t == DType::BF16 ? 1 : 0];
  if (!slot) {
    slot = std::make_unique<RopeInputs>();
    slot->dtype = t;
    slot->q = pb::random_floats(t, kT * kHq * kD, 11, 1.0f);
    slot->k = pb::random_floats(t, kT * kHk * kD, 12, 1.0f);
    slot->gq = pb::random_floats(t, kT * kHq * kD, 13, 1.0f);
    slot->gk = pb::random_floats(t, kT * kHk * kD, 14, 1.0f);
    slot->qw = pb::random_floats(t, kT * kHq * kD, 11, 1.0f);
    slot->kw = pb::random_floats(t, kT * kHk * kD, 12, 1.0f);
  }
  return *slot;
}

TensorView view4(const pb::Buffer& b, DType t, int64_t H) {
  return TensorView::contiguous(b.data(), t, {1, kT, H, kD});
}

// posenc on copies of (q, k) (fwd) or (dq', dk') (bwd): the expected values for the checks.
struct Expected {
  pb::Buffer q, k;
};
Expected posenc_result(const RopeInputs& in, const Shape& sh, bool fwd, Precision p) {
  const DType t = in.dtype;
  Expected e{pb::Buffer(in.q.bytes()), pb::Buffer(sh.Hk ? in.k.bytes() : 0)};
  std::memcpy(e.q.data(), (fwd ? in.q : in.gq).data(), in.q.bytes());
  posenc::RopeTensors rt{view4(e.q, t, kHq), {}};
  if (sh.Hk) {
    std::memcpy(e.k.data(), (fwd ? in.k : in.gk).data(), in.k.bytes());
    rt.k = view4(e.k, t, sh.Hk);
  }
  if (fwd)
    posenc::rope_forward(rt, rope_config(p), posenc::Positions::offset(0));
  else
    posenc::rope_backward(rt, rope_config(p), posenc::Positions::offset(0));
  return e;
}

// Each check runs once per case (the first repetition); later repetitions reuse the verdict.
// Returns an error message, or "" when the case may be timed.
template <typename F>
const std::string& checked_once(const std::string& key, F&& check) {
  static std::map<std::string, std::string> verdicts;
  auto it = verdicts.find(key);
  if (it == verdicts.end()) it = verdicts.emplace(key, check()).first;
  return it->second;
}

// ---- the cases ----

// In place (qw, kw), or out of place (Out::Yes: from q, k or dq', dk' into qw, kw, as an autograd
// function writes a new tensor).
enum class Out : bool { No, Yes };
posenc::RopeTensors rope_tensors(const RopeInputs& in, const Shape& sh, DType t, bool fwd, Out out) {
  if (out == Out::No) {
    posenc::RopeTensors rt{view4(in.qw, t, kHq), {}};
    if (sh.Hk) rt.k = view4(in.kw, t, sh.Hk);
    return rt;
  }
  posenc::RopeTensors rt{view4(fwd ? in.q : in.gq, t, kHq), {}, view4(in.qw, t, kHq), {}};
  if (sh.Hk) {
    rt.k = view4(fwd ? in.k : in.gk, t, sh.Hk);
    rt.k_out = view4(in.kw, t, sh.Hk);
  }
  return rt;
}

void rope_posenc(benchmark::State& st, const std::string&, const Shape& sh, DType t, bool fwd, Precision p,
                 Out out) {
  const RopeInputs& in = rope_inputs(t);
  const posenc::RopeTensors rt = rope_tensors(in, sh, t, fwd, out);
  const posenc::RopeConfig cfg = rope_config(p);
  const posenc::Positions pos = posenc::Positions::offset(0);
  timed(st, rope_bytes(sh, t), [&] {
    if (fwd)
      posenc::rope_forward(rt, cfg, pos);
    else
      posenc::rope_backward(rt, cfg, pos);
  });
}

// The same with a posenc::RopeCache built once before timing (as a model does once per forward).
void rope_posenc_cached(benchmark::State& st, const std::string&, const Shape& sh, DType t, bool fwd,
                        Precision p, Out out) {
  const RopeInputs& in = rope_inputs(t);
  const posenc::RopeTensors rt = rope_tensors(in, sh, t, fwd, out);
  const posenc::RopeCache cache =
      posenc::make_rope_cache(rope_config(p), posenc::Positions::offset(0), 1, kT);
  timed(st, rope_bytes(sh, t), [&] {
    if (fwd)
      posenc::rope_forward(rt, cache);
    else
      posenc::rope_backward(rt, cache);
  });
}

// The cos/sin table of one call: rope_forward on q [1, T, 1, D] (no k), whose rotation (2 MiB,
// cache-resident) costs about 1/40 of the q-and-k case's.
void rope_table_posenc(benchmark::State& st, const std::string&, Precision p) {
  pb::Buffer q = pb::random_floats(DType::F32, kT * kD, 15, 1.0f);
  const posenc::RopeTensors rt{TensorView::contiguous(q.data(), DType::F32, {1, kT, 1, kD}), {}};
  const posenc::RopeConfig cfg = rope_config(p);
  timed(st, 2 * kT * kD * 4, [&] { posenc::rope_forward(rt, cfg, posenc::Positions::offset(0)); });
}

void copy_ceiling(benchmark::State& st, const std::string&, int64_t bytes) {
  pb::copy_ceiling(st, bytes);
}

#if defined(__SSE2__)
// A second ceiling for an in-place op: read and write back every 16 bytes of one buffer of
// bytes / 2 (the working set of the in-place rotation; the copy's is twice as large), same threads.
void inplace_pass(benchmark::State& st, const std::string&, int64_t bytes) {
  pb::Buffer buf(static_cast<size_t>(bytes / 2));
  auto* p = buf.as<unsigned char>();
  const int64_t n = bytes / 2 / 64 * 64;
  timed(st, bytes, [&] {
#pragma omp parallel for schedule(static) num_threads(pb::threads())
    for (int64_t i = 0; i < n; i += 64) {
      for (int64_t j = 0; j < 64; j += 16) {
        __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(p + i + j));
        asm volatile("" : "+x"(v));  // the compiler must not drop the store of the loaded value
        _mm_store_si128(reinterpret_cast<__m128i*>(p + i + j), v);
      }
    }
  });
}
#endif

// ---- prototypes (rope_fwd, Exact): the table from rope_cos_sin, computed once ----

struct ProtoTable {
  std::vector<float> cos, sin;  // [T, D/2]
  std::vector<int64_t> rows;    // identity: positions 0 .. T-1
  pb::ProtoRopeTable view() const { return {cos.data(), sin.data(), rows.data(), kD / 2}; }
};

std::vector<int64_t> positions_0_to_T() {
  std::vector<int64_t> pos(kT);
  for (int64_t n = 0; n < kT; ++n) pos[n] = n;
  return pos;
}

// rope_cos_sin's [T, D] (HF's layout, HalfSplit: the D/2 values twice) cut to [T, D/2].
ProtoTable public_table(Precision p) {
  std::vector<float> c(kT * kD), s(kT * kD);
  ProtoTable t;
  t.rows = positions_0_to_T();
  posenc::rope_cos_sin(TensorView::contiguous(c.data(), DType::F32, {kT, kD}),
                       TensorView::contiguous(s.data(), DType::F32, {kT, kD}), rope_config(p), t.rows);
  for (int64_t n = 0; n < kT; ++n)
    for (int64_t i = 0; i < kD / 2; ++i) {
      t.cos.push_back(c[n * kD + i]);
      t.sin.push_back(s[n * kD + i]);
    }
  return t;
}

void rope_proto(benchmark::State& st, const std::string& name, const Shape& sh, DType t, pb::ProtoRope kind) {
  static const ProtoTable table = public_table(Precision::Exact);
  const RopeInputs& in = rope_inputs(t);
  auto run = [&](const pb::Buffer& q, const pb::Buffer& k, float sign) {
    bool ok = pb::proto_rope(kind, view4(q, t, kHq), view4(q, t, kHq), table.view(),
                             posenc::PairLayout::HalfSplit, sign);
    if (ok && sh.Hk)
      ok = pb::proto_rope(kind, view4(k, t, sh.Hk), view4(k, t, sh.Hk), table.view(),
                          posenc::PairLayout::HalfSplit, sign);
    return ok;
  };
  // The prototype must be a drop-in: the same bits as posenc::rope_forward and rope_backward.
  const std::string& err = checked_once(name, [&]() -> std::string {
    for (bool fwd : {true, false}) {
      Expected got{pb::Buffer(in.q.bytes()), pb::Buffer(sh.Hk ? in.k.bytes() : 0)};
      std::memcpy(got.q.data(), (fwd ? in.q : in.gq).data(), in.q.bytes());
      if (sh.Hk) std::memcpy(got.k.data(), (fwd ? in.k : in.gk).data(), in.k.bytes());
      if (!run(got.q, got.k, fwd ? 1.0f : -1.0f)) return "this CPU has no AVX2";
      const Expected want = posenc_result(in, sh, fwd, Precision::Exact);
      if (std::memcmp(got.q.data(), want.q.data(), in.q.bytes()) != 0 ||
          (sh.Hk && std::memcmp(got.k.data(), want.k.data(), in.k.bytes()) != 0))
        return std::string("prototype output differs from posenc::") +
               (fwd ? "rope_forward" : "rope_backward");
    }
    return "";
  });
  if (!err.empty()) {
    st.SkipWithError(err.c_str());
    return;
  }
  timed(st, rope_bytes(sh, t), [&] { run(in.qw, in.kw, 1.0f); });
}

// The HfCompat table with the per-pair work inlined (proto_rope_table_hf); same bits as posenc's.
void rope_table_proto_hf(benchmark::State& st, const std::string& name) {
  const posenc::RopeFrequencies f = posenc::rope_frequencies(rope_config(Precision::HfCompat));
  const auto att = static_cast<float>(f.attention_scaling);
  std::vector<float> c, s;
  const std::string& err = checked_once(name, [&]() -> std::string {
    pb::proto_rope_table_hf(c, s, kT, f.inv_freq_f32, att);
    const ProtoTable want = public_table(Precision::HfCompat);
    return c == want.cos && s == want.sin ? "" : "prototype table differs from posenc's";
  });
  if (!err.empty()) {
    st.SkipWithError(err.c_str());
    return;
  }
  timed(st, 2 * kT * kD * 4, [&] { pb::proto_rope_table_hf(c, s, kT, f.inv_freq_f32, att); });
}

#ifdef POSENC_BENCH_TORCH
enum class TorchCase { Fwd, FwdPre, BwdAutograd, BwdExplicit };

// The baseline must compute what posenc computes: posenc HfCompat is HF's recipe in fp32 with one
// rounding per output. f32: within 1e-5 (|q| <= 1; only the cos/sin values may differ, by an ulp:
// torch's vectorised cosf/sinf against posenc's cos/sin in double of the same float angle).
// bf16: within 0.02 (torch rounds cos and sin to bf16 and then each of the 3 ops of the formula,
// up to 2^-9 relative each on values below 1.5, about 0.012 in all; posenc rounds once).
bool torch_matches(benchmark::State& st, const std::string& name, const pb::TorchRopeOp& op,
                   const RopeInputs& in, const Shape& sh, bool fwd) {
  const std::string& err = checked_once(name, [&]() -> std::string {
    op.run();
    const Expected want = posenc_result(in, sh, fwd, Precision::HfCompat);
    const double diff = op.max_abs_diff(want.q.data(), want.k.data());
    const double tol = in.dtype == DType::BF16 ? 0.02 : 1e-5;
    std::fprintf(stderr, "check %s: max |torch - posenc HfCompat| = %.3g (tolerance %.3g)\n", name.c_str(),
                 diff, tol);
    if (diff <= tol) return "";
    return "torch output differs from posenc HfCompat by " + std::to_string(diff);
  });
  if (err.empty()) return true;
  st.SkipWithError(err.c_str());
  return false;
}

// Torch ops hold their graph and outputs; one per case, built in its first repetition.
const pb::TorchRopeOp& torch_op(const std::string& key, const RopeInputs& in, const Shape& sh, TorchCase c) {
  static std::map<std::string, std::unique_ptr<pb::TorchRopeOp>> ops;
  auto& slot = ops[key];
  if (!slot) {
    pb::TorchRopeInputs ti;
    ti.q = in.q.data();
    ti.k = sh.Hk ? in.k.data() : nullptr;
    ti.T = kT, ti.Hq = kHq, ti.Hk = sh.Hk, ti.D = kD;
    ti.bf16 = in.dtype == DType::BF16;
    ti.base = kBase;
    const void* gk = sh.Hk ? in.gk.data() : nullptr;
    switch (c) {
      case TorchCase::Fwd:
      case TorchCase::FwdPre:
        slot = std::make_unique<pb::TorchRopeOp>(pb::torch_rope_forward(ti, c == TorchCase::Fwd));
        break;
      case TorchCase::BwdAutograd:
        slot = std::make_unique<pb::TorchRopeOp>(pb::torch_rope_backward_autograd(ti, in.gq.data(), gk));
        break;
      case TorchCase::BwdExplicit:
        slot = std::make_unique<pb::TorchRopeOp>(pb::torch_rope_backward_explicit(ti, in.gq.data(), gk));
        break;
    }
  }
  return *slot;
}

void rope_torch(benchmark::State& st, const std::string& name, const Shape& sh, DType t, TorchCase c) {
  const RopeInputs& in = rope_inputs(t);
  const pb::TorchRopeOp& op = torch_op(name, in, sh, c);
  const bool fwd = c == TorchCase::Fwd || c == TorchCase::FwdPre;
  if (!torch_matches(st, name, op, in, sh, fwd)) return;
  timed(st, rope_bytes(sh, t), op.run);
}

void rope_table_torch(benchmark::State& st, const std::string&) {
  timed(st, 2 * kT * kD * 4, pb::torch_rope_cos_sin(kT, kD, kBase).run);
}

// "bit-identical" or the largest difference, relative to posenc's float32 inv_freq.
std::string compare_inv_freq() {
  const std::vector<float> th = pb::torch_rope_inv_freq(kD, kBase);
  const std::vector<float> pe = posenc::rope_frequencies(rope_config(Precision::HfCompat)).inv_freq_f32;
  if (th.size() != pe.size()) return "sizes differ";
  if (std::memcmp(th.data(), pe.data(), th.size() * sizeof(float)) == 0) return "bit-identical";
  double d = 0;
  for (size_t i = 0; i < th.size(); ++i)
    d = std::max(d, std::abs(static_cast<double>(th[i]) - pe[i]) / pe[i]);
  return "differ, max relative difference " + std::to_string(d);
}
#endif

// ---- registration ----

template <typename F, typename... Args>
void add(const std::string& op, const std::string& impl, const std::string& shape, const std::string& dt, F f,
         Args... args) {
  const std::string name = op + "/" + impl + "/" + shape + "/" + dt;
  // Each case gets its own name: the key of its one-time check and of its cached torch op.
  benchmark::RegisterBenchmark(name.c_str(), f, name, args...)->UseRealTime()->Unit(benchmark::kMillisecond);
}

void register_all() {
  for (const Shape* sh : {&kGqa, &kQOnly}) {
    for (DType t : {DType::F32, DType::BF16}) {
      const std::string dt = dtype_label(t);
      for (bool fwd : {true, false}) {
        const std::string op = fwd ? "rope_fwd" : "rope_bwd";
        add(op, "posenc_exact", sh->name, dt, rope_posenc, *sh, t, fwd, Precision::Exact, Out::No);
        add(op, "posenc_hf", sh->name, dt, rope_posenc, *sh, t, fwd, Precision::HfCompat, Out::No);
        add(op, "posenc_cached", sh->name, dt, rope_posenc_cached, *sh, t, fwd, Precision::Exact, Out::No);
        add(op, "posenc_hf_cached", sh->name, dt, rope_posenc_cached, *sh, t, fwd, Precision::HfCompat,
            Out::No);
        add(op, "posenc_exact_out", sh->name, dt, rope_posenc, *sh, t, fwd, Precision::Exact, Out::Yes);
        add(op, "posenc_hf_out", sh->name, dt, rope_posenc, *sh, t, fwd, Precision::HfCompat, Out::Yes);
        add(op, "posenc_cached_out", sh->name, dt, rope_posenc_cached, *sh, t, fwd, Precision::Exact,
            Out::Yes);
#ifdef POSENC_BENCH_TORCH
        add(op, "torch", sh->name, dt, rope_torch, *sh, t, fwd ? TorchCase::Fwd : TorchCase::BwdAutograd);
        add(op, fwd ? "torch_pre" : "torch_explicit", sh->name, dt, rope_torch, *sh, t,
            fwd ? TorchCase::FwdPre : TorchCase::BwdExplicit);
#endif
      }
      add("rope", "copy", sh->name, dt, copy_ceiling, rope_bytes(*sh, t));
#if defined(__SSE2__)
      if (sh == &kGqa) add("rope", "inplace_pass", sh->name, dt, inplace_pass, rope_bytes(*sh, t));
#endif
    }
  }
  for (DType t : {DType::F32, DType::BF16}) {
    const std::string dt = dtype_label(t);
    add("rope_fwd", "proto_verbatim", kGqa.name, dt, rope_proto, kGqa, t, pb::ProtoRope::Verbatim);
    add("rope_fwd", "proto_halfsplit", kGqa.name, dt, rope_proto, kGqa, t, pb::ProtoRope::HalfSplit);
    add("rope_fwd", "proto_avx2", kGqa.name, dt, rope_proto, kGqa, t, pb::ProtoRope::Avx2);
  }
  add("rope_table", "posenc_exact", "T4096_D128", "f32", rope_table_posenc, Precision::Exact);
  add("rope_table", "posenc_hf", "T4096_D128", "f32", rope_table_posenc, Precision::HfCompat);
  add("rope_table", "proto_hf_inline", "T4096_D128", "f32", rope_table_proto_hf);
#ifdef POSENC_BENCH_TORCH
  add("rope_table", "torch", "T4096_D128", "f32", rope_table_torch);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  return pb::bench_main(argc, argv, "posenc_bench_rope", register_all, [](int n) {
    pb::torch_context(n);
#ifdef POSENC_BENCH_TORCH
    benchmark::AddCustomContext("torch_inv_freq_vs_posenc_hf", compare_inv_freq());
#endif
  });
}
