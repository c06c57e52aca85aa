// Every CUDA kernel against the CPU reference: the same call on host views and on device views of the
// same random bytes, outputs poisoned (0xff bytes, NaN in every float type) on both sides first so an
// element the GPU does not write shows up; then the GPU's bytes must equal the CPU's, every byte of the
// storage including the gaps of strided views. Exceptions, measured and reported instead of required:
// HfCompat angles (CUDA's double cos/sin of the float angle against glibc's; within a tight tolerance,
// the count of differing elements printed) and the T5 bias backward (another fixed summation order).
// Every test skips when no GPU is usable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "cuda/cuda_ops.hpp"
#include "gpu_test_util.hpp"
#include "posenc/posenc.hpp"

using namespace posenc;
using namespace posenc::gputest;

namespace {

void sync() {
  cuda_ok(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

// q only, in place.
RopeTensors only(const TensorView& q) {
  RopeTensors t;
  t.q = q;
  return t;
}

const char* name(DType t) {
  return dtype_name(t).data();
}

// ---- positions ------------------------------------------------------------------------------------------
enum class PosKind { Zero, Offset, PerSeq, Ids, Packed };

// Owns what a Positions refers to.
struct PosSource {
  std::vector<int64_t> list;
  std::vector<int64_t> ids;
  PosKind kind;
  Positions make(int64_t B, int64_t T, uint32_t seed, int64_t max_pos = 100000) {
    std::mt19937 rng(mix_seed(seed));
    switch (kind) {
      case PosKind::Zero:
        return Positions::offset(0);
      case PosKind::Offset:
        return Positions::offset(std::min<int64_t>(1000, max_pos - T + 1));
      case PosKind::PerSeq: {
        list.resize(static_cast<size_t>(B));
        for (auto& v : list)
          v = static_cast<int64_t>(rng() % static_cast<uint32_t>(std::max<int64_t>(1, max_pos - T + 1)));
        return Positions::offsets(list);
      }
      case PosKind::Ids: {
        ids.resize(static_cast<size_t>(B * T));
        for (auto& v : ids) v = static_cast<int64_t>(rng() % static_cast<uint32_t>(max_pos + 1));
        return Positions::ids(TensorView::contiguous(ids.data(), DType::I64, {B, T}));
      }
      case PosKind::Packed: {
        list = {0, T / 3, T / 3, T};  // an empty sequence in the middle
        return Positions::packed(list);
      }
    }
    return Positions::offset(0);
  }
};

// ---- RoPE -----------------------------------------------------------------------------------------------
struct RopeCase {
  DType xt = DType::F32, ot = DType::F32;
  PairLayout layout = PairLayout::HalfSplit;
  Precision precision = Precision::Exact;
  RopeType scaling = RopeType::Default;
  int64_t B = 2, T = 37, Hq = 4, Hk = 2, D = 64, rot = 64;
  bool in_place = false, bhtd = false, stride2 = false, backward = false, has_k = true;
  PosKind pos = PosKind::Zero;
  std::string str() const {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "%s->%s %s %s scaling=%d B=%lld T=%lld Hq=%lld Hk=%lld D=%lld rot=%lld in_place=%d bhtd=%d "
                  "stride2=%d bwd=%d k=%d pos=%d",
                  name(xt), name(ot), layout == PairLayout::HalfSplit ? "half" : "inter",
                  precision == Precision::Exact ? "exact" : "hf", static_cast<int>(scaling),
                  static_cast<long long>(B), static_cast<long long>(T), static_cast<long long>(Hq),
                  static_cast<long long>(Hk), static_cast<long long>(D), static_cast<long long>(rot),
                  in_place, bhtd, stride2, backward, has_k, static_cast<int>(pos));
    return buf;
  }
};

std::unique_ptr<Mirror> qk_tensor(DType t, int64_t B, int64_t T, int64_t H, int64_t D, bool bhtd,
                                  bool stride2) {
  const int64_t s3 = stride2 ? 2 : 1, row = D * s3;
  std::vector<int64_t> st = bhtd ? std::vector<int64_t>{H * T * row, row, T * row, s3}
                                 : std::vector<int64_t>{T * H * row, H * row, row, s3};
  return std::make_unique<Mirror>(t, std::vector<int64_t>{B, T, H, D}, st);
}

RopeConfig rope_config(const RopeCase& c) {
  RopeConfig cfg;
  cfg.head_dim = c.D;
  cfg.rotary_dim = c.rot;
  cfg.layout = c.layout;
  cfg.precision = c.precision;
  cfg.scaling.type = c.scaling;
  if (c.scaling != RopeType::Default) {
    cfg.max_position_embeddings = 8;
    cfg.scaling.factor = 2.0;
    if (c.scaling == RopeType::Llama3 || c.scaling == RopeType::Yarn || c.scaling == RopeType::LongRope)
      cfg.scaling.original_max_position_embeddings = 4;
    if (c.scaling == RopeType::LongRope) {
      cfg.scaling.factor = 1.0;
      for (int64_t i = 0; i < c.rot / 2; ++i) {
        cfg.scaling.short_factor.push_back(1.0 + 0.1 * static_cast<double>(i));
        cfg.scaling.long_factor.push_back(2.0 + 0.3 * static_cast<double>(i));
      }
    }
  }
  return cfg;
}

void run_rope_case(const RopeCase& c, uint32_t seed) {
  SCOPED_TRACE(c.str());
  auto q = qk_tensor(c.xt, c.B, c.T, c.Hq, c.D, c.bhtd, c.stride2);
  auto k = qk_tensor(c.xt, c.B, c.T, c.Hk, c.D, c.bhtd, c.stride2);
  q->fill(seed);
  k->fill(seed + 1);
  q->upload();
  k->upload();
  std::unique_ptr<Mirror> qo, ko;
  if (!c.in_place) {
    qo = qk_tensor(c.ot, c.B, c.T, c.Hq, c.D, !c.bhtd, false);  // another layout than the input
    ko = qk_tensor(c.ot, c.B, c.T, c.Hk, c.D, false, c.stride2);
    qo->poison_both();
    ko->poison_both();
  }
  const RopeConfig cfg = rope_config(c);
  PosSource ps{{}, {}, c.pos};
  const Positions pos = ps.make(c.B, c.T, seed + 2);
  auto tensors = [&](Device d) {
    RopeTensors t;
    t.q = q->view(d);
    if (c.has_k) t.k = k->view(d);
    if (!c.in_place) {
      t.q_out = qo->view(d);
      if (c.has_k) t.k_out = ko->view(d);
    }
    return t;
  };
  if (c.backward) {
    rope_backward(tensors(Device::CPU), cfg, pos);
    rope_backward(tensors(Device::CUDA), cfg, pos);
  } else {
    rope_forward(tensors(Device::CPU), cfg, pos);
    rope_forward(tensors(Device::CUDA), cfg, pos);
  }
  sync();
  std::vector<const Mirror*> outs;
  if (c.in_place) {
    outs = {q.get()};
    if (c.has_k) outs.push_back(k.get());
  } else {
    EXPECT_TRUE(same_bytes(*q, "q (input, unchanged)"));
    EXPECT_TRUE(same_bytes(*k, "k (input, unchanged)"));
    outs = {qo.get()};
    if (c.has_k)
      outs.push_back(ko.get());
    else
      EXPECT_TRUE(same_bytes(*ko, "k_out (not written)"));
  }
  for (const Mirror* m : outs) {
    if (c.precision == Precision::Exact) {
      EXPECT_TRUE(same_bytes(*m, "rope output"));
    } else {
      // HfCompat: CUDA's double cos/sin against glibc's, both rounded to float: identical except (rarely)
      // at a float rounding boundary. A 1-ulp table difference moves an output by at most ~2 ulp of 1.
      const double tol = m->dtype == DType::F32 ? 1e-6 : m->dtype == DType::BF16 ? 1.6e-2 : 2e-3;
      const Closeness cl = compare_close(*m, tol);
      EXPECT_TRUE(cl.ok) << "worst " << cl.worst;
      if (cl.differ != 0)
        std::printf("[ hf_compat ] %s: %lld of %lld elements differ from the CPU (worst %.3g)\n",
                    c.str().c_str(), static_cast<long long>(cl.differ), static_cast<long long>(cl.total),
                    cl.worst);
    }
  }
}

TEST(CudaRope, MatchesTheCpuBitForBit) {
  POSENC_SKIP_WITHOUT_GPU();
  const std::pair<DType, DType> dtypes[] = {{DType::F32, DType::F32},  {DType::BF16, DType::BF16},
                                            {DType::F16, DType::F16},  {DType::F32, DType::BF16},
                                            {DType::BF16, DType::F32}, {DType::F16, DType::F32}};
  struct Shape {
    int64_t Hq, Hk, D, rot;
  };
  // Full rotary (vector path), partial (vector path, pass-through), odd sizes (scalar path), MQA.
  const Shape shapes[] = {{4, 2, 64, 64}, {4, 4, 80, 48}, {3, 1, 36, 20}, {2, 1, 16, 8}};
  uint32_t seed = 100;
  int n = 0;
  for (const auto& [xt, ot] : dtypes)
    for (PairLayout layout : {PairLayout::HalfSplit, PairLayout::Interleaved})
      for (const Shape& s : shapes)
        for (int variant = 0; variant < 4; ++variant) {
          RopeCase c;
          c.xt = xt;
          c.ot = ot;
          c.layout = layout;
          c.Hq = s.Hq;
          c.Hk = s.Hk;
          c.D = s.D;
          c.rot = s.rot;
          c.in_place = xt == ot && variant % 2 == 0;
          c.bhtd = variant == 1 || variant == 2;
          c.stride2 = variant == 3;
          c.backward = (n % 3) == 1;
          c.has_k = (n % 7) != 3;
          c.pos = static_cast<PosKind>(n % 5);
          if (c.pos == PosKind::Packed) c.B = 1;
          c.T = 17 + (n % 4) * 11;
          ++n;
          run_rope_case(c, seed += 7);
        }
}

// Enough tokens for blocks of several tokens (src/cuda/rope.cu: at least 256 blocks, so N >= 512), with
// a partial last block (N = 3 * 701): [B, H, T, D] tensors take the head-by-head order of a block's items,
// [B, T, H, D] the token-by-token one, and POSENC_CUDA_ROPE_TOKEN_MAJOR the first version's order and
// block size for both. The CPU's bits every time.
TEST(CudaRope, LongSequencesInEveryBlockOrder) {
  POSENC_SKIP_WITHOUT_GPU();
  uint32_t seed = 900;
  for (bool first_version : {false, true}) {
    if (first_version) setenv("POSENC_CUDA_ROPE_TOKEN_MAJOR", "1", 1);
    for (DType t : {DType::F32, DType::BF16})
      for (int variant = 0; variant < 4; ++variant) {
        RopeCase c;
        c.xt = c.ot = t;
        c.B = 3;
        c.T = 701;
        c.bhtd = variant % 2 == 0;
        c.in_place = variant < 2;
        c.layout = variant == 3 ? PairLayout::Interleaved : PairLayout::HalfSplit;
        c.D = variant == 2 ? 80 : 64;  // out of place with pass-through dims
        c.rot = variant == 2 ? 48 : 64;
        c.pos = variant == 1 ? PosKind::Ids : PosKind::Zero;
        run_rope_case(c, seed += 7);
      }
    if (first_version) unsetenv("POSENC_CUDA_ROPE_TOKEN_MAJOR");
  }
}

// Heads wider than 12288 rotated dims need more than the default 48 KiB of shared memory for one token's
// cos/sin (src/cuda/rope.cu opts in; the launch failed with cudaErrorInvalidValue); wider than the
// device's opt-in limit (rotary_dim 58112 on the H100/H200) they are an error naming rotary_dim.
TEST(CudaRope, VeryWideHeads) {
  POSENC_SKIP_WITHOUT_GPU();
  uint32_t seed = 1300;
  for (int64_t D : {int64_t{16384}, int64_t{20000}}) {
    RopeCase c;
    c.B = 1;
    c.T = 3;
    c.Hq = 2;
    c.Hk = 1;
    c.D = c.rot = D;
    c.in_place = D == 16384;
    c.pos = PosKind::Offset;
    run_rope_case(c, seed += 7);
  }
  RopeConfig cfg;
  cfg.head_dim = 1 << 17;
  Mirror q(DType::F32, {1, 1, 1, cfg.head_dim});
  try {
    rope_forward(only(q.dv()), cfg, Positions::offset());
    ADD_FAILURE() << "rotary_dim 2^17 launched";
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), "rotary_dim") << e.what();
    EXPECT_NE(e.allowed().find("on this GPU"), std::string::npos) << e.what();
  }
}

