// CPU kernel for the deterministic gradient scatter of the backward passes (dE, dPE, d of a learned
// table): tokens are grouped by key with a stable sort, each group is summed in token order in fp32 by one
// thread, and the sum is added to its row once. Same bits for any thread count; untouched rows stay as they
// were (no dense zero-fill). Rows contiguous along C take the vectorised kernel (combine_simd.cpp, same
// bits); other strides take the scalar template below.
#include <algorithm>
#include <numeric>
#include <vector>

#include "cpu/combine_simd.h"
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

// Tokens grouped by key: order is 0 .. N-1 stably sorted by key (increasing n within a key), group g is
// order[group_start[g]] .. order[group_start[g + 1] - 1].
struct Groups {
  std::vector<int64_t> order, group_start;
};
Groups group_by_key(const TensorView& src, const int64_t* keys) {
  const int64_t N = src.size(0) * src.size(1);
  Groups r;
  std::vector<int64_t>& order = r.order;
  order.resize(static_cast<size_t>(N));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
  for (int64_t j = 0; j < N; ++j)
    if (j == 0 || keys[order[static_cast<size_t>(j)]] != keys[order[static_cast<size_t>(j - 1)]])
      r.group_start.push_back(j);
  r.group_start.push_back(N);
  return r;
}
}  // namespace

void scatter_add_rows_scalar(TensorView dst, const TensorView& src, const int64_t* keys, float scale) {
  const Groups gr = group_by_key(src, keys);
  dispatch_float(dst.dtype, [&](auto d) {
    dispatch_float(src.dtype, [&](auto s) {
      scatter<decltype(d)::value, decltype(s)::value>(dst, src, gr.order, gr.group_start, keys, scale);
    });
  });
}

void scatter_add_rows(TensorView dst, const TensorView& src, const int64_t* keys, float scale) {
  if (dst.numel() == 0 || src.numel() == 0) return;  // (empty views may have null data)
  if (dst.stride(1) != 1 || src.stride(2) != 1) return scatter_add_rows_scalar(dst, src, keys, scale);
  const Groups gr = group_by_key(src, keys);
  ScatterRowsArgs a;
  a.dst = dst.data;
  a.src = src.data;
  a.dt = dst.dtype;
  a.st = src.dtype;
  a.T = src.size(1);
  a.C = src.size(2);
  a.ds = dst.stride(0);
  a.ss[0] = src.stride(0);
  a.ss[1] = src.stride(1);
  a.order = gr.order.data();
  a.group_start = gr.group_start.data();
  a.keys = keys;
  a.scale = scale;
  // Chunks of 4 groups handed out dynamically (group sizes vary), as the scalar kernel's schedule.
  const int64_t G = static_cast<int64_t>(gr.group_start.size()) - 1, chunks = (G + 3) / 4;
#pragma omp parallel
  {
    std::vector<float> acc(static_cast<size_t>(a.C));
#pragma omp for schedule(dynamic, 1)
    for (int64_t k = 0; k < chunks; ++k) scatter_rows_simd(a, 4 * k, std::min(4 * k + 4, G), acc.data());
  }
}

}  // namespace posenc::detail::cpu
