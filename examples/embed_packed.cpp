// examples/embed_packed.cpp — the integration step, input = token embedding + positional encoding, fused
// into one pass, on a batch of three sequences of different lengths packed end to end (no padding), and
// its backward pass.
//
//   posenc_example_embed_packed
//
// First with the sinusoidal encoding of Vaswani et al. (computed on the fly, exact), embeddings scaled by
// sqrt(d_model); then with a learned table (GPT-2 style), whose gradient comes from the same backward call;
// then a sequence longer than the learned table, which is an error (never a silent clamp). Each result is
// checked against the unfused computation written out below; exit status 1 if one differs.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <posenc/posenc.hpp>
#include <random>
#include <vector>

using posenc::DType;
using posenc::TensorView;

int main() {
  const int64_t V = 50, C = 64;                            // vocabulary, model width
  const std::vector<int64_t> cu_seqlens = {0, 4, 11, 13};  // lengths 4, 7, 2
  const int64_t T = cu_seqlens.back();
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<int64_t> ids(T);
  for (auto& id : ids) id = std::uniform_int_distribution<int64_t>(0, V - 1)(rng);
  std::vector<float> E(V * C);
  for (auto& e : E) e = 0.02f * normal(rng);
  // Position of each token inside its sequence (what Positions::packed means), for the checks below.
  std::vector<int64_t> pos(T);
  for (size_t s = 0; s + 1 < cu_seqlens.size(); ++s)
    for (int64_t t = cu_seqlens[s]; t < cu_seqlens[s + 1]; ++t) pos[t] = t - cu_seqlens[s];

  const TensorView ids_v = TensorView::contiguous(ids.data(), DType::I64, {1, T});
  const TensorView E_v = TensorView::contiguous(E.data(), DType::F32, {V, C});
  const posenc::Positions packed = posenc::Positions::packed(cu_seqlens);
  bool ok = true;

  // ---- sinusoidal: out = E[id] * sqrt(C) + PE(pos) ----
  posenc::SinusoidalConfig sin_cfg;
  sin_cfg.dim = C;
  const float scale = posenc::embed_scale(posenc::EmbedScale::SqrtC, C);
  std::vector<float> out(T * C);
  posenc::embed_forward(TensorView::contiguous(out.data(), DType::F32, {1, T, C}), ids_v, E_v,
                        posenc::PeSource::sinusoidal(sin_cfg), packed, scale);
  // Unfused: the table of positions 0 .. 6, then one multiply and one add per element, in that order.
  const std::vector<float> table = posenc::sinusoidal_table(sin_cfg, 7);
  int64_t differ = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c) {
      const float expect = E[ids[t] * C + c] * scale + table[pos[t] * C + c];
      differ += out[t * C + c] != expect;
    }
  std::printf("sinusoidal: %lld tokens in 3 packed sequences, positions", static_cast<long long>(T));
  for (int64_t p : pos) std::printf(" %lld", static_cast<long long>(p));
  std::printf("\n  %lld of %lld values differ from E[id] * %.4g + PE(pos)\n", static_cast<long long>(differ),
              static_cast<long long>(T * C), scale);
  ok = ok && differ == 0;

  // Backward: dE[v] += scale * (sum of dout over the tokens with id v, in token order).
  std::vector<float> dout(T * C), dE(V * C, 0.0f);
  for (auto& g : dout) g = normal(rng);
  const TensorView dout_v = TensorView::contiguous(dout.data(), DType::F32, {1, T, C});
  posenc::embed_backward(TensorView::contiguous(dE.data(), DType::F32, {V, C}), TensorView{}, dout_v, ids_v,
                         packed, scale);
  double worst = 0;
  for (int64_t v = 0; v < V; ++v)
    for (int64_t c = 0; c < C; ++c) {
      float sum = 0.0f;
      for (int64_t t = 0; t < T; ++t)
        if (ids[t] == v) sum += dout[t * C + c];
      worst = std::fmax(worst, std::fabs(double{dE[v * C + c]} - double{scale * sum}));
    }
  std::printf("  backward: largest |dE - scale * sum(dout)| = %g\n", worst);
  ok = ok && worst == 0;

  // ---- learned table [P, C] (GPT-2: N(0, 0.02^2)), trained with the model: forward and both gradients ----
  const int64_t P = 8;
  std::vector<float> W(P * C);
  const TensorView W_v = TensorView::contiguous(W.data(), DType::F32, {P, C});
  posenc::learned_init(W_v, {});
  posenc::embed_forward(TensorView::contiguous(out.data(), DType::F32, {1, T, C}), ids_v, E_v,
                        posenc::PeSource::table(W_v), packed, 1.0f);
  differ = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c) differ += out[t * C + c] != E[ids[t] * C + c] * 1.0f + W[pos[t] * C + c];
  std::vector<float> dW(P * C, 0.0f);
  std::fill(dE.begin(), dE.end(), 0.0f);
  posenc::embed_backward(TensorView::contiguous(dE.data(), DType::F32, {V, C}),
                         TensorView::contiguous(dW.data(), DType::F32, {P, C}), dout_v, ids_v, packed, 1.0f);
  worst = 0;
  for (int64_t p = 0; p < P; ++p)
    for (int64_t c = 0; c < C; ++c) {
      float sum = 0.0f;
      for (int64_t t = 0; t < T; ++t)
        if (pos[t] == p) sum += dout[t * C + c];
      worst = std::fmax(worst, std::fabs(double{dW[p * C + c]} - double{sum}));
    }
  std::printf(
      "learned table [%lld, %lld]: %lld values differ from E[id] + W[pos]; largest |dW - sum(dout)| = %g\n",
      static_cast<long long>(P), static_cast<long long>(C), static_cast<long long>(differ), worst);
  ok = ok && differ == 0 && worst == 0;

  // ---- a sequence longer than the table: position 8 has no row ----
  const std::vector<int64_t> too_long = {0, 4, 13};  // lengths 4 and 9
  bool refused = false;
  try {
    posenc::embed_forward(TensorView::contiguous(out.data(), DType::F32, {1, T, C}), ids_v, E_v,
                          posenc::PeSource::table(W_v), posenc::Positions::packed(too_long), 1.0f);
  } catch (const posenc::Error& e) {
    refused = true;
    std::printf("a sequence of 9 tokens with an 8-row table: posenc::Error: %s\n", e.what());
  }
  ok = ok && refused;
  std::printf("%s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
