// The fused embedding step: checks and dispatch (kernels in cpu/gather_add.cpp, cpu/scatter_grad.cpp).
#include "posenc/embed.hpp"

#include <algorithm>
#include <string>

#include "check.hpp"
#include "cpu/kernels.hpp"
#include "cuda/cuda_ops.hpp"
#include "sinusoidal_plan.hpp"

namespace posenc {

using detail::fail;

PeSource PeSource::table(const TensorView& t) {
  PeSource s;
  s.is_table_ = true;
  s.table_ = t;
  return s;
}

PeSource PeSource::sinusoidal(const SinusoidalConfig& cfg) {
  PeSource s;
  s.is_table_ = false;
  s.cfg_ = cfg;
  return s;
}

namespace {
// Reads ids [B, T] into [B*T] int64 after checking each against [0, V). keep = false (an empty output:
// nothing to gather) only checks them, each element once: a dim of stride 0 repeats one id, so a
// broadcast ids view of [2^40, 2^20] is one read, not a buffer of 2^60 entries.
std::vector<int64_t> read_ids(const char* where, const TensorView& ids, int64_t V, bool keep = true) {
  detail::check_int_view(where, "ids", ids, 2);
  const int64_t B = ids.size(0), T = ids.size(1);
  const int64_t Bn = !keep && ids.stride(0) == 0 ? std::min<int64_t>(B, 1) : B;
  const int64_t Tn = !keep && ids.stride(1) == 0 ? std::min<int64_t>(T, 1) : T;
  std::vector<int64_t> out(keep ? static_cast<size_t>(B * T) : 0);
  for (int64_t b = 0; b < Bn; ++b)
    for (int64_t t = 0; t < Tn; ++t) {
      const int64_t v =
          ids.dtype == DType::I32 ? *ids.at<const int32_t>({b, t}) : *ids.at<const int64_t>({b, t});
      if (v < 0 || v >= V)
        fail(where, "ids[" + std::to_string(b) + ", " + std::to_string(t) + "]", std::to_string(v),
             "0 .. " + std::to_string(V - 1) + " (vocabulary size V = " + std::to_string(V) + ")");
      if (keep) out[static_cast<size_t>(b * T + t)] = v;
    }
  return out;
}

void check_scale(const char* where, float scale) {
  if (!std::isfinite(scale)) fail(where, "scale", detail::to_str(scale), "a finite number (1 or sqrt(C))");
}

void check_embedding(const char* where, const char* name, const TensorView& E, Device device) {
  detail::check_float_view(where, name, E, 2, device);
  if (E.size(0) < 1)
    fail(where, std::string(name) + ".shape[0] (vocabulary V)", std::to_string(E.size(0)), ">= 1");
}
}  // namespace

void embed_forward(TensorView out, const TensorView& ids, const TensorView& E, const PeSource& pe,
                   const Positions& positions, float scale) {
  constexpr const char* where = "posenc::embed_forward";
  check_scale(where, scale);
  detail::check_device(where, "out", out);
  const Device dev = out.device;
  check_embedding(where, "E", E, dev);
  detail::check_float_view(where, "out", out, 3, dev);
  detail::check_writable(where, "out", out);
  const int64_t C = E.size(1);
  detail::check_size(where, "out", out, 2, C, "E.shape[1] (C)");
  detail::check_int_view(where, "ids", ids, 2, dev);
  detail::check_size(where, "ids", ids, 0, out.size(0), "out.shape[0] (B)");
  detail::check_size(where, "ids", ids, 1, out.size(1), "out.shape[1] (T)");
  // GPU: ids stay on the device (checked against V there); the kernels run from detail::cuda.
  const bool gpu = dev == Device::CUDA;
  detail::check_disjoint(where, "out", out, "E", E);
  detail::check_disjoint(where, "out", out, "ids", ids);
  // An empty output (B, T or C = 0) is a no-op: ids and positions are still checked, but without the
  // per-token buffers (an out of [2^40, 2^20, 0] asked for 2^60 entries of each).
  const bool empty = out.numel() == 0;
  std::vector<int64_t> id;
  if (gpu)
    detail::cuda::DeviceViews(where).add("out", out).add("E", E).add("ids", ids);
  else
    id = read_ids(where, ids, E.size(0), !empty);
  detail::cuda::CombineCall gop;
  gop.out = out;
  gop.E = &E;
  gop.ids = &ids;
  gop.scale = scale;

  detail::cpu::RowCombine op;
  op.out = out;
  op.E = &E;
  op.ids = id.data();
  op.scale = scale;
  if (pe.is_table()) {
    const TensorView& P = pe.table_view();
    detail::check_float_view(where, "pe table", P, 2, dev);
    detail::check_size(where, "pe table", P, 1, C, "E.shape[1] (C)");
    if (P.size(0) < 1) fail(where, "pe table.shape[0] (max positions P)", std::to_string(P.size(0)), ">= 1");
    detail::check_disjoint(where, "out", out, "pe table", P);
    if (gpu) detail::cuda::DeviceViews(where).add("out", out).add("pe table", P);
    if (empty) return positions.check(out.size(0), out.size(1), P.size(0) - 1, where);
    const std::vector<int64_t> pos = positions.resolve(out.size(0), out.size(1), P.size(0) - 1, where);
    if (gpu) {
      gop.table = &P;
      gop.pos = &pos;
      return detail::cuda::combine_rows(where, gop);
    }
    op.P = P;
    op.rows = pos.data();
    detail::cpu::combine_rows(op);
  } else {
    const auto plan_ptr = detail::sinusoidal_plan(pe.config(), where);
    const detail::SinusoidalPlan& plan = *plan_ptr;
    if (plan.cfg.dim != C)
      fail(where, "sinusoidal dim", std::to_string(plan.cfg.dim), std::to_string(C) + " (E.shape[1])");
    if (empty) return positions.check(out.size(0), out.size(1), kMaxPosition, where);
    const std::vector<int64_t> pos = positions.resolve(out.size(0), out.size(1), kMaxPosition, where);
    if (gpu) {
      gop.plan = &plan;
      gop.pos = &pos;
      return detail::cuda::combine_rows(where, gop);
    }
    detail::cpu::combine_rows_sinusoidal(op, plan, pos);
  }
}

void embed_backward(TensorView dE, TensorView dPE, const TensorView& dout, const TensorView& ids,
                    const Positions& positions, float scale) {
  constexpr const char* where = "posenc::embed_backward";
  check_scale(where, scale);
  detail::check_device(where, "dout", dout);
  const Device dev = dout.device;
  check_embedding(where, "dE", dE, dev);
  detail::check_writable(where, "dE", dE);
  detail::check_float_view(where, "dout", dout, 3, dev);
  const int64_t C = dE.size(1);
  detail::check_size(where, "dout", dout, 2, C, "dE.shape[1] (C)");
  detail::check_int_view(where, "ids", ids, 2, dev);
  detail::check_size(where, "ids", ids, 0, dout.size(0), "dout.shape[0] (B)");
  detail::check_size(where, "ids", ids, 1, dout.size(1), "dout.shape[1] (T)");
  if (dPE.data != nullptr) {
    detail::check_float_view(where, "dPE", dPE, 2, dev);
    detail::check_size(where, "dPE", dPE, 1, C, "dE.shape[1] (C)");
    detail::check_writable(where, "dPE", dPE);
    if (dPE.size(0) < 1) fail(where, "dPE.shape[0] (max positions P)", std::to_string(dPE.size(0)), ">= 1");
  }
  detail::check_disjoint(where, "dE", dE, "dout", dout);
  detail::check_disjoint(where, "dE", dE, "ids", ids);
  if (dPE.data != nullptr) {
    detail::check_disjoint(where, "dPE", dPE, "dout", dout);
    detail::check_disjoint(where, "dPE", dPE, "ids", ids);
    detail::check_disjoint(where, "dPE", dPE, "dE", dE);
  }
  // Positions (B * T entries) once every view is checked; an empty dout (B, T or C = 0) adds nothing:
  // ids and positions are checked without per-token buffers, as in embed_forward.
  const bool empty = dout.numel() == 0;
  std::vector<int64_t> pos;
  if (dPE.data != nullptr) {
    if (empty)
      positions.check(dout.size(0), dout.size(1), dPE.size(0) - 1, where);
    else
      pos = positions.resolve(dout.size(0), dout.size(1), dPE.size(0) - 1, where);
  }
  if (dev == Device::CUDA) {
    detail::cuda::DeviceViews dv(where);
    dv.add("dE", dE).add("dout", dout).add("ids", ids);
    if (dPE.data != nullptr) dv.add("dPE", dPE);
    if (empty) return;  // (ids stay on the GPU: checked there, when there are rows to add)
    detail::cuda::ScatterCall op;
    op.dst = dE;
    op.src = dout;
    op.ids = &ids;
    op.scale = scale;
    detail::cuda::scatter_add_rows(where, op);
    if (dPE.data != nullptr) {
      op.dst = dPE;
      op.ids = nullptr;
      op.keys = &pos;
      op.scale = 1.0f;
      detail::cuda::scatter_add_rows(where, op);
    }
    return;
  }
  const std::vector<int64_t> id = read_ids(where, ids, dE.size(0), !empty);
  if (empty) return;
  detail::cpu::scatter_add_rows(dE, dout, id.data(), scale);
  if (dPE.data != nullptr) detail::cpu::scatter_add_rows(dPE, dout, pos.data(), 1.0f);
}

}  // namespace posenc
