// cli/wavelength_plot.cpp — see wavelength_plot.hpp.
#include "wavelength_plot.hpp"

#include <plplot.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "cli_error.hpp"
#include "io/atomic_file.hpp"

namespace posenc::cli {
namespace {

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

// cmap0 entries used below.
enum Colour : PLINT { kBlack = 1, kBlue = 2, kRed = 3, kGrey = 4, kGreen = 5 };

void horizontal(double x0, double x1, double y_log, PLINT colour, PLINT style) {
  const PLFLT xs[2] = {x0, x1}, ys[2] = {y_log, y_log};
  plcol0(colour);
  pllsty(style);
  plline(2, xs, ys);
  pllsty(1);
}

}  // namespace

void render_wavelengths(const WavelengthPlot& p, const std::string& png_path) {
  const size_t n = p.before.size();
  if (n == 0 || p.after.size() != n) throw CliError("--plot: no frequencies to draw");
  std::vector<PLFLT> x(n), yb(n), ya(n);
  double lo = INFINITY, hi = 0;
  for (size_t i = 0; i < n; ++i) {
    x[i] = static_cast<double>(i);
    yb[i] = std::log10(p.before[i]);
    ya[i] = std::log10(p.after[i]);
    lo = std::min({lo, p.before[i], p.after[i]});
    hi = std::max({hi, p.before[i], p.after[i]});
  }
  const bool show_max = p.max_context > 0 && p.max_context != p.original_context;
  for (int64_t L : {p.original_context, show_max ? p.max_context : int64_t{0}})
    if (L > 0) {
      lo = std::min(lo, static_cast<double>(L));
      hi = std::max(hi, static_cast<double>(L));
    }
  const double ymin = std::floor(std::log10(lo)), ymax = std::ceil(std::log10(hi) + 0.15);
  const double x0 = n > 1 ? 0.0 : -0.5, x1 = n > 1 ? static_cast<double>(n - 1) : 0.5;

  PLINT previous = 0, stream = 0;
  plgstrm(&previous);
  plmkstrm(&stream);
  if (stream < 0) throw CliError("--plot: PLplot could not create a plot stream");
  g_error.clear();
  plsabort(on_plabort);
  plsexit(on_plexit);
  plsdev("pngcairo");
  plsfnam(png_path.c_str());
  plspage(0, 0, p.width_px, p.height_px, 0, 0);
  plscolbg(255, 255, 255);
  plscol0(kBlack, 0, 0, 0);
  plscol0(kBlue, 31, 119, 180);
  plscol0(kRed, 214, 39, 40);
  plscol0(kGrey, 90, 90, 90);
  plscol0(kGreen, 44, 160, 44);
  plinit();
  pladv(0);
  plvpor(0.10, 0.95, 0.11, 0.91);
  plwind(x0, x1, ymin, ymax);
  plcol0(kBlack);
  plbox("bcnst", 0.0, 0, "bcnstvl", 0.0, 0);  // l: log10 labels on y
  pllab(p.x_label.c_str(), "wavelength 2 pi / omega (positions per turn)", p.title.c_str());

  if (p.original_context > 0)
    horizontal(x0, x1, std::log10(static_cast<double>(p.original_context)), kGrey, 2);
  if (show_max) horizontal(x0, x1, std::log10(static_cast<double>(p.max_context)), kGreen, 3);
  plwidth(2.0);
  plcol0(kBlue);
  plline(static_cast<PLINT>(n), x.data(), yb.data());
  plcol0(kRed);
  plline(static_cast<PLINT>(n), x.data(), ya.data());
  plwidth(1.0);

  // Legend: top left, inside the plot (wavelengths grow with i, so that corner is empty).
  std::vector<std::string> labels = {"before scaling", "after scaling"};
  std::vector<PLINT> colours = {kBlue, kRed}, styles = {1, 1};
  std::vector<PLFLT> widths = {2.0, 2.0};
  if (p.original_context > 0) {
    labels.push_back("original context " + std::to_string(p.original_context));
    colours.push_back(kGrey);
    styles.push_back(2);
    widths.push_back(1.0);
  }
  if (show_max) {
    labels.push_back("max_position_embeddings " + std::to_string(p.max_context));
    colours.push_back(kGreen);
    styles.push_back(3);
    widths.push_back(1.0);
  }
  const PLINT count = static_cast<PLINT>(labels.size());
  std::vector<const char*> text;
  for (const std::string& l : labels) text.push_back(l.c_str());
  std::vector<PLINT> opts(labels.size(), PL_LEGEND_LINE), text_colours(labels.size(), kBlack);
  PLFLT legend_w = 0, legend_h = 0;
  plscol0a(15, 255, 255, 255, 0.9);
  pllegend(&legend_w, &legend_h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           PL_POSITION_TOP | PL_POSITION_LEFT | PL_POSITION_INSIDE, 0.02, 0.02, 0.08, 15, kBlack, 1, 0, 0,
           count, opts.data(), 1.0, 0.9, 2.0, 0.0, text_colours.data(), text.data(), nullptr, nullptr,
           nullptr, nullptr, colours.data(), styles.data(), widths.data(), nullptr, nullptr, nullptr,
           nullptr);
  plend1();
  plsstrm(previous);
  plsabort(nullptr);

  if (!g_error.empty()) throw CliError("--plot: PLplot: " + g_error);
  struct stat st {};
  if (::stat(png_path.c_str(), &st) != 0 || (S_ISREG(st.st_mode) && st.st_size == 0))
    throw CliError("--plot: PLplot wrote no image to '" + png_path + "'");
}

}  // namespace posenc::cli
