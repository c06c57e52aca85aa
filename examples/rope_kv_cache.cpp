// examples/rope_kv_cache.cpp — RoPE while generating text: the rotary setup from a model's config.json,
// a batch of two prompts of different lengths rotated in one packed call (prefill), then one token per
// sequence at a time (decode) at each sequence's own position, with the rotated keys kept in a KV cache.
//
//   posenc_example_rope_kv_cache [config.json]
//
// Without an argument it reads the rotary fields of Llama 3.1 8B's config.json (below: theta 500000,
// llama3 scaling by 8 from 8192 positions). q and k are bf16, as in a model; 4 query heads share 2 key
// heads (GQA). The program checks the two facts that make this correct and exits with 1 if either fails:
//   1. every token rotated during prefill or decode has the bits it gets when the whole sequence is
//      rotated in one call (positions = offset of the sequence in the cache, nothing else);
//   2. the attention score q(m) . k(n) depends only on the distance m - n, also at positions near
//      128 K (posenc's angles are exact at every position; float32 angles are not).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <posenc/hf_config.hpp>
#include <posenc/posenc.hpp>
#include <random>
#include <vector>

namespace {

constexpr const char* kLlama31 = R"({
  "model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
  "max_position_embeddings": 131072, "rope_theta": 500000.0,
  "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                   "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
})";

using posenc::DType;
using posenc::TensorView;

std::vector<uint16_t> random_bf16(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = posenc::f32_to_bf16_bits(normal(rng));
  return v;
}

}  // namespace

