// CPU kernel for ALiBi biases: one traversal for both forms and masks, threads over (head, query
// row) so each writes one contiguous key row. Pure elementwise: bits never depend on threads.
#include "posenc/alibi.hpp"

#include <cstdlib>

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

// out [H, Tq, Tk]; slopes [H]; q [Tq]; k [Tk].
void alibi_bias(TensorView out, const AlibiConfig& cfg, const double* slopes, const int64_t* q,
                const int64_t* k) {
  dispatch_float(out.dtype, [&](auto o) { fill<decltype(o)::value>(out, cfg, slopes, q, k); });
}

}  // namespace posenc::detail::cpu
