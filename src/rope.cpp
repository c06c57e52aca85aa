// RoPE entry points: checks, the cos/sin cache API, and dispatch to the CPU kernels
// (src/cpu/rope.cpp). Frequencies and scalings live in src/rope_freq.cpp.
#include "posenc/rope.hpp"

#include <algorithm>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "check.hpp"
#include "cpu/rope.hpp"
#include "cuda/cuda_ops.hpp"
#include "dispatch.hpp"
#include "plan_cache.hpp"
#include "rope_freq.hpp"

namespace posenc {

using detail::fail;

TensorView bhtd(const TensorView& v) {
  if (v.ndim != 4) fail("posenc::bhtd", "v.ndim", std::to_string(v.ndim), "4 ([B, H, T, D])");
  TensorView r = v;
  std::swap(r.shape[1], r.shape[2]);
  std::swap(r.strides[1], r.strides[2]);
  return r;
}

namespace {
int64_t seq_len_for(const RopeConfig& cfg, int64_t seq_len, const std::vector<int64_t>& pos,
                    const char* where) {
  if (seq_len < 0) fail(where, "seq_len", std::to_string(seq_len), ">= 0 (0: max position + 1)");
  // Dynamic and LongRoPE frequencies depend on seq_len: one shorter than the positions would scale them
  // for a shorter sequence than the one rotated (HF's seq_len is never below max(position_ids) + 1).
  const bool by_len = cfg.scaling.type == RopeType::Dynamic || cfg.scaling.type == RopeType::LongRope;
  if (seq_len > 0 && !by_len) return seq_len;
  const int64_t need = pos.empty() ? 0 : *std::max_element(pos.begin(), pos.end()) + 1;
  if (seq_len > 0 && seq_len < need)
    fail(where, "seq_len", std::to_string(seq_len),
         ">= max position + 1 = " + std::to_string(need) + " (or 0 for that)");
  return seq_len > 0 ? seq_len : need;
}

// detail::rope_freqs, remembered for the last few configs of this thread (plan_cache.hpp): a decode step
// (one token per call) spent about 80% of its time recomputing the exact frequencies (25 us of a
// [1, 1, 32 + 8, 128] call on the 2-vCPU Xeon). Only Dynamic and LongRoPE frequencies depend on seq_len,
// so only for them is it part of the key (a model's layers share it within a step); for the others it
// still has to be in range.
std::shared_ptr<const detail::RopeFreqs> cached_freqs(const RopeConfig& cfg, int64_t seq_len,
                                                      const char* where) {
  const bool by_len = cfg.scaling.type == RopeType::Dynamic || cfg.scaling.type == RopeType::LongRope;
  if (seq_len < 0 || seq_len > kMaxPosition + 1)  // (rope_freqs names it)
    return std::make_shared<const detail::RopeFreqs>(detail::rope_freqs(cfg, seq_len, where));
  thread_local detail::PlanCache<std::pair<RopeConfig, int64_t>, detail::RopeFreqs> cache;
  return cache.get({cfg, by_len ? seq_len : -1}, [&] { return detail::rope_freqs(cfg, seq_len, where); });
}
}  // namespace

namespace detail {
struct RopeCacheData {
  RopeConfig cfg;
  int64_t batch = 0, seq = 0, seq_len = 0;
  cpu::RopeTable table;
  RopeFreqs freqs;           // for CUDA views: the GPU computes cos/sin on the fly from these
  std::vector<int64_t> pos;  // (the bits of the table)
};
}  // namespace detail

const detail::RopeCacheData& detail_rope_cache_data(const RopeCache& c, const char* where) {
  if (c.data_ == nullptr) fail(where, "cache", "empty", "a cache from posenc::make_rope_cache");
  return *c.data_;
}

void rope_cos_sin(TensorView cos, TensorView sin, const RopeConfig& cfg, std::span<const int64_t> positions,
                  int64_t seq_len) {
  constexpr const char* where = "posenc::rope_cos_sin";
  validate(cfg, where);
  const int64_t r = cfg.rot(), N = static_cast<int64_t>(positions.size());
  for (const auto& [name, v] : {std::pair<const char*, const TensorView*>{"cos", &cos}, {"sin", &sin}}) {
    detail::check_float_view(where, name, *v, 2);
    detail::check_size(where, name, *v, 0, N, "positions.size()");
    detail::check_size(where, name, *v, 1, r, "the rotary dim r");
    detail::check_writable(where, name, *v);
  }
  detail::check_disjoint(where, "sin", sin, "cos", cos, false);
  std::vector<int64_t> pos(positions.begin(), positions.end());
  for (size_t n = 0; n < pos.size(); ++n)
    if (pos[n] < 0 || pos[n] > kMaxPosition)
      fail(where, "positions[" + std::to_string(n) + "]", std::to_string(pos[n]),
           "0 .. " + std::to_string(kMaxPosition));
  // (not cached_freqs: this is the reference that tests hold the cache to)
  const detail::RopeFreqs f = detail::rope_freqs(cfg, seq_len_for(cfg, seq_len, pos, where), where);
  const int64_t half = r / 2;
  const detail::cpu::RopeTable tab = detail::cpu::make_rope_table(f, cfg.precision, half, pos);
  // Column of the two copies of frequency i in HF's layout.
  const bool split = cfg.layout == PairLayout::HalfSplit;
  for (const auto& pair : {std::pair{&cos, &tab.cos}, std::pair{&sin, &tab.sin}}) {
    TensorView* const dst = pair.first;  // (not a structured binding: clang < 16 cannot capture those)
    const std::vector<float>* const src = pair.second;
    for (int64_t n = 0; n < N; ++n) {
      const float* row = src->data() + tab.rows[static_cast<size_t>(n)] * half;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t a = split ? i : 2 * i, b = split ? i + half : 2 * i + 1;
        const float v = row[i];
        detail::dispatch_float(dst->dtype, [&](auto t) {
          constexpr DType T = decltype(t)::value;
          using S = typename Elem<T>::storage;
          Elem<T>::store(dst->at<S>({n, a}), v);
          Elem<T>::store(dst->at<S>({n, b}), v);
        });
      }
    }
  }
}

