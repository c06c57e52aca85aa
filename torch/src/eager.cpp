// torch/src/eager.cpp — the encodings in plain LibTorch ops (see posenc/torch/eager.hpp).
#include "posenc/torch/eager.hpp"

#include <cmath>
#include <string>
#include <vector>

#include "posenc/error.hpp"

namespace posenc::libtorch::eager {

at::Tensor sinusoidal_table(int64_t num_positions, int64_t dim, double base) {
  if (dim < 2 || dim % 2 != 0)
    throw Error("posenc::libtorch::eager::sinusoidal_table", "dim", std::to_string(dim), "even integer >= 2");
  const at::Tensor pos = at::arange(num_positions, at::kFloat).unsqueeze(1);
  const at::Tensor div =
      at::exp(at::arange(0, dim, 2, at::kFloat) * (-std::log(base) / static_cast<double>(dim)));
  at::Tensor pe = at::zeros({num_positions, dim}, at::kFloat);
  pe.slice(1, 0, dim, 2).copy_(at::sin(pos * div));
  pe.slice(1, 1, dim, 2).copy_(at::cos(pos * div));
  return pe;
}

at::Tensor embed(const at::Tensor& ids, const at::Tensor& E, const at::Tensor& table, float scale) {
  at::Tensor x = at::embedding(E, ids);
  if (scale != 1.0f) x = x * scale;
  if (table.defined()) x = x + table.slice(0, 0, ids.size(1)).unsqueeze(0);
  return x;
}

namespace {
at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t h = x.size(-1) / 2;
  return at::cat({-x.slice(-1, h), x.slice(-1, 0, h)}, -1);
}
at::Tensor rotate_every_two(const at::Tensor& x) {
  const at::Tensor x1 = x.slice(-1, 0, x.size(-1), 2), x2 = x.slice(-1, 1, x.size(-1), 2);
  return at::stack({-x2, x1}, -1).flatten(-2);
}
}  // namespace

std::pair<at::Tensor, at::Tensor> rope(const at::Tensor& q, const at::Tensor& k, const RopeConfig& cfg,
                                       bool heads_first) {
  const int64_t T = q.size(heads_first ? 2 : 1), r = cfg.rot();
  const RopeFrequencies f = rope_frequencies(cfg, T);
  const at::Tensor inv_freq = at::from_blob(const_cast<float*>(f.inv_freq_f32.data()),
                                            {static_cast<int64_t>(f.inv_freq_f32.size())}, at::kFloat)
                                  .clone();
  const at::Tensor freqs = at::outer(at::arange(T, at::kFloat), inv_freq);  // [T, r/2]
  const bool half = cfg.layout == PairLayout::HalfSplit;
  const at::Tensor emb = half ? at::cat({freqs, freqs}, -1) : at::repeat_interleave(freqs, 2, -1);
  at::Tensor cos = emb.cos() * f.attention_scaling, sin = emb.sin() * f.attention_scaling;
  if (!heads_first) {  // [T, r] -> [T, 1, r] to broadcast over [B, T, H, r]
    cos = cos.unsqueeze(1);
    sin = sin.unsqueeze(1);
  }
  auto apply = [&](const at::Tensor& x) -> at::Tensor {
    if (!x.defined()) return {};
    const at::Tensor c = cos.to(x.scalar_type()), s = sin.to(x.scalar_type());
    const at::Tensor xr = x.slice(-1, 0, r);
    const at::Tensor rotated = xr * c + (half ? rotate_half(xr) : rotate_every_two(xr)) * s;
    return r == x.size(-1) ? rotated : at::cat({rotated, x.slice(-1, r)}, -1);
  };
  return {apply(q), apply(k)};
}

at::Tensor t5_bias(const at::Tensor& table, const T5BiasConfig& cfg, int64_t Tq, int64_t Tk) {
  std::vector<int64_t> buckets(static_cast<size_t>(Tq * Tk));
  for (int64_t i = 0; i < Tq; ++i)
    for (int64_t j = 0; j < Tk; ++j)
      buckets[static_cast<size_t>(i * Tk + j)] = t5_relative_bucket(j - i, cfg);
  const at::Tensor b = at::from_blob(buckets.data(), {Tq, Tk}, at::kLong).clone();
  return at::embedding(table, b).permute({2, 0, 1});  // [Tq, Tk, H] -> [H, Tq, Tk]
}

}  // namespace posenc::libtorch::eager
