// posenc/torch/modules.hpp — torch::nn modules over posenc/torch/functional.hpp.
//
//   SinusoidalEncoding(cfg)            x [B, T, C] -> x + PE(pos)                       no parameters
//   LearnedEncoding(P, C, init)        x [B, T, C] -> x + W[pos]                        weight W [P, C]
//   TokenEmbedding(V, C, pe, ...)      ids [B, T] -> E[ids] * scale + PE(pos), fused    weight E [V, C]
//                                      (pe: none, sinusoidal, or learned: pe_weight [P, C])
//   RotaryEmbedding(cfg)               (q, k) -> rotated (q, k)                         no parameters
//   AlibiBias(cfg)                     (Tq, Tk) -> bias [H, Tq, Tk]                     no parameters
//   T5RelativeBias(cfg, H)             (Tq, Tk) -> bias [H, Tq, Tk]                     weight [num_buckets, H]
// Parameter names follow the layouts above (weight, pe_weight) so state dicts are stable.
// A position outside a learned table ([0, P)) is a posenc::Error, never a clamp.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <utility>

#include "posenc/torch/functional.hpp"

namespace posenc::libtorch {

class SinusoidalEncodingImpl : public torch::nn::Cloneable<SinusoidalEncodingImpl> {
 public:
  explicit SinusoidalEncodingImpl(const SinusoidalConfig& cfg);
  void reset() override {}
  at::Tensor forward(const at::Tensor& x, const PositionArg& pos = {});
  SinusoidalConfig cfg;
};
TORCH_MODULE(SinusoidalEncoding);

class LearnedEncodingImpl : public torch::nn::Cloneable<LearnedEncodingImpl> {
 public:
  LearnedEncodingImpl(int64_t max_positions, int64_t dim, const LearnedInitOptions& init = {});
  void reset() override;
  at::Tensor forward(const at::Tensor& x, const PositionArg& pos = {});
  int64_t max_positions, dim;
  LearnedInitOptions init;
  at::Tensor weight;
};
TORCH_MODULE(LearnedEncoding);

enum class EmbedPe : uint8_t { None, Sinusoidal, Learned };

struct TokenEmbeddingOptions {
  int64_t vocab_size = 0, dim = 0;
  EmbedPe pe = EmbedPe::Sinusoidal;
  SinusoidalConfig sinusoidal{};  // dim taken from `dim` when 0
  int64_t max_positions = 0;      // learned: rows of pe_weight
  LearnedInitOptions pe_init{};
  EmbedScale scale = EmbedScale::One;
  float embedding_std = 0.02f;  // E ~ N(0, std^2)
  uint64_t seed = 0;
};

class TokenEmbeddingImpl : public torch::nn::Cloneable<TokenEmbeddingImpl> {
 public:
  explicit TokenEmbeddingImpl(const TokenEmbeddingOptions& options);
  void reset() override;
  at::Tensor forward(const at::Tensor& ids, const PositionArg& pos = {});
  TokenEmbeddingOptions options;
  at::Tensor weight, pe_weight;  // pe_weight undefined unless pe == Learned
  // Sinusoidal: the exact table of positions 0 .. rows-1, computed once and grown on demand (a cache,
  // neither a parameter nor a buffer: not saved). The fused kernel then reads rows instead of evaluating
  // sin/cos per call; the values are the same bits. Positions past kMaxCachedRows are computed on the fly.
  at::Tensor sin_table;
  static constexpr int64_t kMaxCachedRows = int64_t{1} << 20;
};
TORCH_MODULE(TokenEmbedding);

class RotaryEmbeddingImpl : public torch::nn::Cloneable<RotaryEmbeddingImpl> {
 public:
  explicit RotaryEmbeddingImpl(const RopeConfig& cfg);
  void reset() override {}
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& q, const at::Tensor& k,
                                            const PositionArg& pos = {}, bool heads_first = false);
  RopeConfig cfg;
};
TORCH_MODULE(RotaryEmbedding);

class AlibiBiasImpl : public torch::nn::Cloneable<AlibiBiasImpl> {
 public:
  explicit AlibiBiasImpl(const AlibiConfig& cfg);
  void reset() override {}
  at::Tensor forward(int64_t Tq, int64_t Tk, int64_t q_offset = 0);
  AlibiConfig cfg;
};
TORCH_MODULE(AlibiBias);

class T5RelativeBiasImpl : public torch::nn::Cloneable<T5RelativeBiasImpl> {
 public:
  T5RelativeBiasImpl(const T5BiasConfig& cfg, int64_t num_heads, float init_std = 0.02f, uint64_t seed = 0);
  void reset() override;
  at::Tensor forward(int64_t Tq, int64_t Tk, int64_t q_offset = 0);
  T5BiasConfig cfg;
  int64_t num_heads;
  float init_std;
  uint64_t seed;
  at::Tensor weight;
};
TORCH_MODULE(T5RelativeBias);

}  // namespace posenc::libtorch
