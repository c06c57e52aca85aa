// The CUDA checks that need no GPU (run in every build, with or without CUDA or a device):
//   - a call whose tensors are on different devices is an Error naming the odd argument;
//   - a call on Device::CUDA views is an Error naming the first view when posenc has no CUDA, when no GPU
//     is usable, or when the pointer is host memory (these tests pass host pointers tagged cuda: the
//     error is one of those three on every machine);
//   - the overlap rule of the GPU kernels (src/overlap.hpp);
//   - src/cuda/conv.hpp (the GPU's f16/bf16 conversions, built here for the host) against posenc/dtype.hpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cuda/conv.hpp"
#include "overlap.hpp"
#include "posenc/cuda.hpp"
#include "posenc/posenc.hpp"

using namespace posenc;

namespace {

template <typename F>
void expect_error(F&& f, const std::string& argument, const std::string& value_substr = "",
                  const std::string& allowed_substr = "") {
  try {
    f();
    ADD_FAILURE() << "no error for " << argument;
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), argument) << e.what();
    if (!value_substr.empty()) {
      EXPECT_NE(e.value().find(value_substr), std::string::npos) << e.what();
    }
    if (!allowed_substr.empty()) {
      EXPECT_NE(e.allowed().find(allowed_substr), std::string::npos) << e.what();
    }
    EXPECT_FALSE(e.allowed().empty()) << e.what();
  }
}

// The "cuda view of host memory" error: no CUDA build, no GPU, or host memory: all name <name>.device.
template <typename F>
void expect_cuda_view_error(F&& f, const std::string& name) {
  try {
    f();
    ADD_FAILURE() << "no error for a host pointer tagged cuda (" << name << ")";
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), name + ".device") << e.what();
    EXPECT_NE(e.value().find("cuda"), std::string::npos) << e.what();
    const std::string a = e.allowed();
    const bool known = a.find("built without CUDA") != std::string::npos ||
                       a.find("no usable CUDA device") != std::string::npos ||
                       a.find("cpu for host memory") != std::string::npos;
    EXPECT_TRUE(known) << e.what();
  }
}

TensorView cuda_tagged(TensorView v) {
  v.device = Device::CUDA;
  return v;
}

}  // namespace

TEST(CudaChecks, BuiltFlagMatchesTheBuild) {
  EXPECT_EQ(cuda_built(), POSENC_TEST_CUDA_BUILT != 0);
  if (!cuda_built()) {
    EXPECT_FALSE(cuda_available());
  }
}

TEST(CudaChecks, StreamIsPerThreadAndGuarded) {
  EXPECT_EQ(cuda_stream(), nullptr);
  int dummy = 0;
  {
    CudaStreamGuard g(&dummy);
    EXPECT_EQ(cuda_stream(), &dummy);
  }
  EXPECT_EQ(cuda_stream(), nullptr);
}

