// posenc/precision.hpp — how angles pos * omega and their sin/cos are computed.
//
//   Exact     (default) omega in double-double, the angle range-reduced in double-double, sin/cos in
//             double, then rounded once to fp32: every fp32 value is within 1 ulp of the correctly rounded
//             value of the real-number formula, at every position in [0, 2^31 - 1] (tested against MPFR).
//   HfCompat  the common float32 recipe, for parity tests: frequencies by a float32 power (or float32 exp,
//             as the layout's reference code does), angle = float(pos) * float(omega) in float32, then
//             sin/cos of that float angle. At position 1e5 this is off from the true value by ~5e-3.
#pragma once

#include <cstdint>

namespace posenc {

enum class Precision : uint8_t { Exact, HfCompat };

}  // namespace posenc
