// posenc/version.hpp
#pragma once

#define POSENC_VERSION_MAJOR 0
#define POSENC_VERSION_MINOR 1
#define POSENC_VERSION_PATCH 0

namespace posenc {
inline constexpr const char* kVersion = "0.1.0";
}
