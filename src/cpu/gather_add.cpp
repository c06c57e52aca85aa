// CPU kernel for the row combinations of the forward passes (embed + PE, PE add, learned gather):
// one template for every dtype triple, threads over tokens so each streams through contiguous rows.
#include "cpu/kernels.hpp"
#include "dispatch.hpp"

namespace posenc::detail::cpu {

namespace {
enum class Mode { Gather, Accumulate, Embed };

template <Mode M, DType O, DType P, DType E>
void combine(const RowCombine& op) {
  using OS = typename Elem<O>::storage;
  using PS = typename Elem<P>::storage;
  using ES = typename Elem<E>::storage;
  const int64_t T = op.out.size(1), C = op.out.size(2), N = op.out.size(0) * T;
  const int64_t so = op.out.stride(2), sp = op.P.stride(1);
  const int64_t se = M == Mode::Embed ? op.E->stride(1) : 1;
  const bool unit = so == 1 && sp == 1 && se == 1;
  const float scale = op.scale;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    OS* o = op.out.at<OS>({n / T, n % T, 0});
    const PS* p = op.P.at<const PS>({op.rows[n], 0});
    const ES* e = nullptr;
    if constexpr (M == Mode::Embed) e = op.E->at<const ES>({op.ids[n], 0});
    // The two branches are the same formula; the unit-stride one lets the compiler vectorise.
    if (unit) {
      for (int64_t c = 0; c < C; ++c) {
        float v = Elem<P>::load(p + c);
        if constexpr (M == Mode::Accumulate) v = Elem<O>::load(o + c) + v;
        if constexpr (M == Mode::Embed) v = Elem<E>::load(e + c) * scale + v;
        Elem<O>::store(o + c, v);
      }
    } else {
      for (int64_t c = 0; c < C; ++c) {
        float v = Elem<P>::load(p + c * sp);
        if constexpr (M == Mode::Accumulate) v = Elem<O>::load(o + c * so) + v;
        if constexpr (M == Mode::Embed) v = Elem<E>::load(e + c * se) * scale + v;
        Elem<O>::store(o + c * so, v);
      }
    }
  }
}

template <Mode M, DType E>
void dispatch_out_p(const RowCombine& op) {
  dispatch_float(op.out.dtype, [&](auto o) {
    dispatch_float(op.P.dtype, [&](auto p) { combine<M, decltype(o)::value, decltype(p)::value, E>(op); });
  });
}
}  // namespace

void combine_rows(const RowCombine& op) {
  if (op.E != nullptr) {
    dispatch_float(op.E->dtype, [&](auto e) { dispatch_out_p<Mode::Embed, decltype(e)::value>(op); });
  } else if (op.accumulate) {
    dispatch_out_p<Mode::Accumulate, DType::F32>(op);
  } else {
    dispatch_out_p<Mode::Gather, DType::F32>(op);
  }
}

}  // namespace posenc::detail::cpu
