// tests/fuzz/fuzz_core_ops.cpp — fuzz target: posenc's core ops on fuzzed tensor views.
//
// The first byte picks one call: rope_forward / rope_backward (per call, or through make_rope_cache),
// rope_cos_sin, embed_forward / embed_backward, learned_forward / learned_add / learned_backward,
// sinusoidal_table (positions, first, vector form), sinusoidal_add, alibi_bias, t5_bias_forward /
// t5_bias_backward. The other bytes give its config (RoPE: every scaling), shapes, dtypes (f32, bf16, f16,
// mixed), positions (offset, per-sequence offsets, i32/i64 ids of any strides, packed cu_seqlens; lists
// for rope_cos_sin and the biases) and a layout per view: row-major, permuted, padded, negative, broadcast
// (stride 0) or arbitrary strides; RoPE also [B, H, T, D] through bhtd(), GQA head counts, partial rotary
// dims, in place and out of place, and q and k as the first Hq and next Hk heads of one fused qkv tensor
// [B, T, Hq + Hk + Hv, D] (in place, or q written into the v heads). Each view gets a buffer of exactly
// the elements it addresses (so AddressSanitizer sees any access outside them), except those fused views
// and the defect below that moves one view into another's buffer; elements between them hold a NaN
// pattern. About a quarter of the inputs carry one defect: a wrong dtype, rank, shape, device or config, a
// null pointer, an id or position out of range, an output whose elements alias, an output that shares
// memory with an input or another output (the smaller view moved into the other's buffer so that at
// least one element is shared, not exactly in place), a negative extent, or a view whose offsets overflow
// int64 (a huge stride on a small buffer).
//
// Properties: the call either throws posenc::Error (with where, argument and allowed range) or returns;
// any other exception, a crash or a sanitizer report fails. A call with a defect must throw (accepting it
// would read or write outside the buffers, or read what it wrote); a call built to be valid must not. In
// particular an output that shares a byte of an element with an input or with another output of the
// call must throw, unless it is exactly that input (same data, dtype, shape and strides) in an op that
// allows in place (rope q_out / k_out, learned_add, sinusoidal_add); views of one buffer whose byte ranges
// interleave without a shared element (the fused q and k) must not; whether views share is counted here
// from their elements' bytes (position ids are not made to share: the core reads them before writing).
// Only strides the docs allow a check to reject (broadcast or arbitrary ones, which the overlap tests may
// answer conservatively) and RoPE scalings with rules of their own may go either way. A call that
// throws leaves every buffer as it was (all of it, whatever views share it). A call that returns wrote
// exactly its outputs' addressed elements (the rest of every buffer keeps its bits, inputs included, and
// the v heads of a fused tensor) with the values of a reference computed here:
//   RoPE: the rotation of the input read through its view (before the call) by the cos/sin of
//     rope_cos_sin into f32 (checked as below), within the fp32 roundings plus one ulp of the output
//     dtype; the dims past the rotary dim copied.
//   rope_cos_sin: the bits of the same call into contiguous f32 buffers, rounded to each view's dtype;
//     in both, the two HF copies of each frequency have the same bits, values lie within the attention
//     factor (1 but for YaRN and LongRoPE), and for the default and linear scalings within the fp32
//     recipe's error of cos/sin(p * omega_i) in double.
//   embed / learned / sinusoidal_add: the fp32 formula of the headers, bit for bit (E[id] * scale +
//     PE[pos], W[pos], x + PE, gradients summed in token order; PE of a sinusoidal source from
//     sinusoidal_table); rows that no token maps to keep their bits.
//   sinusoidal_table: sin/cos of pos * omega_i in double per preset and column layout, within 1-2 ulp
//     (Exact) or the float32 recipe's angle error (HfCompat); values in [-1, 1].
//   alibi_bias: -slope_h * |q - k| (or slope_h * k) with the header's slopes, masked entries exactly
//     masked_value; f16 output that would overflow must throw.
//   t5_bias: the table gathered by the header's bucket function (HF's float32 steps); backward sums
//     within fp32 rounding, untouched buckets keep their bits.
// The second byte sets the threads (two for one input in 32) and, for half the inputs, forces the
// non-temporal store paths on (normally taken past 16 MiB only). POSENC_FUZZ_SKIP=name,... leaves out
// the inputs of known failures so that a long run can look past them (see skip() below for the names;
// without it, the core bugs still open are left out).
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "cpu/row_copy.hpp"  // set_stream_min_bytes_for_test (src/ is on the include path)
#include "fuzz_util.hpp"
#include "posenc/alibi.hpp"
#include "posenc/dtype.hpp"
#include "posenc/embed.hpp"
#include "posenc/error.hpp"
#include "posenc/learned.hpp"
#include "posenc/positions.hpp"
#include "posenc/rope.hpp"
#include "posenc/sinusoidal.hpp"
#include "posenc/t5_bias.hpp"
#include "posenc/tensor.hpp"
#include "posenc/threads.hpp"

namespace {

using posenc::DType;
using posenc::TensorView;
using posenc::fuzz::Bytes;
using posenc::fuzz::check_error;

constexpr int64_t kMaxPos = posenc::kMaxPosition;
constexpr int64_t kMaxBufferElems = int64_t{1} << 16;  // per view
constexpr int64_t kMaxTotalElems = int64_t{1} << 18;   // per input

// Thrown by the harness when an input would need buffers past the caps: the input is skipped.
struct Skip {};

// ---- element access ----

int64_t elem_size(DType t) {
  return posenc::dtype_size(t);
}

uint32_t to_bits(DType t, float v) {
  switch (t) {
    case DType::F16:
      return posenc::f32_to_f16_bits(v);
    case DType::BF16:
      return posenc::f32_to_bf16_bits(v);
    default:
      return std::bit_cast<uint32_t>(v);
  }
}

float from_bits(DType t, uint32_t b) {
  switch (t) {
    case DType::F16:
      return posenc::f16_bits_to_f32(static_cast<uint16_t>(b));
    case DType::BF16:
      return posenc::bf16_bits_to_f32(static_cast<uint16_t>(b));
    default:
      return std::bit_cast<float>(b);
  }
}

// The raw bits of the element at p (2, 4 or the low 4 of 8 bytes; ints compare as bytes elsewhere).
uint32_t read_bits(DType t, const unsigned char* p) {
  if (elem_size(t) == 2) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return h;
  }
  uint32_t u;
  std::memcpy(&u, p, 4);
  return u;
}

float load(DType t, const unsigned char* p) {
  return from_bits(t, read_bits(t, p));
}

int64_t load_int(DType t, const unsigned char* p) {
  if (t == DType::I64) {
    int64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Stores v (a float for float dtypes, truncated for int dtypes) into the element at p.
void store(DType t, unsigned char* p, double v) {
  switch (t) {
    case DType::I32: {
      const auto i = static_cast<int32_t>(static_cast<int64_t>(v));
      std::memcpy(p, &i, 4);
      return;
    }
    case DType::I64: {
      const auto i = static_cast<int64_t>(v);
      std::memcpy(p, &i, 8);
      return;
    }
    case DType::F32: {
      const auto f = static_cast<float>(v);
      std::memcpy(p, &f, 4);
      return;
    }
    default: {
      const auto h = static_cast<uint16_t>(to_bits(t, static_cast<float>(v)));
      std::memcpy(p, &h, 2);
      return;
    }
  }
}

void store_int(DType t, unsigned char* p, int64_t v) {
  if (t == DType::I64) {
    std::memcpy(p, &v, 8);
  } else if (t == DType::I32) {
    const auto i = static_cast<int32_t>(static_cast<uint32_t>(v));  // keeps the low 32 bits
    std::memcpy(p, &i, 4);
  } else {
    store(t, p, static_cast<double>(v));
  }
}

// The NaN pattern of the elements no view addresses (and of outputs before the call).
void poison(DType t, unsigned char* p) {
  switch (t) {
    case DType::F16: {
      const uint16_t h = 0x7e5a;
      std::memcpy(p, &h, 2);
      return;
    }
    case DType::BF16: {
      const uint16_t h = 0x7fa5;
      std::memcpy(p, &h, 2);
      return;
    }
    default:
      std::memset(p, 0, static_cast<size_t>(elem_size(t)));
      if (t == DType::F32) {
        const uint32_t u = 0x7fc5a5a5u;
        std::memcpy(p, &u, 4);
      } else {
        std::memset(p, 0x5a, static_cast<size_t>(elem_size(t)));
      }
  }
}

// Spacing of dtype t's values at magnitude a (its ulp there; the subnormal spacing below the normals).
double ulp(DType t, double a) {
  const int mant = t == DType::F16 ? 10 : t == DType::BF16 ? 7 : 23;
  const double tiny = t == DType::F16 ? 0x1p-24 : t == DType::BF16 ? 0x1p-133 : 0x1p-149;
  if (!(a > 0)) return tiny;
  int e = 0;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  return std::max(std::ldexp(1.0, e - 1 - mant), tiny);
}

// got (an element of dtype t) equals ref up to err (the fp32 roundings of the computation) plus one ulp
// of t.
bool close(DType t, float got, double ref, double err) {
  if (std::isnan(got) || std::isnan(ref)) return false;
  if (std::isinf(got) || std::isinf(ref)) return static_cast<double>(got) == ref;
  const double a = std::max(std::fabs(static_cast<double>(got)), std::fabs(ref));
  return std::fabs(static_cast<double>(got) - ref) <= err + ulp(t, a);
}

// fp32 operations rounded once (the double result of two floats rounds to the fp32 result: products are
// exact in double, and double rounding is innocuous for + - * when 53 >= 2 * 24 + 2), so no fma
// contraction here can change a reference bit.
float mul32(float a, float b) {
  return static_cast<float>(static_cast<double>(a) * static_cast<double>(b));
}
float add32(float a, float b) {
  return static_cast<float>(static_cast<double>(a) + static_cast<double>(b));
}

// ---- pseudo-random fill values ----

struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t x = (s += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  }
  // Finite values in [-4, 4]: mostly uniform, some zeros, small integers and tiny values.
  float value() {
    const uint64_t x = next();
    switch (x & 15) {
      case 0:
        return 0.0f;
      case 1:
        return -0.0f;
      case 2:
        return static_cast<float>(static_cast<int>((x >> 8) % 9) - 4);
      case 3:
        return std::ldexp(static_cast<float>((x >> 8) & 1023) - 512.0f, -30);
      default:
        return static_cast<float>(static_cast<double>(x >> 11) * 0x1p-53 * 8.0 - 4.0);
    }
  }
};

// ---- views and their buffers ----

// A view before it has memory.
struct Spec {
  DType dt = DType::F32;
  int nd = 0;
  std::array<int64_t, posenc::kMaxDims> shape{}, strides{};
  bool unusual = false;  // broadcast or arbitrary strides: a writability check may reject them
};

template <typename F>
void for_each_index(int nd, const int64_t* shape, F&& f) {
  for (int d = 0; d < nd; ++d)
    if (shape[d] <= 0) return;
  std::array<int64_t, posenc::kMaxDims> idx{};
  for (;;) {
    f(idx);
    int d = nd - 1;
    for (; d >= 0; --d) {
      if (++idx[static_cast<size_t>(d)] < shape[d]) break;
      idx[static_cast<size_t>(d)] = 0;
    }
    if (d < 0) return;
  }
}

int64_t offset_of(const TensorView& v, const std::array<int64_t, posenc::kMaxDims>& idx) {
  int64_t o = 0;
  for (int d = 0; d < v.ndim; ++d) o += idx[static_cast<size_t>(d)] * v.strides[static_cast<size_t>(d)];
  return o;
}

// A layout for a view of `shape`: row-major (most inputs), permuted, padded, with negative strides, one
// broadcast dim (stride 0) or arbitrary small strides.
Spec layout(Bytes& in, DType dt, std::initializer_list<int64_t> shape) {
  Spec s;
  s.dt = dt;
  s.nd = static_cast<int>(shape.size());
  std::copy(shape.begin(), shape.end(), s.shape.begin());
  const int nd = s.nd;
  const int64_t mode = in.range(0, 31);
  std::array<int, posenc::kMaxDims> order{};  // innermost first
  for (int i = 0; i < nd; ++i) order[static_cast<size_t>(i)] = nd - 1 - i;
  if (mode >= 16 && mode < 29)
    for (int i = nd - 1; i > 0; --i)
      std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(in.range(0, i))]);
  const bool pad = mode >= 20 && mode < 29, flip = mode >= 24 && mode < 29;
  int64_t cur = 1;
  for (int i = 0; i < nd; ++i) {
    const auto d = static_cast<size_t>(order[static_cast<size_t>(i)]);
    const int64_t step = pad ? cur * in.range(1, 2) : cur;
    s.strides[d] = step;
    cur = step * std::max<int64_t>(s.shape[d], 1) + (pad ? in.range(0, 3) : 0);
  }
  if (flip)
    for (int d = 0; d < nd; ++d)
      if (in.flag()) s.strides[static_cast<size_t>(d)] = -s.strides[static_cast<size_t>(d)];
  if (mode == 29 && nd > 0) {
    s.strides[static_cast<size_t>(in.range(0, nd - 1))] = 0;
    s.unusual = true;
  }
  if (mode >= 30) {
    for (int d = 0; d < nd; ++d) s.strides[static_cast<size_t>(d)] = in.range(-9, 9);
    s.unusual = true;
  }
  return s;
}

