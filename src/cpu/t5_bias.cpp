// CPU kernels for the T5 relative attention bias: HF's bucket function in its float32 steps, the
// forward gather and the deterministic backward. Buckets are computed once per call into a table
// indexed by the distance k - q (contiguous positions: Tq + Tk - 1 entries) or, for scattered
// positions whose differences span more than Tq * Tk values, into a [Tq, Tk] matrix. By distance,
// the forward copies each output row out of a per-head row of values (cpu/row_copy.hpp, non-temporal
// for large outputs, when the keys are contiguous) and the backward sums along distances first (a
// vectorised row add, cpu/t5_bias_simd.cpp).
#include "cpu/t5_bias.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "cpu/row_copy.hpp"
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

// out[r - lo] = rule(r) for r in [a, b]. The r of one bucket form one interval: the rule is monotone in
// |r| on each side of r = 0 (every step of it is monotone) and the two sides share no bucket but 0,
// which (causal) is r >= 0 in one piece. So the buckets come in at most N' runs, each found by a binary
// search for its last r: O(N' log(b - a)) evaluations instead of b - a + 1 (a decode call's 4096
// distances took 27 us, most of a [32, 1, 4096] bias). Every value stored is one the rule returned, and
// a run cut short only starts the next run at the same bucket.
void fill_runs(const BucketRule& rule, int64_t a, int64_t b, int64_t lo, int32_t* out) {
  while (a <= b) {
    const int64_t v = rule(a);
    int64_t last = a, hi = b;  // rule(last) == v; the run ends in [last, hi]
    while (last < hi) {
      const int64_t m = last + (hi - last + 1) / 2;
      if (rule(m) == v)
        last = m;
      else
        hi = m - 1;
    }
    std::fill(out + (a - lo), out + (last - lo) + 1, static_cast<int32_t>(v));
    a = last + 1;
  }
}

