// examples/attention_biases.cpp — the two encodings that act on attention scores instead of token
// vectors, for a decoder with a KV cache: ALiBi (BLOOM, MPT) and T5's learned relative bias.
//
//   posenc_example_attention_biases
//
// For each: the bias of a prompt of T tokens ([H, T, T], causal), then the one row a decode step needs
// (query position T, keys 0 .. T: [H, 1, T + 1]). Checked: the decode row equals the last row of the
// bias of T + 1 tokens, bit for bit; each ALiBi value is -slope * distance rounded once to fp32; each
// T5 value is the table entry of its bucket; T5's gradient puts every dout element into exactly one
// table entry. Exit status 1 if a check fails.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <posenc/posenc.hpp>
#include <random>
#include <vector>

using posenc::DType;
using posenc::TensorView;

namespace {

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

TensorView view3(std::vector<float>& v, int64_t H, int64_t Tq, int64_t Tk) {
  v.assign(H * Tq * Tk, 0.0f);
  return TensorView::contiguous(v.data(), DType::F32, {H, Tq, Tk});
}

}  // namespace

int main() {
  const int64_t H = 12, T = 6;  // 12 heads: not a power of two (BLOOM's interleaved extra slopes)
  const std::vector<int64_t> prompt = iota(T), keys = iota(T + 1), last = {T};
  bool ok = true;

  // ---- ALiBi ----
  posenc::AlibiConfig alibi;
  alibi.num_heads = H;
  alibi.mask = posenc::AlibiMask::Causal;
  const std::vector<double> slopes = posenc::alibi_slopes(H);
  std::printf("ALiBi slopes of %lld heads:", static_cast<long long>(H));
  for (double s : slopes) std::printf(" %.5g", s);
  std::printf("\n");
  std::vector<float> full, step, longer;
  posenc::alibi_bias(view3(full, H, T, T), alibi, prompt, prompt);
  posenc::alibi_bias(view3(step, H, 1, T + 1), alibi, last, keys);
  posenc::alibi_bias(view3(longer, H, T + 1, T + 1), alibi, keys, keys);
  std::printf("  head 0, prompt of %lld tokens:\n", static_cast<long long>(T));
  for (int64_t i = 0; i < T; ++i) {
    std::printf("   ");
    for (int64_t j = 0; j < T; ++j) std::printf(" %6.3g", full[i * T + j]);
    std::printf("\n");
  }
  int64_t differ = 0;
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j) {
        const float expect = j > i ? -INFINITY : static_cast<float>(-slopes[h] * static_cast<double>(i - j));
        differ += full[(h * T + i) * T + j] != expect;
      }
    const float* last_row = &longer[(h * (T + 1) + T) * (T + 1)];
    differ += std::memcmp(&step[h * (T + 1)], last_row, (T + 1) * sizeof(float)) != 0;
  }
  std::printf("  prompt values and decode rows that differ from -slope * (q - k): %lld\n",
              static_cast<long long>(differ));
  ok = ok && differ == 0;

  // ---- T5 relative bias (decoder: causal buckets) ----
  posenc::T5BiasConfig t5;
  t5.bidirectional = false;
  std::vector<float> W(t5.num_buckets * H);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& w : W) w = normal(rng);
  const TensorView W_v = TensorView::contiguous(W.data(), DType::F32, {t5.num_buckets, H});
  std::printf("T5 buckets (32, max distance 128, causal) of key - query =");
  for (int64_t r : {0, -1, -7, -8, -15, -16, -50, -127, -128, -100000}) {
    std::printf(" %lld:%lld", static_cast<long long>(r),
                static_cast<long long>(posenc::t5_relative_bucket(r, t5)));
  }
  std::printf("\n");
  posenc::t5_bias_forward(view3(full, H, T, T), W_v, t5, prompt, prompt);
  posenc::t5_bias_forward(view3(step, H, 1, T + 1), W_v, t5, last, keys);
  posenc::t5_bias_forward(view3(longer, H, T + 1, T + 1), W_v, t5, keys, keys);
  differ = 0;
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j)
        differ += full[(h * T + i) * T + j] != W[posenc::t5_relative_bucket(j - i, t5) * H + h];
    differ +=
        std::memcmp(&step[h * (T + 1)], &longer[(h * (T + 1) + T) * (T + 1)], (T + 1) * sizeof(float)) != 0;
  }
  // Backward of the prompt's bias: with dout = 1 everywhere, dW[b, h] counts the pairs in bucket b.
  std::vector<float> dout(H * T * T, 1.0f), dW(W.size(), 0.0f);
  posenc::t5_bias_backward(TensorView::contiguous(dW.data(), DType::F32, {t5.num_buckets, H}),
                           TensorView::contiguous(dout.data(), DType::F32, {H, T, T}), t5, prompt, prompt);
  int64_t count_wrong = 0;
  for (int64_t b = 0; b < t5.num_buckets; ++b)
    for (int64_t h = 0; h < H; ++h) {
      int64_t pairs = 0;
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < T; ++j) pairs += posenc::t5_relative_bucket(j - i, t5) == b;
      count_wrong += dW[b * H + h] != static_cast<float>(pairs);
    }
  std::printf(
      "  values and decode rows that differ from W[bucket(k - q), h]: %lld; gradient entries wrong: %lld\n",
      static_cast<long long>(differ), static_cast<long long>(count_wrong));
  std::printf("  dW of bucket 0 (keys at or after the query: %lld pairs per head) = %g\n",
              static_cast<long long>(T * (T + 1) / 2), dW[0]);
  ok = ok && differ == 0 && count_wrong == 0;
  std::printf("%s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
