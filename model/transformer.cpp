// model/transformer.cpp — the Transformer of model/transformer.hpp.
#include "model/transformer.hpp"

#include <cmath>
#include <string>

#include "posenc/error.hpp"
#include "posenc/torch/eager.hpp"
#include "posenc/torch/functional.hpp"

namespace posenc::model {

namespace lt = posenc::libtorch;

AttentionImpl::AttentionImpl(const ModelConfig& c) : cfg(c) {
  const int64_t hd = c.head_dim();
  wq = register_module("wq", torch::nn::Linear(torch::nn::LinearOptions(c.dim, c.heads * hd).bias(false)));
  wk = register_module("wk", torch::nn::Linear(torch::nn::LinearOptions(c.dim, c.kv() * hd).bias(false)));
  wv = register_module("wv", torch::nn::Linear(torch::nn::LinearOptions(c.dim, c.kv() * hd).bias(false)));
  wo = register_module("wo", torch::nn::Linear(torch::nn::LinearOptions(c.heads * hd, c.dim).bias(false)));
  drop = register_module("drop", torch::nn::Dropout(c.dropout));
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& future,
                                  const posenc::RopeCache& rope, bool keep_weights) {
  const int64_t B = x.size(0), T = x.size(1), H = cfg.heads, Hk = cfg.kv(), hd = cfg.head_dim();
  at::Tensor q = wq(x).view({B, T, H, hd});
  at::Tensor k = wk(x).view({B, T, Hk, hd});
  at::Tensor v = wv(x).view({B, T, Hk, hd});
  if (cfg.pe == PeKind::Rope) {
    // posenc: cos/sin from the forward pass's cache (seq_len = T keeps dynamic/LongRoPE frequencies
    // fixed for the whole sequence).
    auto qk = cfg.ops == Ops::Posenc ? (rope.empty() ? lt::rope(q, k, cfg.rope_config(), {}, false, T)
                                                     : lt::rope(q, k, rope, false))
                                     : lt::eager::rope(q, k, cfg.rope_config(), false);
    q = qk.first;
    k = qk.second;
  }
  q = q.transpose(1, 2);  // [B, H, T, hd]
  k = k.transpose(1, 2);
  v = v.transpose(1, 2);
  if (Hk != H) {  // grouped-query attention: each KV head serves H / Hk query heads
    k = k.repeat_interleave(H / Hk, 1);
    v = v.repeat_interleave(H / Hk, 1);
  }
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(hd)));
  if (bias.defined()) scores = scores + bias.unsqueeze(0);
  if (future.defined()) scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
  at::Tensor w = at::softmax(scores, -1);
  if (keep_weights) last_weights = w.detach();
  w = drop(w);
  const at::Tensor y = at::matmul(w, v).transpose(1, 2).reshape({B, T, H * hd});
  return wo(y);
}

BlockImpl::BlockImpl(const ModelConfig& c) {
  ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim})));
  attn = register_module("attn", Attention(c));
  ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim})));
  fc1 = register_module("fc1", torch::nn::Linear(c.dim, c.ff_mult * c.dim));
  fc2 = register_module("fc2", torch::nn::Linear(c.ff_mult * c.dim, c.dim));
  drop = register_module("drop", torch::nn::Dropout(c.dropout));
}

at::Tensor BlockImpl::forward(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& future,
                              const posenc::RopeCache& rope, bool keep_weights) {
  at::Tensor h = x + drop(attn(ln1(x), bias, future, rope, keep_weights));
  return h + drop(fc2(at::gelu(fc1(ln2(h)))));
}

TransformerImpl::TransformerImpl(const ModelConfig& c) : cfg(c) {
  validate(cfg);
  torch::manual_seed(cfg.seed);
  lt::TokenEmbeddingOptions e;
  e.vocab_size = c.vocab_size;
  e.dim = c.dim;
  e.pe = c.pe == PeKind::Sinusoidal ? lt::EmbedPe::Sinusoidal
         : c.pe == PeKind::Learned  ? lt::EmbedPe::Learned
                                    : lt::EmbedPe::None;
  e.max_positions = c.max_positions;
  e.pe_init.kind = LearnedInit::Normal;
  e.pe_init.std = 0.02f;
  e.pe_init.seed = c.seed * 2 + 1;
  e.scale = c.embed_scale_sqrt ? EmbedScale::SqrtC : EmbedScale::One;
  e.seed = c.seed * 2;
  tok = register_module("tok", lt::TokenEmbedding(e));
  if (c.pe == PeKind::T5)
    t5 = register_module("t5", lt::T5RelativeBias(T5BiasConfig{c.t5_buckets, c.t5_max_distance, !c.causal},
                                                  c.heads, 0.02f, c.seed * 2 + 7));
  drop = register_module("drop", torch::nn::Dropout(c.dropout));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.layers; ++i) blocks->push_back(Block(c));
  ln_f = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim})));
  head = register_module("head", torch::nn::Linear(c.dim, c.vocab_size));
}