namespace {
// Checks one of q / k and its output; returns the view to write (out, or x itself in place).
TensorView check_qk(const char* where, const char* name, const char* out_name, const TensorView& x,
                    const TensorView& out, const RopeConfig& cfg, const TensorView* q, Device dev) {
  detail::check_float_view(where, name, x, 4, dev);
  detail::check_size(where, name, x, 3, cfg.head_dim, "head_dim");
  if (x.size(2) < 1) fail(where, std::string(name) + ".shape[2] (heads)", std::to_string(x.size(2)), ">= 1");
  if (q != nullptr) {
    detail::check_size(where, name, x, 0, q->size(0), "q.shape[0] (B)");
    detail::check_size(where, name, x, 1, q->size(1), "q.shape[1] (T)");
    if (q->size(2) % x.size(2) != 0)
      fail(where, "k.shape[2] (key heads)", std::to_string(x.size(2)),
           "a divisor of the query heads " + std::to_string(q->size(2)) + " (GQA/MQA groups)");
  }
  if (out.data == nullptr) {
    detail::check_writable(where, name, x);
    return x;
  }
  detail::check_float_view(where, out_name, out, 4, dev);
  for (int d = 0; d < 4; ++d)
    detail::check_size(where, out_name, out, d, x.size(d), std::string(name) + ".shape");
  detail::check_writable(where, out_name, out);
  return out;
}

// Checks q, k and their outputs against cfg; returns the views to write.
struct CheckedQk {
  TensorView qo, ko;
  bool has_k = false;
};
CheckedQk check_tensors(const char* where, const RopeTensors& t, const RopeConfig& cfg) {
  CheckedQk c;
  c.qo = check_qk(where, "q", "q_out", t.q, t.q_out, cfg, nullptr, t.q.device);
  c.has_k = t.k.data != nullptr;
  if (c.has_k)
    c.ko = check_qk(where, "k", "k_out", t.k, t.k_out, cfg, &t.q, t.q.device);
  else if (t.k_out.data != nullptr)
    fail(where, "k_out", "a tensor", "empty when k is empty");
  // An output written in place is named as the caller passed it ("k (in place)", not k_out).
  const char* qo_name = t.q_out.data != nullptr ? "q_out" : "q (in place)";
  const char* ko_name = t.k_out.data != nullptr ? "k_out" : "k (in place)";
  detail::check_disjoint(where, qo_name, c.qo, "q", t.q, true);
  if (c.has_k) {
    detail::check_disjoint(where, ko_name, c.ko, "k", t.k, true);
    detail::check_disjoint(where, ko_name, c.ko, "q", t.q);
    detail::check_disjoint(where, qo_name, c.qo, "k", t.k);
    detail::check_disjoint(where, ko_name, c.ko, qo_name, c.qo);
  }
  return c;
}

void apply_table(const RopeTensors& t, const CheckedQk& c, const detail::cpu::RopeTable& tab,
                 const RopeConfig& cfg, float sign) {
  detail::cpu::rope_apply(t.q, c.qo, tab, cfg.layout, cfg.rot(), sign);
  if (c.has_k) detail::cpu::rope_apply(t.k, c.ko, tab, cfg.layout, cfg.rot(), sign);
}

// CUDA views: q and k in one launch, cos/sin computed on the GPU (src/cuda/rope.cu; the same bits).
void apply_cuda(const char* where, const RopeTensors& t, const CheckedQk& c, const detail::RopeFreqs& f,
                const std::vector<int64_t>& pos, const RopeConfig& cfg, float sign) {
  detail::cuda::DeviceViews dv(where);
  dv.add("q", t.q).add("q_out", c.qo);
  if (c.has_k) dv.add("k", t.k).add("k_out", c.ko);
  detail::cuda::RopeCall rc;
  rc.q = t.q;
  rc.q_out = c.qo;
  if (c.has_k) {
    rc.k = t.k;
    rc.k_out = c.ko;
  }
  rc.freqs = &f;
  rc.precision = cfg.precision;
  rc.layout = cfg.layout;
  rc.rot = cfg.rot();
  rc.sign = sign;
  rc.pos = &pos;
  detail::cuda::rope(where, rc);
}

void rope_run(const char* where, const RopeTensors& t, const RopeConfig& cfg, const Positions& positions,
              int64_t seq_len, float sign) {
  validate(cfg, where);
  const CheckedQk c = check_tensors(where, t, cfg);
  const std::vector<int64_t> pos = positions.resolve(t.q.size(0), t.q.size(1), kMaxPosition, where);
  const auto freqs = cached_freqs(cfg, seq_len_for(cfg, seq_len, pos, where), where);
  const detail::RopeFreqs& f = *freqs;
  if (t.q.device == Device::CUDA) return apply_cuda(where, t, c, f, pos, cfg, sign);
  // Increasing positions (one sequence, or the same in every batch row): cos / sin computed per block
  // of positions next to the rotation.
  if (detail::cpu::rope_apply_fused(t.q, c.qo, c.has_k ? &t.k : nullptr, c.has_k ? &c.ko : nullptr, f,
                                    cfg.precision, pos, cfg.layout, cfg.rot(), sign))
    return;
  // Otherwise the call's table, in buffers the calling thread keeps for its next call: fresh ones cost a
  // page fault per 4 KiB at every call (2 MiB, ~500 faults, for 4096 positions x 64 frequencies: 1 ms on
  // the KVM machine of BENCHMARKS.md, longer than computing the table). Buffers past kKeepTableBytes
  // are freed after the call.
  constexpr size_t kKeepTableBytes = size_t{64} << 20;
  thread_local detail::cpu::RopeTable table;
  detail::cpu::fill_rope_table(table, f, cfg.precision, cfg.rot() / 2, pos);
  apply_table(t, c, table, cfg, sign);
  if ((table.cos.capacity() + table.sin.capacity()) * sizeof(float) > kKeepTableBytes)
    table = detail::cpu::RopeTable{};
}

void rope_run_cached(const char* where, const RopeTensors& t, const RopeCache& cache, float sign) {
  const detail::RopeCacheData& d = detail_rope_cache_data(cache, where);
  const CheckedQk c = check_tensors(where, t, d.cfg);
  for (int dim = 0; dim < 2; ++dim) {
    const int64_t want = dim == 0 ? d.batch : d.seq;
    if (t.q.size(dim) != want)
      fail(where, "q.shape[" + std::to_string(dim) + "]", std::to_string(t.q.size(dim)),
           std::to_string(want) + (dim == 0 ? " (the cache's batch)" : " (the cache's seq)"));
  }
  if (t.q.device == Device::CUDA) return apply_cuda(where, t, c, d.freqs, d.pos, d.cfg, sign);
  apply_table(t, c, d.table, d.cfg, sign);
}
}  // namespace

