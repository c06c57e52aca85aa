// TensorView layout helpers and the three ways of giving positions.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "posenc/error.hpp"
#include "posenc/positions.hpp"
#include "posenc/tensor.hpp"

using namespace posenc;

TEST(TensorView, ContiguousAndStrided) {
  std::vector<float> buf(2 * 3 * 4);
  const TensorView v = TensorView::contiguous(buf.data(), DType::F32, {2, 3, 4});
  EXPECT_EQ(v.ndim, 3);
  EXPECT_EQ(v.numel(), 24);
  EXPECT_EQ(v.stride(0), 12);
  EXPECT_EQ(v.stride(1), 4);
  EXPECT_EQ(v.stride(2), 1);
  EXPECT_TRUE(v.is_contiguous());
  EXPECT_EQ(v.at<float>({1, 2, 3}), buf.data() + 23);
  const TensorView t = TensorView::strided(buf.data(), DType::F32, {4, 6}, {1, 4});
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.at<float>({3, 5}), buf.data() + 23);
  EXPECT_EQ(t.describe(), "f32[4, 6] strides [1, 4] cpu");
  EXPECT_THROW(TensorView::strided(buf.data(), DType::F32, {4, 6}, {1}), Error);
  EXPECT_THROW(TensorView::contiguous(buf.data(), DType::F32, {-1, 2}), Error);
}

TEST(Positions, OffsetSingleAndPerSequence) {
  EXPECT_EQ(Positions::offset().resolve(2, 3, 100, "t"), (std::vector<int64_t>{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(Positions::offset(5).resolve(1, 3, 100, "t"), (std::vector<int64_t>{5, 6, 7}));
  const std::vector<int64_t> off{0, 10};
  EXPECT_EQ(Positions::offsets(off).resolve(2, 2, 100, "t"), (std::vector<int64_t>{0, 1, 10, 11}));
  EXPECT_THROW(Positions::offsets(off).resolve(3, 2, 100, "t"), Error);  // one offset per sequence
  EXPECT_THROW(Positions::offset(99).resolve(1, 3, 100, "t"), Error);    // 101 > 100
  EXPECT_THROW(Positions::offset(-1).resolve(1, 1, 100, "t"), Error);
}

// A temporary vector is refused at compile time (it would be freed before a call reads it); a named one
// is taken by reference.
template <class V>
concept OffsetsAccept = requires(V&& v) {
  Positions::offsets(std::forward<V>(v));
};
template <class V>
concept PackedAccept = requires(V&& v) {
  Positions::packed(std::forward<V>(v));
};
static_assert(!OffsetsAccept<std::vector<int64_t>> && !PackedAccept<std::vector<int64_t>>);
static_assert(OffsetsAccept<std::vector<int64_t>&> && PackedAccept<const std::vector<int64_t>&>);

TEST(Positions, ExplicitIdsAnyStridesAndTypes) {
  // ids stored transposed: logical [B=2, T=3] with strides {1, 2}.
  const std::vector<int32_t> raw{7, 3, 8, 4, 9, 5};  // ids[b][t] = raw[b + 2t]
  const TensorView ids = TensorView::strided(raw.data(), DType::I32, {2, 3}, {1, 2});
  EXPECT_EQ(Positions::ids(ids).resolve(2, 3, 100, "t"), (std::vector<int64_t>{7, 8, 9, 3, 4, 5}));
  const std::vector<int64_t> raw64{1, 2};
  EXPECT_EQ(Positions::ids(TensorView::contiguous(raw64.data(), DType::I64, {1, 2})).resolve(1, 2, 2, "t"),
            (std::vector<int64_t>{1, 2}));
  // HF's position_ids [1, T]: the same ids for every sequence of the batch.
  const std::vector<int64_t> shared{4, 5, 9};
  const TensorView one = TensorView::contiguous(shared.data(), DType::I64, {1, 3});
  EXPECT_EQ(Positions::ids(one).resolve(2, 3, 100, "t"), (std::vector<int64_t>{4, 5, 9, 4, 5, 9}));
  EXPECT_NO_THROW(Positions::ids(one).check(4, 3, 9, "t"));
  EXPECT_THROW(Positions::ids(one).check(4, 3, 8, "t"), Error);  // 9 > 8, in any sequence
  // Shape and dtype mismatches.
  EXPECT_THROW(Positions::ids(ids).resolve(3, 2, 100, "t"), Error);
  EXPECT_THROW(Positions::ids(ids).resolve(3, 3, 100, "t"), Error);  // 2 sequences of ids for 3
  const std::vector<float> fl{0, 1};
  EXPECT_THROW(Positions::ids(TensorView::contiguous(fl.data(), DType::F32, {1, 2})).resolve(1, 2, 9, "t"),
               Error);
  // Out of range, and the message names the index and the range.
  try {
    Positions::ids(ids).resolve(2, 3, 8, "posenc::test");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), "position ids[0, 2]");
    EXPECT_EQ(e.value(), "9");
    EXPECT_EQ(e.allowed(), "0 .. 8");
  }
}

TEST(Positions, PackedRestartAtEachSequence) {
  const std::vector<int64_t> cu{0, 3, 3, 5};  // lengths 3, 0, 2
  EXPECT_EQ(Positions::packed(cu).resolve(1, 5, 100, "t"), (std::vector<int64_t>{0, 1, 2, 0, 1}));
  EXPECT_THROW(Positions::packed(cu).resolve(2, 5, 100, "t"), Error);  // packed means B = 1
  EXPECT_THROW(Positions::packed(cu).resolve(1, 6, 100, "t"), Error);  // last entry must be T
  const std::vector<int64_t> bad{0, 4, 2, 5};
  EXPECT_THROW(Positions::packed(bad).resolve(1, 5, 100, "t"), Error);  // decreasing
  const std::vector<int64_t> bad0{1, 5};
  EXPECT_THROW(Positions::packed(bad0).resolve(1, 5, 100, "t"), Error);  // must start at 0
  try {  // sequence 0 (tokens 0 .. 2) reaches position 2 > 0, checked first
    Positions::packed(cu).resolve(1, 5, 0, "t");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.argument(), "last position of packed sequence 0 (cu_seqlens[1] - cu_seqlens[0] - 1)");
    EXPECT_EQ(e.value(), "2");
    EXPECT_EQ(e.allowed(), "0 .. 0");
  }
}
