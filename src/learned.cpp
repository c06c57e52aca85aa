// Learned absolute position embeddings: checks, initialisation, and dispatch to the CPU kernels.
#include "posenc/learned.hpp"

#include <cmath>
#include <string>

#include "check.hpp"
#include "cpu/kernels.hpp"
#include "cuda/cuda_ops.hpp"
#include "dispatch.hpp"

namespace posenc {

using detail::fail;

namespace {
// splitmix64: a counter-based generator, so value k depends only on (seed, k), never on threads.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A standard normal sample for counter k (Box-Muller on two 53-bit uniforms).
double normal(uint64_t seed, uint64_t k) {
  const uint64_t a = mix(seed ^ mix(2 * k)), b = mix(seed ^ mix(2 * k + 1));
  const double u1 = (static_cast<double>(a >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
  const double u2 = static_cast<double>(b >> 11) * 0x1.0p-53;          // [0, 1)
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

void check_table(const char* where, const char* name, const TensorView& t, Device device = Device::CPU) {
  detail::check_float_view(where, name, t, 2, device);
  if (t.size(0) < 1)
    fail(where, std::string(name) + ".shape[0] (max positions P)", std::to_string(t.size(0)), ">= 1");
  if (t.size(1) < 1)
    fail(where, std::string(name) + ".shape[1] (channels C)", std::to_string(t.size(1)), ">= 1");
}

// Checks x [B, T, C] against table [P, C] (x's device is the call's).
void check_views(const char* where, const char* xname, const TensorView& x, const TensorView& table) {
  detail::check_device(where, xname, x);
  check_table(where, "table", table, x.device);
  detail::check_float_view(where, xname, x, 3, x.device);
  detail::check_size(where, xname, x, 2, table.size(1), "table.shape[1] (C)");
}

// Positions of x's tokens, in [0, P). Called after every view check: it allocates B * T entries (a
// broadcast output of [2^19, 2^19, C] must be refused as such, not end in std::bad_alloc).
std::vector<int64_t> resolve(const char* where, const TensorView& x, const TensorView& table,
                             const Positions& positions) {
  return positions.resolve(x.size(0), x.size(1), table.size(0) - 1, where);
}

// The GPU's gather / add (x = out, or accumulated into).
void gather_cuda(const char* where, const char* xname, TensorView x, const TensorView& table,
                 const std::vector<int64_t>& pos, bool accumulate) {
  detail::cuda::DeviceViews(where).add(xname, x).add("table", table);
  detail::cuda::CombineCall op;
  op.out = x;
  op.table = &table;
  op.accumulate = accumulate;
  op.pos = &pos;
  detail::cuda::combine_rows(where, op);
}
}  // namespace

void learned_init(TensorView table, const LearnedInitOptions& options) {
  constexpr const char* where = "posenc::learned_init";
  check_table(where, "table", table);
  detail::check_writable(where, "table", table);
  const int64_t P = table.size(0), C = table.size(1);
  switch (options.kind) {
    case LearnedInit::Sinusoidal: {
      SinusoidalConfig cfg = options.sinusoidal;
      if (cfg.dim != 0 && cfg.dim != C)
        fail(where, "options.sinusoidal.dim", std::to_string(cfg.dim),
             "0 or table.shape[1] = " + std::to_string(C));
      if (cfg.dim == 0) cfg.dim = C;
      try {
        sinusoidal_table(table, cfg, 0);
      } catch (const Error& e) {  // in this call's names: options.sinusoidal.base, table.dtype, ...
        const std::string& arg = e.argument();
        const bool view = arg.rfind("out", 0) == 0;
        fail(where, view ? "table" + arg.substr(3) : "options.sinusoidal." + arg,
             e.value() + (arg == "dim" && options.sinusoidal.dim == 0 ? " (0: the table's columns)" : ""),
             e.allowed());
      }
      return;
    }
    case LearnedInit::Normal:
      if (!std::isfinite(options.std) || options.std < 0.0f)
        fail(where, "options.std", detail::to_str(options.std), "finite and >= 0");
      [[fallthrough]];
    case LearnedInit::Zeros: {
      const bool zeros = options.kind == LearnedInit::Zeros;
      detail::dispatch_float(table.dtype, [&](auto tag) {
        constexpr DType T = decltype(tag)::value;
        using S = typename Elem<T>::storage;
#pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < P; ++p)
          for (int64_t c = 0; c < C; ++c) {
            const double v =
                zeros ? 0.0 : options.std * normal(options.seed, static_cast<uint64_t>(p * C + c));
            Elem<T>::store(table.at<S>({p, c}), static_cast<float>(v));
          }
      });
      return;
    }
  }
  fail(where, "options.kind", std::to_string(static_cast<int>(options.kind)), "Normal, Zeros or Sinusoidal");
}

void learned_forward(TensorView out, const TensorView& table, const Positions& positions) {
  constexpr const char* where = "posenc::learned_forward";
  check_views(where, "out", out, table);
  detail::check_writable(where, "out", out);
  detail::check_disjoint(where, "out", out, "table", table);
  const std::vector<int64_t> pos = resolve(where, out, table, positions);
  if (out.device == Device::CUDA) return gather_cuda(where, "out", out, table, pos, false);
  detail::cpu::RowCombine op;
  op.out = out;
  op.P = table;
  op.rows = pos.data();
  detail::cpu::combine_rows(op);
}

void learned_add(TensorView x, const TensorView& table, const Positions& positions) {
  constexpr const char* where = "posenc::learned_add";
  check_views(where, "x", x, table);
  detail::check_writable(where, "x", x);
  detail::check_disjoint(where, "x", x, "table", table);
  const std::vector<int64_t> pos = resolve(where, x, table, positions);
  if (x.device == Device::CUDA) return gather_cuda(where, "x", x, table, pos, true);
  detail::cpu::RowCombine op;
  op.out = x;
  op.P = table;
  op.rows = pos.data();
  op.accumulate = true;
  detail::cpu::combine_rows(op);
}

void learned_backward(TensorView dtable, const TensorView& dout, const Positions& positions) {
  constexpr const char* where = "posenc::learned_backward";
  check_views(where, "dout", dout, dtable);
  detail::check_writable(where, "dtable", dtable);
  detail::check_disjoint(where, "dtable", dtable, "dout", dout);
  const std::vector<int64_t> pos = resolve(where, dout, dtable, positions);
  if (dout.device == Device::CUDA) {
    detail::cuda::DeviceViews(where).add("dtable", dtable).add("dout", dout);
    detail::cuda::ScatterCall op;
    op.dst = dtable;
    op.src = dout;
    op.keys = &pos;
    detail::cuda::scatter_add_rows(where, op);
    return;
  }
  detail::cpu::scatter_add_rows(dtable, dout, pos.data(), 1.0f);
}

}  // namespace posenc
