// posenc/embed.hpp — the integration step, fused: token embedding + positional encoding in one pass.
//
//   out[b, t, :] = E[ids[b, t], :] * scale + PE[pos[b, t], :]
// with fp32 math in exactly that order (one rounding for the product, one for the sum, no fma), so in fp32
// it equals embedding(ids) * scale + table[pos] computed unfused, to the last bit. scale is 1 or sqrt(C)
// (Vaswani et al. multiply embeddings by sqrt(d_model)): see embed_scale().
// PE comes from a table [P, C] (a learned table, or a cached sinusoidal table from sinusoidal_table()) or
// is computed on the fly from a SinusoidalConfig (each distinct position once per call).
//
// Backward, for out's gradient dout [B, T, C]:
//   dE[v, :]  += scale * (sum over tokens with ids = v of dout[b, t, :])
//   dPE[p, :] += sum over tokens with pos = p of dout[b, t, :]           (table source only, optional)
// Sums run in token order in fp32 (deterministic for any thread count) and only rows that occur are
// touched: no dense zero-fill of dE per call.
// Shapes: ids [B, T] i32/i64; E [V, C]; out/dout [B, T, C]; any float dtypes and strides. An id outside
// [0, V) or a position outside [0, P) is an error.
#pragma once

#include <cmath>
#include <cstdint>

#include "posenc/positions.hpp"
#include "posenc/sinusoidal.hpp"
#include "posenc/tensor.hpp"

namespace posenc {

enum class EmbedScale : uint8_t { One, SqrtC };
inline float embed_scale(EmbedScale s, int64_t C) {
  return s == EmbedScale::SqrtC ? static_cast<float>(std::sqrt(static_cast<double>(C))) : 1.0f;
}

class PeSource {
 public:
  // PE[p, :] = table[p, :]; table is [P, C].
  static PeSource table(const TensorView& table);
  // PE computed from cfg (cfg.dim must equal C).
  static PeSource sinusoidal(const SinusoidalConfig& cfg);

  bool is_table() const { return is_table_; }
  const TensorView& table_view() const { return table_; }
  const SinusoidalConfig& config() const { return cfg_; }

 private:
  bool is_table_ = true;
  TensorView table_{};
  SinusoidalConfig cfg_{};
};

void embed_forward(TensorView out, const TensorView& ids, const TensorView& E, const PeSource& pe,
                   const Positions& positions, float scale);

// dE is accumulated into; dPE may be an empty view (data == nullptr) to skip it, and must be empty for a
// sinusoidal source.
void embed_backward(TensorView dE, TensorView dPE, const TensorView& dout, const TensorView& ids,
                    const Positions& positions, float scale);

}  // namespace posenc
