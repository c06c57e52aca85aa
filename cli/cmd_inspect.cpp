// cli/cmd_inspect.cpp — `posenc inspect`: explain a model's positional encoding from its HF config.json.
//
//   posenc inspect --config config.json [--layer-type NAME] [--seq-len N] [--plot FILE.png]
//                  [--stack encoder|decoder]
// RoPE models: the rope type and its parameters (with the config.json field each came from), the head
// and rotary dims, pair layout, attention scaling, and per frequency the wavelength before and after
// scaling and whether it is unchanged (extrapolated), interpolated, blended or rescaled; then the
// importer's warnings. --plot draws the wavelengths (log scale) with the context lengths, written
// atomically.
// ALiBi, T5-bias and absolute-position models (posenc::hf::load_encoding_kind): what the model adds
// and from which fields (encoding_explain.hpp); the RoPE-only options are errors for them. --stack
// chooses the stack of an encoder-decoder model (T5 bias, Whisper and Speech2Text tables).
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "cli_error.hpp"
#include "commands.hpp"
#include "encoding_explain.hpp"
#include "hf_options.hpp"
#include "io/atomic_file.hpp"
#include "io/paths.hpp"
#include "json_text.hpp"
#include "posenc/positions.hpp"
#include "rope_explain.hpp"
#include "validators.hpp"
#include "wavelength_plot.hpp"

namespace posenc::cli {
namespace {

struct InspectArgs {
  ConfigArgs config;
  std::string plot, stack;
  int64_t seq_len = 0;
  bool quiet = false;
};

// A model without RoPE: its ALiBi, T5 bias or absolute position table explained (encoding_explain.hpp).
// The RoPE-only options are errors rather than silently ignored.
void run_inspect_other(const InspectArgs& a, std::string_view text, hf::EncodingKind kind) {
  const char* kind_words = kind == hf::EncodingKind::Alibi    ? "ALiBi"
                           : kind == hf::EncodingKind::T5Bias ? "T5's relative attention bias"
                                                              : "absolute position embeddings";
  for (const auto& [given, option] : {std::pair{!a.plot.empty(), "--plot"},
                                      {a.seq_len != 0, "--seq-len"},
                                      {!a.config.layer_type.empty(), "--layer-type"}})
    if (given)
      throw CliError(std::string(option) + ": only for models with RoPE; " + a.config.config + " describes " +
                     kind_words);
  if (kind == hf::EncodingKind::Alibi && !a.stack.empty())
    throw CliError("--stack: only for encoder-decoder models; " + a.config.config + " describes ALiBi");
  const hf::Stack stack = stack_of(a.stack);
  std::string report;
  switch (kind) {
    case hf::EncodingKind::Alibi:
      report = explain_alibi(hf::parse_alibi_config(text, a.config.config), a.config.config);
      break;
    case hf::EncodingKind::T5Bias:
      report = explain_t5_bias(hf::parse_t5_bias_config(text, stack, a.config.config), a.config.config);
      break;
    case hf::EncodingKind::Absolute:
      report = explain_absolute(hf::parse_absolute_config(text, stack, a.config.config), a.config.config);
      break;
    case hf::EncodingKind::Rope:
      break;
  }
  write_text("", report);
}

void run_inspect(const InspectArgs& a) {
  if (a.seq_len < 0 || a.seq_len > kMaxPosition + 1)
    throw CliError("--seq-len: " + std::to_string(a.seq_len) + " is invalid (allowed: 1 .. " +
                   std::to_string(kMaxPosition + 1) + ", or 0 for one where the scaling is active)");
  io::check_distinct_paths({{"--config", a.config.config}, {"--plot", a.plot}});
  // One read of the file for both questions: which encoding, then its importer.
  const std::string text = hf::read_config_text(a.config.config);
  if (const hf::EncodingKind kind = hf::parse_encoding_kind(text, a.config.config);
      kind != hf::EncodingKind::Rope)
    return run_inspect_other(a, text, kind);
  if (!a.stack.empty())
    throw CliError("--stack: only for encoder-decoder models (T5 bias, Whisper, Speech2Text); " +
                   a.config.config + " describes RoPE");
  // The warnings are part of the report on stdout.
  const hf::RopeImport imp = parse_config(a.config, text, Precision::Exact, /*print_warnings=*/false);
  const RopeExplanation e = explain_rope(imp, a.seq_len);
  const std::string report = format_explanation(imp, e, a.config.config);

  std::optional<io::AtomicFile> plot_file;
  if (!a.plot.empty()) {
    WavelengthPlot p;
    p.title = (imp.model_type.empty() ? std::string("RoPE") : imp.model_type) + " (" + imp.rope_type +
              "): wavelength per frequency";
    for (const FrequencyRow& r : e.rows) {
      p.before.push_back(2.0 * M_PI / r.omega_before);
      p.after.push_back(2.0 * M_PI / r.omega_after);
    }
    const int64_t half = imp.config.rot() / 2;
    p.x_label = imp.config.layout == PairLayout::HalfSplit
                    ? "frequency index i (head dims i and i + " + std::to_string(half) + ")"
                    : std::string("frequency index i (head dims 2i and 2i + 1)");
    p.original_context = e.original_context;
    p.max_context = e.max_context;
    plot_file.emplace(a.plot);
    render_wavelengths(p, plot_file->temp_path());
  }
  write_text("", report);
  if (plot_file) {
    plot_file->commit();
    if (!a.quiet) std::fprintf(stderr, "posenc: wrote the wavelength plot to %s\n", a.plot.c_str());
  }
}

}  // namespace

void register_inspect(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  InspectArgs& a = *args;
  CLI::App* sub =
      app.add_subcommand("inspect",
                         "Explain in words what a model's positional encoding does (RoPE, ALiBi, T5 bias "
                         "or absolute), from its HF config.json (RoPE: optionally with a wavelength plot).");
  sub->footer("Example:\n  posenc inspect --config config.json --plot wavelengths.png");
  add_config_options(sub, a.config);
  sub->add_option("--seq-len", a.seq_len,
                  "Sequence length to show the frequencies for (dynamic NTK, LongRoPE); default: "
                  "one where the scaling is active")
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--plot", a.plot, "Also draw the wavelengths before and after scaling (PNG, log scale)")
      ->type_name("FILE.png");
  add_stack_option(sub, a.stack, "T5 bias buckets, Whisper and Speech2Text position tables");
  sub->add_flag("-q,--quiet", a.quiet, "Do not print the summary line on stderr");
  sub->callback([args] { run_inspect(*args); });
}

}  // namespace posenc::cli
