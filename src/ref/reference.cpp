#include "ref/reference.hpp"

#include <cmath>
#include <vector>

#include "exact/sincos.hpp"

namespace posenc::ref {

float sinusoidal_value(const SinusoidalConfig& cfg, int64_t pos, int64_t c) {
  const int64_t d = cfg.dim;
  if (pos == cfg.padding_idx) return 0.0f;
  int64_t i = 0, denom2 = d;  // frequency index; omega = base^(-2i/denom2) or concat rule
  bool is_sin = true, concat = false;
  switch (cfg.preset) {
    case SinusoidalPreset::Vaswani:
      i = c / 2;
      is_sin = c % 2 == 0;
      break;
    case SinusoidalPreset::Marian: {
      const int64_t hs = (d + 1) / 2;
      is_sin = c < hs;
      i = is_sin ? c : c - hs;
      break;
    }
    case SinusoidalPreset::Fairseq:
    case SinusoidalPreset::Tensor2Tensor: {
      const int64_t h = d / 2;
      if (c == 2 * h) return 0.0f;  // odd d: zero column
      is_sin = c < h;
      i = is_sin ? c : c - h;
      concat = true;
      denom2 = h > 1 ? h - 1 : 1;
      break;
    }
  }
  double s, co;
  if (cfg.precision == Precision::Exact) {
    const exact::DD ln_base = exact::log(exact::DD{cfg.base, 0.0});
    const exact::DD e = concat ? (ln_base * static_cast<double>(i)) / static_cast<double>(denom2)
                               : (ln_base * static_cast<double>(2 * i)) / static_cast<double>(d);
    const exact::SinCos r = exact::sincos_pos(pos, exact::exp(-e));
    s = r.sin;
    co = r.cos;
  } else if (concat) {
    const float f = static_cast<float>(std::exp(
        static_cast<double>(static_cast<float>(i) * static_cast<float>(-std::log(cfg.base) / denom2))));
    const double a = static_cast<double>(static_cast<float>(pos) * f);
    s = std::sin(a);
    co = std::cos(a);
  } else if (cfg.preset == SinusoidalPreset::Marian) {
    const double a =
        static_cast<double>(pos) / std::pow(cfg.base, static_cast<double>(2 * i) / static_cast<double>(d));
    s = std::sin(a);
    co = std::cos(a);
  } else {
    const float e = static_cast<float>(2 * i) / static_cast<float>(d);
    const float f = 1.0f / static_cast<float>(std::pow(static_cast<double>(static_cast<float>(cfg.base)),
                                                       static_cast<double>(e)));
    const double a = static_cast<double>(static_cast<float>(pos) * f);
    s = std::sin(a);
    co = std::cos(a);
  }
  return static_cast<float>(is_sin ? s : co);
}

void embed_forward(float* out, const float* E, const int64_t* ids, float scale, const float* P,
                   const int64_t* rows, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float p = P[rows[n] * C + c];
      out[n * C + c] = E ? E[ids[n] * C + c] * scale + p : p;
    }
}

void scatter_add(float* dst, int64_t K, const float* src, const int64_t* keys, int64_t N, int64_t C,
                 float scale) {
  std::vector<float> acc(static_cast<size_t>(K * C), 0.0f);
  std::vector<bool> seen(static_cast<size_t>(K), false);
  for (int64_t n = 0; n < N; ++n) {
    seen[static_cast<size_t>(keys[n])] = true;
    for (int64_t c = 0; c < C; ++c) acc[static_cast<size_t>(keys[n] * C + c)] += src[n * C + c];
  }
  for (int64_t k = 0; k < K; ++k)
    if (seen[static_cast<size_t>(k)])
      for (int64_t c = 0; c < C; ++c)
        dst[k * C + c] = dst[k * C + c] + scale * acc[static_cast<size_t>(k * C + c)];
}

}  // namespace posenc::ref