// Memory for one view: exactly the elements lo .. lo + n - 1 (offsets from the view's origin) that it
// addresses, in a heap block of that size. Other views may lie in it too: the head slices of one fused
// qkv buffer, and a view moved into it by Arena::share.
struct Buffer {
  DType dt = DType::F32;
  int64_t es = 4, lo = 0, n = 0;
  std::unique_ptr<unsigned char[]> mem;
  std::vector<unsigned char> saved;  // the bytes before the call
  std::vector<uint8_t> mark;         // addressed by the view it was made for
  std::vector<uint8_t> out;          // addressed by an output view: a call that returns may change them
  bool written = false;              // some element is an output's
  unsigned char* ptr(int64_t off) { return mem.get() + (off - lo) * es; }
  void* origin() { return mem.get() + (-lo) * es; }
};

// A view and its buffer (v.data anywhere in it).
struct Tensor {
  Buffer* buf = nullptr;
  TensorView v{};
  bool aliased = false;  // some element addressed twice
  bool unusual = false;  // broadcast or arbitrary strides: a writability check may reject them

  int64_t off(std::initializer_list<int64_t> idx) const {
    int64_t o = 0;
    size_t d = 0;
    for (int64_t i : idx) o += i * v.strides[d++];
    return o;
  }
  // Byte of the element at idx in the buffer's block (now and, at the same place, before the call).
  int64_t at(std::initializer_list<int64_t> idx) const {
    return static_cast<unsigned char*>(v.data) - buf->mem.get() + off(idx) * elem_size(v.dtype);
  }
  float old(std::initializer_list<int64_t> idx) const { return load(v.dtype, buf->saved.data() + at(idx)); }
  float now(std::initializer_list<int64_t> idx) const { return load(v.dtype, buf->mem.get() + at(idx)); }
  uint32_t now_bits(std::initializer_list<int64_t> idx) const {
    return read_bits(v.dtype, buf->mem.get() + at(idx));
  }
  uint32_t old_bits(std::initializer_list<int64_t> idx) const {
    return read_bits(v.dtype, buf->saved.data() + at(idx));
  }
  int64_t old_int(std::initializer_list<int64_t> idx) const {
    return load_int(v.dtype, buf->saved.data() + at(idx));
  }
  int64_t numel() const { return v.numel(); }
  // f(byte) for the first byte of each element, in the buffer's block.
  template <typename F>
  void for_each_byte(F&& f) const {
    const int64_t base = static_cast<unsigned char*>(v.data) - buf->mem.get(), es = elem_size(v.dtype);
    for_each_index(v.ndim, v.shape.data(), [&](const auto& idx) { f(base + offset_of(v, idx) * es); });
  }
};

// Whether two views share a byte of an element (only views of one buffer can).
bool shares(const Tensor& a, const Tensor& b) {
  if (a.buf == nullptr || a.buf != b.buf || a.numel() == 0 || b.numel() == 0) return false;
  std::vector<uint8_t> hit(static_cast<size_t>(a.buf->n * a.buf->es), 0);
  const int64_t ea = elem_size(a.v.dtype), eb = elem_size(b.v.dtype);
  a.for_each_byte([&](int64_t p) { std::fill_n(hit.begin() + p, ea, 1); });
  bool any = false;
  b.for_each_byte([&](int64_t p) {
    any = any || std::find(hit.begin() + p, hit.begin() + p + eb, 1) != hit.begin() + p + eb;
  });
  return any;
}

// Exactly the same view (an in-place call): data, dtype, shape and strides.
bool same_view(const TensorView& a, const TensorView& b) {
  if (a.data != b.data || a.dtype != b.dtype || a.ndim != b.ndim) return false;
  for (int d = 0; d < a.ndim; ++d)
    if (a.size(d) != b.size(d) || a.stride(d) != b.stride(d)) return false;
  return true;
}

// Bytes from a view's lowest element to the end of its highest (0 without elements).
int64_t extent(const TensorView& v) {
  if (v.numel() == 0) return 0;
  int64_t span = 1;
  for (int d = 0; d < v.ndim; ++d) span += std::abs(v.stride(d)) * (v.size(d) - 1);
  return span * elem_size(v.dtype);
}

// Heads h0 .. h0 + n - 1 (dim 2) of `whole`, in its buffer: the q, k or v part of a fused qkv tensor.
Tensor heads(const Tensor& whole, int64_t h0, int64_t n) {
  Tensor t = whole;
  t.v.shape[2] = n;
  if (whole.numel() == 0 || n == 0) return t;
  t.v.data = static_cast<unsigned char*>(whole.v.data) + h0 * whole.v.stride(2) * elem_size(whole.v.dtype);
  std::vector<uint8_t> hit(static_cast<size_t>(whole.buf->n * whole.buf->es), 0);
  t.aliased = false;
  t.for_each_byte([&](int64_t p) {
    t.aliased = t.aliased || hit[static_cast<size_t>(p)] != 0;
    hit[static_cast<size_t>(p)] = 1;
  });
  return t;
}

// t's elements are an output's: check_gaps lets them change.
void mark_output(const Tensor& t) {
  Buffer& b = *t.buf;
  const int64_t es = elem_size(t.v.dtype);
  t.for_each_byte([&](int64_t p) {
    for (int64_t i = p / b.es; i <= (p + es - 1) / b.es; ++i) b.out[static_cast<size_t>(i)] = 1;
  });
  b.written = true;
}

class Arena {
 public:
  explicit Arena(Rng& rng) : rng_(rng) {}

  // A buffer for spec, its addressed elements filled with values (float dtypes) and the rest poisoned.
  Tensor make(const Spec& s) {
    __int128 lo = 0, hi = 0;
    bool empty = false;
    for (int d = 0; d < s.nd; ++d) {
      const auto i = static_cast<size_t>(d);
      if (s.shape[i] <= 0) {
        empty = true;
        continue;
      }
      const __int128 e = static_cast<__int128>(s.strides[i]) * (s.shape[i] - 1);
      (e < 0 ? lo : hi) += e;
    }
    const __int128 count = empty ? 0 : hi - lo + 1;
    if (count > kMaxBufferElems) throw Skip{};
    total_ += static_cast<int64_t>(count);
    if (total_ > kMaxTotalElems) throw Skip{};
    auto b = std::make_unique<Buffer>();
    b->dt = s.dt;
    b->es = elem_size(s.dt);
    b->lo = empty ? 0 : static_cast<int64_t>(lo);
    b->n = static_cast<int64_t>(count);
    b->mem.reset(new unsigned char[static_cast<size_t>(b->n * b->es)]);
    b->mark.assign(static_cast<size_t>(b->n), 0);
    b->out.assign(static_cast<size_t>(b->n), 0);
    for (int64_t i = 0; i < b->n; ++i) poison(s.dt, b->mem.get() + i * b->es);
    Tensor t;
    t.buf = b.get();
    t.v.data = b->origin();
    t.v.dtype = s.dt;
    t.v.ndim = s.nd;
    t.v.shape = s.shape;
    t.v.strides = s.strides;
    t.unusual = s.unusual;
    for_each_index(s.nd, s.shape.data(), [&](const auto& idx) {
      uint8_t& m = b->mark[static_cast<size_t>(offset_of(t.v, idx) - b->lo)];
      if (m) t.aliased = true;
      m = 1;
    });
    for (int64_t i = 0; i < b->n; ++i)
      if (b->mark[static_cast<size_t>(i)]) {
        unsigned char* p = b->mem.get() + i * b->es;
        if (posenc::is_float(s.dt))
          store(s.dt, p, rng_.value());
        else
          store_int(s.dt, p, 0);
      }
    bufs_.push_back(std::move(b));
    return t;
  }
  Tensor make(Bytes& in, DType dt, std::initializer_list<int64_t> shape) {
    return make(layout(in, dt, shape));
  }

  // The defect "an output shares memory with an input or another output": moves the smaller (in bytes)
  // of the views `out` and `other` into the other's buffer, its lowest byte onto that buffer's first (or,
  // a flag, its highest onto the last where that keeps it aligned), so that they share the element
  // there; reversed (strides negated) where that would make it exactly the other view (in place). A
  // moved `other` (an input) keeps its values, so that ids stay in range. Views without elements stay.
  void share(Bytes& in, Tensor& out, Tensor& other) {
    if (out.numel() == 0 || other.numel() == 0) return;
    const bool move_out = extent(out.v) <= extent(other.v);
    Tensor& m = move_out ? out : other;
    const Tensor& host = move_out ? other : out;
    const Tensor was = m;
    const bool at_end = in.flag();
    const int64_t es = elem_size(m.v.dtype);
    auto place = [&] {
      int64_t lo = 0;
      for (int d = 0; d < m.v.ndim; ++d) lo += std::min<int64_t>(m.v.stride(d), 0) * (m.v.size(d) - 1);
      const int64_t room = host.buf->n * host.buf->es - extent(m.v);
      m.buf = host.buf;
      m.v.data = host.buf->mem.get() + (at_end && room % es == 0 ? room : 0) - lo * es;
    };
    place();
    if (same_view(m.v, host.v)) {
      for (int d = 0; d < m.v.ndim; ++d) m.v.strides[static_cast<size_t>(d)] *= -1;
      place();
    }
    if (move_out) return;
    for_each_index(m.v.ndim, m.v.shape.data(), [&](const auto& idx) {
      std::memcpy(static_cast<unsigned char*>(m.v.data) + offset_of(m.v, idx) * es,
                  static_cast<const unsigned char*>(was.v.data) + offset_of(was.v, idx) * es,
                  static_cast<size_t>(es));
    });
  }
  // share() on one of `pairs` (output, other), those of two views with buffers.
  void share_any(Bytes& in, std::initializer_list<std::pair<Tensor*, Tensor*>> pairs) {
    std::vector<std::pair<Tensor*, Tensor*>> ok;
    for (const auto& p : pairs)
      if (p.first != p.second && p.first->buf != nullptr && p.second->buf != nullptr) ok.push_back(p);
    if (ok.empty()) return;
    const auto& p = ok[static_cast<size_t>(in.range(0, static_cast<int64_t>(ok.size()) - 1))];
    share(in, *p.first, *p.second);
  }

  void save() {
    for (auto& b : bufs_) b->saved.assign(b->mem.get(), b->mem.get() + b->n * b->es);
  }
  // After a throw: every buffer as it was.
  void check_unchanged(const char* op) const {
    for (const auto& b : bufs_)
      FUZZ_CHECK(
          b->n == 0 || std::memcmp(b->mem.get(), b->saved.data(), static_cast<size_t>(b->n * b->es)) == 0,
          "%s threw but changed a buffer", op);
  }
  // After a return: inputs as they were, and the elements between an output's addressed ones too.
  void check_gaps(const char* op) const {
    for (const auto& b : bufs_)
      for (int64_t i = 0; i < b->n; ++i)
        if (!b->out[static_cast<size_t>(i)])
          FUZZ_CHECK(std::memcmp(b->mem.get() + i * b->es, b->saved.data() + i * b->es,
                                 static_cast<size_t>(b->es)) == 0,
                     "%s wrote element %lld of a buffer outside its output view (%s)", op,
                     static_cast<long long>(i + b->lo), b->written ? "output" : "input");
  }

 private:
  Rng& rng_;
  std::vector<std::unique_ptr<Buffer>> bufs_;
  int64_t total_ = 0;
};

// ---- expectations ----

enum class Expect { Ok, MayFail, MustFail };
struct Verdict {
  Expect e = Expect::Ok;
  const char* why = "";
  void may(const char* w) {
    if (e == Expect::Ok) {
      e = Expect::MayFail;
      why = w;
    }
  }
  void must(const char* w) {
    if (e != Expect::MustFail) {
      e = Expect::MustFail;
      why = w;
    }
  }
  void must_if(bool c, const char* w) {
    if (c) must(w);
  }
  // An output (or in-place) view: two indices at one address must be rejected; strides outside the
  // layouts a row-major permutation gives may be.
  void writable(const Tensor& t, const char* w) {
    if (t.numel() > 0 && t.aliased)
      must(w);
    else if (t.unusual)
      may(w);
  }
  // An output and another view of the call (an input, or another output): sharing a byte of an element
  // must be rejected, unless the output is exactly that input (in place) and the op allows it.
  void disjoint(const Tensor& out, const Tensor& x, bool in_place_ok, const char* w) {
    if (!(in_place_ok && same_view(out.v, x.v)) && shares(out, x)) must(w);
  }
};

void describe(std::initializer_list<TensorView> views) {
  for (const TensorView& t : views)
    if (t.data != nullptr || t.ndim > 0) std::fprintf(stderr, "  view %s\n", t.describe().c_str());
}

// Runs the call; returns whether it returned (rather than threw posenc::Error). `views` (the call's
// views) are printed when the call breaks the verdict.
template <typename F>
bool call(const char* op, const Verdict& v, const Arena& A, std::initializer_list<TensorView> views, F&& f) {
  try {
    f();
  } catch (const posenc::Error& e) {
    check_error(e);
    if (v.e == Expect::Ok) describe(views);
    FUZZ_CHECK(v.e != Expect::Ok, "%s rejected a valid call: %s", op, e.what());
    A.check_unchanged(op);
    return false;
  }
  if (v.e == Expect::MustFail) describe(views);
  FUZZ_CHECK(v.e != Expect::MustFail, "%s accepted an invalid call (%s)", op, v.why);
  A.check_gaps(op);
  return true;
}