TEST(CudaRope, EveryScalingBothPrecisions) {
  POSENC_SKIP_WITHOUT_GPU();
  uint32_t seed = 900;
  int n = 0;
  for (RopeType type : {RopeType::Default, RopeType::Linear, RopeType::Ntk, RopeType::Dynamic, RopeType::Yarn,
                        RopeType::Llama3, RopeType::LongRope})
    for (Precision p : {Precision::Exact, Precision::HfCompat})
      for (DType t : {DType::F32, DType::BF16}) {
        RopeCase c;
        c.scaling = type;
        c.precision = p;
        c.xt = c.ot = t;
        c.D = 64;
        c.rot = type == RopeType::Yarn ? 48 : 64;
        c.pos = (n % 2) ? PosKind::Ids : PosKind::Offset;
        c.backward = n % 3 == 2;
        c.in_place = n % 2 == 0;
        ++n;
        run_rope_case(c, seed += 13);
      }
}

// The RoPE cos/sin tables themselves, bit for bit: rotating the pair (1, 0) gives (cos, sin) exactly
// (1 c - 0 s = c, 0 c + 1 s = s in fp32), so an f32 rope of ones-and-zeros outputs the table. Positions
// sweep [0, 2^31 - 1] (ids) and every frequency of head_dim 128; with several scalings that is
// >= 10 million (position, frequency) values, each giving a cos and a sin.
TEST(CudaRope, ExactTablesBitIdenticalOverTenMillionValues) {
  POSENC_SKIP_WITHOUT_GPU();
  const int64_t B = 4, T = 16384, D = 128, half = D / 2;
  std::mt19937_64 rng(mix_seed(5));
  std::vector<int64_t> ids(static_cast<size_t>(B * T));
  for (size_t i = 0; i < ids.size(); ++i) {
    // A third small positions, a third near powers of two and multiples of 1000, a third anywhere.
    const uint64_t r = rng();
    if (i % 3 == 0)
      ids[i] = static_cast<int64_t>(r % 100000);
    else if (i % 3 == 1)
      ids[i] = std::min<int64_t>(kMaxPosition,
                                 (int64_t{1} << (r % 31)) + static_cast<int64_t>(r >> 40) % 7 - 3 + 3);
    else
      ids[i] = static_cast<int64_t>(r % static_cast<uint64_t>(kMaxPosition + 1));
  }
  int64_t values = 0;
  for (RopeType type : {RopeType::Default, RopeType::Yarn, RopeType::Llama3}) {
    for (Precision p : {Precision::Exact, Precision::HfCompat}) {
      RopeCase rc;
      rc.scaling = type;
      rc.D = rc.rot = D;
      rc.precision = p;
      RopeConfig cfg = rope_config(rc);
      cfg.max_position_embeddings = 8192;
      if (type != RopeType::Default) cfg.scaling.original_max_position_embeddings = 2048;
      SCOPED_TRACE(rc.str());
      Mirror x(DType::F32, {B, T, 1, D});
      for (int64_t n = 0; n < B * T; ++n)
        for (int64_t i = 0; i < D; ++i) {
          const float v = i < half ? 1.0f : 0.0f;  // HalfSplit pairs (i, i + half) = (1, 0)
          std::memcpy(x.host.data() + (n * D + i) * 4, &v, 4);
        }
      x.upload();
      Mirror out(DType::F32, {B, T, 1, D});
      out.poison_both();
      const Positions pos = Positions::ids(TensorView::contiguous(ids.data(), DType::I64, {B, T}));
      rope_forward(RopeTensors{x.hv(), {}, out.hv(), {}}, cfg, pos);
      rope_forward(RopeTensors{x.dv(), {}, out.dv(), {}}, cfg, pos);
      sync();
      if (p == Precision::Exact) {
        EXPECT_TRUE(same_bytes(out, "exact cos/sin table"));
        values += B * T * half;
      } else {
        const Closeness cl = compare_close(out, 2.5e-7);  // 1 ulp (attention_scaling may exceed 1)
        EXPECT_TRUE(cl.ok) << "worst " << cl.worst;
        std::printf(
            "[ hf_compat ] rope table scaling=%d: %lld of %lld cos/sin values differ from the CPU "
            "(worst %.3g)\n",
            static_cast<int>(type), static_cast<long long>(cl.differ), static_cast<long long>(cl.total),
            cl.worst);
      }
    }
  }
  EXPECT_GE(values, 10'000'000);  // (position, frequency) values, each a cos and a sin
  std::printf("[ exact ] rope: %lld (position, frequency) values, cos and sin bit-identical\n",
              static_cast<long long>(values));
}

