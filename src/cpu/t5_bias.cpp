// CPU kernels for the T5 relative attention bias: HF's bucket function in its float32 steps, the
// forward gather and the deterministic backward. Buckets are computed once per call into a table
// indexed by k - q (contiguous positions: Tq + Tk - 1 entries) or, for scattered positions whose
// differences span more than Tq * Tk values, into a [Tq, Tk] matrix.
#include "posenc/t5_bias.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "dispatch.hpp"

namespace posenc::detail::cpu {

namespace {
// The per-config constants of bucket(): N', E and f32(ln(D / E)).
struct BucketRule {
  int64_t half = 0, exact = 0;
  bool bidirectional = true;
  float log_ratio = 0.0f;
  explicit BucketRule(const T5BiasConfig& cfg) : bidirectional(cfg.bidirectional) {
    half = cfg.bidirectional ? cfg.num_buckets / 2 : cfg.num_buckets;
    exact = half / 2;
    // Python: math.log(max_distance / max_exact) in double, then float32 when it meets the tensor.
    log_ratio =
        static_cast<float>(std::log(static_cast<double>(cfg.max_distance) / static_cast<double>(exact)));
  }
  int64_t operator()(int64_t r) const {
    int64_t offset = 0, d;
    if (bidirectional) {
      offset = r > 0 ? half : 0;
      d = std::abs(r);
    } else {
      d = r < 0 ? -r : 0;
    }
    if (d < exact) return offset + d;
    // float32 throughout, as torch: float(d) / float(E); log; / f32(ln(D/E)); * f32(N' - E).
    const float ratio = static_cast<float>(d) / static_cast<float>(exact);
    // log of a float, correctly rounded to float (the double log is far more accurate than fp32).
    const float lg = static_cast<float>(std::log(static_cast<double>(ratio)));
    const float x = lg / log_ratio * static_cast<float>(half - exact);
    // x >= 0 here. min(E + trunc(x), N' - 1), compared in double so huge x never overflows int64.
    if (static_cast<double>(x) >= static_cast<double>(half - exact)) return offset + half - 1;
    return offset + exact + static_cast<int64_t>(x);
  }
};

// bucket(k_j - q_i) for every (i, j) of a call.
class BucketMap {
 public:
  BucketMap(const BucketRule& rule, const int64_t* q, int64_t Tq, const int64_t* k, int64_t Tk)
      : q_(q), k_(k), Tk_(Tk) {
    const auto [qlo, qhi] = std::minmax_element(q, q + Tq);
    const auto [klo, khi] = std::minmax_element(k, k + Tk);
    lo_ = *klo - *qhi;
    const int64_t span = *khi - *qlo - lo_ + 1;
    if (span <= Tq * Tk) {
      by_distance_ = true;
      buckets_.resize(static_cast<size_t>(span));
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < span; ++r) buckets_[r] = static_cast<int32_t>(rule(lo_ + r));
    } else {
      buckets_.resize(static_cast<size_t>(Tq * Tk));
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < Tq; ++i)
        for (int64_t j = 0; j < Tk; ++j) buckets_[i * Tk + j] = static_cast<int32_t>(rule(k[j] - q[i]));
    }
  }
  int64_t operator()(int64_t i, int64_t j) const {
    return by_distance_ ? buckets_[k_[j] - q_[i] - lo_] : buckets_[i * Tk_ + j];
  }

 private:
  const int64_t *q_, *k_;
  int64_t Tk_, lo_ = 0;
  bool by_distance_ = false;
  std::vector<int32_t> buckets_;
};

template <DType O, DType W>
void forward(TensorView out, const TensorView& table, const BucketMap& map) {
  using OS = typename Elem<O>::storage;
  using WS = typename Elem<W>::storage;
  const int64_t H = out.size(0), Tq = out.size(1), Tk = out.size(2), so = out.stride(2);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < Tq; ++i) {
      OS* o = out.at<OS>({h, i, 0});
      for (int64_t j = 0; j < Tk; ++j)
        Elem<O>::store(o + j * so, Elem<W>::load(table.at<const WS>({map(i, j), h})));
    }
}

// One thread per head: acc[b] sums dout[h, i, j] over (i, j) in i-major order, then dW += acc.
template <DType G, DType O>
void backward(TensorView dtable, const TensorView& dout, const BucketMap& map) {
  using GS = typename Elem<G>::storage;
  using OS = typename Elem<O>::storage;
  const int64_t H = dout.size(0), Tq = dout.size(1), Tk = dout.size(2), so = dout.stride(2);
  const int64_t N = dtable.size(0);
#pragma omp parallel
  {
    std::vector<float> acc(static_cast<size_t>(N));
    std::vector<char> hit(static_cast<size_t>(N));
#pragma omp for schedule(dynamic, 1)
    for (int64_t h = 0; h < H; ++h) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      std::fill(hit.begin(), hit.end(), 0);
      for (int64_t i = 0; i < Tq; ++i) {
        const OS* g = dout.at<const OS>({h, i, 0});
        for (int64_t j = 0; j < Tk; ++j) {
          const int64_t b = map(i, j);
          acc[b] += Elem<O>::load(g + j * so);
          hit[b] = 1;
        }
      }
      for (int64_t b = 0; b < N; ++b)
        if (hit[b]) {
          GS* d = dtable.at<GS>({b, h});
          Elem<G>::store(d, Elem<G>::load(d) + acc[b]);
        }
    }
  }
}
}  // namespace

// The bucket of r = key - query for a validated config.
int64_t t5_bucket(int64_t r, const T5BiasConfig& cfg) {
  return BucketRule(cfg)(r);
}

// out [H, Tq, Tk]; table [N, H]; q [Tq]; k [Tk]; all checked, Tq, Tk >= 1.
void t5_bias_forward(TensorView out, const TensorView& table, const T5BiasConfig& cfg, const int64_t* q,
                     const int64_t* k) {
  const BucketMap map(BucketRule(cfg), q, out.size(1), k, out.size(2));
  dispatch_float(out.dtype, [&](auto o) {
    dispatch_float(table.dtype,
                   [&](auto w) { forward<decltype(o)::value, decltype(w)::value>(out, table, map); });
  });
}

// dtable [N, H]; dout [H, Tq, Tk]; q [Tq]; k [Tk]; all checked, Tq, Tk >= 1.
void t5_bias_backward(TensorView dtable, const TensorView& dout, const T5BiasConfig& cfg, const int64_t* q,
                      const int64_t* k) {
  const BucketMap map(BucketRule(cfg), q, dout.size(1), k, dout.size(2));
  dispatch_float(dtable.dtype, [&](auto g) {
    dispatch_float(dout.dtype,
                   [&](auto o) { backward<decltype(g)::value, decltype(o)::value>(dtable, dout, map); });
  });
}

}  // namespace posenc::detail::cpu
