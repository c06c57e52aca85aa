// cli/pipeline_plots.cpp — see pipeline_plots.hpp.
//
// Layout is computed in millimetres of the page (plgspa, plgchr, plstrl) so that margins fit the
// labels actually drawn; tick labels are placed with plmtex rather than plbox, which only knows
// numeric labels at regular spacing.
#include "pipeline_plots.hpp"

#include <plplot.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "cli_error.hpp"
#include "io/atomic_file.hpp"

namespace posenc::cli {
namespace {

// More cells than this per axis are sampled (nearest row / column): finer detail would be
// sub-pixel, and each cell is a polygon fill.
constexpr int64_t kMaxCells = 512;
constexpr int64_t kMaxAnnotated = 12;

// --- PLplot stream and error hooks (as in plot.cpp) ---------------------------------------------

std::string g_error;  // first plabort() message of the current rendering

void on_plabort(PLCHAR_VECTOR message) {
  if (g_error.empty()) g_error = message ? message : "unknown error";
}

// plexit() exit()s after this: remove the temporaries so that no partial file remains.
int on_plexit(PLCHAR_VECTOR message) {
  io::remove_pending_temporaries();
  std::fprintf(stderr, "posenc: error: --plot: PLplot failed: %s\n", message ? message : "");
  return 1;
}

// cmap0 entries.
enum Colour : PLINT {
  kBlack = 1,
  kGrid = 2,
  kMissing = 3,
  kWhite = 4,
  kLegendBg = 5,
  kMarker = 6,
  kNaText = 7,
  kSeries0 = 8
};

// Tableau 10.
constexpr std::array<std::array<int, 3>, 10> kPalette = {{{31, 119, 180},
                                                          {255, 127, 14},
                                                          {44, 160, 44},
                                                          {214, 39, 40},
                                                          {148, 103, 189},
                                                          {140, 86, 75},
                                                          {227, 119, 194},
                                                          {127, 127, 127},
                                                          {188, 189, 34},
                                                          {23, 190, 207}}};
// Point markers, cycled independently of the colours (7 vs 10) so that series 1 and 11 differ.
constexpr std::array<const char*, 7> kGlyphs = {"●", "■", "▲", "◆", "▼", "★", "⬟"};

// A pngcairo stream of its own. The caller's stream is current again after finish() or
// destruction (an exception between plinit and plend1).
class Stream {
 public:
  Stream(const std::string& png_path, int width_px, int height_px, const std::string& what) {
    plgstrm(&previous_);
    PLINT stream = 0;
    plmkstrm(&stream);
    if (stream < 0) throw CliError(what + ": PLplot could not create a plot stream");
    g_error.clear();
    plsabort(on_plabort);
    plsexit(on_plexit);
    plsdev("pngcairo");
    plsfnam(png_path.c_str());
    plspage(0, 0, width_px, height_px, 0, 0);
    plscmap0n(static_cast<PLINT>(kSeries0 + kPalette.size()));
    plscolbg(255, 255, 255);
    plscol0(kBlack, 0, 0, 0);
    plscol0(kGrid, 225, 225, 225);
    plscol0(kMissing, 200, 200, 200);
    plscol0(kWhite, 255, 255, 255);
    plscol0a(kLegendBg, 255, 255, 255, 0.9);
    plscol0(kMarker, 80, 80, 80);
    plscol0(kNaText, 130, 130, 130);
    for (size_t i = 0; i < kPalette.size(); ++i)
      plscol0(static_cast<PLINT>(kSeries0 + i), kPalette[i][0], kPalette[i][1], kPalette[i][2]);
    plinit();
    pladv(0);
    open_ = true;
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() { close(); }

  void finish(const std::string& png_path, const std::string& what) {
    close();
    if (!g_error.empty()) throw CliError(what + ": PLplot: " + g_error);
    struct stat st {};
    if (::stat(png_path.c_str(), &st) != 0 || (S_ISREG(st.st_mode) && st.st_size == 0))
      throw CliError(what + ": PLplot wrote no image to '" + png_path + "'");
  }

 private:
  void close() noexcept {
    if (!open_) return;
    open_ = false;
    plend1();
    plsstrm(previous_);
    plsabort(nullptr);
  }
  PLINT previous_ = 0;
  bool open_ = false;
};

// --- Page geometry -------------------------------------------------------------------------------

double g_char_height_mm = 6.0;  // default character height of the current stream (text_mm)

struct Page {
  double w = 0, h = 0;  // subpage, mm
  double ch = 0;        // default character height, mm
};

Page page_geometry() {
  PLFLT x0 = 0, x1 = 0, y0 = 0, y1 = 0, def = 0, ht = 0;
  plgspa(&x0, &x1, &y0, &y1);
  plgchr(&def, &ht);
  g_char_height_mm = def;
  return {x1 - x0, y1 - y0, def};
}

// Advance widths of DejaVu Sans (cairo's default "sans" here) for ASCII 32..126, in 1/2048 em.
// PLplot's plstrl() is not exported, so widths are estimated from these.
constexpr std::array<int, 95> kAdvance = {
    651,  821,  942,  1716, 1303, 1946, 1597, 563,  799,  799,  1024, 1716, 651,  739,  651,  690,
    1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 690,  690,  1716, 1716, 1716, 1087,
    2048, 1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 604,  604,  1343, 1141, 1767, 1532, 1612,
    1235, 1612, 1423, 1300, 1251, 1499, 1401, 2025, 1403, 1251, 1403, 799,  690,  799,  1716, 1024,
    1024, 1255, 1300, 1126, 1300, 1260, 721,  1300, 1298, 569,  569,  1186, 569,  1995, 1298, 1253,
    1300, 1300, 842,  1067, 803,  1298, 1212, 1675, 1212, 1212, 1075, 1303, 690,  1303, 1716};
// pngcairo draws text with an em of about 1.3 PLplot character heights (measured: ten digits at
// the default height of 6 mm take 137 px at 72 dpi).
constexpr double kEmPerCharHeight = 1.3;

// Estimated width (mm) of `s` drawn at character height scale `scale`; other characters than
// ASCII count as wide as a digit, PLplot escapes ("##") as one "#".
double text_mm(const std::string& s, double scale) {
  double units = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 32 && c < 127) {
      units += kAdvance[c - 32];
      if (c == '#' && i + 1 < s.size() && s[i + 1] == '#') ++i;
    } else if (c >= 0xC0 || c < 32) {  // a code point's first byte (continuation bytes add nothing)
      units += 1303;
    }
  }
  return units / 2048.0 * kEmPerCharHeight * g_char_height_mm * scale;
}

// At most `n` code points of `s`, the last one "…" when cut.
std::string shorten(const std::string& s, size_t n) {
  size_t points = 0;
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && ++points == n) {
      size_t end = i + 1;  // past this code point
      while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) ++end;
      return end == s.size() ? s : s.substr(0, i) + "…";
    }
  return s;
}