TEST(CudaRope, CachedCallsGiveTheUncachedBits) {
  POSENC_SKIP_WITHOUT_GPU();
  RopeCase c;
  c.xt = c.ot = DType::BF16;
  c.in_place = true;
  RopeConfig cfg = rope_config(c);
  auto q = qk_tensor(c.xt, c.B, c.T, c.Hq, c.D, false, false);
  q->fill(3);
  q->upload();
  const RopeCache cache = make_rope_cache(cfg, Positions::offset(11), c.B, c.T);
  rope_forward(only(q->hv()), cache);
  rope_forward(only(q->dv()), cache);
  sync();
  EXPECT_TRUE(same_bytes(*q, "cached rope"));
}

TEST(CudaRope, FusedQkvInPlace) {
  POSENC_SKIP_WITHOUT_GPU();
  // q and k as views of one [B, T, 3, H, D] buffer, rotated in place in one call.
  const int64_t B = 2, T = 9, H = 4, D = 32;
  Mirror qkv(DType::BF16, {B, T, 3, H, D});
  qkv.fill(8);
  qkv.upload();
  RopeConfig cfg;
  cfg.head_dim = D;
  auto part = [&](Device d, int w) {
    TensorView v = qkv.view(d);
    TensorView r;
    r.data = static_cast<uint16_t*>(v.data) + w * H * D;
    r.dtype = DType::BF16;
    r.device = d;
    r.ndim = 4;
    r.shape = {B, T, H, D};
    r.strides = {T * 3 * H * D, 3 * H * D, D, 1};
    return r;
  };
  for (Device d : {Device::CPU, Device::CUDA})
    rope_forward(RopeTensors{part(d, 0), part(d, 1), {}, {}}, cfg, Positions::offset(3));
  sync();
  EXPECT_TRUE(same_bytes(qkv, "qkv in place (v untouched)"));
}

