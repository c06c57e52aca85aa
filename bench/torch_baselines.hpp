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
TorchOp torch_embed_backward_index_add(const TorchEmbedInputs& in, const float* dout, float* dE,
                                       float* dPE);

// The HF table: inv_freq = 1 / base^(arange(0, d, 2) / d); angles = outer(arange(N), inv_freq);
// stack(sin, cos, -1).flatten(-2) -> [N, d] float32, interleaved.
TorchOp torch_sinusoidal_table(int64_t N, int64_t d, double base);

}  // namespace posenc_bench
