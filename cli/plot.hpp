// cli/plot.hpp — a PNG heatmap of a table, drawn with PLplot (pngcairo).
//
// x = column (dimension index), y = row, labelled with the row's position (row 0 at the top);
// colours from a diverging blue-white-red map over [-value_range, value_range] with a colour bar.
// Tables larger than the plot's pixels are sampled (nearest row/column), which the title says.
#pragma once

#include <string>

#include "table.hpp"

namespace posenc::cli {

struct HeatmapStyle {
  std::string title;
  double value_range = 1.0;  // colours span [-value_range, value_range]
  int width_px = 1000, height_px = 700;
};

// Renders into the file `png_path` (which must exist and be writable: AtomicFile's temporary).
// Throws CliError if PLplot reports an error.
void render_heatmap(const Table& table, const std::string& png_path, const HeatmapStyle& style);

}  // namespace posenc::cli
