// torch/src/modules.cpp — torch::nn modules over the autograd functions (posenc/torch/modules.hpp).
#include "posenc/torch/modules.hpp"

#include <algorithm>
#include <string>

#include "posenc/error.hpp"

namespace posenc::libtorch {

namespace {
[[noreturn]] void fail(const char* where, const std::string& arg, int64_t value, const std::string& allowed) {
  throw Error(where, arg, std::to_string(value), allowed);
}
// Fills a fresh float32 parameter with posenc's counter-based initialisers (same values on any thread count).
at::Tensor init_table(int64_t rows, int64_t cols, const LearnedInitOptions& init) {
  at::Tensor t = at::empty({rows, cols}, at::kFloat);
  learned_init(view(t, "table"), init);
  return t;
}
}  // namespace

SinusoidalEncodingImpl::SinusoidalEncodingImpl(const SinusoidalConfig& c) : cfg(c) {
  validate(cfg, "posenc::libtorch::SinusoidalEncoding");
}
at::Tensor SinusoidalEncodingImpl::forward(const at::Tensor& x, const PositionArg& pos) {
  return sinusoidal_add(x, cfg, pos);
}

LearnedEncodingImpl::LearnedEncodingImpl(int64_t P, int64_t C, const LearnedInitOptions& i)
    : max_positions(P), dim(C), init(i) {
  if (P < 1) fail("posenc::libtorch::LearnedEncoding", "max_positions", P, "an integer >= 1");
  if (C < 1) fail("posenc::libtorch::LearnedEncoding", "dim", C, "an integer >= 1");
  reset();
}
void LearnedEncodingImpl::reset() {
  weight = register_parameter("weight", init_table(max_positions, dim, init));
}
at::Tensor LearnedEncodingImpl::forward(const at::Tensor& x, const PositionArg& pos) {
  return learned_add(x, weight, pos);
}

TokenEmbeddingImpl::TokenEmbeddingImpl(const TokenEmbeddingOptions& o) : options(o) {
  const char* where = "posenc::libtorch::TokenEmbedding";
  if (o.vocab_size < 1) fail(where, "vocab_size", o.vocab_size, "an integer >= 1");
  if (o.dim < 1) fail(where, "dim", o.dim, "an integer >= 1");
  if (o.pe == EmbedPe::Learned && o.max_positions < 1)
    fail(where, "max_positions", o.max_positions, "an integer >= 1 for a learned encoding");
  if (options.sinusoidal.dim == 0) options.sinusoidal.dim = o.dim;
  if (o.pe == EmbedPe::Sinusoidal) {
    if (options.sinusoidal.dim != o.dim)
      fail(where, "sinusoidal.dim", options.sinusoidal.dim, "dim (" + std::to_string(o.dim) + ")");
    validate(options.sinusoidal, where);
  }
  reset();
}
void TokenEmbeddingImpl::reset() {
  LearnedInitOptions e;
  e.kind = LearnedInit::Normal;
  e.std = options.embedding_std;
  e.seed = options.seed;
  weight = register_parameter("weight", init_table(options.vocab_size, options.dim, e));
  if (options.pe == EmbedPe::Learned)
    pe_weight =
        register_parameter("pe_weight", init_table(options.max_positions, options.dim, options.pe_init));
}
at::Tensor TokenEmbeddingImpl::forward(const at::Tensor& ids, const PositionArg& pos) {
  const float s = embed_scale(options.scale, options.dim);
  if (options.pe == EmbedPe::Sinusoidal) {
    // Rows the call reads (0: not from the cache). Invalid positions (a float or bool ids tensor, a negative
    // or huge offset or id) are left to embed()'s checks, which name them; here they only must not be read
    // as a row count (item<int64_t>() of a NaN, or offset + T past int64).
    int64_t need = 0;
    if (pos.ids.defined()) {
      if (pos.ids.scalar_type() == at::kLong || pos.ids.scalar_type() == at::kInt) {
        const int64_t last = pos.ids.numel() > 0 ? pos.ids.max().item<int64_t>() : 0;
        need = last < kMaxCachedRows ? last + 1 : 0;
      }
    } else if (ids.dim() == 2 && pos.offset >= 0 && pos.offset <= kMaxCachedRows - ids.size(1)) {
      need = pos.offset + ids.size(1);
    }
    if (need >= 1 && need <= kMaxCachedRows) {
      if (!sin_table.defined() || sin_table.size(0) < need || sin_table.device() != weight.device()) {
        const int64_t rows = std::min(
            kMaxCachedRows, std::max<int64_t>({need, 512, sin_table.defined() ? 2 * sin_table.size(0) : 0}));
        at::Tensor t = at::empty({rows, options.dim}, at::kFloat);
        sinusoidal_table(view(t, "sin_table"), options.sinusoidal, int64_t{0});
        sin_table = t.to(weight.device());  // computed on the CPU, kept where the weights are
      }
      return embed(ids, weight, sin_table, std::nullopt, s, pos);
    }
    return embed(ids, weight, at::Tensor(), options.sinusoidal, s, pos);
  }
  return embed(ids, weight, options.pe == EmbedPe::Learned ? pe_weight : at::Tensor(), std::nullopt, s, pos);
}

RotaryEmbeddingImpl::RotaryEmbeddingImpl(const RopeConfig& c) : cfg(c) {
  validate(cfg, "posenc::libtorch::RotaryEmbedding");
}
std::pair<at::Tensor, at::Tensor> RotaryEmbeddingImpl::forward(const at::Tensor& q, const at::Tensor& k,
                                                               const PositionArg& pos, bool heads_first) {
  return rope(q, k, cfg, pos, heads_first);
}

AlibiBiasImpl::AlibiBiasImpl(const AlibiConfig& c) : cfg(c) {
  validate(cfg, "posenc::libtorch::AlibiBias");
}
at::Tensor AlibiBiasImpl::forward(int64_t Tq, int64_t Tk, int64_t q_offset) {
  return alibi_bias(cfg, Tq, Tk, q_offset);
}

T5RelativeBiasImpl::T5RelativeBiasImpl(const T5BiasConfig& c, int64_t H, float std, uint64_t s)
    : cfg(c), num_heads(H), init_std(std), seed(s) {
  validate(cfg, "posenc::libtorch::T5RelativeBias");
  if (H < 1) fail("posenc::libtorch::T5RelativeBias", "num_heads", H, "an integer >= 1");
  reset();
}
void T5RelativeBiasImpl::reset() {
  LearnedInitOptions i;
  i.kind = LearnedInit::Normal;
  i.std = init_std;
  i.seed = seed;
  weight = register_parameter("weight", init_table(cfg.num_buckets, num_heads, i));
}
at::Tensor T5RelativeBiasImpl::forward(int64_t Tq, int64_t Tk, int64_t q_offset) {
  return t5_bias(weight, cfg, Tq, Tk, q_offset);
}

}  // namespace posenc::libtorch