TEST(CudaChecks, MixedDevicesNameTheArgument) {
  std::vector<float> a(4 * 8), b(16 * 8), c(4 * 8);
  std::vector<int64_t> ids(4, 1);
  const TensorView out = TensorView::contiguous(a.data(), DType::F32, {1, 4, 8});
  const TensorView E = TensorView::contiguous(b.data(), DType::F32, {16, 8});
  const TensorView id = TensorView::contiguous(ids.data(), DType::I64, {1, 4});
  const TensorView P = TensorView::contiguous(c.data(), DType::F32, {4, 8});
  expect_error([&] { embed_forward(out, id, cuda_tagged(E), PeSource::table(P), Positions::offset(), 1.0f); },
               "E.device", "cuda", "cpu");
  expect_error([&] { embed_forward(out, cuda_tagged(id), E, PeSource::table(P), Positions::offset(), 1.0f); },
               "ids.device", "cuda", "cpu");
  expect_error([&] { embed_forward(out, id, E, PeSource::table(cuda_tagged(P)), Positions::offset(), 1.0f); },
               "pe table.device", "cuda", "cpu");
  expect_error([&] { embed_forward(cuda_tagged(out), id, E, PeSource::table(P), Positions::offset(), 1.0f); },
               "E.device", "cpu", "cuda");
  expect_error([&] { embed_backward(E, cuda_tagged(P), out, id, Positions::offset(), 1.0f); }, "dPE.device",
               "cuda", "cpu");
  expect_error([&] { learned_forward(out, cuda_tagged(P), Positions::offset()); }, "table.device", "cuda");
  expect_error([&] { learned_add(cuda_tagged(out), P, Positions::offset()); }, "table.device", "cpu", "cuda");
  expect_error([&] { learned_backward(cuda_tagged(P), out, Positions::offset()); }, "table.device", "cuda");

  std::vector<float> q(2 * 3 * 4 * 8), k(2 * 3 * 2 * 8);
  RopeConfig rc;
  rc.head_dim = 8;
  RopeTensors t;
  t.q = TensorView::contiguous(q.data(), DType::F32, {2, 3, 4, 8});
  t.k = cuda_tagged(TensorView::contiguous(k.data(), DType::F32, {2, 3, 2, 8}));
  expect_error([&] { rope_forward(t, rc, Positions::offset()); }, "k.device", "cuda", "cpu");
  t.k = TensorView::contiguous(k.data(), DType::F32, {2, 3, 2, 8});
  t.q_out = cuda_tagged(TensorView::contiguous(q.data(), DType::F32, {2, 3, 4, 8}));
  expect_error([&] { rope_backward(t, rc, Positions::offset()); }, "q_out.device", "cuda", "cpu");
  // Position ids are read on the host: ids on the GPU are refused (the LibTorch adapter copies them).
  std::vector<int64_t> pid(6, 0);
  RopeTensors tc;
  tc.q = cuda_tagged(TensorView::contiguous(q.data(), DType::F32, {2, 3, 4, 8}));
  const TensorView pids = cuda_tagged(TensorView::contiguous(pid.data(), DType::I64, {2, 3}));
  expect_error([&] { rope_forward(tc, rc, Positions::ids(pids)); }, "position ids.device", "cuda", "cpu");

  T5BiasConfig tcfg;
  std::vector<float> w(32 * 2), bias(2 * 3 * 3);
  const std::vector<int64_t> qp{0, 1, 2};
  expect_error(
      [&] {
        t5_bias_forward(TensorView::contiguous(bias.data(), DType::F32, {2, 3, 3}),
                        cuda_tagged(TensorView::contiguous(w.data(), DType::F32, {32, 2})), tcfg, qp, qp);
      },
      "table.device", "cuda", "cpu");
  expect_error(
      [&] {
        t5_bias_backward(TensorView::contiguous(w.data(), DType::F32, {32, 2}),
                         cuda_tagged(TensorView::contiguous(bias.data(), DType::F32, {2, 3, 3})), tcfg, qp,
                         qp);
      },
      "dtable.device", "cpu", "cuda");
}

TEST(CudaChecks, CudaViewsOfHostMemoryAreRefusedByName) {
  std::vector<float> a(4 * 8), b(16 * 8), c(4 * 8);
  std::vector<int64_t> ids(4, 1);
  const TensorView out = cuda_tagged(TensorView::contiguous(a.data(), DType::F32, {1, 4, 8}));
  const TensorView E = cuda_tagged(TensorView::contiguous(b.data(), DType::F32, {16, 8}));
  const TensorView id = cuda_tagged(TensorView::contiguous(ids.data(), DType::I64, {1, 4}));
  const TensorView P = cuda_tagged(TensorView::contiguous(c.data(), DType::F32, {4, 8}));
  expect_cuda_view_error([&] { embed_forward(out, id, E, PeSource::table(P), Positions::offset(), 1.0f); },
                         "out");
  expect_cuda_view_error([&] { embed_backward(E, TensorView{}, out, id, Positions::offset(), 1.0f); }, "dE");
  expect_cuda_view_error([&] { learned_forward(out, P, Positions::offset()); }, "out");
  expect_cuda_view_error([&] { learned_add(out, P, Positions::offset()); }, "x");
  expect_cuda_view_error([&] { learned_backward(P, out, Positions::offset()); }, "dtable");
  SinusoidalConfig sc;
  sc.dim = 8;
  expect_cuda_view_error([&] { sinusoidal_add(out, sc, Positions::offset()); }, "x");
  expect_cuda_view_error([&] { sinusoidal_table(P, sc, 0); }, "out");
  std::vector<float> q(2 * 3 * 4 * 8);
  RopeConfig rc;
  rc.head_dim = 8;
  RopeTensors t;
  t.q = cuda_tagged(TensorView::contiguous(q.data(), DType::F32, {2, 3, 4, 8}));
  expect_cuda_view_error([&] { rope_forward(t, rc, Positions::offset()); }, "q");
  AlibiConfig ac;
  ac.num_heads = 2;
  std::vector<float> bias(2 * 3 * 3);
  const std::vector<int64_t> qp{0, 1, 2};
  expect_cuda_view_error(
      [&] {
        alibi_bias(cuda_tagged(TensorView::contiguous(bias.data(), DType::F32, {2, 3, 3})), ac, qp, qp);
      },
      "out");
  std::vector<float> w(32 * 2);
  expect_cuda_view_error(
      [&] {
        t5_bias_forward(cuda_tagged(TensorView::contiguous(bias.data(), DType::F32, {2, 3, 3})),
                        cuda_tagged(TensorView::contiguous(w.data(), DType::F32, {32, 2})), T5BiasConfig{},
                        qp, qp);
      },
      "out");
}

