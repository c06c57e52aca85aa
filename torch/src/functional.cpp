// torch/src/functional.cpp — the autograd functions of posenc/torch/functional.hpp: for each op the
// forward and the backward side by side, both calling the core kernels.
#include "posenc/torch/functional.hpp"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/version.h>

#include <optional>
#include <string>
#include <vector>

#include "posenc/cuda.hpp"
#include "posenc/error.hpp"

namespace posenc::libtorch {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

[[noreturn]] void fail(const char* where, const std::string& arg, const std::string& value,
                       const std::string& allowed) {
  throw Error(where, arg, value, allowed);
}

std::string dtype_name(const at::Tensor& t) {
  return std::string(c10::toString(t.scalar_type()));
}

// Non-tensor state for backward (configs, positions) travels in ctx->saved_data as a capsule.
template <class T>
struct Box : torch::CustomClassHolder {
  explicit Box(T v) : value(std::move(v)) {}
  T value;
};
template <class T>
void stash(AutogradContext* ctx, const char* key, T value) {
  ctx->saved_data[key] = c10::IValue::make_capsule(c10::make_intrusive<Box<T>>(std::move(value)));
}
template <class T>
const T& unstash(AutogradContext* ctx, const char* key) {
  return static_cast<const Box<T>*>(ctx->saved_data.at(key).toCapsule().get())->value;
}

// Positions over views of pos.ids; the ids tensor must stay alive for the call (pos owns it, or, for ids
// on a GPU, this object owns their CPU copy: the core resolves positions on the host). Converts to the
// const Positions& of the call it is passed to.
struct PositionsOf {
  at::Tensor host_ids;
  Positions positions;
  operator const Positions&() const { return positions; }  // NOLINT: implicit by design
};
PositionsOf positions_of(const PositionArg& pos, const char* where) {
  if (!pos.ids.defined()) {
    if (pos.offset < 0) fail(where, "offset", std::to_string(pos.offset), "an integer >= 0");
    return {at::Tensor(), Positions::offset(pos.offset)};
  }
  if (pos.ids.scalar_type() != at::kLong && pos.ids.scalar_type() != at::kInt)
    fail(where, "position_ids.dtype", dtype_name(pos.ids), "int64 or int32");
  PositionsOf r;
  r.host_ids = pos.ids.is_cuda() ? pos.ids.to(at::kCPU) : pos.ids;
  r.positions = Positions::ids(view(r.host_ids, "position_ids"));
  return r;
}

// posenc's CUDA kernels run on LibTorch's current stream of t's GPU for the scope (LibTorch >= 2.3 tells
// its stream handle through c10::Stream::native_handle; older ones: the default stream, which is
// LibTorch's default stream too). Nothing for CPU tensors.
class StreamScope {
 public:
  explicit StreamScope(const at::Tensor& t) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
    if (t.defined() && t.is_cuda())
      guard_.emplace(
          c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->getStream(t.device()).native_handle());
#else
    (void)t;
#endif
  }

 private:
  std::optional<CudaStreamGuard> guard_;
};

void check_same_device(const char* where, const at::Tensor& a, const char* an, const at::Tensor& b,
                       const char* bn) {
  if (a.defined() && b.defined() && a.device() != b.device())
    fail(where, std::string(bn) + ".device", b.device().str(),
         "the device of " + std::string(an) + " (" + a.device().str() + ")");
}

// Sparse / MKL-DNN layouts have no strided storage; a lazily negated or conjugated view would be read
// without its sign. Checked by view() and, before anything is copied or allocated like them, by each op.
void check_dense(const char* where, const at::Tensor& t, const char* name) {
  if (!t.defined()) return;
  if (t.layout() != at::kStrided)
    fail(where, std::string(name) + ".layout", c10::str(t.layout()), "strided (dense)");
  if (t.is_neg() || t.is_conj())
    fail(where, std::string(name) + (t.is_neg() ? ".is_neg()" : ".is_conj()"), "true",
         "false (call resolve_neg() / resolve_conj() first)");
}

