// cli/encoding_explain.hpp — what a model's ALiBi, T5 bias or absolute position embedding does, in words
// (posenc inspect for configs without RoPE; RoPE has rope_explain.hpp).
//
//   ALiBi     heads, form, max_bias, and per head the slope and the distance over which the bias
//             falls by 1 (1 / slope)
//   T5 bias   buckets, max_distance, heads, direction, and per bucket the relative positions
//             r = k - q it holds (computed with posenc's t5_relative_bucket, as HF buckets them)
//   absolute  learned or sinusoidal, the table's rows and columns, the row of position 0 and the
//             longest sequence the table covers, the embedding scale
// Every value is followed by the config.json field it came from in brackets, as in rope_explain;
// the importer's warnings close the report.
#pragma once

#include <string>

#include "posenc/hf_config.hpp"

namespace posenc::cli {

std::string explain_alibi(const hf::AlibiImport& imp, const std::string& config_path);
std::string explain_t5_bias(const hf::T5BiasImport& imp, const std::string& config_path);
std::string explain_absolute(const hf::AbsoluteImport& imp, const std::string& config_path);

}  // namespace posenc::cli