TEST(CudaChecks, OverlapRule) {
  using detail::elements_overlap;
  using detail::same_view;
  std::vector<float> buf(2 * 5 * 3 * 4 * 8);
  float* p = buf.data();
  // Disjoint halves of one buffer.
  EXPECT_FALSE(elements_overlap(TensorView::contiguous(p, DType::F32, {4, 8}),
                                TensorView::contiguous(p + 32, DType::F32, {4, 8})));
  EXPECT_TRUE(elements_overlap(TensorView::contiguous(p, DType::F32, {4, 8}),
                               TensorView::contiguous(p + 31, DType::F32, {4, 8})));
  EXPECT_TRUE(elements_overlap(TensorView::contiguous(p, DType::F32, {4, 8}),
                               TensorView::contiguous(p, DType::F32, {4, 8})));
  EXPECT_TRUE(same_view(TensorView::contiguous(p, DType::F32, {4, 8}),
                        TensorView::contiguous(p, DType::F32, {4, 8})));
  EXPECT_FALSE(same_view(TensorView::contiguous(p, DType::F32, {4, 8}),
                         TensorView::contiguous(p, DType::F16, {4, 8})));
  // q, k, v of a fused [B, T, 3, H, D] buffer: interleaved ranges, disjoint elements.
  const int64_t B = 2, T = 5, H = 4, D = 8;
  auto part = [&](int w) {
    return TensorView::strided(p + w * H * D, DType::F32, {B, T, H, D}, {T * 3 * H * D, 3 * H * D, D, 1});
  };
  EXPECT_FALSE(elements_overlap(part(0), part(1)));
  EXPECT_FALSE(elements_overlap(part(1), part(2)));
  EXPECT_FALSE(elements_overlap(part(2), part(0)));
  // Shifted by one element: overlapping.
  const TensorView q = part(0);
  TensorView q1 = q;
  q1.data = p + 1;
  EXPECT_TRUE(elements_overlap(q, q1));
  // Even columns vs odd columns of one matrix: disjoint; even vs even shifted by a row: overlapping.
  const TensorView even = TensorView::strided(p, DType::F32, {4, 4}, {8, 2});
  TensorView odd = even;
  odd.data = p + 1;
  EXPECT_FALSE(elements_overlap(even, odd));
  TensorView next_row = even;
  next_row.data = p + 8;
  EXPECT_TRUE(elements_overlap(even, next_row));
  // Half a float's offset (different dtype / unaligned): counted as overlapping.
  EXPECT_TRUE(elements_overlap(TensorView::contiguous(p, DType::F32, {4, 8}),
                               TensorView::contiguous(reinterpret_cast<char*>(p) + 2, DType::F16, {4, 8})));
  // Empty views never overlap.
  EXPECT_FALSE(elements_overlap(TensorView::contiguous(p, DType::F32, {0, 8}),
                                TensorView::contiguous(p, DType::F32, {4, 8})));
  // Negative strides: a reversed view of the same rows overlaps.
  const TensorView rev = TensorView::strided(p + 24, DType::F32, {4, 8}, {-8, 1});
  EXPECT_TRUE(elements_overlap(rev, TensorView::contiguous(p, DType::F32, {4, 8})));
}