// The positions as backward reads them. The ids travel in a capsule, which LibTorch does not version-check
// as it does tensors given to save_for_backward: without a copy, an in-place change of the caller's ids
// between forward and backward (reusing a position buffer) would silently send the gradient to other rows.
PositionArg frozen(const PositionArg& pos) {
  if (!pos.ids.defined()) return pos;
  return {pos.offset, pos.ids.detach().clone()};
}

// The backward passes run posenc's kernels, which autograd does not record: with create_graph = true and
// an upstream gradient that itself requires grad, their results would be constants on the tape and a
// gradient of the gradient would silently miss this op's part. That is an error instead.
void no_double_backward(const char* where, const variable_list& g) {
  if (!at::GradMode::is_enabled()) return;
  for (const at::Tensor& t : g)
    if (t.defined() && t.requires_grad())
      fail(where, "create_graph", "true (a gradient that requires grad flows into this op's backward)",
           "false: posenc's backward passes are not differentiable (no double backward; the eager ops of "
           "posenc/torch/eager.hpp are)");
}

// A fresh contiguous tensor with t's values (the kernels write into it in place).
at::Tensor fresh_copy(const at::Tensor& t) {
  return t.contiguous().clone(at::MemoryFormat::Contiguous);
}

// ---- sinusoidal_add -------------------------------------------------------------------------------
struct SinusoidalAddFn : torch::autograd::Function<SinusoidalAddFn> {
  static at::Tensor forward(AutogradContext*, const at::Tensor& x, const SinusoidalConfig& cfg,
                            const PositionArg& pos) {
    check_dense("posenc::libtorch::sinusoidal_add", x, "x");
    at::Tensor out = fresh_copy(x);
    const StreamScope stream(out);
    posenc::sinusoidal_add(view(out, "x"), cfg, positions_of(pos, "posenc::libtorch::sinusoidal_add"));
    return out;
  }
  static variable_list backward(AutogradContext*, variable_list g) { return {g[0], {}, {}}; }
};

// ---- learned_add ----------------------------------------------------------------------------------
struct LearnedAddFn : torch::autograd::Function<LearnedAddFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& table,
                            const PositionArg& pos) {
    check_same_device("posenc::libtorch::learned_add", x, "x", table, "table");
    check_dense("posenc::libtorch::learned_add", x, "x");
    check_dense("posenc::libtorch::learned_add", table, "table");
    at::Tensor out = fresh_copy(x);
    const StreamScope stream(out);
    posenc::learned_add(view(out, "x"), view(table, "table"),
                        positions_of(pos, "posenc::libtorch::learned_add"));
    stash(ctx, "pos", frozen(pos));
    stash(ctx, "table_shape", table.sizes().vec());
    ctx->saved_data["table_dtype"] = static_cast<int64_t>(table.scalar_type());
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    const at::Tensor dout = g[0].contiguous();
    const StreamScope stream(dout);
    at::Tensor dtable;
    if (ctx->needs_input_grad(1)) {  // dx = dout is differentiable; dtable is not
      no_double_backward("posenc::libtorch::learned_add", g);
      const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["table_dtype"].toInt());
      dtable = at::zeros(unstash<std::vector<int64_t>>(ctx, "table_shape"), dout.options().dtype(dtype));
      posenc::learned_backward(
          view(dtable, "dtable"), view(dout, "dout"),
          positions_of(unstash<PositionArg>(ctx, "pos"), "posenc::libtorch::learned_add"));
    }
    return {g[0], dtable, {}};
  }
};