// ---- sinusoidal ------------------------------------------------------------------------------------------
TEST(CudaSinusoidal, ExactTablesBitIdenticalOverTenMillionValues) {
  POSENC_SKIP_WITHOUT_GPU();
  const int64_t N = 40000, dim = 512;  // 256 frequencies x 40000 positions = 10.24 M values
  std::mt19937_64 rng(mix_seed(9));
  std::vector<int64_t> pos(static_cast<size_t>(N));
  for (auto& p : pos) p = static_cast<int64_t>(rng() % static_cast<uint64_t>(kMaxPosition + 1));
  for (int64_t i = 0; i < 1000; ++i) pos[static_cast<size_t>(i)] = i;  // and the first positions
  SinusoidalConfig cfg;
  cfg.dim = dim;
  Mirror out(DType::F32, {N, dim});
  out.poison_both();
  sinusoidal_table(out.hv(), cfg, pos);
  sinusoidal_table(out.dv(), cfg, pos);
  sync();
  EXPECT_TRUE(same_bytes(out, "exact sinusoidal table"));
  std::printf("[ exact ] sinusoidal: %lld (position, frequency) values, sin and cos bit-identical\n",
              static_cast<long long>(N * dim / 2));
}

TEST(CudaSinusoidal, PresetsPrecisionsDtypesStrides) {
  POSENC_SKIP_WITHOUT_GPU();
  int n = 0;
  for (SinusoidalPreset preset : {SinusoidalPreset::Vaswani, SinusoidalPreset::Fairseq,
                                  SinusoidalPreset::Tensor2Tensor, SinusoidalPreset::Marian})
    for (Precision p : {Precision::Exact, Precision::HfCompat})
      for (DType t : {DType::F32, DType::BF16, DType::F16}) {
        SinusoidalConfig cfg;
        cfg.dim = preset == SinusoidalPreset::Vaswani ? 46 : 45;
        cfg.preset = preset;
        cfg.precision = p;
        if (preset == SinusoidalPreset::Fairseq) cfg.padding_idx = 1;
        const int64_t N = 300;
        const bool strided = n++ % 2 == 1;
        Mirror out(t, {N, cfg.dim}, strided ? std::vector<int64_t>{1, N} : std::vector<int64_t>{});
        SCOPED_TRACE(std::to_string(static_cast<int>(preset)) + " " + std::to_string(static_cast<int>(p)) +
                     " " + name(t) + (strided ? " column-major" : ""));
        out.poison_both();
        sinusoidal_table(out.hv(), cfg, 0);
        sinusoidal_table(out.dv(), cfg, 0);
        sync();
        if (p == Precision::Exact) {
          EXPECT_TRUE(same_bytes(out, "sinusoidal table"));
        } else {
          const Closeness cl = compare_close(out, t == DType::F32 ? 1.2e-7 : 8e-3);
          EXPECT_TRUE(cl.ok) << "worst " << cl.worst;
          if (cl.differ != 0)
            std::printf("[ hf_compat ] sinusoidal preset %d %s: %lld of %lld differ\n",
                        static_cast<int>(preset), name(t), static_cast<long long>(cl.differ),
                        static_cast<long long>(cl.total));
        }
      }
}

