// The SIMD variants the kernels can run on this CPU, for the tests that compare every one against the
// scalar code: every compiled target Highway supports here, and on a CPU with AVX512_BF16 each AVX-512
// target a second time with those instructions switched off (its integer bf16 conversion,
// cpu/avx512_bf16.hpp), so that both conversions of that target are tested on the same machine.
#pragma once

#include <hwy/targets.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cpu/avx512_bf16.hpp"

namespace posenc::test {

struct SimdVariant {
  int64_t target;
  bool avx512_bf16;
  std::string name;
};

inline std::vector<SimdVariant> simd_variants() {
  std::vector<SimdVariant> v;
  for (int64_t t : hwy::SupportedAndGeneratedTargets()) {
    const bool avx512 = t == HWY_AVX3 || t == HWY_AVX3_DL;
    if (avx512 && detail::cpu::cpu_has_avx512_bf16())
      v.push_back({t, true, std::string(hwy::TargetName(t)) + "+AVX512_BF16"});
    v.push_back({t, false, hwy::TargetName(t)});
  }
  return v;
}

// Dispatch to v's target with v's bf16 conversion; use_default_simd() restores the best of both.
inline void use_simd_variant(const SimdVariant& v) {
  hwy::SetSupportedTargetsForTest(v.target);
  detail::cpu::set_avx512_bf16_for_test(v.avx512_bf16);
}
inline void use_default_simd() {
  hwy::SetSupportedTargetsForTest(0);
  detail::cpu::set_avx512_bf16_for_test(true);
}

}  // namespace posenc::test
