// cli/position_list.hpp — parsing "--positions 0,5,1000".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace posenc::cli {

// Comma-separated decimal integers, each in [0, kMaxPosition] (2^31 - 1); spaces around an entry
// are allowed, empty entries are not. Throws CliError naming `option`, the entry's index and its
// text.
std::vector<int64_t> parse_position_list(std::string_view text, std::string_view option);

// "0,1,2,..." — the inverse, for metadata.
std::string format_position_list(const std::vector<int64_t>& positions);

}  // namespace posenc::cli