// bucket(k_j - q_i) for every (i, j) of a call, by distance when the distances span no more than
// Tq * Tk values (always so for contiguous positions), else per pair.
class BucketMap {
 public:
  BucketMap(const BucketRule& rule, const int64_t* q, int64_t Tq, const int64_t* k, int64_t Tk)
      : q_(q), k_(k), Tk_(Tk), key_run_(keys_are_run(k, Tk)) {
    const auto [qlo, qhi] = std::minmax_element(q, q + Tq);
    const auto [klo, khi] = std::minmax_element(k, k + Tk);
    lo_ = *klo - *qhi;
    span_ = *khi - *qlo - lo_ + 1;
    if (span_ <= Tq * Tk) {
      by_distance_ = true;
      buckets_.resize(static_cast<size_t>(span_));
      fill_runs(rule, lo_, lo_ + span_ - 1, lo_, buckets_.data());
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
  bool by_distance() const {
    return by_distance_;
  }
  // Keys k_j = k_0 + j: the distances of query row i are the run d0(i) .. d0(i) + Tk - 1.
  bool key_run() const {
    return key_run_;
  }
  int64_t span() const {
    return span_;
  }
  int64_t bucket_of_distance(int64_t d) const {
    return buckets_[d];
  }
  // By distance: the buckets of distances d, d + 1, ... (a row of keys that are a run).
  const int32_t* buckets_from(int64_t d) const {
    return buckets_.data() + d;
  }
  int64_t distance(int64_t i, int64_t j) const {
    return k_[j] - q_[i] - lo_;
  }  // in [0, span)
  int64_t d0(int64_t i) const {
    return k_[0] - q_[i] - lo_;
  }

 private:
  const int64_t *q_, *k_;
  int64_t Tk_, lo_ = 0, span_ = 0;
  bool key_run_, by_distance_ = false;
  std::vector<int32_t> buckets_;
};

// Per head h, the table's column in out's dtype (cols[h][b], N values). By distance with keys a run,
// out's rows contiguous and each distance's value used by several rows (span <= Tq * Tk / 8): the row
// vals[h][d] = cols[h][bucket(d)] (H * span values), and each output row (h, i) is the slice of
// vals[h] at its distances, one memcpy (non-temporal for large outputs). Otherwise every output value
// is gathered from cols[h] by its bucket: building vals costs about as much per value as the gather,
// which made a one-query decode call [32, 1, 4096] build and then copy every value.
template <DType O, DType W>
void forward(TensorView out, const TensorView& table, const BucketMap& map) {
  using OS = typename Elem<O>::storage;
  using WS = typename Elem<W>::storage;
  const int64_t H = out.size(0), Tq = out.size(1), Tk = out.size(2), so = out.stride(2), N = table.size(0);
  std::vector<OS> cols(static_cast<size_t>(H * N));
  for (int64_t h = 0; h < H; ++h)
    for (int64_t b = 0; b < N; ++b)
      Elem<O>::store(&cols[static_cast<size_t>(h * N + b)], Elem<W>::load(table.at<const WS>({b, h})));
  const int64_t S = map.span();
  const bool run = map.by_distance() && map.key_run() && so == 1;
  if (!run || S * 8 > Tq * Tk) {
    for_each_row(H, Tq, false, [&](int64_t h, int64_t i) {
      OS* o = out.at<OS>({h, i, 0});
      const OS* c = cols.data() + h * N;
      if (run) {
        const int32_t* bk = map.buckets_from(map.d0(i));
        for (int64_t j = 0; j < Tk; ++j) o[j] = c[bk[j]];
      } else {
        for (int64_t j = 0; j < Tk; ++j) o[j * so] = c[map(i, j)];
      }
    });
    return;
  }
  std::vector<OS> vals(static_cast<size_t>(H * S));
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t h = 0; h < H; ++h)
    for (int64_t d = 0; d < S; ++d)
      vals[static_cast<size_t>(h * S + d)] = cols[static_cast<size_t>(h * N + map.bucket_of_distance(d))];
  const bool stream = stream_output(H * Tq * Tk * static_cast<int64_t>(sizeof(OS)));
  for_each_row(H, Tq, stream, [&](int64_t h, int64_t i) {
    copy_row(out.at<OS>({h, i, 0}), vals.data() + h * S + map.d0(i), Tk * static_cast<int64_t>(sizeof(OS)),
             stream);
  });
}

// One thread per head. By distance: acc[d] sums dout[h, i, j] over the pairs at distance d in
// (i, j) order (a vectorised row add when the keys are a run and dout's rows are contiguous), then
// each bucket sums its distances in increasing order and dW += that sum once. Per pair: each bucket
// sums its pairs in (i, j) order. Distances and buckets no pair falls in are not touched.
template <DType G, DType O>
void backward(TensorView dtable, const TensorView& dout, const BucketMap& map) {
  using GS = typename Elem<G>::storage;
  using OS = typename Elem<O>::storage;
  const int64_t H = dout.size(0), Tq = dout.size(1), Tk = dout.size(2), so = dout.stride(2);
  const int64_t N = dtable.size(0);
  const bool by_distance = map.by_distance(), run = by_distance && map.key_run() && so == 1;
  // The distances some pair falls in (by distance only; the same for every head).
  std::vector<char> used;
  if (by_distance) {
    used.assign(static_cast<size_t>(map.span()), 0);
    if (map.key_run()) {
      // Row i covers d0(i) .. d0(i) + Tk - 1: mark by a difference array, O(Tq + span).
      std::vector<int64_t> diff(static_cast<size_t>(map.span()) + 1, 0);
      for (int64_t i = 0; i < Tq; ++i) {
        ++diff[static_cast<size_t>(map.d0(i))];
        --diff[static_cast<size_t>(map.d0(i) + Tk)];
      }
      int64_t c = 0;
      for (int64_t d = 0; d < map.span(); ++d) used[static_cast<size_t>(d)] = (c += diff[d]) > 0;
    } else {
      for (int64_t i = 0; i < Tq; ++i)
        for (int64_t j = 0; j < Tk; ++j) used[static_cast<size_t>(map.distance(i, j))] = 1;
    }
  }
#pragma omp parallel
  {
    std::vector<float> acc(static_cast<size_t>(N)), dist;
    std::vector<char> hit(static_cast<size_t>(N));
    if (by_distance) dist.resize(static_cast<size_t>(map.span()));
#pragma omp for schedule(dynamic, 1)
    for (int64_t h = 0; h < H; ++h) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      std::fill(hit.begin(), hit.end(), 0);
      if (by_distance) {
        std::fill(dist.begin(), dist.end(), 0.0f);
        for (int64_t i = 0; i < Tq; ++i) {
          const OS* g = dout.at<const OS>({h, i, 0});
          if (run) {
            t5_accumulate_row(dist.data() + map.d0(i), g, O, Tk);
          } else {
            for (int64_t j = 0; j < Tk; ++j)
              dist[static_cast<size_t>(map.distance(i, j))] += Elem<O>::load(g + j * so);
          }
        }
        for (int64_t d = 0; d < map.span(); ++d)
          if (used[static_cast<size_t>(d)]) {
            const int64_t b = map.bucket_of_distance(d);
            acc[b] += dist[static_cast<size_t>(d)];
            hit[b] = 1;
          }
      } else {
        for (int64_t i = 0; i < Tq; ++i) {
          const OS* g = dout.at<const OS>({h, i, 0});
          for (int64_t j = 0; j < Tk; ++j) {
            const int64_t b = map(i, j);
            acc[b] += Elem<O>::load(g + j * so);
            hit[b] = 1;
          }
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

void t5_buckets_by_distance(const T5BiasConfig& cfg, int64_t lo, int64_t span, int32_t* out) {
  fill_runs(BucketRule(cfg), lo, lo + span - 1, lo, out);
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
