// cli/rope_explain.hpp — what a model's RoPE does, in words and per frequency (posenc inspect).
//
// For each frequency index i < r/2: omega_i before scaling (base^(-2i/r)) and after, the wavelength
// 2 pi / omega (positions per full turn), and what the scaling did to it:
//   unchanged     (extrapolated: the frequency the model was pretrained with, also past the
//                 original context)
//   interpolated  (divided by the factor: positions are squeezed into the pretrained range)
//   blended       (YaRN's ramp or Llama 3's smooth band: a mix of the two; `kept` is the weight of
//                 the unchanged frequency, in (0, 1))
//   rescaled      (dynamic NTK's larger base, or LongRoPE's per-frequency factor)
// Classification compares the exact (double-double) frequencies before and after, so it shows
// what the formula does, independently of how the config expressed it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "posenc/hf_config.hpp"

namespace posenc::cli {

enum class Treatment { Unchanged, Interpolated, Blended, Rescaled };

struct FrequencyRow {
  int64_t i = 0;
  int64_t dim_a = 0, dim_b = 0;  // the two head dims frequency i rotates
  double omega_before = 0, omega_after = 0;
  Treatment treatment = Treatment::Unchanged;
  double kept = 1;    // Blended: weight of the unchanged frequency
  double divide = 1;  // omega_before / omega_after
};

struct RopeExplanation {
  std::vector<std::string> header;  // lines of prose before the table
  std::vector<FrequencyRow> rows;
  std::string summary;
  int64_t seq_len = 0;           // the length the frequencies are shown for (0 = any)
  int64_t original_context = 0;  // Lorig (yarn, llama3, longrope) or max_position_embeddings
  int64_t max_context = 0;       // max_position_embeddings (0 = not given)
  double attention_scaling = 1;
};

// seq_len 0: a length that shows the scaling (dynamic: factor * max_position_embeddings,
// longrope: max_position_embeddings, i.e. the long factors); otherwise as given.
RopeExplanation explain_rope(const hf::RopeImport& imp, int64_t seq_len);

// The whole report: header, the table, the summary, the warnings.
std::string format_explanation(const hf::RopeImport& imp, const RopeExplanation& e,
                               const std::string& config_path);

const char* treatment_name(Treatment t);

}  // namespace posenc::cli