void rope_forward(const RopeTensors& t, const RopeConfig& cfg, const Positions& positions, int64_t seq_len) {
  rope_run("posenc::rope_forward", t, cfg, positions, seq_len, 1.0f);
}

void rope_backward(const RopeTensors& t, const RopeConfig& cfg, const Positions& positions, int64_t seq_len) {
  rope_run("posenc::rope_backward", t, cfg, positions, seq_len, -1.0f);
}

// ---- RopeCache ----

const RopeConfig& RopeCache::config() const {
  return detail_rope_cache_data(*this, "posenc::RopeCache::config").cfg;
}
int64_t RopeCache::batch() const {
  return detail_rope_cache_data(*this, "posenc::RopeCache::batch").batch;
}
int64_t RopeCache::seq() const {
  return detail_rope_cache_data(*this, "posenc::RopeCache::seq").seq;
}
int64_t RopeCache::seq_len() const {
  return detail_rope_cache_data(*this, "posenc::RopeCache::seq_len").seq_len;
}

RopeCache make_rope_cache(const RopeConfig& cfg, const Positions& positions, int64_t batch, int64_t seq,
                          int64_t seq_len) {
  constexpr const char* where = "posenc::make_rope_cache";
  validate(cfg, where);
  if (batch < 1) fail(where, "batch", std::to_string(batch), ">= 1");
  if (seq < 1) fail(where, "seq", std::to_string(seq), ">= 1");
  int64_t tokens = 0;
  const std::string grid = std::to_string(batch) + " x " + std::to_string(seq);
  if (__builtin_mul_overflow(batch, seq, &tokens))
    fail(where, "batch x seq", grid, "a token count that fits in int64");
  auto d = std::make_shared<detail::RopeCacheData>();
  d->cfg = cfg;
  d->batch = batch;
  d->seq = seq;
  try {
    const std::vector<int64_t> pos = positions.resolve(batch, seq, kMaxPosition, where);
    d->seq_len = seq_len_for(cfg, seq_len, pos, where);
    const detail::RopeFreqs f = detail::rope_freqs(cfg, d->seq_len, where);
    d->table = detail::cpu::make_rope_table(f, cfg.precision, cfg.rot() / 2, pos);
    d->freqs = f;
    d->pos = pos;
  } catch (const std::bad_alloc&) {  // named, like every other error of the call
    fail(where, "batch x seq", grid,
         "a cache that fits in memory (" + std::to_string(tokens) + " tokens x " +
             std::to_string(cfg.rot() / 2) + " frequencies of cos/sin)");
  }
  RopeCache c;
  c.data_ = std::move(d);
  return c;
}

void rope_forward(const RopeTensors& t, const RopeCache& cache) {
  rope_run_cached("posenc::rope_forward", t, cache, 1.0f);
}

void rope_backward(const RopeTensors& t, const RopeCache& cache) {
  rope_run_cached("posenc::rope_backward", t, cache, -1.0f);
}

}  // namespace posenc