// ---- embed (fused token embedding + PE) ---------------------------------------------------------------
struct EmbedFn : torch::autograd::Function<EmbedFn> {
  // table is an optional tensor: LibTorch 1.13 cannot take an undefined at::Tensor as a Function input.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& ids, const at::Tensor& E,
                            const c10::optional<at::Tensor>& table_opt,
                            const std::optional<SinusoidalConfig>& sinusoidal, double scale,
                            const PositionArg& pos) {
    const char* where = "posenc::libtorch::embed";
    const at::Tensor table = table_opt ? *table_opt : at::Tensor();
    if (!E.defined()) fail(where, "E", "undefined", "a [V, C] float tensor");
    if (!ids.defined()) fail(where, "ids", "undefined", "a [B, T] int64 tensor");
    check_same_device(where, E, "E", ids, "ids");
    check_same_device(where, E, "E", table, "table");
    check_dense(where, ids, "ids");
    check_dense(where, E, "E");
    check_dense(where, table, "table");
    if (ids.dim() != 2) fail(where, "ids.dim()", std::to_string(ids.dim()), "2 ([B, T])");
    if (E.dim() != 2) fail(where, "E.dim()", std::to_string(E.dim()), "2 ([V, C])");
    const float s = static_cast<float>(scale);
    at::Tensor out = at::empty({ids.size(0), ids.size(1), E.size(1)}, E.options().requires_grad(false));
    const StreamScope stream(out);
    const PositionsOf positions = positions_of(pos, where);
    if (table.defined() || sinusoidal) {
      const PeSource src =
          table.defined() ? PeSource::table(view(table, "table")) : PeSource::sinusoidal(*sinusoidal);
      posenc::embed_forward(view(out, "out"), view(ids, "ids"), view(E, "E"), src, positions, s);
    } else {
      // No PE: the same kernel reading a zero row for every position (a [2^31, C] view with row stride 0).
      const at::Tensor zero = at::zeros({E.size(1)}, E.options().requires_grad(false));
      const TensorView zv = view(zero, "E");
      const TensorView zeros =
          TensorView::strided(zero.data_ptr(), zv.dtype, {kMaxPosition + 1, E.size(1)}, {0, 1}, zv.device);
      posenc::embed_forward(view(out, "out"), view(ids, "ids"), view(E, "E"), PeSource::table(zeros),
                            positions, s);
    }
    ctx->save_for_backward({ids});
    stash(ctx, "pos", frozen(pos));
    stash(ctx, "E_shape", E.sizes().vec());
    ctx->saved_data["E_dtype"] = static_cast<int64_t>(E.scalar_type());
    ctx->saved_data["has_table"] = table.defined();
    if (table.defined()) {
      stash(ctx, "table_shape", table.sizes().vec());
      ctx->saved_data["table_dtype"] = static_cast<int64_t>(table.scalar_type());
    }
    ctx->saved_data["scale"] = scale;
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    const at::Tensor dout = g[0].contiguous();
    const StreamScope stream(dout);
    const at::Tensor ids = ctx->get_saved_variables()[0];
    const bool has_table = ctx->saved_data["has_table"].toBool();
    const bool need_E = ctx->needs_input_grad(1), need_table = has_table && ctx->needs_input_grad(2);
    at::Tensor dE, dtable;
    if (!need_E && !need_table) return {{}, {}, {}, {}, {}, {}};
    no_double_backward("posenc::libtorch::embed", g);
    // embed_backward always accumulates dE; a scratch one is used when E needs no gradient.
    dE = at::zeros(unstash<std::vector<int64_t>>(ctx, "E_shape"),
                   dout.options().dtype(static_cast<at::ScalarType>(ctx->saved_data["E_dtype"].toInt())));
    TensorView dPE{};
    if (need_table) {
      dtable = at::zeros(
          unstash<std::vector<int64_t>>(ctx, "table_shape"),
          dout.options().dtype(static_cast<at::ScalarType>(ctx->saved_data["table_dtype"].toInt())));
      dPE = view(dtable, "dtable");
    }
    posenc::embed_backward(view(dE, "dE"), dPE, view(dout, "dout"), view(ids, "ids"),
                           positions_of(unstash<PositionArg>(ctx, "pos"), "posenc::libtorch::embed"),
                           static_cast<float>(ctx->saved_data["scale"].toDouble()));
    return {{}, need_E ? dE : at::Tensor(), dtable, {}, {}, {}};
  }
};

