// bench/bench_bias.cpp — the attention-score biases: ALiBi and the T5 relative bias (forward and
// backward), each next to its bandwidth ceiling (a parallel memcpy moving the same bytes) and LibTorch
// eager, one run.
//
// Names are <op>/<impl>/<shape>/<dtype>; bench/summarize.py pairs rows by op, shape and dtype.
//   op    alibi_bias  out [H, T, T] = ALiBi bias, relative form, causal (-inf above the diagonal)
//         t5_fwd      out [H, T, T] = W[bucket(j - i), h], W [32 buckets, H], bidirectional, max
//                     distance 128 (T5's encoder)
//         t5_bwd      dW [32, H] += dout [H, T, T] summed by bucket (f32)
//   impl  posenc | copy (std::memcpy ceiling) | torch (LibTorch eager, see torch_baselines.hpp)
//   shape H32_T1024: 32 heads, 1024 queries and keys (out 128 MiB in f32)
//
// Byte counting rule (SetBytesProcessed; GB/s = bytes / wall time): what the op must read plus what it
// must write, once; the table W, slopes and positions (kilobytes) are not counted. s = element size.
//   alibi_bias, t5_fwd   write out         H T T s
//   t5_bwd               read dout         H T T 4
// Every impl of an op is charged the same bytes, so a ratio of GB/s is a speed ratio. The copy row
// memcpys bytes / 2 from one buffer to another, split over the same threads.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_main.hpp"
#include "bench_util.hpp"
#include "posenc/posenc.hpp"

namespace pb = posenc_bench;
using pb::timed;
using posenc::DType;
using posenc::TensorView;