// -1 (no defect, about 3 inputs in 4) or a defect in [0, n).
int pick_defect(Bytes& in, int n) {
  const int v = in.u8();
  return v < 192 ? -1 : (v - 192) % n;
}

DType float_dtype(Bytes& in) {
  return in.pick({DType::F32, DType::BF16, DType::F16});
}

// POSENC_FUZZ_SKIP=name,name,... in the environment leaves out the inputs of known failures, so that a
// run can look past them: "overflow" (views whose offsets overflow int64), "negative" (views with a
// negative extent), "empty_batch" (sinusoidal rows for B = 0, T >= 2), "packed_order" (cu_seqlens
// that decrease after a sequence past T), "null_empty" (data == nullptr on views with no elements),
// "fused_gqa" (q and k of one fused qkv tensor with different head counts may be rejected),
// "cos_sin_share" (no rope_cos_sin whose cos and sin share memory); all of these are fixed. Without the
// variable, kOpenBugs: the core bugs still open (tests/fuzz/README.md; none now), so that a new finding
// can be skipped until its fix lands; set the variable empty (POSENC_FUZZ_SKIP=) to skip nothing.
constexpr const char* kOpenBugs = "";
bool skip(const char* name) {
  static const char* env = std::getenv("POSENC_FUZZ_SKIP");
  static const char* list = env != nullptr ? env : kOpenBugs;
  const size_t n = std::strlen(name);
  for (const char* p = std::strstr(list, name); p != nullptr; p = std::strstr(p + 1, name))
    if ((p == list || p[-1] == ',') && (p[n] == '\0' || p[n] == ',')) return true;
  return false;
}
bool skip_overflow() {
  return skip("overflow");
}

// Whether to give a view data == nullptr: always when it has elements (an error), and when it has none
// (allowed) unless "null_empty" is skipped.
bool null_ok(int64_t numel) {
  return numel > 0 || !skip("null_empty");
}

// A negative extent on one dim of v (a view built by hand; the factories reject those). Returns false
// when skipped.
bool make_negative(Bytes& in, TensorView& v) {
  if (v.ndim < 1 || skip("negative")) return false;
  v.shape[static_cast<size_t>(in.range(0, v.ndim - 1))] =
      in.pick({int64_t{-1}, int64_t{-2}, -(int64_t{1} << 40), std::numeric_limits<int64_t>::min()});
  return true;
}

// One of the dims of size >= 2 (`other`: another one, or -1), or -1 when there is none.
int pick_long_dim(Bytes& in, int nd, const std::array<int64_t, posenc::kMaxDims>& shape,
                  int* other = nullptr) {
  int dims[posenc::kMaxDims], k = 0;
  for (int d = 0; d < nd; ++d)
    if (shape[static_cast<size_t>(d)] >= 2) dims[k++] = d;
  if (k == 0) return -1;
  const auto i = in.range(0, k - 1);
  if (other != nullptr) *other = k >= 2 ? dims[(i + 1) % k] : -1;
  return dims[i];
}

// A stride that makes a view's byte offsets overflow int64 on one of its dims of size >= 2 (the view
// keeps its small buffer). Returns false when the view has no elements or no dim has two.
bool make_overflow(Bytes& in, TensorView& v) {
  if (v.numel() == 0 || skip_overflow()) return false;
  const int dim = pick_long_dim(in, v.ndim, v.shape);
  if (dim < 0) return false;
  const auto d = static_cast<size_t>(dim);
  v.strides[d] = in.pick({int64_t{1} << 62, -(int64_t{1} << 62), std::numeric_limits<int64_t>::max(),
                          -std::numeric_limits<int64_t>::max(), (int64_t{3} << 61)});
  return true;
}

// The codes, in an op's own defect enum, of the defects that apply_view_defect gives a view.
struct ViewDefectCodes {
  int ndim, null, overflow, negative;
};

// Gives `view` the defect `defect` when it is one of `codes` (otherwise does nothing), and adds to v
// what the call must then do: ndim, a rank picked from `ranks` (ndim_msg when it differs from the
// view's); null, data == nullptr (null_msg when the view has elements); overflow, make_overflow; negative,
// make_negative. With `other`, a flag read after the rank picks which of `view` (set) and `other` the
// ndim, overflow and negative defects go to; null always goes to `view`.
void apply_view_defect(Bytes& in, Verdict& v, int defect, ViewDefectCodes codes,
                       std::initializer_list<int> ranks, const char* ndim_msg, const char* null_msg,
                       TensorView& view, TensorView* other = nullptr) {
  // `view`, or with `other` given, `view` when a flag from the input is set and `other` when not.
  auto target = [&]() -> TensorView& { return other != nullptr && !in.flag() ? *other : view; };
  if (defect == codes.ndim) {
    const int nd = in.pick(ranks);
    TensorView& t = target();
    const int was = t.ndim;
    t.ndim = nd;
    v.must_if(nd != was, ndim_msg);
  } else if (defect == codes.null) {
    if (null_ok(view.numel())) view.data = nullptr;
    v.must_if(view.numel() > 0, null_msg);
  } else if (defect == codes.overflow) {
    if (make_overflow(in, target())) v.must("a view whose offsets overflow int64");
  } else if (defect == codes.negative) {
    if (make_negative(in, target())) v.must("a negative extent");
  }
}

// Strides that map two indices of s to one element: a dim of size >= 2 gets stride 0 or another such
// dim's stride (an output whose elements alias, a defect).
void make_alias(Bytes& in, Spec& s) {
  int other = -1;
  const int d = pick_long_dim(in, s.nd, s.shape, &other);
  if (d < 0) return;
  s.strides[static_cast<size_t>(d)] = other >= 0 && in.flag() ? s.strides[static_cast<size_t>(other)] : 0;
  s.unusual = true;
}

// ---- positions ----

// A position: mostly small, some at the top of the range (hint, the largest valid one, and 2^31 - 1),
// and (bad_ok) a few past it or negative.
int64_t pos_value(Bytes& in, int64_t hint, bool bad_ok = true) {
  const int v = in.u8();
  if (v < 224) return v % (std::clamp<int64_t>(hint, 0, 23) + 1);
  if (v < 240) return std::max<int64_t>(hint - v % 3, 0);
  if (v < 246) return kMaxPos - v % 2;
  if (!bad_ok) return v % 5;
  if (v < 250) return hint + 1;
  if (v < 252) return kMaxPos + 1;
  if (v < 254) return -1 - v % 2;
  return int64_t{1} << (33 + v % 2);
}

struct PosCase {
  posenc::Positions pos = posenc::Positions::offset(0);
  std::vector<int64_t> list;    // per-sequence offsets or cu_seqlens
  std::vector<int64_t> want;    // pos[b * T + t], when not `structural`
  std::vector<int64_t> starts;  // offsets of sequences that have no tokens (T = 0)
  bool structural = false;      // an error whatever the limit (sizes, dtype, packed layout)

  // Adds what resolving against [0, limit] must do to v.
  void judge(int64_t limit, Verdict& v) const {
    v.must_if(structural, "positions do not fit the layout");
    for (int64_t p : want) v.must_if(p < 0 || p > limit, "a position out of range");
    for (int64_t s : starts)
      if (s < 0 || s > limit) v.may("an offset out of range for a sequence of no tokens");
  }
};

// Kinds: 0 Positions::offset(), 1-2 offset(start), 3 offsets(list), 4-5 ids, 6-7 packed.
int64_t batch_for(Bytes& in, int kind) {
  if (kind >= 6) return in.range(0, 15) == 0 ? in.range(0, 3) : 1;
  return in.range(0, 4);
}

void make_positions(Bytes& in, Arena& A, int kind, int64_t B, int64_t T, int64_t limit, PosCase& pc) {
  switch (kind) {
    case 0:
    case 1:
    case 2:
    case 3: {
      int64_t start = 0;
      size_t count = 0;
      if (kind == 1 || kind == 2) {
        start = pos_value(in, limit - T + 1);
        pc.pos = posenc::Positions::offset(start);
      } else if (kind == 3) {
        count = static_cast<size_t>(B);
        if (in.range(0, 15) == 0) count = static_cast<size_t>(std::max<int64_t>(0, B + in.pick({-1, 1})));
        const bool bad_ok = in.range(0, 3) == 0;
        for (size_t i = 0; i < count; ++i) pc.list.push_back(pos_value(in, limit - T + 1, bad_ok));
        pc.pos = posenc::Positions::offsets(pc.list);
      }
      if (kind == 3 && static_cast<int64_t>(pc.list.size()) != B) {  // an empty span too: no offsets
        pc.structural = true;
        return;
      }
      for (int64_t b = 0; b < B; ++b) {
        const int64_t s = pc.list.empty() ? start : pc.list[static_cast<size_t>(b)];
        if (T == 0) pc.starts.push_back(s);
        for (int64_t t = 0; t < T; ++t) pc.want.push_back(s + t);
      }
      return;
    }
    case 4:
    case 5: {
      DType dt = in.pick({DType::I32, DType::I64});
      const int defect = in.range(0, 31);
      if (defect == 0) dt = in.pick({DType::F32, DType::BF16});
      int64_t b_ids = B, t_ids = T;
      if (defect == 1) (in.flag() ? b_ids : t_ids) += 1;
      if (defect == 5) b_ids = 1;  // HF's position_ids [1, T]: the same ids for every sequence
      // One row of ids serves any batch (B = 0 included): not a defect then.
      const bool broadcast = b_ids == 1 && t_ids == T;
      Tensor ids = A.make(in, dt, {b_ids, t_ids});
      const bool bad_ok = in.range(0, 3) == 0;
      for_each_index(2, ids.v.shape.data(), [&](const auto& idx) {
        store_int(dt, ids.buf->ptr(offset_of(ids.v, idx)), pos_value(in, limit, bad_ok));
      });
      if (defect == 2) ids.v.ndim = 1;
      if (defect == 3 && null_ok(ids.numel())) ids.v.data = nullptr;
      if (defect == 4) ids.v.device = posenc::Device::CUDA;
      pc.pos = posenc::Positions::ids(ids.v);
      if (defect >= 1 && defect <= 4 && !(defect == 1 && broadcast)) {
        pc.structural = defect != 3 || ids.numel() > 0;
        if (pc.structural) return;
      }
      if (!posenc::is_int(dt)) {
        pc.structural = true;
        return;
      }
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t)
          pc.want.push_back(load_int(dt, ids.buf->ptr(ids.off({broadcast ? 0 : b, t}))));
      return;
    }
    default: {  // packed
      const int64_t n = in.range(1, 4);
      std::vector<int64_t> cuts;
      for (int64_t i = 0; i + 1 < n; ++i) cuts.push_back(in.range(0, std::max<int64_t>(T, 0)));
      std::sort(cuts.begin(), cuts.end());
      pc.list.push_back(0);
      pc.list.insert(pc.list.end(), cuts.begin(), cuts.end());
      pc.list.push_back(T);
      switch (in.range(0, 31)) {
        case 0:
          pc.list.front() = 1;
          break;
        case 1:
          pc.list.back() = T + 1;
          break;
        case 2:
          pc.list.resize(1);
          break;
        case 3:  // not non-decreasing, the first sequence past T
          if (pc.list.size() >= 3 && !skip("packed_order")) pc.list[1] = T + 1;
          break;
        default:
          break;
      }
      pc.pos = posenc::Positions::packed(pc.list);
      bool ok = B == 1 && pc.list.size() >= 2 && pc.list.front() == 0 && pc.list.back() == T;
      for (size_t i = 0; ok && i + 1 < pc.list.size(); ++i) ok = pc.list[i] <= pc.list[i + 1];
      if (!ok) {
        pc.structural = true;
        return;
      }
      for (size_t s = 0; s + 1 < pc.list.size(); ++s)
        for (int64_t t = pc.list[s]; t < pc.list[s + 1]; ++t) pc.want.push_back(t - pc.list[s]);
      return;
    }
  }
}

// ---- sinusoidal reference ----

bool concat_preset(posenc::SinusoidalPreset p) {
  return p == posenc::SinusoidalPreset::Fairseq || p == posenc::SinusoidalPreset::Tensor2Tensor;
}

posenc::SinusoidalConfig sin_config(Bytes& in, bool defect, Verdict& v) {
  using P = posenc::SinusoidalPreset;
  posenc::SinusoidalConfig c;
  c.preset = in.pick({P::Vaswani, P::Fairseq, P::Tensor2Tensor, P::Marian});
  c.precision = in.flag() ? posenc::Precision::HfCompat : posenc::Precision::Exact;
  c.dim = c.preset == P::Vaswani ? 2 * in.range(1, 24) : in.range(2, 48);
  c.base = in.pick({10000.0, 10000.0, 100.0, 2.0, 1e5});
  if (c.preset == P::Fairseq)
    c.padding_idx = in.pick({int64_t{-1}, int64_t{-1}, int64_t{0}, int64_t{1}, int64_t{3}});
  if (defect) {
    switch (in.range(0, 6)) {
      case 0:
        c.dim = in.range(-1, 1);
        break;
      case 1:
        c.preset = P::Vaswani;
        c.padding_idx = -1;
        c.dim = 2 * in.range(1, 8) + 1;
        break;
      case 2:
        c.base = in.pick({1.0, 0.5, -2.0, std::numeric_limits<double>::infinity(), std::nan("")});
        break;
      case 3:
        c.padding_idx = c.preset == P::Fairseq ? -2 - in.range(0, 3) : in.range(0, 3);
        break;
      case 4:
        c.preset = static_cast<P>(4 + in.range(0, 200));
        break;
      default:
        c.precision = static_cast<posenc::Precision>(2 + in.range(0, 200));
        break;
    }
  }
  const bool bad = c.dim < 2 || (c.preset == P::Vaswani && c.dim % 2 != 0) || !std::isfinite(c.base) ||
                   c.base <= 1.0 || static_cast<int>(c.preset) > 3 || static_cast<int>(c.precision) > 1 ||
                   (c.preset == P::Fairseq ? c.padding_idx < -1 : c.padding_idx != -1);
  v.must_if(bad, "an invalid sinusoidal config");
  return c;
}