// ---- rope -----------------------------------------------------------------------------------------------
struct RopeArgs {
  RopeConfig cfg;
  PositionArg pos;
  bool heads_first;
  int64_t seq_len;
  RopeCache cache;       // when not empty: used instead of cfg, pos and seq_len
  bool inverse = false;  // rotate by -angle (rope_backward, the adjoint): the backward of the other
};

RopeTensors rope_views(const at::Tensor& q, const at::Tensor& k, const at::Tensor& qo, const at::Tensor& ko,
                       bool heads_first) {
  auto v = [&](const at::Tensor& t, const char* n) {
    if (!t.defined()) return TensorView{};
    const TensorView tv = view(t, n);
    return heads_first ? bhtd(tv) : tv;
  };
  RopeTensors r;
  r.q = v(q, "q");
  r.k = v(k, "k");
  r.q_out = v(qo, "q_out");
  r.k_out = v(ko, "k_out");
  return r;
}

struct RopeFn : torch::autograd::Function<RopeFn> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& q,
                               const c10::optional<at::Tensor>& k_opt, const RopeArgs& a) {
    const at::Tensor k = k_opt ? *k_opt : at::Tensor();
    const char* where = "posenc::libtorch::rope";
    if (!q.defined()) fail(where, "q", "undefined", "a [B, T, H, D] float tensor");
    check_same_device(where, q, "q", k, "k");
    check_dense(where, q, "q");
    check_dense(where, k, "k");
    if (q.dim() != 4) fail(where, "q.dim()", std::to_string(q.dim()), "4");
    if (k.defined() && k.dim() != 4) fail(where, "k.dim()", std::to_string(k.dim()), "4");
    at::Tensor qo = at::empty_like(q, at::MemoryFormat::Contiguous);
    const StreamScope stream(q);
    at::Tensor ko = k.defined() ? at::empty_like(k, at::MemoryFormat::Contiguous) : at::Tensor();
    const RopeTensors views = rope_views(q, k, qo, ko, a.heads_first);
    if (!a.cache.empty() && a.inverse)
      posenc::rope_backward(views, a.cache);
    else if (!a.cache.empty())
      posenc::rope_forward(views, a.cache);
    else if (a.inverse)
      posenc::rope_backward(views, a.cfg, positions_of(a.pos, where), a.seq_len);
    else
      posenc::rope_forward(views, a.cfg, positions_of(a.pos, where), a.seq_len);
    RopeArgs saved = a;
    saved.pos = frozen(a.pos);
    stash(ctx, "args", std::move(saved));
    ctx->saved_data["has_k"] = k.defined();
    if (k.defined()) return {qo, ko};
    return {qo};
  }
  // The rotation is linear and its adjoint is the inverse rotation (and vice versa): backward is this
  // Function with `inverse` flipped, so that under create_graph it is on the tape too and double backward
  // is exact.
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    RopeArgs a = unstash<RopeArgs>(ctx, "args");
    a.inverse = !a.inverse;
    const bool has_k = ctx->saved_data["has_k"].toBool();
    const variable_list d = RopeFn::apply(g[0], has_k ? c10::optional<at::Tensor>(g[1]) : c10::nullopt, a);
    return {d[0], has_k ? d[1] : at::Tensor(), {}};
  }
};

// ---- t5_bias --------------------------------------------------------------------------------------------
std::vector<int64_t> iota(int64_t first, int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = first + i;
  return v;
}

// Before anything is allocated: positions past kMaxPosition are errors of the core too, but only after the
// [H, Tq, Tk] output and the position lists exist (an allocation failure first, or a signed overflow in
// q_offset + i).
void check_lengths(const char* where, int64_t Tq, int64_t Tk, int64_t q_offset) {
  if (Tq < 1 || Tq > kMaxPosition + 1)
    fail(where, "Tq", std::to_string(Tq), "1 .. " + std::to_string(kMaxPosition + 1));
  if (Tk < 1 || Tk > kMaxPosition + 1)
    fail(where, "Tk", std::to_string(Tk), "1 .. " + std::to_string(kMaxPosition + 1));
  if (q_offset < 0 || q_offset > kMaxPosition + 1 - Tq)
    fail(where, "q_offset", std::to_string(q_offset),
         "0 .. " + std::to_string(kMaxPosition + 1 - Tq) +
             " (q_offset + Tq - 1 <= " + std::to_string(kMaxPosition) + ")");
}

