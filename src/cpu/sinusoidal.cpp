// CPU kernels for sinusoidal rows: each thread computes whole rows (one sincos per (position, frequency),
// reused for both of its columns) into an fp32 buffer and stores them with one rounding to out's dtype.
#include <algorithm>
#include <vector>

#include "cpu/kernels.hpp"
#include "dispatch.hpp"

namespace posenc::detail::cpu {

namespace {
template <DType T>
void store_row(const float* src, int64_t d, TensorView out, int64_t n) {
  using S = typename Elem<T>::storage;
  S* dst = out.at<S>({n, 0});
  const int64_t sc = out.stride(1);
  if (sc == 1) {
    for (int64_t c = 0; c < d; ++c) Elem<T>::store(dst + c, src[c]);
  } else {
    for (int64_t c = 0; c < d; ++c) Elem<T>::store(dst + c * sc, src[c]);
  }
}
}  // namespace

void sinusoidal_rows(const SinusoidalPlan& plan, const int64_t* pos, TensorView out) {
  const int64_t N = out.size(0), d = plan.cfg.dim;
  dispatch_float(out.dtype, [&](auto tag) {
    constexpr DType T = decltype(tag)::value;
#pragma omp parallel
    {
      std::vector<float> buf(static_cast<size_t>(d));
#pragma omp for schedule(static)
      for (int64_t n = 0; n < N; ++n) {
        plan.row(pos[n], buf.data());
        store_row<T>(buf.data(), d, out, n);
      }
    }
  });
}

PositionTable make_position_table(const SinusoidalPlan& plan, const std::vector<int64_t>& pos) {
  PositionTable pt;
  pt.dim = plan.cfg.dim;
  std::vector<int64_t> uniq(pos);
  std::sort(uniq.begin(), uniq.end());
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
  pt.num_rows = static_cast<int64_t>(uniq.size());
  pt.table.resize(static_cast<size_t>(pt.num_rows * pt.dim));
  sinusoidal_rows(plan, uniq.data(), pt.view());
  pt.rows.resize(pos.size());
  const int64_t n_tok = static_cast<int64_t>(pos.size());
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < n_tok; ++n)
    pt.rows[static_cast<size_t>(n)] =
        std::lower_bound(uniq.begin(), uniq.end(), pos[static_cast<size_t>(n)]) - uniq.begin();
  return pt;
}

}  // namespace posenc::detail::cpu
