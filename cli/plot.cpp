// cli/plot.cpp — see plot.hpp.
#include "plot.hpp"

#include <plplot.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cli_error.hpp"
#include "io/atomic_file.hpp"

namespace posenc::cli {
namespace {

// At most this many image cells; more would only be sub-pixel detail and slow polygon fills.
constexpr int64_t kMaxCellsX = 800, kMaxCellsY = 600;

// ColorBrewer RdBu, reversed: dark blue (-1) .. near-white (0) .. dark red (+1).
constexpr std::array<std::array<int, 3>, 11> kDiverging = {{{5, 48, 97},
                                                            {33, 102, 172},
                                                            {67, 147, 195},
                                                            {146, 197, 222},
                                                            {209, 229, 240},
                                                            {247, 247, 247},
                                                            {253, 219, 199},
                                                            {244, 165, 130},
                                                            {214, 96, 77},
                                                            {178, 24, 43},
                                                            {103, 0, 31}}};

std::string g_plplot_error;  // first plabort() message of the current rendering

void on_plabort(PLCHAR_VECTOR message) {
  if (g_plplot_error.empty()) g_plplot_error = message ? message : "unknown error";
}

// plexit() calls this and then exit()s: remove our temporaries so that no half-written file
// remains.
int on_plexit(PLCHAR_VECTOR message) {
  io::remove_pending_temporaries();
  std::fprintf(stderr, "posenc: error: --plot: PLplot failed: %s\n", message ? message : "");
  return 1;
}

// cmap1 as 256 colours interpolated linearly in RGB (plscmap1l would interpolate in HLS and pass
// through other hues on the way to white).
void set_diverging_cmap1() {
  constexpr int kColours = 256;
  std::array<PLINT, kColours> r{}, g{}, b{};
  for (int i = 0; i < kColours; ++i) {
    const double x = static_cast<double>(i) / (kColours - 1) * (kDiverging.size() - 1);
    const size_t k = std::min(static_cast<size_t>(x), kDiverging.size() - 2);
    const double f = x - static_cast<double>(k);
    const auto mix = [&](int c) {
      return static_cast<PLINT>(std::lround((1 - f) * kDiverging[k][static_cast<size_t>(c)] +
                                            f * kDiverging[k + 1][static_cast<size_t>(c)]));
    };
    r[static_cast<size_t>(i)] = mix(0);
    g[static_cast<size_t>(i)] = mix(1);
    b[static_cast<size_t>(i)] = mix(2);
  }
  plscmap1(r.data(), g.data(), b.data(), kColours);
}

// Tick labels as plain integers (PLplot would otherwise switch to "x10^5" scaling). y ticks sit at
// row indices: each is labelled with the position of its row, and ticks between rows stay blank.
void label_ticks(PLINT axis, PLFLT value, PLCHAR_NC_VECTOR label, PLINT length, PLPointer data) {
  const auto& positions = *static_cast<const std::vector<int64_t>*>(data);
  const double k = std::round(value);
  const size_t n = static_cast<size_t>(length);
  label[0] = '\0';
  if (std::fabs(value - k) > 1e-6) return;
  if (axis != PL_Y_AXIS) {
    std::snprintf(label, n, "%.0f", k);
  } else if (k >= 0 && k < static_cast<double>(positions.size())) {
    std::snprintf(label, n, "%lld", static_cast<long long>(positions[static_cast<size_t>(k)]));
  }
}

bool positions_are_row_indices(const std::vector<int64_t>& positions) {
  for (size_t i = 0; i < positions.size(); ++i)
    if (positions[i] != static_cast<int64_t>(i)) return false;
  return true;
}

}  // namespace

void render_heatmap(const Table& table, const std::string& png_path, const HeatmapStyle& style) {
  // Image cells: idata[ix][iy], sampled at the centre of each cell's span of columns / rows.
  const int64_t nx = std::min(table.cols, kMaxCellsX), ny = std::min(table.rows, kMaxCellsY);
  if (nx < 1 || ny < 1) throw CliError("--plot: the table is empty");
  // plimagefr takes the data as nodes: n + 1 nodes (the last column and row repeated) make n cells
  // that each span exactly one column / row of [x0, x1] x [y0, y1].
  std::vector<PLFLT> cells(static_cast<size_t>((nx + 1) * (ny + 1)));
  std::vector<const PLFLT*> columns(static_cast<size_t>(nx + 1));
  for (int64_t ix = 0; ix <= nx; ++ix) {
    const int64_t c = (2 * std::min(ix, nx - 1) + 1) * table.cols / (2 * nx);
    PLFLT* col = cells.data() + ix * (ny + 1);
    columns[static_cast<size_t>(ix)] = col;
    for (int64_t iy = 0; iy <= ny; ++iy) {
      const int64_t r = (2 * std::min(iy, ny - 1) + 1) * table.rows / (2 * ny);
      col[iy] = std::clamp(static_cast<double>(table.at(r, c)), -style.value_range, style.value_range);
    }
  }
  const bool sampled = nx < table.cols || ny < table.rows;
  std::string title = style.title;
  if (sampled) title += " (sampled " + std::to_string(ny) + " x " + std::to_string(nx) + ")";
  const bool label_positions = !positions_are_row_indices(table.positions);

  const PLFLT x0 = -0.5, x1 = static_cast<double>(table.cols) - 0.5;
  const PLFLT y0 = -0.5, y1 = static_cast<double>(table.rows) - 0.5;
  const PLFLT vr = style.value_range;

  PLINT previous = 0, stream = 0;
  plgstrm(&previous);
  plmkstrm(&stream);
  if (stream < 0) throw CliError("--plot: PLplot could not create a plot stream");
  g_plplot_error.clear();
  plsabort(on_plabort);
  plsexit(on_plexit);
  plsdev("pngcairo");
  plsfnam(png_path.c_str());
  plspage(0, 0, style.width_px, style.height_px, 0, 0);
  plscolbg(255, 255, 255);
  plscol0(1, 0, 0, 0);  // axes and text in black
  plinit();
  pladv(0);
  // Room on the left for the widest position label (digits ~1.25% of the width each) and the y
  // label, on the right for the colour bar.
  const int64_t widest = *std::max_element(table.positions.begin(), table.positions.end());
  const double digits = static_cast<double>(std::to_string(widest).size());
  plvpor(std::max(0.10, 0.07 + 0.0125 * digits), 0.84, 0.10, 0.92);
  plwind(x0, x1, y1, y0);  // y reversed: row 0 at the top, as the table is printed
  set_diverging_cmap1();
  plimagefr(columns.data(), static_cast<PLINT>(nx + 1), static_cast<PLINT>(ny + 1), x0, x1, y0, y1, -vr, vr,
            -vr, vr, nullptr, nullptr);
  plcol0(1);
  plslabelfunc(label_ticks, const_cast<std::vector<int64_t>*>(&table.positions));
  // A short table gets one tick per row, so that every row shows its position.
  const PLFLT ytick = table.rows <= 24 ? 1.0 : 0.0;
  plbox("bcnsto", 0.0, 0, "bcnstvo", ytick, 0);
  pllab("dimension index (column)", "", title.c_str());
  // The y label clears the widest tick label (digits are ~0.75 character heights wide).
  plmtex("l", 1.8 + 0.75 * digits, 0.5, 0.5, label_positions ? "position (one row each)" : "position");

  PLFLT bar_width = 0, bar_height = 0;
  // Below the bar when PLplot may put an exponent ("x10^-2") above it.
  const PLINT label_opts[] = {vr == 1.0 ? PL_COLORBAR_LABEL_TOP : PL_COLORBAR_LABEL_BOTTOM};
  const char* labels[] = {"value"};
  const char* axis_opts[] = {"bcvtm"};
  const PLFLT ticks[] = {vr == 1.0 ? 0.5 : 0.0};  // 0: PLplot picks the spacing
  const PLINT sub_ticks[] = {5};
  const PLINT n_values[] = {2};
  const PLFLT range[] = {-vr, vr};
  const PLFLT* values[] = {range};
  plcolorbar(&bar_width, &bar_height, PL_COLORBAR_IMAGE,
             PL_POSITION_RIGHT | PL_POSITION_OUTSIDE | PL_POSITION_VIEWPORT, 0.03, 0.0, 0.035, 0.9, 0, 1, 1,
             0.0, 0.0, 0, 0.0, 1, label_opts, labels, 1, axis_opts, ticks, sub_ticks, n_values, values);
  plend1();
  plsstrm(previous);
  plsabort(nullptr);

  if (!g_plplot_error.empty()) throw CliError("--plot: PLplot: " + g_plplot_error);
  struct stat st {};
  if (::stat(png_path.c_str(), &st) != 0 || (S_ISREG(st.st_mode) && st.st_size == 0))
    throw CliError("--plot: PLplot wrote no image to '" + png_path + "'");
}

}  // namespace posenc::cli
