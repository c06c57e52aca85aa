// CPU kernel for ALiBi biases: one traversal for both forms and masks, threads over (head, query
// row) so each writes one contiguous key row. Pure elementwise: bits never depend on threads. The
// vectorised rows are in alibi_simd.cpp.
#include "cpu/alibi.hpp"

#include <omp.h>

#include <cstdlib>
#include <vector>

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
}  // namespace

void alibi_bias_scalar(TensorView out, const AlibiConfig& cfg, const double* slopes, const int64_t* q,
                       const int64_t* k) {
  dispatch_float(out.dtype, [&](auto o) { fill<decltype(o)::value>(out, cfg, slopes, q, k); });
}

void alibi_bias(TensorView out, const AlibiConfig& cfg, const double* slopes, const int64_t* q,
                const int64_t* k) {
  if (out.stride(2) != 1) return alibi_bias_scalar(out, cfg, slopes, q, k);
  const int64_t Tk = out.size(2);
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
