// posenc/learned.hpp — learned absolute position embeddings (GPT-2's wpe, BERT's position_embeddings).
//
// A table W of shape [P, C] (P = max positions), trained with the model.
//   forward:   out[b, t, :]  = W[pos[b, t], :]               (gather)
//   add:       x[b, t, :]   += W[pos[b, t], :]               (in place, fp32 sum, one rounding)
//   backward:  dW[p, :]     += sum over tokens with pos = p of dout[b, t, :]
// The backward sums each row's tokens in token order (b-major, then t) in fp32 and adds the sum to dW once:
// the same bits on every run and for every thread count. Only rows that occur are touched, so the caller
// zero-fills dW once (as PyTorch does for .grad), not per call.
// A position outside [0, P) is an error (posenc::Error naming the position, its index and P), never a read.
#pragma once

#include <cstdint>

#include "posenc/positions.hpp"
#include "posenc/sinusoidal.hpp"
#include "posenc/tensor.hpp"

namespace posenc {

enum class LearnedInit : uint8_t {
  Normal,      // N(0, std^2), std = 0.02 by default (GPT-2, BERT)
  Zeros,       // all zeros
  Sinusoidal,  // copy of the sinusoidal table of `sinusoidal` (positions 0 .. P-1)
};

struct LearnedInitOptions {
  LearnedInit kind = LearnedInit::Normal;
  float std = 0.02f;
  uint64_t seed = 0;              // Normal: value (p, c) depends only on (seed, p * C + c)
  SinusoidalConfig sinusoidal{};  // Sinusoidal: dim is taken from the table when 0
};

// table is [P, C], any float dtype.
void learned_init(TensorView table, const LearnedInitOptions& options);

// out [B, T, C] = table [P, C] gathered at positions.
void learned_forward(TensorView out, const TensorView& table, const Positions& positions);
// x [B, T, C] += table [P, C] gathered at positions.
void learned_add(TensorView x, const TensorView& table, const Positions& positions);
// dtable [P, C] += scatter of dout [B, T, C] by position (deterministic, see above).
void learned_backward(TensorView dtable, const TensorView& dout, const Positions& positions);

}  // namespace posenc