TEST(CudaSinusoidal, AddInPlace) {
  POSENC_SKIP_WITHOUT_GPU();
  for (DType t : {DType::F32, DType::BF16, DType::F16})
    for (PosKind k : {PosKind::Zero, PosKind::PerSeq, PosKind::Ids}) {
      SCOPED_TRACE(std::string(name(t)) + " pos " + std::to_string(static_cast<int>(k)));
      SinusoidalConfig cfg;
      cfg.dim = 64;
      Mirror x(t, {3, 50, 64});
      x.fill(21);
      x.upload();
      PosSource ps{{}, {}, k};
      // Ids spread over 2^31: the GPU's sparse table path (distinct positions), else the dense one.
      const Positions pos = ps.make(3, 50, 4, k == PosKind::Ids ? kMaxPosition : 100000);
      sinusoidal_add(x.hv(), cfg, pos);
      sinusoidal_add(x.dv(), cfg, pos);
      sync();
      EXPECT_TRUE(same_bytes(x, "sinusoidal_add"));
    }
}

// ---- embedding + PE ----------------------------------------------------------------------------------------
struct EmbedCase {
  DType ot, et, pt, it;
  bool table = true, sqrt_scale = false, strided_out = false;
  PosKind pos = PosKind::Zero;
  int64_t B = 3, T = 41, V = 97, C = 64, P = 200;
};

void run_embed_case(const EmbedCase& c, uint32_t seed) {
  SCOPED_TRACE(std::string(name(c.ot)) + " E " + name(c.et) + " P " + name(c.pt) + " ids " + name(c.it) +
               (c.table ? " table" : " sinusoidal") + (c.strided_out ? " strided" : "") + " pos " +
               std::to_string(static_cast<int>(c.pos)) + " C " + std::to_string(c.C));
  Mirror E(c.et, {c.V, c.C});
  Mirror P(c.pt, {c.P, c.C});
  Mirror ids(c.it, {c.B, c.T}, {1, c.B});  // column-major ids
  E.fill(seed);
  P.fill(seed + 1);
  ids.fill(seed + 2, 0, static_cast<double>(c.V));
  E.upload();
  P.upload();
  ids.upload();
  Mirror out(c.ot, {c.B, c.T, c.C},
             c.strided_out ? std::vector<int64_t>{c.T * (c.C + 3), c.C + 3, 1} : std::vector<int64_t>{});
  out.poison_both();
  SinusoidalConfig sc;
  sc.dim = c.C;
  PosSource ps{{}, {}, c.pos};
  const Positions pos = ps.make(c.B, c.T, seed + 3, c.table ? c.P - 1 : 100000);
  const float scale = c.sqrt_scale ? embed_scale(EmbedScale::SqrtC, c.C) : 1.0f;
  for (Device d : {Device::CPU, Device::CUDA}) {
    const PeSource src = c.table ? PeSource::table(P.view(d)) : PeSource::sinusoidal(sc);
    embed_forward(out.view(d), ids.view(d), E.view(d), src, pos, scale);
  }
  sync();
  EXPECT_TRUE(same_bytes(out, "embed_forward"));

  // Backward: dE (accumulated into random values) and dPE, from a random dout.
  Mirror dout(c.ot, {c.B, c.T, c.C});
  dout.fill(seed + 4);
  dout.upload();
  Mirror dE(c.et, {c.V, c.C}), dP(c.pt, {c.P, c.C});
  dE.fill(seed + 5);
  dE.upload();
  dP.fill(seed + 6);
  dP.upload();
  for (Device d : {Device::CPU, Device::CUDA})
    embed_backward(dE.view(d), c.table ? dP.view(d) : TensorView{}, dout.view(d), ids.view(d), pos, scale);
  sync();
  EXPECT_TRUE(same_bytes(dE, "embed_backward dE"));
  EXPECT_TRUE(same_bytes(dP, "embed_backward dPE"));
}

TEST(CudaEmbed, ForwardAndBackwardMatchTheCpuBitForBit) {
  POSENC_SKIP_WITHOUT_GPU();
  uint32_t seed = 300;
  int n = 0;
  const DType fl[] = {DType::F32, DType::BF16, DType::F16};
  for (DType ot : fl)
    for (DType et : fl)
      for (DType pt : fl) {
        EmbedCase c{ot, et, pt, n % 2 ? DType::I32 : DType::I64};
        c.table = n % 4 != 3;
        c.sqrt_scale = n % 3 == 0;
        c.strided_out = n % 5 == 2;
        c.pos = static_cast<PosKind>(n % 4);  // no packed: B > 1
        c.C = n % 6 == 1 ? 36 : 64;           // 36: the scalar path for 16-byte types
        ++n;
        run_embed_case(c, seed += 11);
      }
}

