// cli/wavelength_plot.hpp — a PNG of RoPE wavelengths per frequency, before and after scaling
// (posenc inspect --plot), drawn with PLplot (pngcairo).
//
// x = frequency index i (head dims i and i + r/2, or 2i and 2i + 1), y = wavelength 2 pi / omega_i
// on a log scale; the original (pretraining) context length is a horizontal line, the extended
// max_position_embeddings another when it differs. Legend and axis labels included.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace posenc::cli {

struct WavelengthPlot {
  std::string title, x_label = "frequency index i";
  std::vector<double> before, after;  // wavelengths, one per frequency index
  int64_t original_context = 0;       // 0: no line
  int64_t max_context = 0;            // 0 or == original_context: no line
  int width_px = 1000, height_px = 700;
};

// Renders into png_path (an existing, writable file: AtomicFile's temporary). CliError if PLplot
// reports an error.
void render_wavelengths(const WavelengthPlot& plot, const std::string& png_path);

}  // namespace posenc::cli
