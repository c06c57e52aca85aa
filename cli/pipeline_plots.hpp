// cli/pipeline_plots.hpp — generic PNG plots for the pipeline commands, drawn with PLplot (pngcairo):
// a labelled matrix (attention weights, similarity matrices, PE tables) and a line plot of several
// series (e.g. a metric against sequence length per method).
//
// Both render into an existing, writable file (AtomicFile's temporary) on a PLplot stream of their
// own, restoring the caller's stream afterwards. Errors are CliError: inconsistent input (naming the
// field, before anything is drawn), a PLplot error, or no image written.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace posenc::cli {

struct MatrixPlot {
  std::string title, x_label, y_label, value_label = "value";
  int64_t rows = 0, cols = 0;
  std::vector<double> values;           // row-major rows * cols; NaN = missing (drawn grey)
  std::vector<std::string> row_labels;  // optional: one per row (e.g. tokens); empty = row indices
  std::vector<std::string> col_labels;  // optional: one per column; empty = column indices
  // Diverging: blue-white-red, symmetric around 0 over [-value_range, value_range] (value_range 0:
  // max |v| of the data). Sequential: white to dark blue over [0, value_range] (value_range 0: the
  // data's [min, max]). Values outside the range take the end colours.
  enum class Scale { Diverging, Sequential } scale = Scale::Diverging;
  double value_range = 0;  // 0 = from the data
  bool annotate = false;   // write each cell's value (2 decimals) in it, when at most 12 x 12
  int width_px = 900, height_px = 800;
};

// Row 0 at the top; labels as tick labels (thinned, smaller or, for columns, rotated when dense);
// a colour bar labelled value_label. Matrices over 512 rows or columns are sampled (nearest
// row/column), which the title says.
void render_matrix(const MatrixPlot& plot, const std::string& png_path);

struct LineSeries {
  std::string name;
  std::vector<double> x, y;  // same size; NaN (or non-finite, or <= 0 with log_y) y = gap
};

struct LinePlot {
  std::string title, x_label, y_label;
  std::vector<LineSeries> series;
  bool log2_x = false;    // log2 x axis, ticks at the data's x values (x must be > 0)
  bool log_y = false;     // log10 y axis (1-2-5 ticks when the range is short)
  double marker_x = NAN;  // a dashed vertical line (e.g. the training length), labelled
  std::string marker_label;
  int width_px = 1000, height_px = 700;
};

// One colour and point marker per series, lines across consecutive finite points; the legend sits
// right of the plot, listing series without any finite point as "name (n/a)".
void render_lines(const LinePlot& plot, const std::string& png_path);

}  // namespace posenc::cli