// Checks PE(p, :) as got(c) returns it (dtype t) against the header's formula in double.
template <typename Get>
void check_sin_row(const char* op, const posenc::SinusoidalConfig& cfg, int64_t p, DType t, Get&& got) {
  using P = posenc::SinusoidalPreset;
  const int64_t d = cfg.dim;
  const bool concat = concat_preset(cfg.preset);
  const int64_t h = concat ? d / 2 : (d + 1) / 2;
  const bool hf = cfg.precision == posenc::Precision::HfCompat;
  for (int64_t c = 0; c < d; ++c) {
    const float g = got(c);
    FUZZ_CHECK(std::fabs(g) <= 1.0f, "%s: PE(%lld, %lld) = %g outside [-1, 1]", op, static_cast<long long>(p),
               static_cast<long long>(c), static_cast<double>(g));
    if (cfg.preset == P::Fairseq && p == cfg.padding_idx) {
      FUZZ_CHECK(g == 0.0f, "%s: padding row %lld column %lld = %g", op, static_cast<long long>(p),
                 static_cast<long long>(c), static_cast<double>(g));
      continue;
    }
    int64_t i;
    bool is_sin;
    if (cfg.preset == P::Vaswani) {
      i = c / 2;
      is_sin = c % 2 == 0;
    } else if (c < h) {
      i = c;
      is_sin = true;
    } else {
      i = c - h;
      is_sin = false;
      if (concat && i >= h) {  // odd dim: the zero column
        FUZZ_CHECK(g == 0.0f, "%s: padding column of PE(%lld) = %g", op, static_cast<long long>(p),
                   static_cast<double>(g));
        continue;
      }
    }
    const double lb = std::log(cfg.base);
    const double omega =
        concat ? std::exp(-static_cast<double>(i) * lb / static_cast<double>(std::max<int64_t>(h - 1, 1)))
               : std::pow(cfg.base, -2.0 * static_cast<double>(i) / static_cast<double>(d));
    const double angle = static_cast<double>(p) * omega;
    const double ref = is_sin ? std::sin(angle) : std::cos(angle);
    const double err = hf ? 0x1p-22 + angle * (lb + 4.0) * 0x1p-22 : 0x1p-23 + angle * 0x1p-50;
    FUZZ_CHECK(close(t, g, ref, err),
               "%s: PE(%lld, %lld) = %.9g, expected %.9g (preset %d, dim %lld, base %g, %s)", op,
               static_cast<long long>(p), static_cast<long long>(c), static_cast<double>(g), ref,
               static_cast<int>(cfg.preset), static_cast<long long>(d), cfg.base, hf ? "hf" : "exact");
  }
}

// PE rows of `pos` in fp32 from sinusoidal_table (checked against the formula): [pos.size(), dim].
std::vector<float> sin_rows(const char* op, const posenc::SinusoidalConfig& cfg,
                            const std::vector<int64_t>& pos) {
  const auto N = static_cast<int64_t>(pos.size());
  std::vector<float> rows(static_cast<size_t>(N * cfg.dim));
  try {
    posenc::sinusoidal_table(TensorView::contiguous(rows.data(), DType::F32, {N, cfg.dim}), cfg, pos);
  } catch (const posenc::Error& e) {
    FUZZ_CHECK(false, "%s succeeded but sinusoidal_table of its positions threw: %s", op, e.what());
  }
  for (int64_t n = 0; n < N; ++n)
    check_sin_row(op, cfg, pos[static_cast<size_t>(n)], DType::F32,
                  [&](int64_t c) { return rows[static_cast<size_t>(n * cfg.dim + c)]; });
  return rows;
}

// ---- RoPE ----

bool rope_config_invalid(const posenc::RopeConfig& c) {
  const int64_t r = c.rotary_dim;
  return c.head_dim < 2 || (r != 0 && (r < 2 || r > c.head_dim || r % 2 != 0)) ||
         (r == 0 && c.head_dim % 2 != 0) || !std::isfinite(c.base) || c.base <= 1.0 ||
         static_cast<int>(c.layout) > 1 || static_cast<int>(c.precision) > 1 ||
         static_cast<int>(c.scaling.type) > 6 || c.max_position_embeddings < 0 ||
         c.scaling.original_max_position_embeddings < 0;
}

// A RoPE config: head and rotary dims, base, layout, precision and any scaling; with `defect`, one
// invalid field.
posenc::RopeConfig rope_config(Bytes& in, bool defect, Verdict& v) {
  using posenc::PairLayout;
  using posenc::RopeType;
  posenc::RopeConfig cfg;
  int64_t D = in.range(2, 64);
  if (in.range(0, 3) == 0)
    cfg.rotary_dim = 2 * in.range(1, D / 2);
  else if (D % 2 != 0)
    ++D;
  cfg.head_dim = D;
  cfg.base = in.pick({10000.0, 500000.0, 10.0, 2.0, 1e6, 1.5});
  cfg.layout = in.flag() ? PairLayout::Interleaved : PairLayout::HalfSplit;
  cfg.precision = in.flag() ? posenc::Precision::HfCompat : posenc::Precision::Exact;
  const int64_t st = in.range(0, 15);
  auto& sc = cfg.scaling;
  if (st >= 9 && st <= 14) {
    sc.type = static_cast<RopeType>(st - 8);
    sc.factor = in.pick({1.0, 2.0, 4.0, 8.0, 32.0});
    cfg.max_position_embeddings = in.pick({int64_t{0}, int64_t{16}, int64_t{64}, int64_t{4096}});
    sc.original_max_position_embeddings = in.pick({int64_t{0}, int64_t{8}, int64_t{16}, int64_t{32}});
    if (sc.type == RopeType::Yarn && in.flag()) sc.attention_factor = in.pick({0.5, 1.0, 1.3});
    if (sc.type == RopeType::LongRope) {
      for (int64_t i = 0; i < cfg.rot() / 2; ++i) {
        sc.short_factor.push_back(in.pick({1.0, 1.5, 2.0, 4.0}));
        sc.long_factor.push_back(in.pick({1.0, 1.5, 2.0, 4.0}));
      }
      if (in.flag()) sc.attention_factor = 1.2;
    }
    if (sc.type != RopeType::Linear) v.may("a RoPE scaling with rules of its own");
  }
  if (defect) {
    switch (in.range(0, 8)) {
      case 0:
        cfg.head_dim = in.range(-2, 1);
        break;
      case 1:
        cfg.rotary_dim = 2 * in.range(0, D / 2) + 1;
        break;
      case 2:
        cfg.rotary_dim = D + 1 + in.range(0, 2);
        break;
      case 3:
        cfg.rotary_dim = 0;
        cfg.head_dim = D | 1;
        break;
      case 4:
        cfg.base = in.pick({1.0, 0.5, 0.0, -10.0, std::numeric_limits<double>::infinity(), std::nan("")});
        break;
      case 5:
        cfg.layout = static_cast<PairLayout>(2 + in.range(0, 200));
        break;
      case 6:
        cfg.precision = static_cast<posenc::Precision>(2 + in.range(0, 200));
        break;
      case 7:
        sc.type = static_cast<RopeType>(7 + in.range(0, 200));
        break;
      default:
        (in.flag() ? cfg.max_position_embeddings : sc.original_max_position_embeddings) = -1 - in.range(0, 3);
        break;
    }
  }
  v.must_if(rope_config_invalid(cfg), "an invalid RoPE config");
  return cfg;
}

// seq_len for positions up to max_pos: mostly 0 (max position + 1), else that or more, or less; with
// `negative` (a defect) below 0.
int64_t seq_len_value(Bytes& in, int64_t max_pos, bool negative, Verdict& v) {
  int64_t seq_len = 0;
  const int64_t sl = in.range(0, 7);
  if (sl >= 5) seq_len = std::max<int64_t>(max_pos + 1, 0) + in.range(0, 64);
  if (sl == 7) seq_len = in.range(1, 64);
  if (negative) seq_len = -in.range(1, 3);
  v.must_if(seq_len < 0, "negative seq_len");
  if (seq_len > kMaxPos + 1) v.may("seq_len past 2^31 (positions end at 2^31 - 1)");
  return seq_len;
}

// The attention factor that YaRN and LongRoPE multiply cos/sin by, as rope.hpp states it (1 for the
// other scalings).
double attention_factor(const posenc::RopeConfig& cfg) {
  using posenc::RopeType;
  const posenc::RopeScaling& s = cfg.scaling;
  if (s.type != RopeType::Yarn && s.type != RopeType::LongRope) return 1.0;
  if (s.attention_factor.has_value()) return *s.attention_factor;
  const int64_t lorig = s.original_max_position_embeddings > 0 ? s.original_max_position_embeddings
                                                               : cfg.max_position_embeddings;
  const double scale = s.type == RopeType::Yarn || s.factor != 1.0
                           ? s.factor
                           : static_cast<double>(cfg.max_position_embeddings) / static_cast<double>(lorig);
  if (scale <= 1.0) return 1.0;
  return s.type == RopeType::Yarn ? 0.1 * std::log(scale) + 1.0
                                  : std::sqrt(1.0 + std::log(scale) / std::log(static_cast<double>(lorig)));
}

// Checks cos/sin [N, r] of positions `pos` as got(n, c, is_sin) returns them (dtypes tc, ts): the two HF
// copies of each frequency have the same bits, every value lies within the attention factor (rounded to
// t), and for the default and linear scalings each is within the fp32 recipe's error of cos/sin(p *
// omega_i) in double.
template <typename Get>
void check_cos_sin(const char* op, const posenc::RopeConfig& cfg, const std::vector<int64_t>& pos, DType tc,
                   DType ts, Get&& got) {
  using posenc::RopeType;
  const auto& sc = cfg.scaling;
  const int64_t r = cfg.rot(), half = r / 2;
  const bool split = cfg.layout == posenc::PairLayout::HalfSplit;
  const bool closed = sc.type == RopeType::Default || sc.type == RopeType::Linear;
  const bool hf = cfg.precision == posenc::Precision::HfCompat;
  const double att = attention_factor(cfg);
  // |value| <= att rounded to fp32 and then to the dtype (one ulp more: the library may form att apart).
  auto bound = [&](DType t) {
    const auto lim = static_cast<double>(posenc::round_to(t, static_cast<float>(att)));
    return att == 1.0 ? 1.0 : lim + ulp(t, lim);
  };
  const double bc = bound(tc), bs = bound(ts);
  for (size_t n = 0; n < pos.size(); ++n)
    for (int64_t i = 0; i < half; ++i) {
      const int64_t a = split ? i : 2 * i, b = split ? i + half : 2 * i + 1;
      const auto N = static_cast<int64_t>(n);
      const float ca = got(N, a, false), cb = got(N, b, false), sa = got(N, a, true), sb = got(N, b, true);
      FUZZ_CHECK(std::bit_cast<uint32_t>(ca) == std::bit_cast<uint32_t>(cb) &&
                     std::bit_cast<uint32_t>(sa) == std::bit_cast<uint32_t>(sb),
                 "%s: cos/sin row %zu columns %lld and %lld differ (%.9g %.9g, %.9g %.9g)", op, n,
                 static_cast<long long>(a), static_cast<long long>(b), static_cast<double>(ca),
                 static_cast<double>(cb), static_cast<double>(sa), static_cast<double>(sb));
      FUZZ_CHECK(std::fabs(ca) <= bc && std::fabs(sa) <= bs,
                 "%s: cos/sin at position %lld, frequency %lld = %.9g %.9g, beyond the attention factor %.9g",
                 op, static_cast<long long>(pos[n]), static_cast<long long>(i), static_cast<double>(ca),
                 static_cast<double>(sa), att);
      if (!closed) continue;
      double omega = std::pow(cfg.base, -2.0 * static_cast<double>(i) / static_cast<double>(r));
      if (sc.type == RopeType::Linear) omega /= sc.factor;
      const double angle = static_cast<double>(pos[n]) * omega;
      const double err =
          hf ? 0x1p-22 + angle * (std::log(cfg.base) + 4.0) * 0x1p-22 : 0x1p-23 + angle * 0x1p-50;
      FUZZ_CHECK(close(tc, ca, std::cos(angle), err) && close(ts, sa, std::sin(angle), err),
                 "%s: cos/sin at position %lld, frequency %lld: cos %.9g sin %.9g, expected %.9g %.9g", op,
                 static_cast<long long>(pos[n]), static_cast<long long>(i), static_cast<double>(ca),
                 static_cast<double>(sa), std::cos(angle), std::sin(angle));
    }
}

