// CPU kernel for the deterministic gradient scatter of the backward passes (dE, dPE, d of a learned
// table): tokens are grouped by key with a stable sort, each group is summed in token order in fp32 by one
// thread, and the sum is added to its row once. Same bits for any thread count; untouched rows stay as they
// were (no dense zero-fill).
#include <algorithm>
#include <numeric>
#include <vector>

#include "cpu/kernels.hpp"
#include "dispatch.hpp"

namespace posenc::detail::cpu {

namespace {
template <DType D, DType S>
void scatter(TensorView dst, const TensorView& src, const std::vector<int64_t>& order,
             const std::vector<int64_t>& group_start, const int64_t* keys, float scale) {
  using DS = typename Elem<D>::storage;
  using SS = typename Elem<S>::storage;
  const int64_t T = src.size(1), C = src.size(2);
  const int64_t sd = dst.stride(1), ss = src.stride(2);
  const int64_t G = static_cast<int64_t>(group_start.size()) - 1;
#pragma omp parallel
  {
    std::vector<float> acc(static_cast<size_t>(C));
#pragma omp for schedule(dynamic, 4)
    for (int64_t g = 0; g < G; ++g) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j = group_start[g]; j < group_start[g + 1]; ++j) {
        const int64_t n = order[static_cast<size_t>(j)];
        const SS* s = src.at<const SS>({n / T, n % T, 0});
        if (ss == 1) {
          for (int64_t c = 0; c < C; ++c) acc[c] += Elem<S>::load(s + c);
        } else {
          for (int64_t c = 0; c < C; ++c) acc[c] += Elem<S>::load(s + c * ss);
        }
      }
      DS* d = dst.at<DS>({keys[order[static_cast<size_t>(group_start[g])]], 0});
      for (int64_t c = 0; c < C; ++c) Elem<D>::store(d + c * sd, Elem<D>::load(d + c * sd) + scale * acc[c]);
    }
  }
}
}  // namespace

void scatter_add_rows(TensorView dst, const TensorView& src, const int64_t* keys, float scale) {
  const int64_t N = src.size(0) * src.size(1);
  std::vector<int64_t> order(static_cast<size_t>(N));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
  std::vector<int64_t> group_start;
  for (int64_t j = 0; j < N; ++j)
    if (j == 0 || keys[order[static_cast<size_t>(j)]] != keys[order[static_cast<size_t>(j - 1)]])
      group_start.push_back(j);
  group_start.push_back(N);
  dispatch_float(dst.dtype, [&](auto d) {
    dispatch_float(src.dtype, [&](auto s) {
      scatter<decltype(d)::value, decltype(s)::value>(dst, src, order, group_start, keys, scale);
    });
  });
}

}  // namespace posenc::detail::cpu