namespace {

constexpr int64_t kH = 32, kT = 1024, kBuckets = 32, kMaxDistance = 128;
const std::string kShape = "H32_T1024";

int64_t esize(DType t) {
  return posenc::dtype_size(t);
}
int64_t out_bytes(DType t) {
  return kH * kT * kT * esize(t);
}
const std::vector<int64_t>& positions() {
  static const std::vector<int64_t> pos = [] {
    std::vector<int64_t> p(static_cast<size_t>(kT));
    for (int64_t i = 0; i < kT; ++i) p[static_cast<size_t>(i)] = i;
    return p;
  }();
  return pos;
}
posenc::AlibiConfig alibi_config() {
  posenc::AlibiConfig c;
  c.num_heads = kH;
  c.form = posenc::AlibiForm::Relative;
  c.mask = posenc::AlibiMask::Causal;
  return c;
}
posenc::T5BiasConfig t5_config() {
  posenc::T5BiasConfig c;
  c.num_buckets = kBuckets;
  c.max_distance = kMaxDistance;
  c.bidirectional = true;
  return c;
}
TensorView bias_view(const pb::Buffer& b, DType t) {
  return TensorView::contiguous(b.data(), t, {kH, kT, kT});
}

void alibi_posenc(benchmark::State& st, DType t) {
  pb::Buffer out(static_cast<size_t>(out_bytes(t)));
  const TensorView o = bias_view(out, t);
  const posenc::AlibiConfig cfg = alibi_config();
  timed(st, out_bytes(t), [&] { posenc::alibi_bias(o, cfg, positions(), positions()); });
}

void t5_fwd_posenc(benchmark::State& st, DType t) {
  const pb::Buffer W = pb::random_floats(t, kBuckets * kH, 5, 1.0f);
  pb::Buffer out(static_cast<size_t>(out_bytes(t)));
  const TensorView o = bias_view(out, t), w = TensorView::contiguous(W.data(), t, {kBuckets, kH});
  const posenc::T5BiasConfig cfg = t5_config();
  timed(st, out_bytes(t), [&] { posenc::t5_bias_forward(o, w, cfg, positions(), positions()); });
}

void t5_bwd_posenc(benchmark::State& st) {
  const pb::Buffer dout = pb::random_floats(DType::F32, kH * kT * kT, 6, 1.0f);
  pb::Buffer dW(static_cast<size_t>(kBuckets * kH * 4));
  const TensorView d = bias_view(dout, DType::F32),
                   dw = TensorView::contiguous(dW.data(), DType::F32, {kBuckets, kH});
  const posenc::T5BiasConfig cfg = t5_config();
  timed(st, out_bytes(DType::F32), [&] { posenc::t5_bias_backward(dw, d, cfg, positions(), positions()); });
}

#ifdef POSENC_BENCH_TORCH
// The baseline must compute what posenc computes: the same -inf entries, and finite values within one
// ulp of the largest (torch rounds the slope to float before the product: two roundings instead of
// one); T5 values are a gather, so equal.
bool torch_matches(benchmark::State& st, const pb::TorchOp& op, const pb::Buffer& expected, double tol) {
  op.run();
  const double diff = op.max_abs_diff(expected.data());
  if (diff <= tol) return true;
  st.SkipWithError(("torch output differs from posenc by " + std::to_string(diff)).c_str());
  return false;
}

void alibi_torch(benchmark::State& st, DType t) {
  const std::vector<double> slopes = posenc::alibi_slopes(kH);
  const pb::TorchOp op = pb::torch_alibi_bias(slopes.data(), kH, kT, t == DType::BF16);
  pb::Buffer ref(static_cast<size_t>(out_bytes(t)));
  posenc::alibi_bias(bias_view(ref, t), alibi_config(), positions(), positions());
  // |values| <= 0.5 * 1023 (the first slope is 1/2): one ulp there is 2^-15 in f32, 2 in bf16.
  if (!torch_matches(st, op, ref, t == DType::BF16 ? 2.0 : 1e-4)) return;
  timed(st, out_bytes(t), op.run);
}

void t5_fwd_torch(benchmark::State& st, DType t) {
  const pb::Buffer W = pb::random_floats(t, kBuckets * kH, 5, 1.0f);
  const pb::TorchOp op =
      pb::torch_t5_bias_forward(W.data(), kBuckets, kH, kT, kMaxDistance, t == DType::BF16);
  pb::Buffer ref(static_cast<size_t>(out_bytes(t)));
  posenc::t5_bias_forward(bias_view(ref, t), TensorView::contiguous(W.data(), t, {kBuckets, kH}), t5_config(),
                          positions(), positions());
  if (!torch_matches(st, op, ref, 0.0)) return;
  timed(st, out_bytes(t), op.run);
}

void t5_bwd_torch(benchmark::State& st) {
  const pb::Buffer W = pb::random_floats(DType::F32, kBuckets * kH, 5, 1.0f);
  const pb::Buffer dout = pb::random_floats(DType::F32, kH * kT * kT, 6, 1.0f);
  const pb::TorchOp op =
      pb::torch_t5_bias_backward(W.as<float>(), kBuckets, kH, kT, kMaxDistance, dout.as<float>());
  timed(st, out_bytes(DType::F32), op.run);
}
#endif

template <typename F, typename... Args>
void add(const std::string& op, const std::string& impl, const std::string& dt, F f, Args... args) {
  const std::string name = op + "/" + impl + "/" + kShape + "/" + dt;
  benchmark::RegisterBenchmark(name.c_str(), f, args...)->UseRealTime()->Unit(benchmark::kMillisecond);
}

void register_all() {
  for (DType t : {DType::F32, DType::BF16}) {
    const std::string dt(posenc::dtype_name(t));
    add("alibi_bias", "posenc", dt, alibi_posenc, t);
    add("alibi_bias", "copy", dt, pb::copy_ceiling, out_bytes(t), pb::CopyKind::Memcpy);
    add("t5_fwd", "posenc", dt, t5_fwd_posenc, t);
    add("t5_fwd", "copy", dt, pb::copy_ceiling, out_bytes(t), pb::CopyKind::Memcpy);
#ifdef POSENC_BENCH_TORCH
    add("alibi_bias", "torch", dt, alibi_torch, t);
    add("t5_fwd", "torch", dt, t5_fwd_torch, t);
#endif
  }
  add("t5_bwd", "posenc", "f32", t5_bwd_posenc);
  add("t5_bwd", "copy", "f32", pb::copy_ceiling, out_bytes(DType::F32), pb::CopyKind::Memcpy);
#ifdef POSENC_BENCH_TORCH
  add("t5_bwd", "torch", "f32", t5_bwd_torch);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  return pb::bench_main(argc, argv, "posenc_bench_bias", register_all, pb::torch_context);
}
