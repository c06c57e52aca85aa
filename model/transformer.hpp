// model/transformer.hpp — a small pre-norm Transformer in which the positional encoding is one switch.
//
//   x = TokenEmbedding(ids)            E[ids] (* sqrt(dim)) + PE   (sinusoidal/learned: fused; else no PE)
//   x = dropout(x)
//   for each layer:  x = x + dropout(Attention(LN1(x)))          pre-norm blocks
//                    x = x + dropout(MLP(LN2(x)))                 MLP: Linear(dim, ff*dim), GELU, Linear
//   h = LN(x); logits = Linear(dim, vocab)(h)
// Attention: q = Wq x [B,T,H,hd], k, v = Wk x, Wv x [B,T,Hk,hd] (grouped-query when Hk < H); RoPE rotates
// q and k here; scores = q k^T / sqrt(hd) [B,H,T,T] + bias (ALiBi, or the T5 bias shared by all layers);
// a causal mask for the decoder; softmax; dropout; weights v; Wo.
// Bidirectional (causal = false) with pe = none is permutation-equivariant: permuting the input tokens
// permutes the outputs (up to float rounding). The causal mask alone breaks that (it leaks order).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/config.hpp"
#include "posenc/torch/modules.hpp"

namespace posenc::model {

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& c);
  // x [B, T, C]; bias [H, T, T] or undefined; future [T, T] bool, true where the key comes after the query
  // (causal mask), or undefined; rope: the RoPE cos/sin of this forward pass (built once for all layers),
  // empty unless pe is RoPE with posenc ops. Stores the attention weights [B, H, T, T] in `last_weights`
  // when keep_weights.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& future,
                     const posenc::RopeCache& rope, bool keep_weights);

  ModelConfig cfg;
  torch::nn::Linear wq{nullptr}, wk{nullptr}, wv{nullptr}, wo{nullptr};
  torch::nn::Dropout drop{nullptr};
  at::Tensor last_weights;
};
TORCH_MODULE(Attention);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const ModelConfig& c);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& future,
                     const posenc::RopeCache& rope, bool keep_weights);

  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  Attention attn{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(Block);

class TransformerImpl : public torch::nn::Module {
 public:
  // Weights are drawn from torch's generator seeded with cfg.seed (and posenc's counter-based
  // initialisers for the embedding tables), so one config gives one model.
  explicit TransformerImpl(const ModelConfig& c);

  // ids [B, T] int64 -> logits [B, T, vocab].
  at::Tensor forward(const at::Tensor& ids, bool keep_weights = false);
  // The final hidden states h [B, T, dim] (before the output projection).
  at::Tensor hidden(const at::Tensor& ids, bool keep_weights = false);
  // The model's input: token embedding + positional encoding (what the first block sees), [B, T, dim].
  at::Tensor embed(const at::Tensor& ids);
  // Attention weights [B, H, T, T] of each layer from the last forward with keep_weights.
  std::vector<at::Tensor> attention_weights() const;

  // The longest sequence the model can encode: max_positions for learned, unlimited (-1) otherwise.
  int64_t max_length() const;

  ModelConfig cfg;
  posenc::libtorch::TokenEmbedding tok{nullptr};
  posenc::libtorch::T5RelativeBias t5{nullptr};
  torch::nn::Dropout drop{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm ln_f{nullptr};
  torch::nn::Linear head{nullptr};

 private:
  at::Tensor sinusoidal_buffer(int64_t T);  // eager ops: the PE table as HF keeps it, grown on demand
  at::Tensor sin_buf_;
};
TORCH_MODULE(Transformer);

}  // namespace posenc::model