// elements_overlap against brute force: views of one dtype, rank and strides (any signs, strides that
// alias included) but different sizes, at every element offset from each other within a small buffer.
// Sizes up to 4 keep every search within its exact range, so the answer must equal the brute force's.
TEST(CudaChecks, OverlapAgreesWithBruteForce) {
  std::mt19937 rng(2026);
  std::vector<float> buf(4096);
  int64_t cases = 0, overlapping = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const int nd = 1 + static_cast<int>(rng() % 4);
    std::vector<int64_t> sa(static_cast<size_t>(nd)), sb(sa.size()), st(sa.size());
    for (int d = 0; d < nd; ++d) {
      sa[static_cast<size_t>(d)] = 1 + static_cast<int64_t>(rng() % 4);
      sb[static_cast<size_t>(d)] = 1 + static_cast<int64_t>(rng() % 4);
      st[static_cast<size_t>(d)] =
          (static_cast<int64_t>(rng() % 13) - 6) * (1 + static_cast<int64_t>(rng() % 3));
    }
    // Element offsets of a view at base (relative to buf), each element 4 bytes.
    const auto offsets = [&](const std::vector<int64_t>& sz, int64_t base) {
      std::vector<int64_t> out{base};
      for (int d = 0; d < nd; ++d) {
        std::vector<int64_t> next;
        for (int64_t o : out)
          for (int64_t i = 0; i < sz[static_cast<size_t>(d)]; ++i)
            next.push_back(o + i * st[static_cast<size_t>(d)]);
        out = next;
      }
      return out;
    };
    const auto view = [&](const std::vector<int64_t>& sz, int64_t base) {
      TensorView v;
      v.data = buf.data() + base;
      v.dtype = DType::F32;
      v.ndim = nd;
      for (int d = 0; d < nd; ++d) {
        v.shape[static_cast<size_t>(d)] = sz[static_cast<size_t>(d)];
        v.strides[static_cast<size_t>(d)] = st[static_cast<size_t>(d)];
      }
      return v;
    };
    const std::vector<int64_t> oa = offsets(sa, 2048);
    for (int64_t delta = -60; delta <= 60; ++delta) {
      const std::vector<int64_t> ob = offsets(sb, 2048 + delta);
      bool brute = false;
      for (int64_t x : oa) brute = brute || std::find(ob.begin(), ob.end(), x) != ob.end();
      ASSERT_EQ(detail::elements_overlap(view(sa, 2048), view(sb, 2048 + delta)), brute)
          << "trial " << trial << " delta " << delta;
      ++cases;
      overlapping += brute;
    }
  }
  EXPECT_GT(overlapping, cases / 10);  // both answers well represented
  EXPECT_GT(cases - overlapping, cases / 10);
}

TEST(CudaChecks, ConversionsHaveTheBitsOfDtypeHpp) {
  namespace cv = detail::cuda::conv;
  // Every f16 and bf16 value to f32.
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto b = static_cast<uint16_t>(h);
    ASSERT_EQ(std::bit_cast<uint32_t>(cv::bf16_bits_to_f32(b)), std::bit_cast<uint32_t>(bf16_bits_to_f32(b)))
        << h;
    ASSERT_EQ(std::bit_cast<uint32_t>(cv::f16_bits_to_f32(b)), std::bit_cast<uint32_t>(f16_bits_to_f32(b)))
        << h;
  }
  // f32 to f16/bf16: a sweep over all bit patterns (step 61, odd so every residue class of the low bits is
  // hit) plus the neighbourhood of every rounding boundary and special value.
  auto check = [](uint32_t u) {
    const float f = std::bit_cast<float>(u);
    ASSERT_EQ(cv::f32_to_bf16_bits(f), f32_to_bf16_bits(f)) << std::hex << u;
    ASSERT_EQ(cv::f32_to_f16_bits(f), f32_to_f16_bits(f)) << std::hex << u;
  };
  for (uint64_t u = 0; u <= 0xffffffffull; u += 61) check(static_cast<uint32_t>(u));
  for (uint32_t base : {0x00000000u, 0x7f800000u, 0x7f800001u, 0x7fc00000u, 0x477ff000u, 0x38800000u,
                        0x33000000u, 0x3f800000u, 0x477fe000u})
    for (uint32_t d = 0; d < 4096; ++d)
      for (uint32_t s : {0u, 0x80000000u}) {
        check((base + d) | s);
        check((base - d) | s);
      }
}