// cos and sin [N, r] of rope_cos_sin into contiguous f32 buffers (after a call `op` that succeeded with
// these arguments), checked by check_cos_sin: the reference of RoPE and of rope_cos_sin's views.
struct CosSin {
  std::vector<float> cos, sin;
};
CosSin cos_sin_f32(const char* op, const posenc::RopeConfig& cfg, const std::vector<int64_t>& pos,
                   int64_t seq_len) {
  const auto N = static_cast<int64_t>(pos.size());
  const int64_t r = cfg.rot();
  CosSin cs{std::vector<float>(static_cast<size_t>(N * r)), std::vector<float>(static_cast<size_t>(N * r))};
  try {
    posenc::rope_cos_sin(TensorView::contiguous(cs.cos.data(), DType::F32, {N, r}),
                         TensorView::contiguous(cs.sin.data(), DType::F32, {N, r}), cfg, pos, seq_len);
  } catch (const posenc::Error& e) {
    FUZZ_CHECK(false, "%s succeeded but rope_cos_sin of its positions into f32 threw: %s", op, e.what());
  }
  check_cos_sin(op, cfg, pos, DType::F32, DType::F32, [&](int64_t n, int64_t c, bool is_sin) {
    return (is_sin ? cs.sin : cs.cos)[static_cast<size_t>(n * r + c)];
  });
  return cs;
}

// q or k [B, T, H, D]: row-major or any layout, [B, T, H, D] or [B, H, T, D] through bhtd().
Tensor make_qk(Bytes& in, Arena& A, DType dt, int64_t B, int64_t T, int64_t H, int64_t D) {
  if (!in.flag()) return A.make(in, dt, {B, T, H, D});
  Tensor t = A.make(in, dt, {B, H, T, D});
  t.v = posenc::bhtd(t.v);
  return t;
}

void fuzz_rope(Bytes& in, Arena& A, int variant) {
  using posenc::PairLayout;
  const bool backward = (variant & 1) != 0, cached = variant >= 2;
  const char* op = cached ? (backward ? "rope_backward(cache)" : "rope_forward(cache)")
                          : (backward ? "rope_backward" : "rope_forward");
  enum {
    kConfig,
    kQNdim,
    kQDtype,
    kQNull,
    kOutShape,
    kKShape,
    kHeads,
    kKoutNoK,
    kDevice,
    kHeadDim,
    kSeqLen,
    kOverflow,
    kHugeHeads,
    kEmptyCache,
    kCacheShape,
    kNegative,
    kShare,
    kDefects
  };
  const int defect = pick_defect(in, kDefects);
  Verdict v;

  const posenc::RopeConfig cfg = rope_config(in, defect == kConfig, v);
  const int64_t Dq = std::max<int64_t>(cfg.head_dim, 0) + (defect == kHeadDim ? 1 : 0);
  v.must_if(defect == kHeadDim, "q.shape[3] != head_dim");

  const int pkind = static_cast<int>(in.range(0, 7));
  int64_t B = batch_for(in, pkind), T = in.range(0, 9);
  if (cached && in.range(0, 7) != 0) B = std::max<int64_t>(B, 1), T = std::max<int64_t>(T, 1);
  int64_t Hk = in.range(1, 4), Hq = Hk * in.range(1, 3);
  bool has_k = in.range(0, 4) != 0;
  if (defect == kHeads) {
    has_k = true;
    switch (in.range(0, 2)) {
      case 0:
        Hq = 0;
        break;
      case 1:
        Hk = 0;
        break;
      default:
        Hk = in.range(2, 4);
        Hq = Hk * in.range(1, 2) + in.range(1, Hk - 1);
        break;
    }
  }
  v.must_if(Hq < 1, "no query heads");
  v.must_if(has_k && (Hk < 1 || Hq % Hk != 0), "key heads do not divide query heads");

  PosCase pc;
  make_positions(in, A, pkind, B, T, kMaxPos, pc);
  pc.judge(kMaxPos, v);
  const int64_t max_pos = pc.want.empty() ? -1 : *std::max_element(pc.want.begin(), pc.want.end());
  const int64_t seq_len = seq_len_value(in, max_pos, defect == kSeqLen, v);
  // The cache is built for [Bc, Tc]; q may differ (a defect).
  const int64_t Bc = B, Tc = T;
  if (cached) {
    v.must_if(B < 1 || T < 1, "a cache for no tokens");
    if (defect == kCacheShape) (in.flag() ? B : T) += in.pick({int64_t{-1}, int64_t{1}});
    B = std::max<int64_t>(B, 0), T = std::max<int64_t>(T, 0);
    v.must_if(B != Bc || T != Tc, "q does not match the cache's [batch, seq]");
    v.must_if(defect == kEmptyCache, "an empty cache");
  }

  DType dq = float_dtype(in), dk = float_dtype(in);
  const DType dqo = float_dtype(in), dko = float_dtype(in);
  if (defect == kQDtype) dq = in.pick({DType::I32, DType::I64});
  v.must_if(!posenc::is_float(dq), "q is not a float tensor");

  // q and k as head slices of one fused qkv tensor [B, T, Hq + Hk + Hv, D] (one dtype, any layout; v
  // of 0, Hk or Hq heads): interleaved without a shared element, in place, or q written into v.
  const bool fused =
      has_k && defect != kKShape && defect != kOutShape && defect != kShare && in.range(0, 3) == 0;
  if (fused && Hq != Hk && skip("fused_gqa")) v.may("fused q and k of different head counts (an open bug)");
  Tensor whole;
  int64_t Hv = 0;
  if (fused) {
    dk = dq;
    Hv = in.pick({int64_t{0}, Hk, Hq});
    whole = make_qk(in, A, dq, B, T, Hq + Hk + Hv, Dq);
  }
  Tensor q = fused ? heads(whole, 0, Hq) : make_qk(in, A, dq, B, T, Hq, Dq);
  // 0 in place, 1-2 a separate output (fused: 1 into v when it has Hq heads), 3 q_out = q
  const int64_t oq = in.range(0, 3);
  Tensor qo = q;
  if (fused) {
    if (oq == 1 && Hv == Hq) qo = heads(whole, Hq + Hk, Hq);
  } else if (oq == 1 || oq == 2 || defect == kOutShape) {
    std::array<int64_t, 4> s = {B, T, Hq, Dq};
    if (defect == kOutShape) {
      const auto d = static_cast<size_t>(in.range(0, 3));
      s[d] = s[d] == 0 || in.flag() ? s[d] + 1 : s[d] - 1;
      v.must("q_out's shape differs from q's");
    }
    qo = make_qk(in, A, dqo, s[0], s[1], s[2], s[3]);
  }

  Tensor k, ko;
  if (has_k) {
    std::array<int64_t, 4> s = {B, T, Hk, Dq};
    if (defect == kKShape) {
      const auto d = in.pick({size_t{0}, size_t{1}, size_t{3}});
      s[d] = s[d] == 0 || in.flag() ? s[d] + 1 : s[d] - 1;
      v.must("k's shape does not fit q's");
    }
    k = fused ? heads(whole, Hq, Hk) : make_qk(in, A, dk, s[0], s[1], s[2], s[3]);
    ko = k;
    const int64_t ok = in.range(0, 3);
    if (!fused && (ok == 1 || ok == 2)) ko = make_qk(in, A, dko, s[0], s[1], s[2], s[3]);
  }
  const bool q_sep = qo.buf != q.buf, k_sep = has_k && ko.buf != k.buf;  // (not fused)
  if (defect == kShare) {
    Tensor &qw = q_sep ? qo : q, &kw = k_sep ? ko : k;  // the views written
    A.share_any(in, {{&qw, &q}, {&kw, &k}, {&kw, &q}, {&qw, &k}, {&kw, &qw}});
    if (!q_sep) qo = q;
    if (!k_sep) ko = k;
  }
  mark_output(qo);
  v.writable(qo, "q's output aliases itself");
  if (has_k) {
    mark_output(ko);
    v.writable(ko, "k's output aliases itself");
  }
  v.disjoint(qo, q, true, "q_out shares memory with q");
  v.disjoint(ko, k, true, "k_out shares memory with k");
  v.disjoint(ko, q, false, "k's output shares memory with q");
  v.disjoint(qo, k, false, "q's output shares memory with k");
  v.disjoint(ko, qo, false, "the outputs of q and k share memory");
  posenc::RopeTensors t;
  t.q = q.v;
  if (oq != 0 || defect == kOutShape) t.q_out = qo.v;
  if (has_k) {
    t.k = k.v;
    if (k_sep || in.flag()) t.k_out = ko.v;
  }
  switch (defect) {
    case kQNdim:
      t.q.ndim = in.pick({3, 5});
      v.must("q is not 4-d");
      break;
    case kQNull:
      if (null_ok(q.numel())) t.q.data = nullptr;
      if (q.numel() > 0) v.must("q has no data");
      break;
    case kKoutNoK:
      if (!has_k) {
        t.k_out = A.make(in, float_dtype(in), {B, T, 1, Dq}).v;
        v.must("k_out without k");
      }
      break;
    case kDevice:
      if (has_k)
        t.k.device = posenc::Device::CUDA;
      else if (t.q_out.data != nullptr)
        t.q_out.device = posenc::Device::CUDA;
      else
        break;
      v.must("views on two devices");
      break;
    case kOverflow: {
      TensorView* target = in.flag() && has_k ? &t.k : &t.q;
      if (make_overflow(in, *target)) {
        if (target == &t.q && t.q_out.data == q.v.data) t.q_out = t.q;  // q_out = q stays q
        if (target == &t.k && t.k_out.data == k.v.data) t.k_out = t.k;
        v.must("a view whose offsets overflow int64");
      }
      break;
    }
    case kHugeHeads:
      // [B, T, 2^40, D] with head stride 2^40: offsets past 2^63 (in place, no k).
      if (skip_overflow()) break;
      t.q.shape[2] = int64_t{1} << 40;
      t.q.strides[2] = int64_t{1} << 40;
      t.q_out = TensorView{};
      t.k = t.k_out = TensorView{};
      if (t.q.numel() > 0) v.must("a view whose offsets overflow int64");
      break;
    case kNegative:
      if (make_negative(in, in.flag() && has_k ? t.k : t.q)) v.must("a negative extent");
      break;
    default:
      break;
  }

  posenc::RopeCache cache;
  A.save();
  const bool ok = call(op, v, A, {t.q, t.k, t.q_out, t.k_out}, [&] {
    if (!cached) {
      if (backward)
        posenc::rope_backward(t, cfg, pc.pos, seq_len);
      else
        posenc::rope_forward(t, cfg, pc.pos, seq_len);
      return;
    }
    if (defect != kEmptyCache) cache = posenc::make_rope_cache(cfg, pc.pos, Bc, Tc, seq_len);
    if (backward)
      posenc::rope_backward(t, cache);
    else
      posenc::rope_forward(t, cache);
  });
  if (!ok) return;

  const int64_t r = cfg.rot(), half = r / 2;
  const int64_t want_seq = seq_len > 0 ? seq_len : max_pos + 1;
  if (cached)
    FUZZ_CHECK(cache.batch() == Bc && cache.seq() == Tc && cache.seq_len() == want_seq &&
                   cache.config().head_dim == cfg.head_dim,
               "%s: the cache says batch %lld seq %lld seq_len %lld", op,
               static_cast<long long>(cache.batch()), static_cast<long long>(cache.seq()),
               static_cast<long long>(cache.seq_len()));
  const CosSin ref = cos_sin_f32(op, cfg, pc.want, seq_len);
  const bool split = cfg.layout == PairLayout::HalfSplit;
  const double sign = backward ? -1.0 : 1.0;
  auto check = [&](const char* name, const Tensor& x, const Tensor& o, bool in_place) {
    const int64_t H = x.v.size(2);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t tt = 0; tt < T; ++tt)
        for (int64_t h = 0; h < H; ++h) {
          const int64_t n = b * T + tt;
          for (int64_t i = 0; i < half; ++i) {
            const int64_t a = split ? i : 2 * i, c = split ? i + half : 2 * i + 1;
            const double cv = ref.cos[static_cast<size_t>(n * r + a)],
                         sv = sign * ref.sin[static_cast<size_t>(n * r + a)];
            const double xa = x.old({b, tt, h, a}), xc = x.old({b, tt, h, c});
            const double ra = xa * cv - xc * sv, rc = xc * cv + xa * sv;
            // Each fp32 product rounds within 2^-24 of itself (the sum's rounding is in close()'s ulp).
            const double ea = 0x1p-23 * (std::fabs(xa * cv) + std::fabs(xc * sv));
            const double ec = 0x1p-23 * (std::fabs(xc * cv) + std::fabs(xa * sv));
            const float ga = o.now({b, tt, h, a}), gc = o.now({b, tt, h, c});
            FUZZ_CHECK(
                close(o.v.dtype, ga, ra, ea) && close(o.v.dtype, gc, rc, ec),
                "%s %s[%lld, %lld, %lld] pair %lld (dims %lld, %lld): got %.9g %.9g, expected %.9g %.9g "
                "(x %.9g %.9g, cos %.9g sin %.9g, %s -> %s)",
                op, name, static_cast<long long>(b), static_cast<long long>(tt), static_cast<long long>(h),
                static_cast<long long>(i), static_cast<long long>(a), static_cast<long long>(c),
                static_cast<double>(ga), static_cast<double>(gc), ra, rc, xa, xc, cv, sv,
                posenc::dtype_name(x.v.dtype).data(), posenc::dtype_name(o.v.dtype).data());
          }
          for (int64_t d = r; d < x.v.size(3); ++d) {
            const uint32_t want =
                in_place ? o.old_bits({b, tt, h, d}) : to_bits(o.v.dtype, x.old({b, tt, h, d}));
            FUZZ_CHECK(o.now_bits({b, tt, h, d}) == want,
                       "%s %s[%lld, %lld, %lld, %lld] (past the rotary dim) changed", op, name,
                       static_cast<long long>(b), static_cast<long long>(tt), static_cast<long long>(h),
                       static_cast<long long>(d));
          }
        }
  };
  check("q", q, t.q_out.data == nullptr ? q : qo, t.q_out.data == nullptr || same_view(qo.v, q.v));
  if (has_k) check("k", k, ko, same_view(ko.v, k.v));
}

