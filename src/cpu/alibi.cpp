// CPU kernel for ALiBi biases: one traversal for both forms and masks, threads over (head, query
// row) so each writes one contiguous key row. Pure elementwise: bits never depend on threads. The
// vectorised rows are in alibi_simd.cpp; keys that are a run take fill_by_rows (row copies).
#include "cpu/alibi.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "cpu/row_copy.hpp"
#include "dispatch.hpp"

namespace posenc::detail::cpu {

namespace {
template <DType O>
void fill(TensorView out, const AlibiConfig& cfg, const double* slopes, const int64_t* q, const int64_t* k) {
  using OS = typename Elem<O>::storage;
  const int64_t H = out.size(0), Tq = out.size(1), Tk = out.size(2), so = out.stride(2);
  const bool causal = cfg.mask == AlibiMask::Causal, key_form = cfg.form == AlibiForm::KeyPosition;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < Tq; ++i) {
      OS* o = out.at<OS>({h, i, 0});
      const double slope = slopes[h];
      const int64_t qi = q[i];
      for (int64_t j = 0; j < Tk; ++j) {
        float v;
        if (causal && k[j] > qi)
          v = cfg.masked_value;
        else  // distances are integers < 2^31, exact in double; one rounding to fp32
          v = static_cast<float>(slope * static_cast<double>(key_form ? k[j] : -std::abs(qi - k[j])));
        Elem<O>::store(o + j * so, v);
      }
    }
}

// Keys a run (k_j = k_0 + j) and out's rows contiguous: each head's values built once, every output
// row copied out of them (row_copy.hpp; non-temporal for large outputs). Relative form: the value is
// a function of the distance d = k - q, so row (h, i) is the slice at k_0 - q_i of the head's row
// over all distances. Worth it only when each value is copied out many times: the values are built by
// a scalar loop (~1 ns each on the Xeon of BENCHMARKS.md) and the vectorised rows cost ~0.2 ns per
// output value, which made a one-query decode call [32, 1, 4096] 4.3x slower here; the two are even
// at ~12 queries of 4096 keys; so only when the values span at most Tq * Tk / 8 (else false: not
// done). Key form:
// row (h, i) is the head's row of k_j values up to the last key <= q_i (all keys without the mask),
// then masked values. Each value is the scalar kernel's float(slope * d), stored once in out's dtype.
template <DType O>
bool fill_by_rows(TensorView out, const AlibiConfig& cfg, const double* slopes, const int64_t* q,
                  const int64_t* k) {
  using OS = typename Elem<O>::storage;
  const int64_t H = out.size(0), Tq = out.size(1), Tk = out.size(2);
  const bool causal = cfg.mask == AlibiMask::Causal, key_form = cfg.form == AlibiForm::KeyPosition;
  const auto [qlo, qhi] = std::minmax_element(q, q + Tq);
  // Relative form: distances k - q from lo = k_0 - max q over S = Tk + max q - min q values.
  const int64_t lo = k[0] - *qhi, S = key_form ? Tk : Tk + *qhi - *qlo;
  if (S * 8 > Tq * Tk) return false;
  // vals [H, S], then (key form) a row of Tk masked values.
  std::vector<OS> vals(static_cast<size_t>(H * S + (key_form ? Tk : 0)));
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t h = 0; h < H; ++h)
    for (int64_t r = 0; r < S; ++r) {
      float v;
      if (key_form) {
        v = static_cast<float>(slopes[h] * static_cast<double>(k[0] + r));
      } else {
        const int64_t d = lo + r;  // k - q
        v = causal && d > 0 ? cfg.masked_value
                            : static_cast<float>(slopes[h] * static_cast<double>(-std::abs(d)));
      }
      Elem<O>::store(&vals[static_cast<size_t>(h * S + r)], v);
    }
  OS* masked = vals.data() + H * S;
  if (key_form)
    for (int64_t j = 0; j < Tk; ++j) Elem<O>::store(masked + j, cfg.masked_value);
  const bool stream = stream_output(H * Tq * Tk * static_cast<int64_t>(sizeof(OS)));
  const auto es = static_cast<int64_t>(sizeof(OS));
  for_each_row(H, Tq, stream, [&](int64_t h, int64_t i) {
    OS* o = out.at<OS>({h, i, 0});
    const OS* v = vals.data() + h * S;
    if (!key_form) {
      copy_row(o, v + (k[0] - q[i] - lo), Tk * es, stream);
    } else {
      const int64_t m = causal ? std::clamp<int64_t>(q[i] - k[0] + 1, 0, Tk) : Tk;  // keys <= q_i
      if (m > 0) copy_row(o, v, m * es, stream);
      if (m < Tk) copy_row(o + m, masked, (Tk - m) * es, stream);
    }
  });
  return true;
}
}  // namespace

void alibi_bias_scalar(TensorView out, const AlibiConfig& cfg, const double* slopes, const int64_t* q,
                       const int64_t* k) {
  dispatch_float(out.dtype, [&](auto o) { fill<decltype(o)::value>(out, cfg, slopes, q, k); });
}

void alibi_bias(TensorView out, const AlibiConfig& cfg, const double* slopes, const int64_t* q,
                const int64_t* k) {
  if (out.stride(2) != 1) return alibi_bias_scalar(out, cfg, slopes, q, k);
  const int64_t Tk = out.size(2);
  if (keys_are_run(k, Tk) && dispatch_float(out.dtype, [&](auto o) {
        return fill_by_rows<decltype(o)::value>(out, cfg, slopes, q, k);
      }))
    return;
  std::vector<double> kd(static_cast<size_t>(Tk));
  for (int64_t j = 0; j < Tk; ++j) kd[static_cast<size_t>(j)] = static_cast<double>(k[j]);
  AlibiRowsArgs a;
  a.out = out.data;
  a.ot = out.dtype;
  a.Tq = out.size(1);
  a.Tk = Tk;
  a.os[0] = out.stride(0);
  a.os[1] = out.stride(1);
  a.slopes = slopes;
  a.q = q;
  a.k = k;
  a.kd = kd.data();
  a.causal = cfg.mask == AlibiMask::Causal;
  a.key_form = cfg.form == AlibiForm::KeyPosition;
  a.masked_value = cfg.masked_value;
  const int64_t R = out.size(0) * a.Tq;
  // Contiguous blocks of rows per thread, as schedule(static).
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    alibi_rows_simd(a, R * t / nt, R * (t + 1) / nt);
  }
}

}  // namespace posenc::detail::cpu