TEST(CudaEmbed, FrequentIdsAndLargeRows) {
  POSENC_SKIP_WITHOUT_GPU();
  // A tiny vocabulary: long groups in the deterministic gradient sum.
  EmbedCase c{DType::BF16, DType::F32, DType::BF16, DType::I64};
  c.V = 3;
  c.B = 4;
  c.T = 500;
  c.C = 1024;
  c.P = 600;
  run_embed_case(c, 77);
}

// An id outside [0, V) is an error naming the first such token, on the device as on the CPU; the kernels
// queued behind the check write nothing then (out and dE keep their bytes), and the next call with good
// ids runs as usual. i64 and i32 ids, forward (check kernel) and backward (checked while making keys).
TEST(CudaEmbed, IdOutOfRangeIsAnErrorNamingIt) {
  POSENC_SKIP_WITHOUT_GPU();
  for (DType it : {DType::I64, DType::I32}) {
    SCOPED_TRACE(name(it));
    Mirror E(DType::F32, {10, 8}), P(DType::F32, {10, 8}), out(DType::F32, {2, 3, 8});
    E.fill(1);
    P.fill(2);
    out.fill(3);
    for (Mirror* m : {&E, &P, &out}) m->upload();
    Mirror ids(it, {2, 3});
    ids.fill(4, 0, 10);
    const std::vector<unsigned char> good = ids.host;
    const int64_t es = dtype_size(it);
    auto set_id = [&](int64_t n, int64_t v) {
      if (it == DType::I64)
        std::memcpy(ids.host.data() + n * es, &v, 8);
      else {
        const auto w = static_cast<int32_t>(v);
        std::memcpy(ids.host.data() + n * es, &w, 4);
      }
    };
    set_id(1 * 3 + 2, -1);  // the last token and a middle one: the first (ids[0, 1]) is named
    set_id(0 * 3 + 1, 10);
    ids.upload();
    auto call = [&](bool backward, Device d) {
      if (backward)
        embed_backward(E.view(d), TensorView{}, out.view(d), ids.view(d), Positions::offset(), 1.0f);
      else
        embed_forward(out.view(d), ids.view(d), E.view(d), PeSource::table(P.view(d)), Positions::offset(),
                      1.0f);
    };
    for (bool backward : {false, true}) {
      SCOPED_TRACE(backward ? "backward (dE)" : "forward (out)");
      try {
        call(backward, Device::CUDA);
        ADD_FAILURE() << "no error";
      } catch (const Error& e) {
        EXPECT_EQ(e.argument(), "ids[0, 1]") << e.what();
        EXPECT_EQ(e.value(), "10") << e.what();
      }
      sync();
      EXPECT_TRUE(same_bytes(backward ? E : out, "after the failed call"));
    }
    // Good ids again: both directions as on the CPU.
    ids.host = good;
    ids.upload();
    for (bool backward : {false, true}) {
      SCOPED_TRACE(backward ? "backward (dE)" : "forward (out)");
      for (Device d : {Device::CPU, Device::CUDA}) call(backward, d);
      sync();
      EXPECT_TRUE(same_bytes(backward ? E : out, "after a good call"));
    }
  }
}

// ---- learned -----------------------------------------------------------------------------------------------
TEST(CudaLearned, GatherAddBackward) {
  POSENC_SKIP_WITHOUT_GPU();
  uint32_t seed = 500;
  for (DType xt : {DType::F32, DType::BF16, DType::F16})
    for (DType tt : {DType::F32, DType::BF16})
      for (PosKind k : {PosKind::Zero, PosKind::PerSeq, PosKind::Ids}) {
        SCOPED_TRACE(std::string(name(xt)) + " table " + name(tt) + " pos " +
                     std::to_string(static_cast<int>(k)));
        const int64_t B = 2, T = 30, C = 48, Pn = 64;
        Mirror table(tt, {Pn, C});
        table.fill(seed++);
        table.upload();
        PosSource ps{{}, {}, k};
        const Positions pos = ps.make(B, T, seed++, Pn - 1);
        Mirror out(xt, {B, T, C});
        out.poison_both();
        for (Device d : {Device::CPU, Device::CUDA}) learned_forward(out.view(d), table.view(d), pos);
        sync();
        EXPECT_TRUE(same_bytes(out, "learned_forward"));
        Mirror x(xt, {B, T, C});
        x.fill(seed++);
        x.upload();
        for (Device d : {Device::CPU, Device::CUDA}) learned_add(x.view(d), table.view(d), pos);
        sync();
        EXPECT_TRUE(same_bytes(x, "learned_add"));
        Mirror dt(tt, {Pn, C});
        dt.fill(seed++);
        dt.upload();
        for (Device d : {Device::CPU, Device::CUDA}) learned_backward(dt.view(d), x.view(d), pos);
        sync();
        EXPECT_TRUE(same_bytes(dt, "learned_backward"));
      }
}

