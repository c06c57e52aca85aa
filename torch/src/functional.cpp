// torch/src/functional.cpp — the autograd functions of posenc/torch/functional.hpp: for each op the
// forward and the backward side by side, both calling the core kernels. Every op is linear in what gets a
// gradient, so each backward is itself an autograd Function, the adjoint of the forward (a scatter's is
// the gather, rope's is the inverse rotation), whose own backward is the forward again: under
// create_graph the backward is on the tape and gradients of gradients are exact; without it apply()
// records nothing and the backward runs the same kernels as a plain call.
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

// The shape and dtype of a tensor that the adjoint of a Function allocates (its own input's).
struct Like {
  std::vector<int64_t> shape;
  at::ScalarType dtype;
};
Like like(const at::Tensor& t) {
  return {t.sizes().vec(), t.scalar_type()};
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
// out = x + table[pos]: dx = dout, dtable = scatter of dout by pos (LearnedScatterFn). The backward of each
// Function of the scatter / gather pair below is the other one (a row scatter and a row gather are each
// other's adjoint). pos is frozen (frozen()) by LearnedAddFn and only read from then on.
struct LearnedGatherFn;

// dtable [P, C] = scatter-add of dout [B, T, C] by pos (zero rows where no position occurs).
struct LearnedScatterFn : torch::autograd::Function<LearnedScatterFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& dout_in, const PositionArg& pos,
                            const Like& table) {
    const at::Tensor dout = dout_in.contiguous();
    const StreamScope stream(dout);
    at::Tensor dtable = at::zeros(table.shape, dout.options().dtype(table.dtype));
    posenc::learned_backward(view(dtable, "dtable"), view(dout, "dout"),
                             positions_of(pos, "posenc::libtorch::learned_add"));
    stash(ctx, "pos", pos);
    stash(ctx, "dout", like(dout_in));
    return dtable;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g);
};

// out [B, T, C] = table [P, C] gathered at pos.
struct LearnedGatherFn : torch::autograd::Function<LearnedGatherFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& table, const PositionArg& pos,
                            const Like& out_like) {
    at::Tensor out = at::empty(out_like.shape, table.options().dtype(out_like.dtype).requires_grad(false));
    const StreamScope stream(out);
    posenc::learned_forward(view(out, "out"), view(table, "table"),
                            positions_of(pos, "posenc::libtorch::learned_add"));
    stash(ctx, "pos", pos);
    stash(ctx, "table", like(table));
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    return {
        LearnedScatterFn::apply(g[0], unstash<PositionArg>(ctx, "pos"), unstash<Like>(ctx, "table")), {}, {}};
  }
};

variable_list LearnedScatterFn::backward(AutogradContext* ctx, variable_list g) {
  return {LearnedGatherFn::apply(g[0], unstash<PositionArg>(ctx, "pos"), unstash<Like>(ctx, "dout")), {}, {}};
}

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
    stash(ctx, "table", like(table));
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    at::Tensor dtable;
    if (ctx->needs_input_grad(1))
      dtable = LearnedScatterFn::apply(g[0], unstash<PositionArg>(ctx, "pos"), unstash<Like>(ctx, "table"));
    return {g[0], dtable, {}};
  }
};

// ---- embed (fused token embedding + PE) ---------------------------------------------------------------
// out = scale * E[ids] + PE(pos): linear in (E, table) but for the sinusoidal constant. Its backward,
// (dE, dtable) = (scale * scatter of dout by ids, scatter of dout by pos), is EmbedBackwardFn, whose adjoint
// is EmbedFn again with the sinusoidal PE left out: ddout = scale * ddE[ids] + ddtable[pos].
struct EmbedArgs {
  PositionArg pos;  // frozen
  double scale;
  Like E;
  std::optional<Like> table;  // the learned table, when it gets a gradient
};

struct EmbedBackwardFn;

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
    stash(ctx, "args",
          EmbedArgs{frozen(pos), scale, like(E),
                    table.defined() ? std::optional<Like>(like(table)) : std::nullopt});
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g);
};

