// bench/torch_baselines.hpp — LibTorch eager versions of the benchmarked ops, behind plain
// functions so that only torch_baselines.cpp includes torch (one slow TU; bench_embed.cpp stays
// torch-free).
//
// Each torch_* op wraps the caller's buffers without copying (from_blob) and returns one call of
// the op as a TorchOp; its callables own what they need (autograd graph, outputs). Outputs are
// allocated by torch per call where the eager expression allocates them, as user code would.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace posenc_bench {

struct TorchOp {
  std::function<void()> run;
  // Forward ops only: max |out - expected| over the last run's out [T, C] (expected: posenc's out
  // in the inputs' dtype), so the benchmark can check that the baseline computes the same thing.
  std::function<double(const void* expected)> max_abs_diff;
};

void torch_set_num_threads(int n);
// "1.13.0; ATen parallel: OpenMP, 2 intra-op threads"
std::string torch_describe();

struct TorchEmbedInputs {
  const void* E = nullptr;       // [V, C] f32 or bf16
  const void* pe = nullptr;      // [P, C] same dtype (table source; nullptr for sinusoidal)
  const int64_t* ids = nullptr;  // [T]
  int64_t V = 0, C = 0, T = 0, P = 0;
  float scale = 1.0f;
  bool bf16 = false;
  double base = 10000.0;  // sinusoidal source
};

// out = embedding(E, ids) * scale + pe.index_select(0, arange(T))          (under NoGradGuard)
TorchOp torch_embed_forward(const TorchEmbedInputs& in);
// The same with preallocated outputs: index_select_out twice, then add_out(out, pe_rows, e_rows,
// scale).
TorchOp torch_embed_forward_out(const TorchEmbedInputs& in);
// out = embedding(E, ids) * scale + hf_sinusoidal_table(arange(T))         (float32 HF recipe)
TorchOp torch_embed_forward_sinusoidal(const TorchEmbedInputs& in);

// Backward of out = embedding(E, ids) * scale + pe.index_select(0, pos) for dout [T, C] f32,
// through autograd on a graph built once (retain_graph): E.grad and pe.grad accumulate, as in
// training.
TorchOp torch_embed_backward_autograd(const TorchEmbedInputs& in, const float* dout);
// The explicit formula into given accumulators: dE.index_add_(0, ids, dout * scale);
// dPE.index_add_(0, pos, dout). dE [V, C], dPE [P, C] f32.
TorchOp torch_embed_backward_index_add(const TorchEmbedInputs& in, const float* dout, float* dE, float* dPE);

// The HF table: inv_freq = 1 / base^(arange(0, d, 2) / d); angles = outer(arange(N), inv_freq);
// stack(sin, cos, -1).flatten(-2) -> [N, d] float32, interleaved.
TorchOp torch_sinusoidal_table(int64_t N, int64_t d, double base);

// ---- RoPE (bench_rope.cpp): HF transformers' Llama recipe, HalfSplit pairs, default scaling ----
//   inv_freq = 1 / base^(arange(0, D, 2) / D)                    float32, once (a module buffer in
//   HF) freqs = outer(arange(T).float(), inv_freq); emb = cat(freqs, freqs, -1) cos =
//   emb.cos().to(x.dtype); sin = emb.sin().to(x.dtype)     [T, D], viewed as [1, T, 1, D] q' = q *
//   cos + rotate_half(q) * sin, rotate_half(x) = cat(-x[..., D/2:], x[..., :D/2], -1); k alike
// q, k are [B=1, T, H, D] contiguous; outputs are allocated per call, as in eager user code.

struct TorchRopeInputs {
  const void* q = nullptr;  // [1, T, Hq, D] f32 or bf16, never written
  const void* k = nullptr;  // [1, T, Hk, D], or nullptr: q alone
  int64_t T = 0, Hq = 0, Hk = 0, D = 0;
  bool bf16 = false;
  double base = 10000.0;
};

struct TorchRopeOp {
  std::function<void()> run;
  // max |result - expected| over q and k (k ignored without k) of the last run; expected in the
  // inputs' dtype and layout: q', k' for the forward, dq, dk for the backward.
  std::function<double(const void* q, const void* k)> max_abs_diff;
};

// HF's float32 inv_freq as torch computes it (D / 2 values).
std::vector<float> torch_rope_inv_freq(int64_t D, double base);

// Forward under NoGradGuard. cos_sin_per_call: freqs, cat, cos, sin (and the bf16 casts) in every
// call, as HF's LlamaRotaryEmbedding.forward does once per model forward; otherwise cos and sin are
// computed once here and only the rotation is timed.
TorchRopeOp torch_rope_forward(const TorchRopeInputs& in, bool cos_sin_per_call);
// Backward by autograd: the forward graph (leaves q, k; cos, sin without grad) is built once and
// each call is torch::autograd::grad({q', k'}, {q, k}, {dq', dk'}, retain_graph): the gradients
// are returned, not accumulated. gq, gk: dq', dk' in q's and k's dtype and shape.
TorchRopeOp torch_rope_backward_autograd(const TorchRopeInputs& in, const void* gq, const void* gk);
// Backward by the explicit formula, cos and sin precomputed (saved from the forward):
// dq = dq' * cos + rotate_half_inverse(dq' * sin), rotate_half_inverse(y) = cat(y2, -y1); dk alike.
TorchRopeOp torch_rope_backward_explicit(const TorchRopeInputs& in, const void* gq, const void* gk);
// cos and sin [T, D] float32 alone (freqs, cat, cos, sin), from a precomputed inv_freq.
TorchOp torch_rope_cos_sin(int64_t T, int64_t D, double base);

// ---- attention-score biases (bench_bias.cpp), out [H, T, T] contiguous in the dtype ----
// ALiBi, relative form, causal, as eager code writes it: pos = arange(T) (float32); dist = |pos[None, :]
// - pos[:, None]|; out = -slopes.view(H, 1, 1) * dist (slopes float32), masked_fill(future, -inf),
// then .to(dtype). max_abs_diff: over the finite entries; +inf when the -inf entries differ.
TorchOp torch_alibi_bias(const double* slopes, int64_t H, int64_t T, bool bf16);
// HF T5Attention.compute_bias, bidirectional: relative_position = arange(T)[None, :] - arange(T)[:, None];
// _relative_position_bucket in torch ops (float32 log, truncation); embedding(W, buckets) [T, T, H];
// permute(2, 0, 1).contiguous() -> [H, T, T]. W [N, H] in the dtype, never written.
TorchOp torch_t5_bias_forward(const void* W, int64_t N, int64_t H, int64_t T, int64_t max_distance,
                              bool bf16);
// The backward of the above by autograd, f32: the graph (leaf W) is built once and each call is
// backward(out, dout, retain_graph), accumulating W.grad as training does. dout [H, T, T].
TorchOp torch_t5_bias_backward(const float* W, int64_t N, int64_t H, int64_t T, int64_t max_distance,
                               const float* dout);

}  // namespace posenc_bench