int64_t TransformerImpl::max_length() const {
  return cfg.pe == PeKind::Learned ? cfg.max_positions : -1;
}

at::Tensor TransformerImpl::sinusoidal_buffer(int64_t T) {
  if (!sin_buf_.defined() || sin_buf_.size(0) < T)
    sin_buf_ = lt::eager::sinusoidal_table(std::max<int64_t>(T, 512), cfg.dim).to(tok->weight.device());
  return sin_buf_;
}

at::Tensor TransformerImpl::embed(const at::Tensor& ids) {
  const char* where = "posenc::model::Transformer";
  if (ids.dim() != 2) throw Error(where, "ids.dim()", std::to_string(ids.dim()), "2 ([batch, length])");
  const int64_t T = ids.size(1);
  if (T < 1) throw Error(where, "sequence length", std::to_string(T), ">= 1");
  if (max_length() >= 0 && T > max_length())
    throw Error(
        where, "sequence length", std::to_string(T),
        "<= " + std::to_string(max_length()) + " (the rows of the learned position table, max_positions)");
  if (cfg.ops == Ops::Posenc) return tok(ids);
  // Eager: the embedding and the PE add as HF / the PyTorch tutorial write them.
  const float s = embed_scale(tok->options.scale, cfg.dim);
  const int64_t V = cfg.vocab_size;
  if (ids.numel() > 0 && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= V))
    throw Error(where, "ids", "out of range", "[0, " + std::to_string(V) + ")");
  const at::Tensor table = cfg.pe == PeKind::Learned      ? tok->pe_weight
                           : cfg.pe == PeKind::Sinusoidal ? sinusoidal_buffer(T)
                                                          : at::Tensor();
  return lt::eager::embed(ids, tok->weight, table, s);
}

at::Tensor TransformerImpl::hidden(const at::Tensor& ids, bool keep_weights) {
  const int64_t T = ids.size(1);
  at::Tensor x = drop(embed(ids));
  at::Tensor bias;
  if (cfg.pe == PeKind::Alibi) {
    AlibiConfig a;
    a.num_heads = cfg.heads;
    if (cfg.ops == Ops::Posenc) {
      bias = lt::alibi_bias(a, T, T).to(x.device());
    } else {
      const auto s = alibi_slopes(cfg.heads);
      const at::Tensor slopes =
          at::tensor(std::vector<double>(s.begin(), s.end()), at::kDouble).to(at::kFloat);
      const at::Tensor pos = at::arange(T, at::kFloat);
      const at::Tensor dist = (pos.unsqueeze(0) - pos.unsqueeze(1)).abs();  // |k - q|
      bias = (-slopes.view({-1, 1, 1}) * dist.unsqueeze(0)).to(x.device());
    }
  } else if (cfg.pe == PeKind::T5) {
    bias = cfg.ops == Ops::Posenc ? t5(T, T, 0) : lt::eager::t5_bias(t5->weight, t5->cfg, T, T);
  }
  // The causal mask, built once per forward for all layers (true = a key after the query: masked).
  at::Tensor future;
  if (cfg.causal) future = at::ones({T, T}, x.options().dtype(at::kBool)).triu(1);
  // RoPE's cos/sin, built once per forward for all layers (positions 0 .. T-1, frequencies for T).
  posenc::RopeCache rope;
  if (cfg.pe == PeKind::Rope && cfg.ops == Ops::Posenc)
    rope = posenc::make_rope_cache(cfg.rope_config(), posenc::Positions::offset(0), ids.size(0), T, T);
  for (const auto& b : *blocks) x = b->as<Block>()->forward(x, bias, future, rope, keep_weights);
  return ln_f(x);
}

at::Tensor TransformerImpl::forward(const at::Tensor& ids, bool keep_weights) {
  return head(hidden(ids, keep_weights));
}

std::vector<at::Tensor> TransformerImpl::attention_weights() const {
  std::vector<at::Tensor> w;
  for (const auto& b : *blocks) w.push_back(b->as<Block>()->attn->last_weights);
  return w;
}

}  // namespace posenc::model
