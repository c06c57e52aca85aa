// posenc/rope.hpp — rotary position embeddings (RoPE; Su et al. 2021) with the scalings real models use.
//
// Formula: with r = rotary dim (<= head dim D, even) and frequencies omega_i (i < r/2, see below), each
// pair (x, y) of a query or key vector at position p is rotated by theta = p * omega_i:
//   x' = x cos(theta) - y sin(theta)
//   y' = y cos(theta) + x sin(theta)
// and then multiplied by attention_scaling (1 except for YaRN and LongRoPE). Dims r .. D-1 pass through.
// The backward pass is the inverse rotation (sin -> -sin), by the same kernel.
//
// Pair layouts of one head vector (r = 8 shown):
//   HalfSplit    (GPT-NeoX, HF Llama "rotate_half"):  pairs (i, i + r/2)   [x0 x1 x2 x3 | y0 y1 y2 y3]
//   Interleaved  (GPT-J, Meta Llama):                 pairs (2i, 2i + 1)   [x0 y0 x1 y1 x2 y2 x3 y3]
//
// Frequencies, default: omega_i = base^(-2i/r). Scalings (meaning as in HF transformers 5.x,
// rope_parameters["rope_type"]):
//   Linear   omega_i / factor
//   Ntk      base' = base * factor^(r / (r - 2))               (static NTK; a posenc extension, not an HF type)
//   Dynamic  base' = base * (factor * L / Lmax - (factor - 1))^(r / (r - 2)) when the sequence length
//            L = max position + 1 exceeds Lmax = max_position_embeddings, else unscaled. posenc is
//            stateless: it gives what a fresh HF module gives for L (HF's module keeps the largest base it
//            has seen until L drops below Lmax again)
//   Yarn     blend of omega_i and omega_i / factor with a linear ramp between the dims of beta_fast and
//            beta_slow rotations over original_max_position_embeddings (truncate rounds the ramp ends);
//            attention_factor = 0.1 ln(factor) + 1 unless given (or the mscale / mscale_all_dim ratio)
//   Llama3   omega_i unchanged for wavelengths < Lorig / high_freq_factor, omega_i / factor above
//            Lorig / low_freq_factor, a smooth blend between (high_freq_factor >= low_freq_factor; equal,
//            as Llama 4 Scout's, is a step, a wavelength exactly at Lorig / low_freq_factor unchanged where
//            HF's blend gives 0/0 = NaN)
//   LongRope omega_i / ext_i with ext = long_factor if L > original_max_position_embeddings else
//            short_factor (r/2 entries each); attention_factor = sqrt(1 + ln(s) / ln(Lorig)) with
//            s = max_position_embeddings / original_max_position_embeddings unless given (factor = 1.0,
//            the default, means "not given: derive s"; set attention_factor = 1 for HF's explicit factor 1)
// YaRN and LongRoPE use attention factor 1 when their factor is <= 1.
// Precision (posenc/precision.hpp): Exact computes omega_i in double-double and each angle exactly (each
// cos/sin within 1 ulp of the correctly rounded fp32 value of the formula); HfCompat reproduces HF's
// float32 recipe (inv_freq by float32 ops, angle = float(pos) * inv_freq in float32).
//
// Tensors are [B, T, H, D] views (a [B, H, T, D] tensor is the same view with permuted strides, see
// bhtd()); q and k may have different head counts (GQA/MQA: Hq must be a multiple of Hk); positions as in
// posenc/positions.hpp. Storage f32/f16/bf16, math fp32, one rounding per output element.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "posenc/positions.hpp"
#include "posenc/precision.hpp"
#include "posenc/tensor.hpp"

namespace posenc {

inline constexpr int64_t kMaxRopeHeadDim = int64_t{1} << 20;  // 1048576: the largest head_dim

enum class PairLayout : uint8_t { HalfSplit, Interleaved };
enum class RopeType : uint8_t { Default, Linear, Ntk, Dynamic, Yarn, Llama3, LongRope };

struct RopeScaling {
  RopeType type = RopeType::Default;
  double factor = 1.0;                           // linear, ntk, dynamic, yarn, llama3; longrope optional
  int64_t original_max_position_embeddings = 0;  // yarn, llama3, longrope; 0 = max_position_embeddings
  // YaRN
  double beta_fast = 32.0, beta_slow = 1.0;
  bool truncate = true;
  std::optional<double> attention_factor;  // yarn, longrope
  std::optional<double> mscale, mscale_all_dim;
  // Llama 3
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  // LongRoPE (r/2 entries each)
  std::vector<double> short_factor, long_factor;

  bool operator==(const RopeScaling&) const = default;
};

struct RopeConfig {
  int64_t head_dim = 0;    // D, 2 .. kMaxRopeHeadDim
  int64_t rotary_dim = 0;  // r, even, <= D; 0 means D
  double base = 10000.0;   // rope_theta
  PairLayout layout = PairLayout::HalfSplit;
  Precision precision = Precision::Exact;
  int64_t max_position_embeddings = 0;  // needed by dynamic, yarn, llama3, longrope
  RopeScaling scaling{};

