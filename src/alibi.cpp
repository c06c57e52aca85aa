// ALiBi: slopes, checks, and dispatch to the CPU kernel (src/cpu/alibi.cpp).
#include "posenc/alibi.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "check.hpp"
#include "cpu/alibi.hpp"
#include "cuda/cuda_ops.hpp"
#include "posenc/positions.hpp"

namespace posenc {

using detail::fail;

namespace {
void check_heads_and_bias(const char* where, int64_t num_heads, double max_bias, const char* heads_name,
                          const char* bias_name) {
  // (an upper bound: 2^62 heads overflowed the search for the power of two below H and looped forever)
  if (num_heads < 1 || num_heads > kMaxAlibiHeads)
    fail(where, heads_name, std::to_string(num_heads),
         "1 .. " + std::to_string(kMaxAlibiHeads) + " (kMaxAlibiHeads)");
  // The smallest slope is 2^-max_bias: up to 126 it is a normal float32, so every slope and every
  // bias value at distance >= 1 is a nonzero float. Beyond that the far heads' slopes would flush to
  // zero (no position information) without a word.
  if (!(max_bias > 0.0 && max_bias <= kMaxAlibiBias))
    fail(where, bias_name, detail::to_str(max_bias),
         "(0, 126]: the smallest slope, 2^-max_bias, must be a normal float32");
}

// Positions must lie in [0, kMaxPosition]; returns the largest.
int64_t check_positions(const char* where, const char* name, std::span<const int64_t> pos) {
  int64_t hi = 0;
  for (size_t n = 0; n < pos.size(); ++n) {
    if (pos[n] < 0 || pos[n] > kMaxPosition)
      fail(where, std::string(name) + "[" + std::to_string(n) + "]", std::to_string(pos[n]),
           "[0, " + std::to_string(kMaxPosition) + "]");
    hi = std::max(hi, pos[n]);
  }
  return hi;
}

// The largest |distance| that gets an unmasked value (see the header's table); f16 output only.
int64_t max_unmasked_distance(const AlibiConfig& cfg, std::span<const int64_t> q,
                              std::span<const int64_t> k) {
  int64_t best = 0;
  const bool causal = cfg.mask == AlibiMask::Causal;
  for (int64_t qi : q)
    for (int64_t kj : k) {
      if (causal && kj > qi) continue;
      best = std::max(best, cfg.form == AlibiForm::KeyPosition ? kj : std::abs(qi - kj));
    }
  return best;
}
}  // namespace

void validate(const AlibiConfig& cfg, const char* where) {
  check_heads_and_bias(where, cfg.num_heads, cfg.max_bias, "num_heads", "max_bias");
  if (cfg.form != AlibiForm::Relative && cfg.form != AlibiForm::KeyPosition)
    fail(where, "form", std::to_string(static_cast<int>(cfg.form)), "Relative or KeyPosition");
  if (cfg.mask != AlibiMask::None && cfg.mask != AlibiMask::Causal)
    fail(where, "mask", std::to_string(static_cast<int>(cfg.mask)), "None or Causal");
  if (std::isnan(cfg.masked_value)) fail(where, "masked_value", "nan", "any float but NaN (-inf by default)");
}

std::vector<double> alibi_slopes(int64_t num_heads, double max_bias) {
  check_heads_and_bias("posenc::alibi_slopes", num_heads, max_bias, "num_heads", "max_bias");
  int64_t n = 1;  // the largest power of two <= num_heads
  while (n * 2 <= num_heads) n *= 2;
  std::vector<double> s(static_cast<size_t>(num_heads));
  // Exponents are exact for max_bias = 8 (a multiple of a power of two); otherwise one rounding.
  for (int64_t h = 0; h < n; ++h)
    s[static_cast<size_t>(h)] = std::exp2(-max_bias * static_cast<double>(h + 1) / n);
  for (int64_t h = n; h < num_heads; ++h)
    s[static_cast<size_t>(h)] =
        std::exp2(-max_bias * static_cast<double>(2 * (h - n) + 1) / static_cast<double>(2 * n));
  return s;
}

void alibi_bias(TensorView out, const AlibiConfig& cfg, std::span<const int64_t> query_positions,
                std::span<const int64_t> key_positions) {
  constexpr const char* where = "posenc::alibi_bias";
  validate(cfg, where);
  detail::check_float_view(where, "out", out, 3, out.device);
  detail::check_size(where, "out", out, 0, cfg.num_heads, "cfg.num_heads (H)");
  detail::check_size(where, "out", out, 1, static_cast<int64_t>(query_positions.size()),
                     "query_positions.size() (Tq)");
  detail::check_size(where, "out", out, 2, static_cast<int64_t>(key_positions.size()),
                     "key_positions.size() (Tk)");
  detail::check_writable(where, "out", out);
  check_positions(where, "query_positions", query_positions);
  check_positions(where, "key_positions", key_positions);
  const std::vector<double> slopes = alibi_slopes(cfg.num_heads, cfg.max_bias);
  if (out.dtype == DType::F16 && out.numel() > 0) {
    // The largest |bias| is the largest slope times the largest unmasked distance (exact in double,
    // rounded as the kernel rounds it).
    const int64_t dist = max_unmasked_distance(cfg, query_positions, key_positions);
    const double top = *std::max_element(slopes.begin(), slopes.end()) * static_cast<double>(dist);
    if (std::isinf(round_to(DType::F16, static_cast<float>(top))))
      fail(where, "out.dtype", "f16 with |bias| up to " + detail::to_str(top),
           "f32 or bf16 (f16 holds |bias| < 65520 only)");
  }
  if (out.numel() == 0) return;
  if (out.device == Device::CUDA) {
    detail::cuda::DeviceViews(where).add("out", out);
    return detail::cuda::alibi_bias(where, out, cfg, slopes, query_positions, key_positions);
  }
  detail::cpu::alibi_bias(out, cfg, slopes.data(), query_positions.data(), key_positions.data());
}

}  // namespace posenc