static int run(int argc, char** argv) {
  const posenc::hf::RopeImport imp = argc > 1 ? posenc::hf::load_rope_config(argv[1])
                                              : posenc::hf::parse_rope_config(kLlama31, {}, "Llama 3.1 8B");
  const posenc::RopeConfig& cfg = imp.config;
  const posenc::RopeFrequencies freqs = posenc::rope_frequencies(cfg);
  std::printf("rope_type %s, head_dim %lld, rotary_dim %lld, theta %g, attention scaling %g\n",
              imp.rope_type.c_str(), static_cast<long long>(cfg.head_dim), static_cast<long long>(cfg.rot()),
              cfg.base, freqs.attention_scaling);
  std::printf("  fastest frequency %.6g rad/token, slowest %.6g (wavelength %.0f tokens)\n",
              freqs.inv_freq.front(), freqs.inv_freq.back(), 2 * M_PI / freqs.inv_freq.back());
  for (const std::string& w : imp.warnings) std::printf("  warning: %s\n", w.c_str());

  const int64_t D = cfg.head_dim, Hq = 4, Hk = 2;
  const int64_t B = 2, prompt[B] = {5, 3}, steps = 4, Tmax = 5 + steps;
  std::mt19937 rng(7);
  // What the model's projections produced for every token of both sequences, [B, Tmax, H, D].
  const std::vector<uint16_t> q_all = random_bf16(B * Tmax * Hq * D, rng);
  const std::vector<uint16_t> k_all = random_bf16(B * Tmax * Hk * D, rng);
  auto q_at = [&](const std::vector<uint16_t>& v, int64_t b, int64_t t) {
    return v.data() + (b * Tmax + t) * Hq * D;
  };
  auto k_at = [&](const std::vector<uint16_t>& v, int64_t b, int64_t t) {
    return v.data() + (b * Tmax + t) * Hk * D;
  };

  // The reference: each whole sequence rotated in one call, positions 0 .. Tmax-1, into new buffers.
  // Every call passes seq_len = Tmax: Dynamic NTK and LongRoPE frequencies depend on the sequence length
  // (0 would mean "largest position of this call + 1"; HF recomputes them as the text grows, so keys
  // already in a cache were rotated with other frequencies: the config import warns about it).
  std::vector<uint16_t> q_ref(q_all.size()), k_ref(k_all.size());
  posenc::rope_forward({TensorView::contiguous(q_all.data(), DType::BF16, {B, Tmax, Hq, D}),
                        TensorView::contiguous(k_all.data(), DType::BF16, {B, Tmax, Hk, D}),
                        TensorView::contiguous(q_ref.data(), DType::BF16, {B, Tmax, Hq, D}),
                        TensorView::contiguous(k_ref.data(), DType::BF16, {B, Tmax, Hk, D})},
                       cfg, posenc::Positions::offset(0), Tmax);

  // Prefill: both prompts packed end to end ([1, 5 + 3, H, D], no padding), rotated in place in one call;
  // positions restart at 0 for each sequence (cu_seqlens).
  const int64_t total = prompt[0] + prompt[1];
  std::vector<uint16_t> q_pack, k_pack;
  for (int64_t b = 0; b < B; ++b) {
    q_pack.insert(q_pack.end(), q_at(q_all, b, 0), q_at(q_all, b, prompt[b]));
    k_pack.insert(k_pack.end(), k_at(k_all, b, 0), k_at(k_all, b, prompt[b]));
  }
  const std::vector<int64_t> cu_seqlens = {0, prompt[0], total};
  posenc::rope_forward({TensorView::contiguous(q_pack.data(), DType::BF16, {1, total, Hq, D}),
                        TensorView::contiguous(k_pack.data(), DType::BF16, {1, total, Hk, D})},
                       cfg, posenc::Positions::packed(cu_seqlens), Tmax);

  // The KV cache [B, Tmax, Hk, D] holds rotated keys; q_seen collects every rotated query.
  std::vector<uint16_t> kv_cache(k_all.size()), q_seen(q_all.size());
  int64_t len[B];
  for (int64_t b = 0, t0 = 0; b < B; t0 += prompt[b], ++b) {
    std::memcpy(kv_cache.data() + b * Tmax * Hk * D, k_pack.data() + t0 * Hk * D, prompt[b] * Hk * D * 2);
    std::memcpy(q_seen.data() + b * Tmax * Hq * D, q_pack.data() + t0 * Hq * D, prompt[b] * Hq * D * 2);
    len[b] = prompt[b];
  }

  // Decode: one new token per sequence; its position is the sequence's cache length (5.., 3..).
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<uint16_t> q_step(B * Hq * D), k_step(B * Hk * D);
    for (int64_t b = 0; b < B; ++b) {
      std::memcpy(q_step.data() + b * Hq * D, q_at(q_all, b, len[b]), Hq * D * 2);
      std::memcpy(k_step.data() + b * Hk * D, k_at(k_all, b, len[b]), Hk * D * 2);
    }
    const std::vector<int64_t> offsets(len, len + B);
    posenc::rope_forward({TensorView::contiguous(q_step.data(), DType::BF16, {B, 1, Hq, D}),
                          TensorView::contiguous(k_step.data(), DType::BF16, {B, 1, Hk, D})},
                         cfg, posenc::Positions::offsets(offsets), Tmax);
    for (int64_t b = 0; b < B; ++b) {
      std::memcpy(kv_cache.data() + (b * Tmax + len[b]) * Hk * D, k_step.data() + b * Hk * D, Hk * D * 2);
      std::memcpy(q_seen.data() + (b * Tmax + len[b]) * Hq * D, q_step.data() + b * Hq * D, Hq * D * 2);
      ++len[b];
    }
  }

  // 1. Same bits as the one-call reference for every token that was generated.
  int64_t tokens = 0, wrong = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < len[b]; ++t, ++tokens) {
      wrong += std::memcmp(k_at(kv_cache, b, t), k_at(k_ref, b, t), Hk * D * 2) != 0;
      wrong += std::memcmp(q_at(q_seen, b, t), q_at(q_ref, b, t), Hq * D * 2) != 0;
    }
  std::printf(
      "prefill (packed, lengths %lld and %lld) + %lld decode steps: %lld tokens, %lld differ from one call\n",
      static_cast<long long>(prompt[0]), static_cast<long long>(prompt[1]), static_cast<long long>(steps),
      static_cast<long long>(tokens), static_cast<long long>(wrong));

  // 2. q(m) . k(n) depends on m - n only: one float32 query and key, placed at explicit position ids.
  std::vector<float> qv(D), kv(D);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t i = 0; i < D; ++i) qv[i] = normal(rng), kv[i] = normal(rng);
  const int64_t pairs[][2] = {{7, 3}, {1007, 1003}, {131000, 130996}};  // (m, n), distance 4 each
  constexpr int64_t P = 3;
  auto scores = [&](posenc::Precision precision) {
    posenc::RopeConfig c = cfg;
    c.precision = precision;
    std::vector<float> q(P * D), k(P * D);
    std::vector<int64_t> qpos(P), kpos(P);
    for (int64_t p = 0; p < P; ++p) {
      std::memcpy(&q[p * D], qv.data(), D * 4), std::memcpy(&k[p * D], kv.data(), D * 4);
      qpos[p] = pairs[p][0], kpos[p] = pairs[p][1];
    }
    const int64_t seq_len = 131072;  // the same frequencies for both calls (see above)
    posenc::rope_forward({TensorView::contiguous(q.data(), DType::F32, {1, P, 1, D}), {}}, c,
                         posenc::Positions::ids(TensorView::contiguous(qpos.data(), DType::I64, {1, P})),
                         seq_len);
    posenc::rope_forward({TensorView::contiguous(k.data(), DType::F32, {1, P, 1, D}), {}}, c,
                         posenc::Positions::ids(TensorView::contiguous(kpos.data(), DType::I64, {1, P})),
                         seq_len);
    std::vector<double> score(P, 0.0);
    for (int64_t p = 0; p < P; ++p)
      for (int64_t i = 0; i < D; ++i) score[p] += double{q[p * D + i]} * k[p * D + i];
    return score;
  };
  // Each rotated value is within about 1 ulp of the exact rotation, relative to its pair's length, so the
  // scores may differ by a few float32 ulps of |q| |k| (Cauchy-Schwarz bounds the sum of the pairs'
  // contributions by |q| |k|); 1e-6 |q| |k| is about 8 ulps. HF's float32 recipe (HfCompat) rounds the
  // angle pos * omega to float32 first: at position 131000 that is off by up to 2^-7 rad.
  double qq = 0, kk = 0;
  for (int64_t i = 0; i < D; ++i) qq += double{qv[i]} * qv[i], kk += double{kv[i]} * kv[i];
  const double allowed = 1e-6 * std::sqrt(qq * kk);
  double spread[2] = {0, 0};
  const std::vector<double> exact = scores(posenc::Precision::Exact),
                            hf = scores(posenc::Precision::HfCompat);
  for (int64_t p = 0; p < P; ++p) {
    std::printf("  q at %6lld, k at %6lld: score %.7f (HF's float32 angles: %.7f)\n",
                static_cast<long long>(pairs[p][0]), static_cast<long long>(pairs[p][1]), exact[p], hf[p]);
    spread[0] = std::fmax(spread[0], std::fabs(exact[p] - exact[0]));
    spread[1] = std::fmax(spread[1], std::fabs(hf[p] - hf[0]));
  }
  const bool relative_ok = spread[0] <= allowed;
  std::printf("  largest difference %.2e (allowed %.2e; HF's float32 angles: %.2e)\n", spread[0], allowed,
              spread[1]);
  const bool ok = wrong == 0 && relative_ok;
  std::printf("%s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const posenc::Error& e) {  // a config without one RoPE (GPT-2, Gemma 3's two), a bad file
    std::fprintf(stderr, "posenc_example_rope_kv_cache: %s\n", e.what());
    return 1;
  }
}