// ---- embed ----

int64_t id_value(Bytes& in, int64_t V, bool bad_ok) {
  const int v = in.u8();
  if (v < 236 || !bad_ok) return v % std::max<int64_t>(V, 1);
  return in.pick(
      {V, V + 1, int64_t{-1}, int64_t{2147483647}, int64_t{1} << 40, std::numeric_limits<int64_t>::min()});
}

Tensor make_ids(Bytes& in, Arena& A, DType dt, int64_t B, int64_t T, int64_t V) {
  Tensor ids = A.make(in, dt, {B, T});
  const bool bad_ok = in.range(0, 3) == 0;
  for_each_index(2, ids.v.shape.data(), [&](const auto& idx) {
    store_int(dt, ids.buf->ptr(offset_of(ids.v, idx)), id_value(in, V, bad_ok));
  });
  return ids;
}

void fuzz_embed(Bytes& in, Arena& A, bool backward) {
  const char* op = backward ? "embed_backward" : "embed_forward";
  enum {
    kEDtype,
    kIdsDtype,
    kOutNdim,
    kOutShape,
    kIdsShape,
    kPeShape,
    kVocab0,
    kRows0,
    kSinCfg,
    kDevice,
    kNull,
    kOverflow,
    kScale,
    kNegative,
    kShare,
    kDefects
  };
  const int defect = pick_defect(in, kDefects);
  Verdict v;
  const int pkind = static_cast<int>(in.range(0, 7));
  const int64_t B = batch_for(in, pkind), T = in.range(0, 9);
  // Forward: a PE table or a sinusoidal config; backward: dPE or none.
  const bool table_src = backward || in.range(0, 2) != 0;
  const bool with_dpe = backward && in.flag();
  posenc::SinusoidalConfig scfg;
  int64_t C = in.range(0, 48);
  if (!table_src) {
    scfg = sin_config(in, defect == kSinCfg, v);
    C = std::max<int64_t>(scfg.dim, 0);
    if (defect == kPeShape) {
      C += 1;
      v.must("sinusoidal dim != C");
    }
  }
  if (!table_src && B == 0 && T >= 2 && skip("empty_batch")) return;
  const int64_t V = defect == kVocab0 ? 0 : in.range(1, 12);
  const int64_t P = defect == kRows0 ? 0
                    : in.flag()      ? in.range(1, 24)
                                     : std::max<int64_t>(T, 1) + in.range(0, 15);
  v.must_if(V == 0, "an empty vocabulary");
  if (table_src && (!backward || with_dpe)) v.must_if(P == 0, "a PE table of no rows");
  float scale = in.pick({1.0f, posenc::embed_scale(posenc::EmbedScale::SqrtC, C), 0.5f, -3.0f, 0.0f});
  if (defect == kScale)
    scale = in.pick({std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                     std::numeric_limits<float>::quiet_NaN()});
  v.must_if(!std::isfinite(scale), "a non-finite scale");

  PosCase pc;
  make_positions(in, A, pkind, B, T, table_src ? P - 1 : kMaxPos, pc);
  if (!backward || with_dpe) {
    pc.judge(table_src ? P - 1 : kMaxPos, v);
  } else {  // no dPE: nothing needs the positions
    Verdict unused;
    pc.judge(kMaxPos, unused);
    if (unused.e != Expect::Ok) v.may("positions that no dPE needs");
  }

  DType ids_dt = in.pick({DType::I32, DType::I64});
  if (defect == kIdsDtype) ids_dt = in.pick({DType::F32, DType::BF16, DType::F16});
  v.must_if(!posenc::is_int(ids_dt), "ids are not integers");
  int64_t Bi = B, Ti = T;
  if (defect == kIdsShape) {
    (in.flag() ? Bi : Ti) += 1;
    v.must("ids do not match [B, T]");
  }
  Tensor ids = make_ids(in, A, ids_dt, Bi, Ti, V);
  if (posenc::is_int(ids_dt) && Bi == B && Ti == T)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) {
        const int64_t id = load_int(ids_dt, ids.buf->ptr(ids.off({b, t})));
        v.must_if(id < 0 || id >= V, "an id outside [0, V)");
      }

  DType e_dt = float_dtype(in);
  if (defect == kEDtype) e_dt = in.pick({DType::I32, DType::I64});
  v.must_if(!posenc::is_float(e_dt), (backward ? "dE is not a float tensor" : "E is not a float tensor"));
  const DType o_dt = float_dtype(in), p_dt = float_dtype(in);
  const int64_t Cp = table_src && defect == kPeShape ? C + 1 : C;
  if (table_src && defect == kPeShape && (!backward || with_dpe)) v.must("the PE table's C differs");
  const int64_t Co = defect == kOutShape ? C + 1 : C;
  v.must_if(defect == kOutShape, "out's C differs from E's");

  // E / dE [V, C], out / dout [B, T, Co], PE / dPE [P, Cp].
  Tensor E = A.make(in, e_dt, {V, C});
  Tensor out = A.make(in, o_dt, {B, T, Co});
  Tensor pe;
  if (table_src && (!backward || with_dpe)) pe = A.make(in, p_dt, {P, Cp});
  if (backward) {
    if (defect == kShare) A.share_any(in, {{&E, &out}, {&E, &ids}, {&pe, &out}, {&pe, &ids}, {&pe, &E}});
    mark_output(E);
    v.writable(E, "dE aliases itself");
    v.disjoint(E, out, false, "dE shares memory with dout");
    v.disjoint(E, ids, false, "dE shares memory with ids");
    if (pe.buf != nullptr) {
      mark_output(pe);
      v.writable(pe, "dPE aliases itself");
      v.disjoint(pe, out, false, "dPE shares memory with dout");
      v.disjoint(pe, ids, false, "dPE shares memory with ids");
      v.disjoint(pe, E, false, "dPE shares memory with dE");
    }
  } else {
    if (defect == kShare) A.share_any(in, {{&out, &E}, {&out, &ids}, {&out, &pe}});
    mark_output(out);
    v.writable(out, "out aliases itself");
    v.disjoint(out, E, false, "out shares memory with E");
    v.disjoint(out, ids, false, "out shares memory with ids");
    v.disjoint(out, pe, false, "out shares memory with the PE table");
  }
  TensorView ev = E.v, ov = out.v, pv = pe.v, iv = ids.v;
  switch (defect) {
    case kOutNdim:
      ov.ndim = 2;
      v.must("out / dout is not 3-d");
      break;
    case kDevice:
      (in.flag() ? ev : iv).device = posenc::Device::CUDA;
      v.must("views on two devices");
      break;
    case kNull:
      if (null_ok(E.numel())) ev.data = nullptr;
      if (E.numel() > 0) v.must("E / dE has no data");
      break;
    case kOverflow: {
      const int64_t which = in.range(0, 2);
      TensorView& tv = which == 0 ? ev : which == 1 ? ov : pv;
      if (tv.data != nullptr && make_overflow(in, tv)) v.must("a view whose offsets overflow int64");
      break;
    }
    case kNegative: {
      const int64_t which = in.range(0, 2);
      if (make_negative(in, which == 0 ? ev : which == 1 ? ov : iv)) v.must("a negative extent");
      break;
    }
    default:
      break;
  }

  A.save();
  const bool ok = call(op, v, A, {ov, iv, ev, pv}, [&] {
    if (!backward) {
      const posenc::PeSource src =
          table_src ? posenc::PeSource::table(pv) : posenc::PeSource::sinusoidal(scfg);
      posenc::embed_forward(ov, iv, ev, src, pc.pos, scale);
    } else {
      posenc::embed_backward(ev, pv, ov, iv, pc.pos, scale);
    }
  });
  if (!ok) return;

  const int64_t N = B * T;
  if (!backward) {
    const std::vector<float> rows = table_src ? std::vector<float>{} : sin_rows(op, scfg, pc.want);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) {
        const int64_t n = b * T + t, id = ids.old_int({b, t}), p = pc.want[static_cast<size_t>(n)];
        for (int64_t c = 0; c < C; ++c) {
          const float e = E.old({id, c});
          const float pev = table_src ? pe.old({p, c}) : rows[static_cast<size_t>(n * C + c)];
          const float want = add32(mul32(e, scale), pev);
          FUZZ_CHECK(out.now_bits({b, t, c}) == to_bits(o_dt, want),
                     "%s out[%lld, %lld, %lld] = %.9g, expected %.9g (E[%lld] %.9g * %g + PE[%lld] %.9g)", op,
                     static_cast<long long>(b), static_cast<long long>(t), static_cast<long long>(c),
                     static_cast<double>(out.now({b, t, c})), static_cast<double>(want),
                     static_cast<long long>(id), static_cast<double>(e), static_cast<double>(scale),
                     static_cast<long long>(p), static_cast<double>(pev));
        }
      }
    return;
  }
  // Backward: each row of dE (dPE) += scale (1) * its tokens' dout rows summed in token order in fp32.
  auto check_rows = [&](const char* name, const Tensor& dst, int64_t rows, float s, auto key_of) {
    for (int64_t k = 0; k < rows; ++k)
      for (int64_t c = 0; c < C; ++c) {
        float acc = 0.0f;
        bool hit = false;
        for (int64_t n = 0; n < N; ++n)
          if (key_of(n) == k) {
            acc = add32(acc, out.old({n / T, n % T, c}));
            hit = true;
          }
        const uint32_t want =
            hit ? to_bits(dst.v.dtype, add32(dst.old({k, c}), mul32(s, acc))) : dst.old_bits({k, c});
        FUZZ_CHECK(dst.now_bits({k, c}) == want, "%s %s[%lld, %lld] = %.9g, expected %.9g (%s)", op, name,
                   static_cast<long long>(k), static_cast<long long>(c), static_cast<double>(dst.now({k, c})),
                   static_cast<double>(from_bits(dst.v.dtype, want)), hit ? "summed" : "no token: untouched");
      }
  };
  check_rows("dE", E, V, scale, [&](int64_t n) { return ids.old_int({n / T, n % T}); });
  if (pe.buf != nullptr)
    check_rows("dPE", pe, P, 1.0f, [&](int64_t n) { return pc.want[static_cast<size_t>(n)]; });
}

// ---- learned ----

void fuzz_learned(Bytes& in, Arena& A, int which) {
  const char* op = which == 0 ? "learned_forward" : which == 1 ? "learned_add" : "learned_backward";
  enum { kRows0, kCols0, kShape, kNdim, kDtype, kDevice, kNull, kOverflow, kNegative, kShare, kDefects };
  const int defect = pick_defect(in, kDefects);
  Verdict v;
  const int pkind = static_cast<int>(in.range(0, 7));
  const int64_t B = batch_for(in, pkind), T = in.range(0, 9);
  const int64_t P = defect == kRows0 ? 0
                    : in.flag()      ? in.range(1, 24)
                                     : std::max<int64_t>(T, 1) + in.range(0, 15);
  const int64_t C = defect == kCols0 ? 0 : in.range(1, 48);
  v.must_if(P == 0, "a table of no rows");
  v.must_if(C == 0, "a table of no channels");
  PosCase pc;
  make_positions(in, A, pkind, B, T, P - 1, pc);
  pc.judge(P - 1, v);
  DType w_dt = float_dtype(in);
  const DType x_dt = float_dtype(in);
  if (defect == kDtype) w_dt = in.pick({DType::I32, DType::I64});
  v.must_if(!posenc::is_float(w_dt), "the table is not a float tensor");
  const int64_t Cx = defect == kShape ? C + 1 : C;
  v.must_if(defect == kShape, "x's C differs from the table's");
  Tensor W = A.make(in, w_dt, {P, C});
  Tensor x = A.make(in, x_dt, {B, T, Cx});
  Tensor &dst = which == 2 ? W : x, &src = which == 2 ? x : W;
  if (defect == kShare) A.share(in, dst, src);
  mark_output(dst);
  v.writable(dst, which == 2 ? "dtable aliases itself" : "the output aliases itself");
  v.disjoint(dst, src, false, "the output shares memory with the other view");
  TensorView wv = W.v, xv = x.v;
  if (defect == kDevice) {
    (in.flag() ? wv : xv).device = posenc::Device::CUDA;
    v.must("views on two devices");
  }
  apply_view_defect(in, v, defect, {kNdim, kNull, kOverflow, kNegative}, {1, 2, 3, 4},
                    "a view of the wrong rank", "the table has no data", wv, &xv);
  A.save();
  const bool ok = call(op, v, A, {xv, wv}, [&] {
    if (which == 0)
      posenc::learned_forward(xv, wv, pc.pos);
    else if (which == 1)
      posenc::learned_add(xv, wv, pc.pos);
    else
      posenc::learned_backward(wv, xv, pc.pos);
  });
  if (!ok) return;
  if (which < 2) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t p = pc.want[static_cast<size_t>(b * T + t)];
          const float w = W.old({p, c});
          const float want = which == 0 ? w : add32(x.old({b, t, c}), w);
          FUZZ_CHECK(x.now_bits({b, t, c}) == to_bits(x_dt, want),
                     "%s x[%lld, %lld, %lld] = %.9g, expected %.9g", op, static_cast<long long>(b),
                     static_cast<long long>(t), static_cast<long long>(c),
                     static_cast<double>(x.now({b, t, c})), static_cast<double>(want));
        }
    return;
  }
  const int64_t N = B * T;
  for (int64_t p = 0; p < P; ++p)
    for (int64_t c = 0; c < C; ++c) {
      float acc = 0.0f;
      bool hit = false;
      for (int64_t n = 0; n < N; ++n)
        if (pc.want[static_cast<size_t>(n)] == p) {
          acc = add32(acc, x.old({n / T, n % T, c}));
          hit = true;
        }
      const uint32_t want = hit ? to_bits(w_dt, add32(W.old({p, c}), acc)) : W.old_bits({p, c});
      FUZZ_CHECK(W.now_bits({p, c}) == want, "%s dtable[%lld, %lld] = %.9g, expected %.9g", op,
                 static_cast<long long>(p), static_cast<long long>(c), static_cast<double>(W.now({p, c})),
                 static_cast<double>(from_bits(w_dt, want)));
    }
}