struct T5BiasFn : torch::autograd::Function<T5BiasFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& table, const T5BiasConfig& cfg,
                            int64_t Tq, int64_t Tk, int64_t q_offset) {
    const char* where = "posenc::libtorch::t5_bias";
    if (!table.defined()) fail(where, "table", "undefined", "a [num_buckets, H] float tensor");
    check_lengths(where, Tq, Tk, q_offset);
    check_dense(where, table, "table");
    if (table.dim() != 2) fail(where, "table.dim()", std::to_string(table.dim()), "2 ([num_buckets, H])");
    at::Tensor out = at::empty({table.size(1), Tq, Tk}, table.options().requires_grad(false));
    const StreamScope stream(out);
    const auto qp = iota(q_offset, Tq), kp = iota(0, Tk);
    posenc::t5_bias_forward(view(out, "out"), view(table, "table"), cfg, qp, kp);
    stash(ctx, "cfg", cfg);
    stash(ctx, "table_shape", table.sizes().vec());
    ctx->saved_data["table_dtype"] = static_cast<int64_t>(table.scalar_type());
    ctx->saved_data["Tq"] = Tq;
    ctx->saved_data["Tk"] = Tk;
    ctx->saved_data["q_offset"] = q_offset;
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    no_double_backward("posenc::libtorch::t5_bias", g);
    const at::Tensor dout = g[0].contiguous();
    const StreamScope stream(dout);
    const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["table_dtype"].toInt());
    at::Tensor dtable =
        at::zeros(unstash<std::vector<int64_t>>(ctx, "table_shape"), dout.options().dtype(dtype));
    const auto qp = iota(ctx->saved_data["q_offset"].toInt(), ctx->saved_data["Tq"].toInt());
    const auto kp = iota(0, ctx->saved_data["Tk"].toInt());
    posenc::t5_bias_backward(view(dtable, "dtable"), view(dout, "dout"), unstash<T5BiasConfig>(ctx, "cfg"),
                             qp, kp);
    return {dtable, {}, {}, {}, {}};
  }
};

}  // namespace

// ---- views ------------------------------------------------------------------------------------------------
TensorView view(const at::Tensor& t, const char* name) {
  const char* where = "posenc::libtorch::view";
  if (!t.defined()) fail(where, name, "an undefined tensor", "a defined tensor");
  TensorView v;
  switch (t.scalar_type()) {
    case at::kFloat:
      v.dtype = DType::F32;
      break;
    case at::kHalf:
      v.dtype = DType::F16;
      break;
    case at::kBFloat16:
      v.dtype = DType::BF16;
      break;
    case at::kInt:
      v.dtype = DType::I32;
      break;
    case at::kLong:
      v.dtype = DType::I64;
      break;
    default:
      fail(where, std::string(name) + ".dtype", dtype_name(t), "float32, float16, bfloat16, int32 or int64");
  }
  if (t.is_cuda()) {
    v.device = Device::CUDA;
  } else if (t.device().is_cpu()) {
    v.device = Device::CPU;
  } else {
    fail(where, std::string(name) + ".device", t.device().str(), "cpu or cuda");
  }
  check_dense(where, t, name);
  if (t.dim() > kMaxDims)
    fail(where, std::string(name) + ".dim()", std::to_string(t.dim()), "at most " + std::to_string(kMaxDims));
  v.data = t.data_ptr();
  v.ndim = static_cast<int>(t.dim());
  for (int d = 0; d < v.ndim; ++d) {
    v.shape[static_cast<size_t>(d)] = t.size(d);
    v.strides[static_cast<size_t>(d)] = t.stride(d);
  }
  return v;
}