// (dE [V, C], dtable [P, C]) from dout [B, T, C]; dtable only when args.table is set.
struct EmbedBackwardFn : torch::autograd::Function<EmbedBackwardFn> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& dout_in, const at::Tensor& ids,
                               const EmbedArgs& a) {
    const at::Tensor dout = dout_in.contiguous();
    const StreamScope stream(dout);
    // embed_backward always accumulates dE: EmbedFn drops it when E needs no gradient.
    at::Tensor dE = at::zeros(a.E.shape, dout.options().dtype(a.E.dtype));
    at::Tensor dtable;
    TensorView dPE{};
    if (a.table) {
      dtable = at::zeros(a.table->shape, dout.options().dtype(a.table->dtype));
      dPE = view(dtable, "dtable");
    }
    posenc::embed_backward(view(dE, "dE"), dPE, view(dout, "dout"), view(ids, "ids"),
                           positions_of(a.pos, "posenc::libtorch::embed"), static_cast<float>(a.scale));
    ctx->save_for_backward({ids});
    stash(ctx, "args", a);
    if (a.table) return {dE, dtable};
    return {dE};
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    const EmbedArgs& a = unstash<EmbedArgs>(ctx, "args");
    const c10::optional<at::Tensor> ddtable = a.table ? c10::optional<at::Tensor>(g[1]) : c10::nullopt;
    return {EmbedFn::apply(ctx->get_saved_variables()[0], g[0], ddtable, std::optional<SinusoidalConfig>(),
                           a.scale, a.pos),
            {},
            {}};
  }
};

variable_list EmbedFn::backward(AutogradContext* ctx, variable_list g) {
  EmbedArgs a = unstash<EmbedArgs>(ctx, "args");
  const bool need_E = ctx->needs_input_grad(1), need_table = a.table && ctx->needs_input_grad(2);
  if (!need_E && !need_table) return {{}, {}, {}, {}, {}, {}};
  if (!need_table) a.table.reset();
  const variable_list d = EmbedBackwardFn::apply(g[0], ctx->get_saved_variables()[0], a);
  return {{}, need_E ? d[0] : at::Tensor(), need_table ? d[1] : at::Tensor(), {}, {}, {}};
}

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

// out = table[bucket] is linear in table; its backward (the sum by bucket) is T5BiasBackwardFn, whose
// adjoint is T5BiasFn again.
struct T5Args {
  T5BiasConfig cfg;
  int64_t Tq, Tk, q_offset;
};

struct T5BiasFn : torch::autograd::Function<T5BiasFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& table, const T5Args& a) {
    const char* where = "posenc::libtorch::t5_bias";
    if (!table.defined()) fail(where, "table", "undefined", "a [num_buckets, H] float tensor");
    check_lengths(where, a.Tq, a.Tk, a.q_offset);
    check_dense(where, table, "table");
    if (table.dim() != 2) fail(where, "table.dim()", std::to_string(table.dim()), "2 ([num_buckets, H])");
    at::Tensor out = at::empty({table.size(1), a.Tq, a.Tk}, table.options().requires_grad(false));
    const StreamScope stream(out);
    posenc::t5_bias_forward(view(out, "out"), view(table, "table"), a.cfg, iota(a.q_offset, a.Tq),
                            iota(0, a.Tk));
    stash(ctx, "args", a);
    stash(ctx, "table", like(table));
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g);
};

// dtable [num_buckets, H] = dout [H, Tq, Tk] summed by bucket.
struct T5BiasBackwardFn : torch::autograd::Function<T5BiasBackwardFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& dout_in, const T5Args& a,
                            const Like& table) {
    const at::Tensor dout = dout_in.contiguous();
    const StreamScope stream(dout);
    at::Tensor dtable = at::zeros(table.shape, dout.options().dtype(table.dtype));
    posenc::t5_bias_backward(view(dtable, "dtable"), view(dout, "dout"), a.cfg, iota(a.q_offset, a.Tq),
                             iota(0, a.Tk));
    stash(ctx, "args", a);
    return dtable;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    return {T5BiasFn::apply(g[0], unstash<T5Args>(ctx, "args")), {}, {}};
  }
};

variable_list T5BiasFn::backward(AutogradContext* ctx, variable_list g) {
  return {T5BiasBackwardFn::apply(g[0], unstash<T5Args>(ctx, "args"), unstash<Like>(ctx, "table")), {}};
}

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
  return T5BiasFn::apply(table, T5Args{cfg, Tq, Tk, q_offset});
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