// ---- sinusoidal ----

void fuzz_sin_table(Bytes& in, Arena& A, int form) {
  const char* op = form == 0   ? "sinusoidal_table(positions)"
                   : form == 1 ? "sinusoidal_table(first)"
                               : "sinusoidal_table(num_positions)";
  enum { kConfig, kShape, kNdim, kDtype, kNull, kOverflow, kRange, kNegative, kDefects };
  const int defect = pick_defect(in, kDefects);
  Verdict v;
  const posenc::SinusoidalConfig cfg = sin_config(in, defect == kConfig, v);
  const int64_t N = in.range(0, 12), d = std::max<int64_t>(cfg.dim, 0);
  if (form == 2) {
    int64_t num = N;
    if (defect == kRange) num = in.pick({int64_t{-1}, kMaxPos + 2, std::numeric_limits<int64_t>::min()});
    v.must_if(num < 0 || num > kMaxPos + 1, "num_positions out of range");
    std::vector<float> table;
    A.save();
    if (!call(op, v, A, {}, [&] { table = posenc::sinusoidal_table(cfg, num); })) return;
    FUZZ_CHECK(static_cast<int64_t>(table.size()) == num * d, "%s: %zu values for %lld x %lld", op,
               table.size(), static_cast<long long>(num), static_cast<long long>(d));
    for (int64_t n = 0; n < num; ++n)
      check_sin_row(op, cfg, n, DType::F32, [&](int64_t c) { return table[static_cast<size_t>(n * d + c)]; });
    return;
  }
  std::vector<int64_t> pos;
  int64_t first = 0;
  if (form == 0) {
    const bool bad_ok = in.range(0, 3) == 0;
    for (int64_t n = 0; n < N; ++n) pos.push_back(pos_value(in, kMaxPos, bad_ok));
    for (int64_t p : pos) v.must_if(p < 0 || p > kMaxPos, "a position out of range");
  } else {
    first = pos_value(in, kMaxPos - N + 1);
    if (defect == kRange)
      first = in.pick({int64_t{-1}, kMaxPos - N + 2, std::numeric_limits<int64_t>::max()});
    const bool bad = first < 0 || first > kMaxPos || (N > 0 && first > kMaxPos - N + 1);
    if (N > 0)
      v.must_if(bad, "first out of range");
    else if (bad)
      v.may("first out of range, for no rows");
    if (!bad)
      for (int64_t n = 0; n < N; ++n) pos.push_back(first + n);
  }
  int64_t rows = N, cols = d;
  if (defect == kShape) {
    (form == 0 && in.flag() ? rows : cols) += 1;  // the first form takes N from out
    v.must("out's shape does not match");
  }
  DType dt = float_dtype(in);
  if (defect == kDtype) dt = in.pick({DType::I32, DType::I64});
  v.must_if(!posenc::is_float(dt), "out is not a float tensor");
  Tensor out = A.make(in, dt, {rows, cols});
  mark_output(out);
  v.writable(out, "out aliases itself");
  TensorView ov = out.v;
  apply_view_defect(in, v, defect, {kNdim, kNull, kOverflow, kNegative}, {1, 3}, "out is not 2-d",
                    "out has no data", ov);
  A.save();
  if (!call(op, v, A, {ov}, [&] {
        if (form == 0)
          posenc::sinusoidal_table(ov, cfg, std::span<const int64_t>(pos));
        else
          posenc::sinusoidal_table(ov, cfg, first);
      }))
    return;
  for (int64_t n = 0; n < N; ++n)
    check_sin_row(op, cfg, pos[static_cast<size_t>(n)], dt, [&](int64_t c) { return out.now({n, c}); });
}

void fuzz_sin_add(Bytes& in, Arena& A) {
  const char* op = "sinusoidal_add";
  enum { kConfig, kShape, kNdim, kDtype, kNull, kOverflow, kNegative, kDefects };
  const int defect = pick_defect(in, kDefects);
  Verdict v;
  const posenc::SinusoidalConfig cfg = sin_config(in, defect == kConfig, v);
  const int pkind = static_cast<int>(in.range(0, 7));
  const int64_t B = batch_for(in, pkind), T = in.range(0, 9), d = std::max<int64_t>(cfg.dim, 0);
  if (B == 0 && T >= 2 && skip("empty_batch")) return;
  PosCase pc;
  make_positions(in, A, pkind, B, T, kMaxPos, pc);
  pc.judge(kMaxPos, v);
  DType dt = float_dtype(in);
  if (defect == kDtype) dt = in.pick({DType::I32, DType::I64});
  v.must_if(!posenc::is_float(dt), "x is not a float tensor");
  const int64_t Cx = defect == kShape ? d + 1 : d;
  v.must_if(defect == kShape, "x's C differs from dim");
  Tensor x = A.make(in, dt, {B, T, Cx});
  mark_output(x);
  v.writable(x, "x aliases itself");
  TensorView xv = x.v;
  apply_view_defect(in, v, defect, {kNdim, kNull, kOverflow, kNegative}, {2, 4}, "x is not 3-d",
                    "x has no data", xv);
  A.save();
  if (!call(op, v, A, {xv}, [&] { posenc::sinusoidal_add(xv, cfg, pc.pos); })) return;
  const std::vector<float> rows = sin_rows(op, cfg, pc.want);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < d; ++c) {
        const float want = add32(x.old({b, t, c}), rows[static_cast<size_t>((b * T + t) * d + c)]);
        FUZZ_CHECK(x.now_bits({b, t, c}) == to_bits(dt, want), "%s x[%lld, %lld, %lld] = %.9g, expected %.9g",
                   op, static_cast<long long>(b), static_cast<long long>(t), static_cast<long long>(c),
                   static_cast<double>(x.now({b, t, c})), static_cast<double>(want));
      }
}

// ---- attention biases ----

// Positions of Tq queries / Tk keys: a run from a start, or values each.
std::vector<int64_t> bias_positions(Bytes& in, int64_t n) {
  std::vector<int64_t> p;
  if (in.flag()) {
    const int64_t s = pos_value(in, kMaxPos - n + 1);
    for (int64_t i = 0; i < n; ++i) p.push_back(s + i);
  } else {
    const bool bad_ok = in.range(0, 3) == 0;
    for (int64_t i = 0; i < n; ++i) p.push_back(pos_value(in, kMaxPos, bad_ok));
  }
  return p;
}

bool positions_bad(const std::vector<int64_t>& p) {
  for (int64_t x : p)
    if (x < 0 || x > kMaxPos) return true;
  return false;
}

void fuzz_alibi(Bytes& in, Arena& A) {
  const char* op = "alibi_bias";
  enum { kHeads, kMaxBias, kEnum, kMasked, kShape, kNdim, kDtype, kNull, kOverflow, kNegative, kDefects };
  const int defect = pick_defect(in, kDefects);
  Verdict v;
  posenc::AlibiConfig cfg;
  cfg.num_heads = defect == kHeads ? in.range(-2, 0) : in.range(1, 12);
  cfg.max_bias = in.pick({8.0, 8.0, 4.0, 16.0, 1.5, 0.25});
  if (defect == kMaxBias)
    cfg.max_bias = in.pick({0.0, -1.0, std::numeric_limits<double>::infinity(), std::nan("")});
  cfg.form = in.flag() ? posenc::AlibiForm::KeyPosition : posenc::AlibiForm::Relative;
  cfg.mask = in.flag() ? posenc::AlibiMask::Causal : posenc::AlibiMask::None;
  cfg.masked_value = in.pick({-std::numeric_limits<float>::infinity(), -1e4f,
                              std::numeric_limits<float>::lowest(), -65504.0f, 0.0f, 1e30f});
  if (defect == kEnum) {
    if (in.flag())
      cfg.form = static_cast<posenc::AlibiForm>(2 + in.range(0, 200));
    else
      cfg.mask = static_cast<posenc::AlibiMask>(2 + in.range(0, 200));
  }
  if (defect == kMasked) cfg.masked_value = std::numeric_limits<float>::quiet_NaN();
  v.must_if(cfg.num_heads < 1 || !std::isfinite(cfg.max_bias) || cfg.max_bias <= 0 ||
                static_cast<int>(cfg.form) > 1 || static_cast<int>(cfg.mask) > 1 ||
                std::isnan(cfg.masked_value),
            "an invalid ALiBi config");
  const int64_t Tq = in.range(0, 9), Tk = in.range(0, 9);
  const std::vector<int64_t> qp = bias_positions(in, Tq), kp = bias_positions(in, Tk);
  v.must_if(positions_bad(qp) || positions_bad(kp), "a position out of range");
  const int64_t H = std::max<int64_t>(cfg.num_heads, 0);
  std::array<int64_t, 3> s = {H, Tq, Tk};
  if (defect == kShape) {
    const auto d = static_cast<size_t>(in.range(0, 2));
    s[d] = s[d] == 0 || in.flag() ? s[d] + 1 : s[d] - 1;
    v.must("out's shape does not match");
  }
  DType dt = float_dtype(in);
  if (defect == kDtype) dt = in.pick({DType::I32, DType::I64});
  v.must_if(!posenc::is_float(dt), "out is not a float tensor");
  Tensor out = A.make(in, dt, {s[0], s[1], s[2]});
  mark_output(out);
  v.writable(out, "out aliases itself");
  TensorView ov = out.v;
  apply_view_defect(in, v, defect, {kNdim, kNull, kOverflow, kNegative}, {2, 4}, "out is not 3-d",
                    "out has no data", ov);
  // The header's slopes, and each value as the kernel forms it (slope * distance in double, one rounding
  // to fp32).
  const bool causal = cfg.mask == posenc::AlibiMask::Causal,
             key_form = cfg.form == posenc::AlibiForm::KeyPosition;
  std::vector<double> slope(static_cast<size_t>(H));
  int64_t pow2 = 1;
  while (pow2 * 2 <= H) pow2 *= 2;
  for (int64_t h = 0; h < H; ++h)
    slope[static_cast<size_t>(h)] =
        h < pow2 ? std::exp2(-cfg.max_bias * static_cast<double>(h + 1) / static_cast<double>(pow2))
                 : std::exp2(-cfg.max_bias * static_cast<double>(2 * (h - pow2) + 1) /
                             static_cast<double>(2 * pow2));
  auto value = [&](int64_t h, int64_t i, int64_t j, bool& masked) {
    const int64_t qi = qp[static_cast<size_t>(i)], kj = kp[static_cast<size_t>(j)];
    masked = causal && kj > qi;
    if (masked) return static_cast<double>(cfg.masked_value);
    return slope[static_cast<size_t>(h)] * static_cast<double>(key_form ? kj : -std::abs(qi - kj));
  };
  if (dt == DType::F16 && v.e != Expect::MustFail && H * Tq * Tk > 0) {
    bool overflow = false;
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Tq; ++i)
        for (int64_t j = 0; j < Tk; ++j) {
          bool masked;
          const double x = value(h, i, j, masked);
          if (!masked && std::isinf(posenc::round_to(DType::F16, static_cast<float>(x)))) overflow = true;
        }
    v.must_if(overflow, "f16 output that overflows");
  }
  A.save();
  if (!call(op, v, A, {ov}, [&] { posenc::alibi_bias(ov, cfg, qp, kp); })) return;
  const std::vector<double> lib = posenc::alibi_slopes(H, cfg.max_bias);
  for (int64_t h = 0; h < H; ++h) {
    const double a = lib[static_cast<size_t>(h)], b = slope[static_cast<size_t>(h)];
    FUZZ_CHECK(a > 0 && a < 1 && std::fabs(a - b) <= 1e-15 * b,
               "alibi_slopes(%lld, %g)[%lld] = %.17g, expected %.17g", static_cast<long long>(H),
               cfg.max_bias, static_cast<long long>(h), a, b);
  }
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < Tq; ++i)
      for (int64_t j = 0; j < Tk; ++j) {
        bool masked;
        const double x = value(h, i, j, masked);
        const float got = out.now({h, i, j});
        const bool good = masked ? out.now_bits({h, i, j}) == to_bits(dt, cfg.masked_value)
                                 : close(dt, got, static_cast<double>(static_cast<float>(x)), 0.0);
        FUZZ_CHECK(good, "%s out[%lld, %lld, %lld] = %.9g, expected %.9g (q %lld, k %lld, %s)", op,
                   static_cast<long long>(h), static_cast<long long>(i), static_cast<long long>(j),
                   static_cast<double>(got), x, static_cast<long long>(qp[static_cast<size_t>(i)]),
                   static_cast<long long>(kp[static_cast<size_t>(j)]), masked ? "masked" : "unmasked");
      }
}