// User text for PLplot: '#' starts an escape sequence there, so double it.
std::string plain(const std::string& s) {
  std::string out;
  for (char c : s) {
    out += c;
    if (c == '#') out += '#';
  }
  return out;
}

double widest_mm(const std::vector<std::string>& texts, double scale) {
  double w = 0;
  for (const std::string& t : texts) w = std::max(w, text_mm(t, scale));
  return w;
}

// The smallest of 1, 2, 5, 10, 20, 50, ... that is >= at_least.
int64_t nice_int_step(double at_least) {
  for (int64_t p = 1;; p *= 10)
    for (int64_t m : {1, 2, 5})
      if (static_cast<double>(m * p) >= at_least) return m * p;
}

std::string format_double(double v, const char* format) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  std::string s = buf;
  if (s.starts_with("-") && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);  // "-0.00"
  return s;
}

// A tick value: plain up to 6 significant digits in [1e-4, 1e6), else "1e5", "2.5e-7".
std::string format_number(double v) {
  const double a = std::fabs(v);
  if (a == 0 || (a >= 1e-4 && a < 1e6)) return format_double(v, "%.6g");
  std::string s = format_double(v, "%.3g");
  const size_t e = s.find('e');
  if (e == std::string::npos) return s;
  std::string exponent = s.substr(e + 1), sign;
  if (exponent[0] == '+' || exponent[0] == '-') {
    if (exponent[0] == '-') sign = "-";
    exponent.erase(0, 1);
  }
  exponent.erase(0, std::min(exponent.find_first_not_of('0'), exponent.size() - 1));
  return s.substr(0, e) + "e" + sign + exponent;
}

std::string describe(const char* kind, const std::string& title) {
  return title.empty() ? std::string(kind) : std::string(kind) + " '" + title + "'";
}

// Label callback for the colour bar: "%g" without PLplot's "x10^k" scaling, and exact zeros.
void label_value(PLINT, PLFLT value, PLCHAR_NC_VECTOR label, PLINT length, PLPointer data) {
  const double eps = *static_cast<const double*>(data);
  const std::string s = format_number(std::fabs(value) < eps ? 0.0 : value);
  std::snprintf(label, static_cast<size_t>(length), "%s", s.c_str());
}

// --- Colour maps ---------------------------------------------------------------------------------

using Rgb = std::array<int, 3>;

// ColorBrewer RdBu, reversed: dark blue (-1) .. near-white (0) .. dark red (+1); as plot.cpp.
const std::vector<Rgb> kDiverging = {{5, 48, 97},     {33, 102, 172},  {67, 147, 195},  {146, 197, 222},
                                     {209, 229, 240}, {247, 247, 247}, {253, 219, 199}, {244, 165, 130},
                                     {214, 96, 77},   {178, 24, 43},   {103, 0, 31}};