  int64_t rot() const { return rotary_dim == 0 ? head_dim : rotary_dim; }
  bool operator==(const RopeConfig&) const = default;  // field by field (cached frequencies)
};

// Throws posenc::Error naming the field (head_dim, rotary_dim, base, scaling.factor, ...).
void validate(const RopeConfig& cfg, const char* where = "posenc::RopeConfig");

struct RopeFrequencies {
  std::vector<double> inv_freq;     // omega_i, i < r/2 (Exact: the double nearest the double-double)
  std::vector<float> inv_freq_f32;  // HF's float32 inv_freq
  double attention_scaling = 1.0;
};
// Frequencies for sequences of length seq_len (= max position + 1; matters for Dynamic and LongRope
// only). seq_len = 0 means "as HF before any forward pass": Dynamic unscaled, LongRoPE with its
// short factors.
RopeFrequencies rope_frequencies(const RopeConfig& cfg, int64_t seq_len = 0);

// cos and sin [N, r] as HF returns them (already multiplied by attention_scaling): HalfSplit
// repeats the r/2 values twice ([c0 .. c_{r/2-1} | c0 .. c_{r/2-1}]), Interleaved repeats each ([c0
// c0 c1 c1 ..]). seq_len as above; 0 = max(positions) + 1.
void rope_cos_sin(TensorView cos, TensorView sin, const RopeConfig& cfg, std::span<const int64_t> positions,
                  int64_t seq_len = 0);

// q [B, T, Hq, D] and k [B, T, Hk, D] (k may be empty: data == nullptr). q_out / k_out empty = in
// place.
struct RopeTensors {
  TensorView q, k;
  TensorView q_out{}, k_out{};
};

// Rotates q and k by their positions. seq_len: 0 = max position in `positions` + 1 (as HF's dynamic
// update does); pass the full sequence length to keep Dynamic/LongRoPE frequencies fixed across
// calls (for those two a seq_len below max position + 1 is an error: HF's never is). The frequencies
// of the last 4 configs are remembered per thread (except Dynamic and LongRoPE, which depend on
// seq_len), so that one-token decode calls do not recompute them.
void rope_forward(const RopeTensors& t, const RopeConfig& cfg, const Positions& positions,
                  int64_t seq_len = 0);
// Gradients: given dq', dk' (in t.q / t.k), writes dq, dk (the inverse rotation, times
// attention_scaling).
void rope_backward(const RopeTensors& t, const RopeConfig& cfg, const Positions& positions,
                   int64_t seq_len = 0);

// A [B, H, T, D] tensor viewed as [B, T, H, D] (strides permuted; no copy).
TensorView bhtd(const TensorView& v);

// ---- cos/sin built once, used by every layer ----
// The calls above build the cos/sin of their positions on every call (once per (position,
// frequency), shared by heads and by q and k): on the CPU, for positions that strictly increase
// (one sequence, or the same one in every batch row), per block of 16 positions right before rotating
// those tokens; otherwise as a table in buffers
// that the calling thread keeps for its next call (freed when over 64 MiB). A model calls RoPE in
// every layer with the same positions: build a RopeCache once per forward pass (as HF's rotary
// module returns cos/sin once per forward) and pass it to each layer's rope_forward / rope_backward.
// The results are the bits of the uncached calls with the same config, positions and seq_len.
//
// Immutable after construction; copies share the table (a shared_ptr), so a cache can be kept by an
// autograd node for the backward pass. Memory: 2 * 4 * (distinct positions) * r/2 bytes + 8 per token.
namespace detail {
struct RopeCacheData;
}
class RopeCache {
 public:
  RopeCache() = default;
  bool empty() const { return data_ == nullptr; }
  const RopeConfig& config() const;  // throws posenc::Error if empty()
  int64_t batch() const;             // B and T of the positions it was built for
  int64_t seq() const;
  int64_t seq_len() const;  // the sequence length its frequencies were computed for

 private:
  friend RopeCache make_rope_cache(const RopeConfig&, const Positions&, int64_t, int64_t, int64_t);
  friend const detail::RopeCacheData& detail_rope_cache_data(const RopeCache&, const char*);
  std::shared_ptr<const detail::RopeCacheData> data_;
};

// cos/sin of `positions` resolved for a [batch, seq] grid of tokens; seq_len as in rope_forward (0 =
// max position + 1). Throws posenc::Error naming the argument (config, positions, sizes).
RopeCache make_rope_cache(const RopeConfig& cfg, const Positions& positions, int64_t batch, int64_t seq,
                          int64_t seq_len = 0);
// rope_forward / rope_backward with the cache's config, positions and frequencies. q and k must be
// [cache.batch(), cache.seq(), H, cache.config().head_dim].
void rope_forward(const RopeTensors& t, const RopeCache& cache);
void rope_backward(const RopeTensors& t, const RopeCache& cache);

}  // namespace posenc