// bucket(r) as t5_bias.hpp states it (HF's float32 steps).
int64_t t5_bucket(int64_t r, const posenc::T5BiasConfig& cfg) {
  const int64_t n = cfg.bidirectional ? cfg.num_buckets / 2 : cfg.num_buckets;
  const int64_t offset = cfg.bidirectional && r > 0 ? n : 0;
  const int64_t d = cfg.bidirectional ? (r < 0 ? -r : r) : std::max<int64_t>(-r, 0);
  const int64_t e = n / 2;
  if (d < e) return offset + d;
  const float ratio = static_cast<float>(d) / static_cast<float>(e);
  const auto lg = static_cast<float>(std::log(static_cast<double>(ratio)));
  const auto lr =
      static_cast<float>(std::log(static_cast<double>(cfg.max_distance) / static_cast<double>(e)));
  const float x = lg / lr * static_cast<float>(n - e);
  if (static_cast<double>(x) >= static_cast<double>(n - e)) return offset + n - 1;
  return offset + std::min(e + static_cast<int64_t>(x), n - 1);
}

void fuzz_t5(Bytes& in, Arena& A, bool backward) {
  const char* op = backward ? "t5_bias_backward" : "t5_bias_forward";
  enum {
    kBuckets,
    kDistance,
    kTableShape,
    kShape,
    kNdim,
    kDtype,
    kDevice,
    kNull,
    kOverflow,
    kNegative,
    kShare,
    kDefects
  };
  const int defect = pick_defect(in, kDefects);
  Verdict v;
  posenc::T5BiasConfig cfg;
  cfg.bidirectional = in.flag();
  const int64_t lowest = cfg.bidirectional ? 4 : 2;
  cfg.num_buckets = in.range(lowest, 40);
  if (defect == kBuckets) cfg.num_buckets = in.range(-1, lowest - 1);
  const int64_t e = (cfg.bidirectional ? cfg.num_buckets / 2 : cfg.num_buckets) / 2;
  cfg.max_distance = e + in.range(1, 150);
  if (defect == kDistance) cfg.max_distance = in.flag() ? e - in.range(0, 2) : kMaxPos + 1;
  v.must_if(cfg.num_buckets < lowest || cfg.max_distance <= e || cfg.max_distance > kMaxPos,
            "an invalid T5 config");
  const int64_t H = in.range(0, 6), Tq = in.range(0, 9), Tk = in.range(0, 9);
  const std::vector<int64_t> qp = bias_positions(in, Tq), kp = bias_positions(in, Tk);
  v.must_if(positions_bad(qp) || positions_bad(kp), "a position out of range");
  const int64_t NB = std::max<int64_t>(cfg.num_buckets, 0);
  std::array<int64_t, 2> ts = {NB, H};
  std::array<int64_t, 3> bs = {H, Tq, Tk};
  if (defect == kTableShape) {
    ts[0] += 1;
    v.must("the table's rows differ from num_buckets");
  }
  if (defect == kShape) {
    const auto d = static_cast<size_t>(in.range(0, 2));
    bs[d] = bs[d] == 0 || in.flag() ? bs[d] + 1 : bs[d] - 1;
    v.must("the bias shape does not match");
  }
  DType w_dt = float_dtype(in);
  const DType b_dt = float_dtype(in);
  if (defect == kDtype) w_dt = in.pick({DType::I32, DType::I64});
  v.must_if(!posenc::is_float(w_dt), "the table is not a float tensor");
  Tensor W = A.make(in, w_dt, {ts[0], ts[1]});
  Tensor bias = A.make(in, b_dt, {bs[0], bs[1], bs[2]});
  Tensor &dst = backward ? W : bias, &src = backward ? bias : W;
  if (defect == kShare) A.share(in, dst, src);
  mark_output(dst);
  v.writable(dst, backward ? "dtable aliases itself" : "out aliases itself");
  v.disjoint(dst, src, false, "the output shares memory with the other view");
  TensorView wv = W.v, bv = bias.v;
  if (defect == kDevice) {
    wv.device = posenc::Device::CUDA;
    v.must("views on two devices");
  }
  apply_view_defect(in, v, defect, {kNdim, kNull, kOverflow, kNegative}, {1, 4}, "a view of the wrong rank",
                    "the table has no data", wv, &bv);
  A.save();
  if (!call(op, v, A, {wv, bv}, [&] {
        if (backward)
          posenc::t5_bias_backward(wv, bv, cfg, qp, kp);
        else
          posenc::t5_bias_forward(bv, wv, cfg, qp, kp);
      }))
    return;
  std::vector<int64_t> bucket(static_cast<size_t>(Tq * Tk));
  for (int64_t i = 0; i < Tq; ++i)
    for (int64_t j = 0; j < Tk; ++j) {
      const int64_t r = kp[static_cast<size_t>(j)] - qp[static_cast<size_t>(i)];
      const int64_t b = t5_bucket(r, cfg), lib = posenc::t5_relative_bucket(r, cfg);
      FUZZ_CHECK(b == lib, "t5_relative_bucket(%lld) = %lld, expected %lld (N %lld, D %lld, %s)",
                 static_cast<long long>(r), static_cast<long long>(lib), static_cast<long long>(b),
                 static_cast<long long>(cfg.num_buckets), static_cast<long long>(cfg.max_distance),
                 cfg.bidirectional ? "bidirectional" : "causal");
      bucket[static_cast<size_t>(i * Tk + j)] = b;
    }
  if (!backward) {
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Tq; ++i)
        for (int64_t j = 0; j < Tk; ++j) {
          const int64_t b = bucket[static_cast<size_t>(i * Tk + j)];
          FUZZ_CHECK(bias.now_bits({h, i, j}) == to_bits(b_dt, W.old({b, h})),
                     "%s out[%lld, %lld, %lld] = %.9g, expected W[%lld, %lld] = %.9g", op,
                     static_cast<long long>(h), static_cast<long long>(i), static_cast<long long>(j),
                     static_cast<double>(bias.now({h, i, j})), static_cast<long long>(b),
                     static_cast<long long>(h), static_cast<double>(W.old({b, h})));
        }
    return;
  }
  for (int64_t b = 0; b < NB; ++b)
    for (int64_t h = 0; h < H; ++h) {
      double sum = 0, mag = 0;
      int64_t count = 0;
      for (int64_t i = 0; i < Tq; ++i)
        for (int64_t j = 0; j < Tk; ++j)
          if (bucket[static_cast<size_t>(i * Tk + j)] == b) {
            const double g = bias.old({h, i, j});
            sum += g;
            mag += std::fabs(g);
            ++count;
          }
      if (count == 0) {
        FUZZ_CHECK(W.now_bits({b, h}) == W.old_bits({b, h}),
                   "%s dtable[%lld, %lld]: no pair in the bucket, but changed", op, static_cast<long long>(b),
                   static_cast<long long>(h));
        continue;
      }
      const double old = W.old({b, h}), want = old + sum;
      const double err = 0x1p-24 * static_cast<double>(count + 1) * (mag + std::fabs(old));
      FUZZ_CHECK(close(w_dt, W.now({b, h}), want, err), "%s dtable[%lld, %lld] = %.9g, expected %.9g", op,
                 static_cast<long long>(b), static_cast<long long>(h), static_cast<double>(W.now({b, h})),
                 want);
    }
}

// ---- rope_cos_sin ----

void fuzz_cos_sin(Bytes& in, Arena& A) {
  const char* op = "rope_cos_sin";
  enum {
    kConfig,
    kShape,
    kNdim,
    kDtype,
    kDevice,
    kNull,
    kOverflow,
    kNegative,
    kPosition,
    kSeqLen,
    kAlias,
    kShare,
    kDefects
  };
  const int defect = pick_defect(in, kDefects);
  Verdict v;
  const posenc::RopeConfig cfg = rope_config(in, defect == kConfig, v);
  const int64_t N = in.range(0, 12), r = std::max<int64_t>(cfg.rot(), 0);
  std::vector<int64_t> pos = bias_positions(in, N);
  if (defect == kPosition && N > 0)
    pos[static_cast<size_t>(in.range(0, N - 1))] =
        in.pick({int64_t{-1}, kMaxPos + 1, int64_t{1} << 40, std::numeric_limits<int64_t>::min()});
  v.must_if(positions_bad(pos), "a position out of range");
  const int64_t max_pos = pos.empty() ? -1 : *std::max_element(pos.begin(), pos.end());
  const int64_t seq_len = seq_len_value(in, max_pos, defect == kSeqLen, v);
  v.must_if(seq_len > kMaxPos + 1, "seq_len past 2^31");

  DType dc = float_dtype(in), ds = float_dtype(in);
  if (defect == kDtype) (in.flag() ? dc : ds) = in.pick({DType::I32, DType::I64});
  v.must_if(!posenc::is_float(dc) || !posenc::is_float(ds), "cos or sin is not a float tensor");
  std::array<int64_t, 4> s = {N, r, N, r};  // cos [N, r], sin [N, r]
  if (defect == kShape) {
    const auto d = static_cast<size_t>(in.range(0, 3));
    s[d] = s[d] == 0 || in.flag() ? s[d] + 1 : s[d] - 1;
    v.must("cos or sin is not [N, r]");
  }
  Spec sc = layout(in, dc, {s[0], s[1]}), ss = layout(in, ds, {s[2], s[3]});
  if (defect == kAlias) make_alias(in, in.flag() ? sc : ss);
  Tensor cos_t = A.make(sc), sin_t = A.make(ss);
  if (defect == kShare && !skip("cos_sin_share")) A.share(in, cos_t, sin_t);
  mark_output(cos_t);
  mark_output(sin_t);
  v.writable(cos_t, "cos aliases itself");
  v.writable(sin_t, "sin aliases itself");
  v.disjoint(cos_t, sin_t, false, "cos and sin share memory");
  TensorView cv = cos_t.v, sv = sin_t.v;
  if (defect == kDevice) {
    (in.flag() ? cv : sv).device = posenc::Device::CUDA;
    v.must("a view on another device");
  }
  apply_view_defect(in, v, defect, {kNdim, kNull, kOverflow, kNegative}, {1, 3}, "cos or sin is not 2-d",
                    "cos has no data", cv, &sv);
  A.save();
  if (!call(op, v, A, {cv, sv}, [&] { posenc::rope_cos_sin(cv, sv, cfg, pos, seq_len); })) return;
  // The bits of the same call into f32, rounded once to each view's dtype.
  const CosSin ref = cos_sin_f32(op, cfg, pos, seq_len);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < r; ++c) {
      const float wc = ref.cos[static_cast<size_t>(n * r + c)], ws = ref.sin[static_cast<size_t>(n * r + c)];
      FUZZ_CHECK(cos_t.now_bits({n, c}) == to_bits(dc, wc) && sin_t.now_bits({n, c}) == to_bits(ds, ws),
                 "%s: cos/sin[%lld, %lld] = %.9g %.9g (%s %s), the f32 call's %.9g %.9g", op,
                 static_cast<long long>(n), static_cast<long long>(c), static_cast<double>(cos_t.now({n, c})),
                 static_cast<double>(sin_t.now({n, c})), posenc::dtype_name(dc).data(),
                 posenc::dtype_name(ds).data(), static_cast<double>(wc), static_cast<double>(ws));
    }
  check_cos_sin(op, cfg, pos, dc, ds, [&](int64_t n, int64_t c, bool is_sin) {
    return (is_sin ? sin_t : cos_t).now({n, c});
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes in(data, size);
  const int op = in.u8() % 17;
  // One input in 32 on two threads (results must not depend on it; more would only slow a loaded
  // machine); bit 3: outputs of any size take the non-temporal streaming paths (normally past 16 MiB).
  const int mode = in.u8();
  posenc::set_num_threads(mode % 32 == 0 ? 2 : 1);
  posenc::detail::cpu::set_stream_min_bytes_for_test((mode & 8) != 0 ? 0 : -1);
  Rng rng{in.u64()};
  Arena A(rng);
  try {
    switch (op) {
      case 0:
      case 1:
      case 2:
      case 3:
        fuzz_rope(in, A, op);
        break;
      case 4:
      case 5:
        fuzz_embed(in, A, op == 5);
        break;
      case 6:
      case 7:
      case 8:
        fuzz_learned(in, A, op - 6);
        break;
      case 9:
      case 10:
      case 11:
        fuzz_sin_table(in, A, op - 9);
        break;
      case 12:
        fuzz_sin_add(in, A);
        break;
      case 13:
        fuzz_alibi(in, A);
        break;
      case 14:
        fuzz_t5(in, A, false);
        break;
      case 15:
        fuzz_t5(in, A, true);
        break;
      default:
        fuzz_cos_sin(in, A);
        break;
    }
  } catch (const Skip&) {
  }
  return 0;
}