// ColorBrewer Blues, starting from pure white.
const std::vector<Rgb> kSequential = {{255, 255, 255}, {222, 235, 247}, {198, 219, 239},
                                      {158, 202, 225}, {107, 174, 214}, {66, 146, 198},
                                      {33, 113, 181},  {8, 81, 156},    {8, 48, 107}};

// The colour at t in [0, 1], interpolated linearly in RGB between the stops.
std::array<double, 3> colour_at(const std::vector<Rgb>& stops, double t) {
  const double x = std::clamp(t, 0.0, 1.0) * static_cast<double>(stops.size() - 1);
  const size_t k = std::min(static_cast<size_t>(x), stops.size() - 2);
  const double f = x - static_cast<double>(k);
  std::array<double, 3> c{};
  for (size_t i = 0; i < 3; ++i) c[i] = (1 - f) * stops[k][i] + f * stops[k + 1][i];
  return c;
}

// cmap1 as 256 colours interpolated in RGB (plscmap1l would interpolate in HLS and pass through
// other hues on the way to white).
void set_cmap1(const std::vector<Rgb>& stops) {
  constexpr int kColours = 256;
  std::array<PLINT, kColours> r{}, g{}, b{};
  for (size_t i = 0; i < kColours; ++i) {
    const auto c = colour_at(stops, static_cast<double>(i) / (kColours - 1));
    r[i] = static_cast<PLINT>(std::lround(c[0]));
    g[i] = static_cast<PLINT>(std::lround(c[1]));
    b[i] = static_cast<PLINT>(std::lround(c[2]));
  }
  plscmap1(r.data(), g.data(), b.data(), kColours);
}

// --- Matrix axes ---------------------------------------------------------------------------------

// Tick labels of one matrix axis: at indices 0, step, 2 step, ... in font scale `scale`.
struct MatrixAxis {
  int64_t step = 1;
  double scale = 1.0;
  bool rotated = false;  // perpendicular to the axis (column labels only)
  std::vector<std::pair<int64_t, std::string>> ticks;
  double reach_mm = 0;  // how far the labels extend from the tick marks
};

// `spacing` is the distance between neighbouring cells (mm), `across` whether the labels are
// stacked along the axis (rows; rotated columns) so that their height must fit the spacing.
MatrixAxis plan_matrix_axis(int64_t n, const std::vector<std::string>& raw_labels, double spacing, bool is_x,
                            double ch) {
  MatrixAxis a;
  constexpr size_t kLongest = 24;  // code points; longer labels are cut
  std::vector<std::string> labels;
  for (const std::string& l : raw_labels) labels.push_back(plain(shorten(l, kLongest)));
  constexpr double kLine = 1.4;  // line height in character heights
  if (labels.empty()) {
    const std::string widest = std::to_string(n - 1);
    const double need = is_x ? text_mm(widest, 1.0) + 2.0 * ch : 1.9 * ch;
    a.step = nice_int_step(need / spacing);
    for (int64_t i = 0; i < n; i += a.step) a.ticks.emplace_back(i, std::to_string(i));
    a.reach_mm = is_x ? 1.2 * ch : text_mm(widest, 1.0);
    return a;
  }
  const double w1 = widest_mm(labels, 1.0);
  if (is_x) {
    for (double s : {1.0, 0.85, 0.7})
      if (w1 * s + 0.6 * ch <= spacing) {  // parallel to the axis, every label
        a.scale = s;
        for (int64_t i = 0; i < n; ++i) a.ticks.emplace_back(i, labels[static_cast<size_t>(i)]);
        a.reach_mm = 1.2 * ch * s;
        return a;
      }
    a.rotated = true;
  }
  a.scale = std::clamp(spacing / (kLine * ch), 0.5, 1.0);
  a.step = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(kLine * ch * a.scale / spacing - 1e-9)));
  for (int64_t i = 0; i < n; i += a.step) a.ticks.emplace_back(i, labels[static_cast<size_t>(i)]);
  a.reach_mm = w1 * a.scale;
  return a;
}

void validate_labels(const std::vector<std::string>& labels, int64_t n, const char* field, const char* count,
                     const std::string& what) {
  if (!labels.empty() && static_cast<int64_t>(labels.size()) != n)
    throw CliError(what + ": " + field + " has " + std::to_string(labels.size()) + " entries, expected " +
                   count + " = " + std::to_string(n));
}

void validate_size(int width_px, int height_px, const std::string& what) {
  if (width_px < 200 || height_px < 150 || width_px > 20000 || height_px > 20000)
    throw CliError(what + ": width_px x height_px = " + std::to_string(width_px) + " x " +
                   std::to_string(height_px) + " is outside 200 x 150 .. 20000 x 20000");
}

}  // namespace

// --- Matrix --------------------------------------------------------------------------------------