// ---- public entry points ------------------------------------------------------------------------------------
at::Tensor sinusoidal_add(const at::Tensor& x, const SinusoidalConfig& cfg, const PositionArg& pos) {
  if (!x.defined()) fail("posenc::libtorch::sinusoidal_add", "x", "undefined", "a [B, T, C] float tensor");
  return SinusoidalAddFn::apply(x, cfg, pos);
}

at::Tensor learned_add(const at::Tensor& x, const at::Tensor& table, const PositionArg& pos) {
  if (!x.defined()) fail("posenc::libtorch::learned_add", "x", "undefined", "a [B, T, C] float tensor");
  if (!table.defined()) fail("posenc::libtorch::learned_add", "table", "undefined", "a [P, C] float tensor");
  return LearnedAddFn::apply(x, table, pos);
}

at::Tensor embed(const at::Tensor& ids, const at::Tensor& E, const at::Tensor& table,
                 const std::optional<SinusoidalConfig>& sinusoidal, float scale, const PositionArg& pos) {
  if (!ids.defined()) fail("posenc::libtorch::embed", "ids", "undefined", "a [B, T] int64 tensor");
  if (!E.defined()) fail("posenc::libtorch::embed", "E", "undefined", "a [V, C] float tensor");
  const c10::optional<at::Tensor> t = table.defined() ? c10::optional<at::Tensor>(table) : c10::nullopt;
  return EmbedFn::apply(ids, E, t, sinusoidal, static_cast<double>(scale), pos);
}

std::pair<at::Tensor, at::Tensor> rope(const at::Tensor& q, const at::Tensor& k, const RopeConfig& cfg,
                                       const PositionArg& pos, bool heads_first, int64_t seq_len) {
  if (!q.defined()) fail("posenc::libtorch::rope", "q", "undefined", "a [B, T, H, D] float tensor");
  const c10::optional<at::Tensor> k_opt = k.defined() ? c10::optional<at::Tensor>(k) : c10::nullopt;
  const variable_list r = RopeFn::apply(q, k_opt, RopeArgs{cfg, pos, heads_first, seq_len, RopeCache{}});
  return {r[0], r.size() > 1 ? r[1] : at::Tensor()};
}

std::pair<at::Tensor, at::Tensor> rope(const at::Tensor& q, const at::Tensor& k, const RopeCache& cache,
                                       bool heads_first) {
  if (!q.defined()) fail("posenc::libtorch::rope", "q", "undefined", "a [B, T, H, D] float tensor");
  if (cache.empty()) fail("posenc::libtorch::rope", "cache", "empty", "a cache from posenc::make_rope_cache");
  const c10::optional<at::Tensor> k_opt = k.defined() ? c10::optional<at::Tensor>(k) : c10::nullopt;
  const variable_list r =
      RopeFn::apply(q, k_opt, RopeArgs{cache.config(), {}, heads_first, cache.seq_len(), cache});
  return {r[0], r.size() > 1 ? r[1] : at::Tensor()};
}

at::Tensor t5_bias(const at::Tensor& table, const T5BiasConfig& cfg, int64_t Tq, int64_t Tk,
                   int64_t q_offset) {
  // Checked before apply(): LibTorch 1.13 throws a c10::Error for an undefined Function input.
  if (!table.defined())
    fail("posenc::libtorch::t5_bias", "table", "undefined", "a [num_buckets, H] float tensor");
  return T5BiasFn::apply(table, cfg, Tq, Tk, q_offset);
}

at::Tensor alibi_bias(const AlibiConfig& cfg, int64_t Tq, int64_t Tk, int64_t q_offset) {
  const char* where = "posenc::libtorch::alibi_bias";
  check_lengths(where, Tq, Tk, q_offset);
  validate(cfg, where);
  at::Tensor out = at::empty({cfg.num_heads, Tq, Tk}, at::kFloat);
  const auto qp = iota(q_offset, Tq), kp = iota(0, Tk);
  posenc::alibi_bias(view(out, "out"), cfg, qp, kp);
  return out;
}

}  // namespace posenc::libtorch