// The GPU's conversions, through a gather (no arithmetic: even NaN payloads must match): every f16 and
// bf16 value to f32, and f32 bit patterns (specials, subnormals, rounding boundaries, a sweep) to f16/bf16.
TEST(CudaConversions, BitsOfDtypeHppOnTheDevice) {
  POSENC_SKIP_WITHOUT_GPU();
  for (DType half : {DType::F16, DType::BF16}) {
    Mirror table(half, {65536, 1});
    for (uint32_t h = 0; h < 65536; ++h) {
      const auto v = static_cast<uint16_t>(h);
      std::memcpy(table.host.data() + h * 2, &v, 2);
    }
    table.upload();
    Mirror out(DType::F32, {1, 65536, 1});
    out.poison_both();
    std::vector<int64_t> ids(65536);
    std::iota(ids.begin(), ids.end(), 0);
    const Positions pos = Positions::ids(TensorView::contiguous(ids.data(), DType::I64, {1, 65536}));
    for (Device d : {Device::CPU, Device::CUDA}) learned_forward(out.view(d), table.view(d), pos);
    sync();
    EXPECT_TRUE(same_bytes(out, std::string(name(half)) + " -> f32"));
  }
  std::vector<uint32_t> pats;
  for (uint64_t u = 0; u <= 0xffffffffull; u += 4099) pats.push_back(static_cast<uint32_t>(u));
  for (uint32_t base :
       {0x00000000u, 0x7f800000u, 0x7fc00000u, 0x477ff000u, 0x38800000u, 0x33000000u, 0x3f800000u})
    for (uint32_t d = 0; d < 512; ++d)
      for (uint32_t s : {0u, 0x80000000u}) {
        pats.push_back((base + d) | s);
        pats.push_back((base - d) | s);
      }
  const auto n = static_cast<int64_t>(pats.size());
  Mirror table(DType::F32, {n, 1});
  std::memcpy(table.host.data(), pats.data(), pats.size() * 4);
  table.upload();
  std::vector<int64_t> ids(pats.size());
  std::iota(ids.begin(), ids.end(), 0);
  const Positions pos = Positions::ids(TensorView::contiguous(ids.data(), DType::I64, {1, n}));
  for (DType half : {DType::F16, DType::BF16}) {
    Mirror out(half, {1, n, 1});
    out.poison_both();
    for (Device d : {Device::CPU, Device::CUDA}) learned_forward(out.view(d), table.view(d), pos);
    sync();
    EXPECT_TRUE(same_bytes(out, std::string("f32 -> ") + name(half)));
  }
}

// ---- ALiBi and T5 ---------------------------------------------------------------------------------------------
TEST(CudaAlibi, FormsMasksDtypes) {
  POSENC_SKIP_WITHOUT_GPU();
  int n = 0;
  for (AlibiForm form : {AlibiForm::Relative, AlibiForm::KeyPosition})
    for (AlibiMask mask : {AlibiMask::None, AlibiMask::Causal})
      for (DType t : {DType::F32, DType::BF16, DType::F16}) {
        AlibiConfig cfg;
        cfg.num_heads = 6;
        cfg.form = form;
        cfg.mask = mask;
        const int64_t Tq = 19, Tk = 40;
        std::vector<int64_t> q(Tq), k(Tk);
        std::iota(q.begin(), q.end(), 21);
        std::iota(k.begin(), k.end(), 0);
        if (n % 2) std::reverse(k.begin(), k.end());
        const bool strided = n++ % 3 == 1;
        Mirror out(t, {6, Tq, Tk},
                   strided ? std::vector<int64_t>{Tq * (Tk + 1), Tk + 1, 1} : std::vector<int64_t>{});
        SCOPED_TRACE(std::to_string(static_cast<int>(form)) + std::to_string(static_cast<int>(mask)) +
                     name(t));
        out.poison_both();
        for (Device d : {Device::CPU, Device::CUDA}) alibi_bias(out.view(d), cfg, q, k);
        sync();
        EXPECT_TRUE(same_bytes(out, "alibi"));
      }
}

TEST(CudaT5, ForwardBitForBitBackwardDeterministicAndClose) {
  POSENC_SKIP_WITHOUT_GPU();
  uint32_t seed = 700;
  for (bool bidir : {true, false})
    for (DType t : {DType::F32, DType::BF16})
      for (int layout = 0; layout < 2; ++layout) {
        T5BiasConfig cfg;
        cfg.bidirectional = bidir;
        cfg.num_buckets = layout == 0 ? 32 : 100;  // 100: several 32-bucket windows
        cfg.max_distance = 128;
        const int64_t H = 5, Tq = 70, Tk = 90;
        std::vector<int64_t> q(Tq), k(Tk);
        std::iota(q.begin(), q.end(), 10);
        std::iota(k.begin(), k.end(), 0);
        if (layout == 1)  // scattered positions: the per-pair bucket matrix
          for (auto& v : k) v = v * v * 37 % 100003;
        SCOPED_TRACE(std::string(bidir ? "bidir " : "causal ") + name(t) + " layout " +
                     std::to_string(layout));
        Mirror table(t, {cfg.num_buckets, H});
        table.fill(seed++);
        table.upload();
        Mirror out(t, {H, Tq, Tk});
        out.poison_both();
        for (Device d : {Device::CPU, Device::CUDA}) t5_bias_forward(out.view(d), table.view(d), cfg, q, k);
        sync();
        EXPECT_TRUE(same_bytes(out, "t5 forward"));

        Mirror dout(t, {H, Tq, Tk});
        dout.fill(seed++);
        dout.upload();
        Mirror dt(DType::F32, {cfg.num_buckets, H});
        dt.fill(seed++);
        dt.upload();
        const std::vector<unsigned char> start = dt.host;
        for (Device d : {Device::CPU, Device::CUDA}) t5_bias_backward(dt.view(d), dout.view(d), cfg, q, k);
        sync();
        // Sums of up to Tq * Tk = 6300 values in [-1, 1]: fp32 rounding in another order (~1e-4; a
        // missing or extra term would be ~0.5).
        const Closeness cl = compare_close(dt, 1e-2);
        EXPECT_TRUE(cl.ok) << "worst " << cl.worst;
        // Untouched buckets keep their bits; the GPU is deterministic: run again from the same start.
        const std::vector<unsigned char> first = dt.download();
        cuda_ok(cudaMemcpy(dt.dev->p, start.data(), start.size(), cudaMemcpyHostToDevice), "reset");
        t5_bias_backward(dt.dv(), dout.dv(), cfg, q, k);
        sync();
        EXPECT_TRUE(first == dt.download()) << "T5 backward not deterministic";
      }
}