void render_matrix(const MatrixPlot& p, const std::string& png_path) {
  const std::string what = describe("matrix plot", p.title);
  if (p.rows < 1 || p.cols < 1)
    throw CliError(what + ": rows x cols = " + std::to_string(p.rows) + " x " + std::to_string(p.cols) +
                   " is empty");
  if (p.rows > (int64_t{1} << 31) / p.cols || static_cast<int64_t>(p.values.size()) != p.rows * p.cols)
    throw CliError(what + ": values has " + std::to_string(p.values.size()) +
                   " entries, expected rows x cols = " + std::to_string(p.rows) + " x " +
                   std::to_string(p.cols));
  validate_labels(p.row_labels, p.rows, "row_labels", "rows", what);
  validate_labels(p.col_labels, p.cols, "col_labels", "cols", what);
  validate_size(p.width_px, p.height_px, what);
  if (!std::isfinite(p.value_range) || p.value_range < 0)
    throw CliError(what + ": value_range " + format_double(p.value_range, "%g") + " is not >= 0");
  double vmin = INFINITY, vmax = -INFINITY, amax = 0;
  for (double v : p.values)
    if (std::isfinite(v)) {
      vmin = std::min(vmin, v);
      vmax = std::max(vmax, v);
      amax = std::max(amax, std::fabs(v));
    }
  if (vmin > vmax) throw CliError(what + ": values has no finite entry");

  const bool diverging = p.scale == MatrixPlot::Scale::Diverging;
  double lo = 0, hi = 0;
  if (diverging) {
    const double r = p.value_range > 0 ? p.value_range : (amax > 0 ? amax : 1.0);
    lo = -r;
    hi = r;
  } else if (p.value_range > 0) {
    hi = p.value_range;
  } else {
    lo = vmin;
    hi = vmax;
    if (lo == hi) {  // a constant matrix: a range that includes 0
      lo = std::min(lo, 0.0);
      hi = std::max(hi, 0.0);
      if (lo == hi) hi = 1.0;
    }
  }
  const std::vector<Rgb>& stops = diverging ? kDiverging : kSequential;

  // Image cells idata[ix][iy], sampled at the centre of each cell's span of columns / rows. NaN
  // cells get a value below zmin, which plimagefr leaves undrawn (the grey background shows).
  // plimagefr takes the data as nodes, cell i spanning [x0 + i dx, x0 + (i + 1) dx] with
  // dx = (x1 - x0) / (n - 1): one more column and row, repeating the last (outside the viewport and
  // clipped), gives every cell its full span.
  const int64_t nx = std::min(p.cols, kMaxCells), ny = std::min(p.rows, kMaxCells);
  const double missing = lo - (hi - lo) - 1.0;
  std::vector<PLFLT> cells(static_cast<size_t>((nx + 1) * (ny + 1)));
  std::vector<const PLFLT*> columns(static_cast<size_t>(nx + 1));
  for (int64_t ix = 0; ix <= nx; ++ix) {
    const int64_t c = (2 * std::min(ix, nx - 1) + 1) * p.cols / (2 * nx);
    PLFLT* col = cells.data() + ix * (ny + 1);
    columns[static_cast<size_t>(ix)] = col;
    for (int64_t iy = 0; iy <= ny; ++iy) {
      const int64_t r = (2 * std::min(iy, ny - 1) + 1) * p.rows / (2 * ny);
      const double v = p.values[static_cast<size_t>(r * p.cols + c)];
      col[iy] = std::isnan(v) ? missing : std::clamp(v, lo, hi);
    }
  }
  std::string title = plain(p.title);
  if (nx < p.cols || ny < p.rows)
    title += " (sampled " + std::to_string(ny) + " x " + std::to_string(nx) + " of " +
             std::to_string(p.rows) + " x " + std::to_string(p.cols) + ")";

  Stream stream(png_path, p.width_px, p.height_px, what);
  const Page pg = page_geometry();
  const double ch = pg.ch;
  constexpr double kTick = 1.2;          // tick length, mm
  const double label_gap = kTick + 0.8;  // edge to tick labels, mm
  const double colour_bar = 4.0 + 5.0;   // gap + bar width, mm
  plsmaj(kTick, 1.0);
  plsmin(0.0, 1.0);

  // Margins around the matrix (mm), from the labels; the cell spacing they leave decides the
  // labels' size, so estimate it first and plan once more.
  const double top = (title.empty() ? 1.5 : 3.6) * ch;
  const double bar_labels = std::max(text_mm(format_number(lo), 1.0), text_mm(format_number(hi), 1.0));
  const double right = colour_bar + 0.8 * ch + std::max(bar_labels, text_mm("-0.000", 1.0)) +
                       (p.value_label.empty() ? 1.0 : 2.8) * ch;
  MatrixAxis xa, ya;
  double left = 0, bottom = 0, vw = 0, vh = 0;
  for (int pass = 0; pass < 2; ++pass) {
    const double w = pass == 0 ? 0.75 * pg.w : vw, h = pass == 0 ? 0.75 * pg.h : vh;
    xa = plan_matrix_axis(p.cols, p.col_labels, w / static_cast<double>(p.cols), true, ch);
    ya = plan_matrix_axis(p.rows, p.row_labels, h / static_cast<double>(p.rows), false, ch);
    left = 0.8 * ch + (p.y_label.empty() ? 0.0 : 2.2 * ch) + ya.reach_mm + label_gap;
    bottom = 0.8 * ch + (p.x_label.empty() ? 0.0 : 2.4 * ch) + xa.reach_mm + label_gap;
    vw = pg.w - left - right;
    vh = pg.h - top - bottom;
  }
  if (vw < 10 || vh < 10) {  // labels too long for the page: give the matrix half of it
    left = std::min(left, 0.35 * pg.w);
    bottom = std::min(bottom, 0.35 * pg.h);
    vw = pg.w - left - right;
    vh = pg.h - top - bottom;
  }
  // Square cells when the matrix is roughly square: centre it in the space.
  double vx0 = left, vy0 = bottom;
  const double ratio =
      static_cast<double>(std::max(p.rows, p.cols)) / static_cast<double>(std::min(p.rows, p.cols));
  if (ratio <= 1.5) {
    const double cell = std::min(vw / static_cast<double>(p.cols), vh / static_cast<double>(p.rows));
    const double w = cell * static_cast<double>(p.cols), h = cell * static_cast<double>(p.rows);
    vx0 += (vw - w) / 2;
    vy0 += (vh - h) / 2;
    vw = w;
    vh = h;
  }
  plsvpa(vx0, vx0 + vw, vy0, vy0 + vh);
  const PLFLT x0 = -0.5, x1 = static_cast<double>(p.cols) - 0.5;
  const PLFLT y0 = -0.5, y1 = static_cast<double>(p.rows) - 0.5;
  plwind(x0, x1, y1, y0);  // y reversed: row 0 at the top

  // Grey under missing cells, then the image.
  {
    const PLFLT fx[4] = {x0, x1, x1, x0}, fy[4] = {y0, y0, y1, y1};
    plcol0(kMissing);
    plfill(4, fx, fy);
  }
  set_cmap1(stops);
  plimagefr(columns.data(), static_cast<PLINT>(nx + 1), static_cast<PLINT>(ny + 1), x0, x1, y0, y1, lo, hi,
            lo, hi, nullptr, nullptr);

  if (p.annotate && p.rows <= kMaxAnnotated && p.cols <= kMaxAnnotated) {
    const double cw = vw / static_cast<double>(p.cols), chh = vh / static_cast<double>(p.rows);
    const double s = std::min({1.0, 0.85 * cw / text_mm("-0.00", 1.0), 0.45 * chh / ch});
    plschr(0, s);
    for (int64_t r = 0; r < p.rows; ++r)
      for (int64_t c = 0; c < p.cols; ++c) {
        const double v = p.values[static_cast<size_t>(r * p.cols + c)];
        if (std::isnan(v)) continue;
        const auto rgb = colour_at(stops, (std::clamp(v, lo, hi) - lo) / (hi - lo));
        const double luminance = (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255.0;
        plcol0(luminance < 0.5 ? kWhite : kBlack);
        plptex(static_cast<double>(c), static_cast<double>(r), 1.0, 0.0, 0.5,
               format_double(v, "%.2f").c_str());
      }
    plschr(0, 1.0);
  }

  // Frame and outward ticks, then the tick labels.
  plcol0(kBlack);
  plbox("bit", static_cast<double>(xa.step), 0, "bit", static_cast<double>(ya.step), 0);
  plbox("c", 0, 0, "c", 0, 0);
  plschr(0, xa.scale);
  for (const auto& [i, text] : xa.ticks) {
    const double f = (static_cast<double>(i) - x0) / (x1 - x0);
    if (xa.rotated)
      plmtex("bv", label_gap / (ch * xa.scale), f, 1.0, text.c_str());
    else
      plmtex("b", label_gap / (ch * xa.scale) + 1.0, f, 0.5, text.c_str());
  }
  plschr(0, ya.scale);
  for (const auto& [i, text] : ya.ticks) {
    const double f = (y1 - static_cast<double>(i)) / (y1 - y0);
    plmtex("lv", label_gap / (ch * ya.scale), f, 1.0, text.c_str());
  }
  plschr(0, 1.0);
  if (!p.x_label.empty())
    plmtex("b", (label_gap + xa.reach_mm) / ch + 1.7, 0.5, 0.5, plain(p.x_label).c_str());
  if (!p.y_label.empty())
    plmtex("l", (label_gap + ya.reach_mm) / ch + 1.6, 0.5, 0.5, plain(p.y_label).c_str());
  if (!title.empty()) {
    plschr(0, 1.15);
    plmtex("t", 1.4, 0.5, 0.5, title.c_str());
    plschr(0, 1.0);
  }

  // Colour bar right of the matrix, as tall as the matrix.
  double eps = (hi - lo) * 1e-9;
  plslabelfunc(label_value, &eps);
  PLFLT bar_w = 0, bar_h = 0;
  const PLINT label_opts[] = {PL_COLORBAR_LABEL_RIGHT};
  const std::string value_label = plain(p.value_label);
  const char* labels[] = {value_label.c_str()};
  const char* axis_opts[] = {"bcvtmo"};
  const PLFLT ticks[] = {0.0};
  const PLINT sub_ticks[] = {0};
  const PLINT n_values[] = {2};
  const PLFLT range[] = {lo, hi};
  const PLFLT* values[] = {range};
  plcolorbar(&bar_w, &bar_h, PL_COLORBAR_IMAGE,
             PL_POSITION_RIGHT | PL_POSITION_OUTSIDE | PL_POSITION_VIEWPORT, 4.0 / vw, 0.0, 5.0 / vw, 1.0, 0,
             1, 1, 0.0, 0.0, 0, 0.0, p.value_label.empty() ? 0 : 1, label_opts, labels, 1, axis_opts, ticks,
             sub_ticks, n_values, values);
  plslabelfunc(nullptr, nullptr);
  stream.finish(png_path, what);
}

// --- Lines ---------------------------------------------------------------------------------------

namespace {

struct Tick {
  double at;  // axis coordinate (log2 / log10 where the axis is logarithmic)
  std::string label;
};

// About `target` ticks over [lo, hi] at multiples of 1, 2 or 5 x 10^k, labelled with just enough
// decimals.
std::vector<Tick> linear_ticks(double lo, double hi, int target) {
  const double raw = (hi - lo) / target;
  const double p10 = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * p10;
  for (double m : {1.0, 2.0, 2.5, 5.0})
    if (m * p10 >= raw * 0.999) {
      step = m * p10;
      break;
    }
  int decimals = 0;  // as many as the step needs
  while (decimals < 12 &&
         std::fabs(step * std::pow(10.0, decimals) - std::round(step * std::pow(10.0, decimals))) >
             1e-6 * step * std::pow(10.0, decimals))
    ++decimals;
  const bool fixed = std::max(std::fabs(lo), std::fabs(hi)) < 1e7 && decimals <= 6;
  const std::string format = "%." + std::to_string(decimals) + "f";
  std::vector<Tick> t;
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k += 1) {
    const double v = std::fabs(k) < 0.5 ? 0.0 : k * step;
    t.push_back({v, fixed ? format_double(v, format.c_str()) : format_number(v)});
  }
  return t;
}

// Ticks on a log10 axis [lo, hi] (exponents): at 10^k, or 1-2-5 / 1..9 x 10^k when that gives too
// few.
std::vector<Tick> log10_ticks(double lo, double hi) {
  std::vector<Tick> t;
  for (const std::vector<double>& mantissas : {std::vector<double>{1}, std::vector<double>{1, 2, 5},
                                               std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
    t.clear();
    for (double e = std::floor(lo); e <= std::ceil(hi); e += 1)
      for (double m : mantissas) {
        const double at = e + std::log10(m);
        if (at >= lo - 1e-9 && at <= hi + 1e-9) t.push_back({at, format_number(m * std::pow(10.0, e))});
      }
    if (t.size() >= 4) break;
  }
  if (t.size() < 2) return linear_ticks(lo, hi, 4);  // less than a factor of 2: exponents
  return t;
}

// Keeps ticks whose labels are at least `gap` mm apart (first and greedily onwards).
std::vector<Tick> thin_ticks(std::vector<Tick> t, double lo, double hi, double length_mm, bool by_width,
                             double ch) {
  std::vector<Tick> kept;
  double last_end = -INFINITY;
  for (Tick& k : t) {
    const double pos = (k.at - lo) / (hi - lo) * length_mm;
    const double half = by_width ? text_mm(k.label, 1.0) / 2 + 0.8 * ch : 0.9 * ch;
    if (pos - half >= last_end) {
      last_end = pos + half;
      kept.push_back(std::move(k));
    }
  }
  return kept;
}

}  // namespace

void render_lines(const LinePlot& p, const std::string& png_path) {
  const std::string what = describe("line plot", p.title);
  if (p.series.empty()) throw CliError(what + ": series is empty");
  validate_size(p.width_px, p.height_px, what);

  struct Prepared {
    std::vector<double> x, y;  // axis coordinates; NaN y = gap
    bool any = false;
    std::string label;
  };
  std::vector<Prepared> prepared;
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  std::vector<double> data_x;  // log2 ticks
  for (size_t s = 0; s < p.series.size(); ++s) {
    const LineSeries& in = p.series[s];
    const std::string field = "series[" + std::to_string(s) + "] '" + in.name + "'";
    if (in.x.size() != in.y.size())
      throw CliError(what + ": " + field + " has " + std::to_string(in.x.size()) + " x but " +
                     std::to_string(in.y.size()) + " y values");
    Prepared out;
    out.label = in.name.empty() ? "series " + std::to_string(s + 1) : plain(in.name);
    for (size_t i = 0; i < in.x.size(); ++i) {
      const double x = in.x[i], y = in.y[i];
      if (!std::isfinite(x) || (p.log2_x && x <= 0))
        throw CliError(what + ": " + field + " x[" + std::to_string(i) + "] = " + format_double(x, "%g") +
                       (p.log2_x ? " is not a positive number (log2 x axis)" : " is not finite"));
      out.x.push_back(p.log2_x ? std::log2(x) : x);
      data_x.push_back(x);
      const bool ok = std::isfinite(y) && (!p.log_y || y > 0);
      out.y.push_back(ok ? (p.log_y ? std::log10(y) : y) : NAN);
      xlo = std::min(xlo, out.x.back());
      xhi = std::max(xhi, out.x.back());
      if (ok) {
        out.any = true;
        ylo = std::min(ylo, out.y.back());
        yhi = std::max(yhi, out.y.back());
      }
    }
    if (!out.any) out.label += " (n/a)";
    prepared.push_back(std::move(out));
  }
  if (ylo > yhi)
    throw CliError(what + ": no series has a finite y value" + (p.log_y ? " > 0 (log y axis)" : ""));
  const bool marker = !std::isnan(p.marker_x);
  if (marker && (!std::isfinite(p.marker_x) || (p.log2_x && p.marker_x <= 0)))
    throw CliError(what + ": marker_x = " + format_double(p.marker_x, "%g") +
                   (p.log2_x ? " is not a positive number (log2 x axis)" : " is not finite"));
  const double mx = marker ? (p.log2_x ? std::log2(p.marker_x) : p.marker_x) : 0.0;
  if (marker) {
    xlo = std::min(xlo, mx);
    xhi = std::max(xhi, mx);
  }
  // Padding.
  double xpad = (xhi - xlo) * 0.05, ypad = (yhi - ylo) * 0.08;
  if (xpad == 0) xpad = p.log2_x ? 0.5 : std::max(1.0, std::fabs(xlo) * 0.1);
  if (ypad == 0) ypad = p.log_y ? 0.15 : std::max(std::fabs(ylo) * 0.1, 1e-3);
  xlo -= xpad;
  xhi += xpad;
  ylo -= ypad;
  yhi += ypad;

  Stream stream(png_path, p.width_px, p.height_px, what);
  const Page pg = page_geometry();
  const double ch = pg.ch;

  // Ticks (before the margins: their labels set the left margin).
  std::vector<Tick> xt, yt;
  if (p.log2_x) {
    std::sort(data_x.begin(), data_x.end());
    data_x.erase(std::unique(data_x.begin(), data_x.end()), data_x.end());
    if (marker && std::find(data_x.begin(), data_x.end(), p.marker_x) == data_x.end()) {
      data_x.push_back(p.marker_x);
      std::sort(data_x.begin(), data_x.end());
    }
    for (double x : data_x) xt.push_back({std::log2(x), format_number(x)});
  } else {
    xt = linear_ticks(xlo, xhi, 8);
  }
  yt = p.log_y ? log10_ticks(ylo, yhi) : linear_ticks(ylo, yhi, 7);
  double ytick_w = 0;
  for (const Tick& t : yt) ytick_w = std::max(ytick_w, text_mm(t.label, 1.0));

  // The legend (right of the plot): its width from the longest entry.
  std::vector<std::string> entries;
  for (const Prepared& s : prepared) entries.push_back(s.label);
  const double sample_mm = 12.0;
  const double legend_w = sample_mm + widest_mm(entries, 0.95) + 3.0 * ch;
  const double left = 0.8 * ch + (p.y_label.empty() ? 0.0 : 2.4 * ch) + ytick_w + 0.8 * ch;
  const double right = std::min(0.45 * pg.w, 3.0 + legend_w + 1.5);
  const double bottom = 0.8 * ch + (p.x_label.empty() ? 0.0 : 2.4 * ch) + 2.2 * ch;
  const double top =
      (p.title.empty() ? 1.0 : 3.4) * ch + (marker && !p.marker_label.empty() ? 1.6 * ch : 0.0);
  const double vw = pg.w - left - right, vh = pg.h - top - bottom;
  plsvpa(left, left + vw, bottom, bottom + vh);
  plwind(xlo, xhi, ylo, yhi);
  xt = thin_ticks(std::move(xt), xlo, xhi, vw, true, ch);
  yt = thin_ticks(std::move(yt), ylo, yhi, vh, false, ch);

  // Grid at the ticks.
  plcol0(kGrid);
  for (const Tick& t : xt) pljoin(t.at, ylo, t.at, yhi);
  for (const Tick& t : yt) pljoin(xlo, t.at, xhi, t.at);

  if (marker) {
    plcol0(kMarker);
    pllsty(2);
    plwidth(1.5);
    pljoin(mx, ylo, mx, yhi);
    pllsty(1);
    plwidth(1.0);
  }

  // Lines over runs of consecutive finite points, then the markers over them.
  for (size_t s = 0; s < prepared.size(); ++s) {
    const Prepared& d = prepared[s];
    plcol0(static_cast<PLINT>(kSeries0 + s % kPalette.size()));
    pllsty(s < kPalette.size() ? 1 : 3);
    plwidth(2.5);
    for (size_t i = 0; i < d.x.size();) {
      size_t j = i;
      while (j < d.x.size() && !std::isnan(d.y[j])) ++j;
      if (j - i >= 2) plline(static_cast<PLINT>(j - i), d.x.data() + i, d.y.data() + i);
      i = j + 1;
    }
    pllsty(1);
    plwidth(1.0);
    std::vector<PLFLT> fx, fy;
    for (size_t i = 0; i < d.x.size(); ++i)
      if (!std::isnan(d.y[i])) {
        fx.push_back(d.x[i]);
        fy.push_back(d.y[i]);
      }
    plschr(0, 0.9);
    if (!fx.empty())
      plstring(static_cast<PLINT>(fx.size()), fx.data(), fy.data(), kGlyphs[s % kGlyphs.size()]);
    plschr(0, 1.0);
  }

  // Frame, tick marks and labels.
  plcol0(kBlack);
  plbox("bc", 0, 0, "bc", 0, 0);
  const double tx = (xhi - xlo) * 1.2 / vw, ty = (yhi - ylo) * 1.2 / vh;  // 1.2 mm
  for (const Tick& t : xt) {
    pljoin(t.at, ylo, t.at, ylo + ty);
    plmtex("b", 1.6, (t.at - xlo) / (xhi - xlo), 0.5, t.label.c_str());
  }
  for (const Tick& t : yt) {
    pljoin(xlo, t.at, xlo + tx, t.at);
    plmtex("lv", 0.6, (t.at - ylo) / (yhi - ylo), 1.0, t.label.c_str());
  }
  if (!p.x_label.empty()) plmtex("b", 3.6, 0.5, 0.5, plain(p.x_label).c_str());
  if (!p.y_label.empty()) plmtex("l", ytick_w / ch + 2.0, 0.5, 0.5, plain(p.y_label).c_str());
  if (marker && !p.marker_label.empty()) {
    const double f = (mx - xlo) / (xhi - xlo);
    plcol0(kMarker);
    plschr(0, 0.9);
    plmtex("t", 0.7, f, f < 0.15 ? 0.0 : f > 0.85 ? 1.0 : 0.5, plain(p.marker_label).c_str());
    plschr(0, 1.0);
    plcol0(kBlack);
  }
  if (!p.title.empty()) {
    plschr(0, 1.15);
    plmtex("t", marker && !p.marker_label.empty() ? 2.6 : 1.3, 0.5, 0.5, plain(p.title).c_str());
    plschr(0, 1.0);
  }

  // Legend outside the plot, top right.
  const size_t n = prepared.size();
  std::vector<const char*> text, symbols;
  std::vector<PLINT> opts(n, PL_LEGEND_LINE | PL_LEGEND_SYMBOL), text_colours, colours, styles,
      symbol_numbers(n, 1);
  std::vector<PLFLT> widths(n, 2.0), symbol_scales(n, 0.9);
  for (size_t s = 0; s < n; ++s) {
    text.push_back(prepared[s].label.c_str());
    symbols.push_back(kGlyphs[s % kGlyphs.size()]);
    text_colours.push_back(prepared[s].any ? kBlack : kNaText);
    colours.push_back(static_cast<PLINT>(kSeries0 + s % kPalette.size()));
    styles.push_back(s < kPalette.size() ? 1 : 3);
  }
  // Its own viewport: the right margin, from the top of the plot down.
  const double lx0 = left + vw + 3.0, lw = pg.w - lx0 - 1.0;
  plsvpa(lx0, lx0 + lw, bottom, bottom + vh);
  plwind(0, 1, 0, 1);
  PLFLT legend_w_out = 0, legend_h_out = 0;
  pllegend(&legend_w_out, &legend_h_out, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           PL_POSITION_LEFT | PL_POSITION_TOP | PL_POSITION_INSIDE | PL_POSITION_VIEWPORT, 0.0, 0.0,
           sample_mm / lw, kLegendBg, kBlack, 1, 0, 0, static_cast<PLINT>(n), opts.data(), 1.0, 0.95, 2.0,
           0.0, text_colours.data(), text.data(), nullptr, nullptr, nullptr, nullptr, colours.data(),
           styles.data(), widths.data(), colours.data(), symbol_scales.data(), symbol_numbers.data(),
           symbols.data());
  stream.finish(png_path, what);
}

}  // namespace posenc::cli
