// posenc/torch/functional.hpp — posenc's encodings as LibTorch autograd functions.
//
// Every function takes and returns at::Tensor, records itself on the autograd tape when an input
// requires grad, and runs the core kernels in both directions (forward and backward side by side in
// torch/src/functional.cpp):
//
//   op                 forward                                        backward (what gets a gradient)
//   sinusoidal_add     out = x + PE(pos)                              dx = dout
//   learned_add        out = x + W[pos]                               dx = dout, dW = scatter(dout by pos)
//   embed              out = E[ids] * scale + PE(pos)                 dE = scale * scatter(dout by id),
//                      PE a learned table W or sinusoidal             dW = scatter(dout by pos)
//   rope               (q', k') = rotate(q, k by pos)                 dq, dk = inverse rotation of dq', dk'
//   t5_bias            out[h, i, j] = W[bucket(k_j - q_i), h]         dW = sum of dout by bucket
//   alibi_bias         out[h, i, j] = ALiBi bias (no parameters)      none
//
// Positions: `pos[b, t] = offset + t`, or explicit ids [B, T] (int64, any strides) when given.
// Tensors: CPU, float32 / float16 / bfloat16 storage (math in fp32, as the core), any strides; the
// formulas, layouts and numeric bounds are those of the core headers (posenc/sinusoidal.hpp, learned.hpp,
// embed.hpp, rope.hpp, alibi.hpp, t5_bias.hpp). Other dtypes or devices are a posenc::Error naming the
// argument, never a silent conversion. The backward passes are deterministic (fixed summation order) and
// differentiable: each is an autograd Function too (the adjoint: gather for scatter, the forward rotation
// for the inverse one), so double backward (create_graph = true) is exact.
// Only this directory and model/ include torch; the core stays torch-free.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <utility>

#include "posenc/alibi.hpp"
#include "posenc/embed.hpp"
#include "posenc/learned.hpp"
#include "posenc/rope.hpp"
#include "posenc/sinusoidal.hpp"
#include "posenc/t5_bias.hpp"
#include "posenc/tensor.hpp"

namespace posenc::libtorch {

// A view of t's storage (no copy). `name` is used in errors: dtype must be f32/f16/bf16/i32/i64, the
// tensor defined, at most 6 dims.
TensorView view(const at::Tensor& t, const char* name);

// Where each token is: pos[b, t] = offset + t, or ids[b, t] (int64 [B, T]) when ids is defined.
struct PositionArg {
  int64_t offset = 0;
  at::Tensor ids{};  // undefined = use offset

  static PositionArg at_offset(int64_t o) { return {o, {}}; }
  static PositionArg from_ids(at::Tensor i) { return {0, std::move(i)}; }
};

// x [B, T, C] + sinusoidal PE. Returns a new tensor.
at::Tensor sinusoidal_add(const at::Tensor& x, const SinusoidalConfig& cfg, const PositionArg& pos = {});

// x [B, T, C] + table[pos] (table [P, C]); gradients for x and table.
at::Tensor learned_add(const at::Tensor& x, const at::Tensor& table, const PositionArg& pos = {});

// Fused token embedding + PE: E [V, C], ids [B, T] (int64) -> [B, T, C].
// PE: `table` [P, C] when defined (learned; gets a gradient), else `sinusoidal` when given, else none
// (out = E[ids] * scale).
at::Tensor embed(const at::Tensor& ids, const at::Tensor& E, const at::Tensor& table,
                 const std::optional<SinusoidalConfig>& sinusoidal, float scale, const PositionArg& pos = {});

// RoPE on q [B, T, Hq, D] and k [B, T, Hk, D] (k may be undefined), or [B, H, T, D] with heads_first.
// Returns new tensors (q', k'); k' undefined when k is. seq_len as in posenc::rope_forward (0 = max
// position + 1).
std::pair<at::Tensor, at::Tensor> rope(const at::Tensor& q, const at::Tensor& k, const RopeConfig& cfg,
                                       const PositionArg& pos = {}, bool heads_first = false,
                                       int64_t seq_len = 0);
// The same with cos/sin from a posenc::RopeCache (posenc/rope.hpp), built once per forward pass and
// shared by the layers; q and k must be [cache.batch(), cache.seq(), H, D] (or heads first).
std::pair<at::Tensor, at::Tensor> rope(const at::Tensor& q, const at::Tensor& k, const RopeCache& cache,
                                       bool heads_first = false);

// T5 relative bias [H, Tq, Tk] from table [num_buckets, H]; query positions q_offset .. q_offset+Tq-1,
// key positions 0 .. Tk-1.
at::Tensor t5_bias(const at::Tensor& table, const T5BiasConfig& cfg, int64_t Tq, int64_t Tk,
                   int64_t q_offset = 0);

// ALiBi bias [H, Tq, Tk] (float32; a constant, no gradient); positions as for t5_bias.
at::Tensor alibi_bias(const AlibiConfig& cfg, int64_t Tq, int64_t Tk, int64_t q_offset = 0);

}  // namespace posenc::libtorch