// ---- bad input on the GPU ---------------------------------------------------------------------------------------
TEST(CudaBadInput, HostPointerOverlapMisalignment) {
  POSENC_SKIP_WITHOUT_GPU();
  RopeConfig cfg;
  cfg.head_dim = 16;
  Mirror q(DType::F32, {2, 4, 2, 16});
  std::vector<float> host(2 * 4 * 2 * 16);
  TensorView hq = TensorView::contiguous(host.data(), DType::F32, {2, 4, 2, 16}, Device::CUDA);
  try {
    rope_forward(only(hq), cfg, Positions::offset());
    ADD_FAILURE() << "host memory accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), "q.device") << e.what();
    EXPECT_NE(e.value().find("host memory"), std::string::npos) << e.what();
  }
  // q_out overlapping q but not the same view (shifted by one row).
  Mirror big(DType::F32, {2 * 4 * 2 * 16 + 16});
  TensorView a = TensorView::contiguous(big.dev->p, DType::F32, {2, 4, 2, 16}, Device::CUDA);
  TensorView b = a;
  b.data = static_cast<float*>(big.dev->p) + 16;
  try {
    rope_forward(RopeTensors{a, {}, b, {}}, cfg, Positions::offset());
    ADD_FAILURE() << "overlap accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), "q_out") << e.what();
  }
  // An address that is not a multiple of the element size.
  TensorView m = a;
  m.data = static_cast<char*>(big.dev->p) + 2;
  try {
    rope_forward(only(m), cfg, Positions::offset());
    ADD_FAILURE() << "misaligned accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), "q.data") << e.what();
  }
  // Element-aligned but not 16-byte aligned: fine (the scalar path), same bits as the CPU.
  Mirror odd(DType::BF16, {2, 5, 3, 16}, {}, 0);
  odd.offset = 0;
  odd.fill(4);
  odd.upload();
  TensorView oh = odd.hv(), od = odd.dv();
  oh.shape = od.shape = {2, 5, 3, 15};
  oh.strides = od.strides = {5 * 3 * 16, 3 * 16, 16, 1};
  oh.data = static_cast<uint16_t*>(oh.data) + 1;
  od.data = static_cast<uint16_t*>(od.data) + 1;
  cfg.head_dim = 15;
  cfg.rotary_dim = 14;
  rope_forward(only(oh), cfg, Positions::offset(2));
  rope_forward(only(od), cfg, Positions::offset(2));
  sync();
  EXPECT_TRUE(same_bytes(odd, "rope at an odd address"));
}

// posenc calls cannot be replayed from a CUDA graph (host data copied per call, the id check's wait):
// during a capture of their stream they are a posenc::Error naming the stream, and nothing is queued.
TEST(CudaStreams, GraphCaptureIsRefused) {
  POSENC_SKIP_WITHOUT_GPU();
  cudaStream_t s = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  RopeCase c;
  auto q = qk_tensor(c.xt, c.B, c.T, c.Hq, c.D, false, false);
  q->fill(13);
  q->upload();
  cuda_ok(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
  std::string argument;
  try {
    CudaStreamGuard g(s);
    rope_forward(only(q->dv()), rope_config(c), Positions::offset(4));
  } catch (const Error& e) {
    argument = e.argument();
  }
  cudaGraph_t graph = nullptr;
  cuda_ok(cudaStreamEndCapture(s, &graph), "cudaStreamEndCapture");
  EXPECT_EQ(argument, "stream");
  size_t nodes = 1;
  if (graph != nullptr) {
    cuda_ok(cudaGraphGetNodes(graph, nullptr, &nodes), "cudaGraphGetNodes");
    cudaGraphDestroy(graph);
  }
  EXPECT_EQ(nodes, 0u) << "the refused call queued work into the graph";
  EXPECT_TRUE(same_bytes(*q, "q (untouched)"));
  cudaStreamDestroy(s);
}

TEST(CudaStreams, RunsOnTheGivenStream) {
  POSENC_SKIP_WITHOUT_GPU();
  cudaStream_t s = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  RopeCase c;
  c.xt = c.ot = DType::BF16;
  auto q = qk_tensor(c.xt, c.B, c.T, c.Hq, c.D, false, false);
  q->fill(12);
  q->upload();
  const RopeConfig cfg = rope_config(c);
  rope_forward(only(q->hv()), cfg, Positions::offset(4));
  {
    CudaStreamGuard g(s);
    rope_forward(only(q->dv()), cfg, Positions::offset(4));
  }
  cuda_ok(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  EXPECT_TRUE(same_bytes(*q, "rope on a non-blocking stream"));
  cudaStreamDestroy(s);
}

}  // namespace
