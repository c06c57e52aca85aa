// cli/cmd_table.cpp — `posenc table`: compute a positional-encoding table and write it out.
//
//   posenc table --kind sinusoidal|learned --dim D (--max-positions N | --positions LIST)
//                --format json|csv|npy|safetensors [--out FILE] [--plot FILE.png] [options]
//   posenc table --config config.json [--stack encoder|decoder] [--max-positions N | --positions LIST]
//                --format ...
//                the sinusoidal table of a model (M2M100, FSMT, XGLM, Marian, Pegasus, XLM, DistilBERT,
//                CTRL, Speech2Text, Whisper's encoder; posenc::hf::load_absolute_config; --stack for the
//                models whose two stacks differ): by default HF's whole buffer, its num_rows rows
//                indexed as HF indexes them (position 0 is row first_row, given in the JSON output with
//                embed_scale, the factor of the token embeddings they are added to)
// Rows are positions (0 .. N-1, or the listed ones), columns the D encoding dimensions. Output
// files and the heatmap are written atomically (see atomic_file.hpp): after an error no file, whole
// or partial, is left.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli_error.hpp"
#include "commands.hpp"
#include "hf_options.hpp"
#include "io/atomic_file.hpp"
#include "io/paths.hpp"
#include "plot.hpp"
#include "posenc/error.hpp"
#include "posenc/hf_config.hpp"
#include "posenc/learned.hpp"
#include "posenc/positions.hpp"
#include "posenc/sinusoidal.hpp"
#include "position_list.hpp"
#include "table.hpp"
#include "validators.hpp"
#include "writers.hpp"

namespace posenc::cli {
namespace {

template <typename E>
using NameMap = std::vector<std::pair<std::string, E>>;

const NameMap<SinusoidalPreset> kPresets = {{"vaswani", SinusoidalPreset::Vaswani},
                                            {"fairseq", SinusoidalPreset::Fairseq},
                                            {"tensor2tensor", SinusoidalPreset::Tensor2Tensor},
                                            {"marian", SinusoidalPreset::Marian}};
const NameMap<DType> kDTypes = {{"f32", DType::F32}, {"f16", DType::F16}, {"bf16", DType::BF16}};
const NameMap<Precision> kPrecisions = {{"exact", Precision::Exact}, {"hf_compat", Precision::HfCompat}};
const NameMap<LearnedInit> kInits = {
    {"normal", LearnedInit::Normal}, {"zeros", LearnedInit::Zeros}, {"sinusoidal", LearnedInit::Sinusoidal}};

template <typename E>
std::vector<std::string> names(const NameMap<E>& map) {
  std::vector<std::string> out;
  for (const auto& [name, value] : map) out.push_back(name);
  return out;
}

// The names were checked by CLI::IsMember when parsing.
template <typename E>
E lookup(const NameMap<E>& map, const std::string& name) {
  for (const auto& [n, value] : map)
    if (n == name) return value;
  throw CliError("internal: unknown name '" + name + "'");
}

struct TableArgs {
  std::string kind, preset = "vaswani", dtype = "f32", precision = "exact", init = "normal";
  std::string format, out, plot, positions, config, stack;
  int64_t dim = 0, max_positions = 0, padding_idx = -1;
  double base = 10000.0, std = 0.02;
  uint64_t seed = 0;
  bool quiet = false;
  // Options whose presence matters (exactly-one rules, options that apply to one kind only).
  CLI::Option *o_max = nullptr, *o_positions = nullptr, *o_preset = nullptr, *o_base = nullptr,
              *o_padding = nullptr, *o_precision = nullptr, *o_init = nullptr, *o_seed = nullptr,
              *o_std = nullptr, *o_kind = nullptr, *o_dim = nullptr, *o_stack = nullptr;
  // From --config: the model, the row of its position 0, and the scale of its token embeddings.
  std::string model_type, model_stack;  // model_stack: "encoder" / "decoder" where the stacks differ
  int64_t first_row = -1;
  float embed_scale = 1.0f;
};

// Library errors name the config field ("dim"); say which command-line option that is.
[[noreturn]] void rethrow_with_option(const Error& e) {
  static const NameMap<std::string> kOptions = {{"padding_idx", "--padding-idx"},
                                                {"dim", "--dim"},
                                                {"base", "--base"},
                                                {"preset", "--preset"},
                                                {"precision", "--precision"},
                                                {"positions", "--positions"},
                                                {"std", "--std"}};
  for (const auto& [field, option] : kOptions)
    if (e.argument().find(field) != std::string::npos) throw CliError(option + ": " + e.what());
  throw;
}

void require_absent(const CLI::Option* o, const std::string& why) {
  if (o->count() > 0) throw CliError(o->get_name() + " " + why);
}

// --config: the arguments the model's config.json implies (its sinusoidal table; by default all of HF's
// rows). Importer warnings go to stderr.
TableArgs from_config(const TableArgs& given) {
  for (const CLI::Option* o : {given.o_kind, given.o_dim, given.o_preset, given.o_base, given.o_padding,
                               given.o_init, given.o_seed, given.o_std})
    require_absent(o, "comes from --config (the model's config.json)");
  const hf::AbsoluteImport imp = hf::load_absolute_config(given.config, stack_of(given.stack));
  print_warnings(imp);
  if (imp.kind != hf::AbsoluteKind::Sinusoidal)
    throw CliError("--config: " + given.config + " describes a " + imp.model_type +
                   (imp.stack == hf::Stack::Decoder ? " decoder" : "") +
                   " model, whose position table is learned: its values are in the checkpoint, not in "
                   "config.json (posenc inspect --config " +
                   given.config + " shows its rows and offsets)");
  TableArgs a = given;
  a.kind = "sinusoidal";
  for (const auto& [name, preset] : kPresets)
    if (preset == imp.sinusoidal.preset) a.preset = name;
  a.dim = imp.sinusoidal.dim;
  a.base = imp.sinusoidal.base;
  a.padding_idx = imp.sinusoidal.padding_idx;
  if (a.o_max->count() == 0 && a.o_positions->count() == 0) a.max_positions = imp.num_rows;
  a.model_type = imp.model_type;
  if (imp.stack != hf::Stack::FromConfig)
    a.model_stack = imp.stack == hf::Stack::Encoder ? "encoder" : "decoder";
  a.first_row = imp.first_row;
  a.embed_scale = imp.embed_scale;
  return a;
}

// Checks what CLI11 cannot express; throws CliError naming the option.
void check_combinations(const TableArgs& a, Format format) {
  const bool config = !a.config.empty();
  if (!config) require_absent(a.o_stack, "applies only to --config (an encoder-decoder model's stack)");
  if (!config && a.kind.empty()) throw CliError("--kind is required (or --config FILE)");
  if (!config && a.o_dim->count() == 0) throw CliError("--dim is required (or --config FILE)");
  if (!config && (a.o_max->count() > 0) == (a.o_positions->count() > 0))
    throw CliError("exactly one of --max-positions N or --positions LIST is required");
  if (a.o_max->count() > 0 && (a.max_positions < 1 || a.max_positions > kMaxPosition + 1)) {
    throw CliError("--max-positions: " + std::to_string(a.max_positions) + " is invalid (allowed: 1 .. " +
                   std::to_string(kMaxPosition + 1) + ")");
  }
  if (a.kind == "sinusoidal") {
    for (const CLI::Option* o : {a.o_init, a.o_seed, a.o_std})
      require_absent(o, "applies only to --kind learned");
  } else {
    require_absent(a.o_positions, "is not supported by --kind learned: use --max-positions N");
    if (a.init != "sinusoidal") {
      for (const CLI::Option* o : {a.o_preset, a.o_base, a.o_padding, a.o_precision})
        require_absent(o, "applies only to --kind sinusoidal or --init sinusoidal");
    }
    if (a.init != "normal") {
      for (const CLI::Option* o : {a.o_seed, a.o_std}) require_absent(o, "applies only to --init normal");
    }
    if (a.dim < 1) throw CliError("--dim: " + std::to_string(a.dim) + " is invalid (allowed: >= 1)");
    // A std beyond the dtype's largest value makes nearly every value infinite (a few overflows from a
    // large std are kept: they are what rounding N(0, std^2) to the dtype gives, as in PyTorch).
    const double largest = a.dtype == "f16" ? 65504.0 : 3.4028234663852886e38;  // f16; f32 and bf16 alike
    if (!(a.std >= 0 && a.std <= largest)) {
      char text[96];
      std::snprintf(text, sizeof text, "%g is invalid (allowed: 0 .. %g", a.std, largest);
      throw CliError("--std: " + std::string(text) + " for --dtype " + a.dtype +
                     ", the largest finite value)");
    }
  }
  check_format_supports(format, lookup(kDTypes, a.dtype));
  if (is_binary(format) && a.out.empty()) {
    throw CliError("--format " + std::string(format_name(format)) +
                   " writes binary data and needs --out FILE");
  }
  // The same regular file twice would be two renames over one path, and an output over --config would
  // destroy the model's config (/dev/null twice is fine).
  io::check_distinct_paths({{"--config", a.config}, {"--out", a.out}, {"--plot", a.plot}});
}

SinusoidalConfig sinusoidal_config(const TableArgs& a) {
  SinusoidalConfig cfg;
  cfg.dim = a.dim;
  cfg.base = a.base;
  cfg.preset = lookup(kPresets, a.preset);
  cfg.precision = lookup(kPrecisions, a.precision);
  cfg.padding_idx = a.padding_idx;
  return cfg;
}

void add_sinusoidal_meta(Table& t, const TableArgs& a) {
  t.meta["preset"] = a.preset;
  t.meta["dim"] = a.dim;
  t.meta["base"] = a.base;
  t.meta["precision"] = a.precision;
  if (a.preset == "fairseq") {
    t.meta["padding_idx"] = a.padding_idx >= 0 ? nlohmann::ordered_json(a.padding_idx) : nullptr;
  }
}

Table build_table(const TableArgs& a) {
  Table t;
  const bool listed = a.o_positions->count() > 0;
  if (listed) t.positions = parse_position_list(a.positions, "--positions");
  const DType dtype = lookup(kDTypes, a.dtype);
  const int64_t rows = listed ? static_cast<int64_t>(t.positions.size()) : a.max_positions;
  // 0 .. N-1, once the table's size has been checked (N can be 2^31).
  const auto fill_positions = [&] {
    if (listed) return;
    t.positions.resize(static_cast<size_t>(rows));
    for (size_t i = 0; i < t.positions.size(); ++i) t.positions[i] = static_cast<int64_t>(i);
  };
  t.meta["kind"] = a.kind;
  if (!a.model_type.empty()) {
    t.meta["model_type"] = a.model_type;
    if (!a.model_stack.empty()) t.meta["stack"] = a.model_stack;
    t.meta["first_row"] = a.first_row;
    t.meta["embed_scale"] = a.embed_scale;  // HF adds E[id] * embed_scale + row first_row + p
  }
  try {
    if (a.kind == "sinusoidal") {
      const SinusoidalConfig cfg = sinusoidal_config(a);
      validate(cfg, "posenc table");  // before allocating anything
      add_sinusoidal_meta(t, a);
      t.meta["dtype"] = a.dtype;
      t.allocate(dtype, rows, a.dim);
      fill_positions();
      if (listed) {
        sinusoidal_table(t.view(), cfg, t.positions);
      } else {
        sinusoidal_table(t.view(), cfg, int64_t{0});
      }
    } else {
      LearnedInitOptions opt;
      opt.kind = lookup(kInits, a.init);
      t.meta["init"] = a.init;
      if (opt.kind == LearnedInit::Normal) {
        opt.seed = a.seed;
        opt.std = static_cast<float>(a.std);
        t.meta["seed"] = a.seed;
        t.meta["std"] = a.std;
      } else if (opt.kind == LearnedInit::Sinusoidal) {
        opt.sinusoidal = sinusoidal_config(a);
        validate(opt.sinusoidal, "posenc table");
        add_sinusoidal_meta(t, a);
      }
      if (opt.kind != LearnedInit::Sinusoidal) t.meta["dim"] = a.dim;
      t.meta["dtype"] = a.dtype;
      t.allocate(dtype, rows, a.dim);
      fill_positions();
      learned_init(t.view(), opt);
    }
  } catch (const Error& e) {
    rethrow_with_option(e);
  }
  return t;
}

std::string plot_title(const TableArgs& a, const Table& t) {
  std::string title = a.kind == "sinusoidal" ? "sinusoidal (" + a.preset + ")" : "learned, init " + a.init;
  title += ": " + std::to_string(t.rows) + " positions x " + std::to_string(t.cols) + " dims, " + a.dtype;
  return title;
}

// Colours span [-1, 1] (sinusoidal values); a learned N(0, std^2) table would be a blank sheet on
// that scale, so it uses its own largest magnitude.
double plot_value_range(const TableArgs& a, const Table& t) {
  if (a.kind == "sinusoidal" || a.init != "normal") return 1.0;
  double m = 0;
  for (int64_t r = 0; r < t.rows; ++r)
    for (int64_t c = 0; c < t.cols; ++c) m = std::max(m, std::fabs(static_cast<double>(t.at(r, c))));
  return std::isfinite(m) && m > 0 ? m : 1.0;
}

void run_table(const TableArgs& given) {
  const Format format = *parse_format(given.format);  // checked by CLI::IsMember
  const TableArgs a = given.config.empty() ? given : from_config(given);
  check_combinations(a, format);
  const Table table = build_table(a);

  // Render the heatmap first: if it fails, nothing has been written anywhere yet.
  std::optional<io::AtomicFile> plot_file;
  if (!a.plot.empty()) {
    plot_file.emplace(a.plot);
    render_heatmap(table, plot_file->temp_path(),
                   HeatmapStyle{plot_title(a, table), plot_value_range(a, table)});
  }
  if (a.out.empty()) {
    io::StdoutSink out;
    write_table(out, table, format);
  } else {
    io::AtomicFile out(a.out);
    write_table(out, table, format);
    out.commit();
  }
  if (plot_file) plot_file->commit();

  if (!a.quiet) {
    std::string line = "posenc: wrote table " + table.describe() + " " + a.format + " to " +
                       (a.out.empty() ? std::string("<stdout>") : a.out);
    if (!a.plot.empty()) line += "; heatmap to " + a.plot;
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

}  // namespace

void register_table(CLI::App& app) {
  auto args = std::make_shared<TableArgs>();
  TableArgs& a = *args;
  CLI::App* sub = app.add_subcommand(
      "table", "Write a positional-encoding table: one row per position, one column per dimension.");
  sub->footer(
      "Examples:\n"
      "  posenc table --kind sinusoidal --dim 128 --max-positions 256 --format json --out pe.json "
      "--plot pe.png\n"
      "  posenc table --kind sinusoidal --preset fairseq --padding-idx 1 --dim 512 --positions "
      "0,5,1000 --format csv\n"
      "  posenc table --kind learned --init normal --seed 7 --dim 64 --max-positions 1024 "
      "--dtype bf16 --format safetensors --out wpe.safetensors\n"
      "  posenc table --config m2m100/config.json --precision hf_compat --format npy --out pe.npy");

  a.o_kind =
      sub->add_option("--kind", a.kind, "Encoding: sinusoidal (fixed) or learned (an initialized table)")
          ->check(CLI::IsMember({"sinusoidal", "learned"}));
  sub->add_option(
         "--config", a.config,
         "A model's Hugging Face config.json with a sinusoidal table (m2m_100, nllb-moe, fsmt, xglm, marian, "
         "pegasus, ctrl, xlm, distilbert, speech_to_text, whisper's encoder): kind, preset, dim and padding "
         "from it; default rows: HF's whole buffer")
      ->type_name("FILE");
  a.o_stack = add_stack_option(
      sub, a.stack, "Whisper and Speech2Text position tables; table writes the sinusoidal ones only");
  a.o_preset =
      sub->add_option("--preset", a.preset,
                      "Sinusoidal column layout and frequencies: vaswani [s0 c0 s1 c1 ...] (even dim), "
                      "fairseq / tensor2tensor [sines | cosines | 0 if odd dim], marian "
                      "[sines | cosines]")
          ->check(CLI::IsMember(names(kPresets)))
          ->default_str("vaswani");
  a.o_dim = sub->add_option("--dim", a.dim, "Number of columns D (vaswani: even, >= 2)")
                ->transform(decimal_integer<int64_t>());
  a.o_max = sub->add_option("--max-positions", a.max_positions,
                            "Rows for positions 0 .. N-1 (N >= 1); or give --positions")
                ->transform(decimal_integer<int64_t>());
  a.o_positions = sub->add_option(
      "--positions", a.positions,
      "Rows for these positions only: comma-separated integers in [0, 2^31-1], e.g. 0,5,1000");
  a.o_max->excludes(a.o_positions);
  a.o_base = sub->add_option("--base", a.base, "Frequency base: omega_i = base^(-2i/d); must be > 1")
                 ->default_str("10000");
  a.o_padding = sub->add_option("--padding-idx", a.padding_idx,
                                "fairseq preset only: this row is all zeros (fairseq's padding_idx); "
                                "default: none")
                    ->type_name("P")
                    ->transform(decimal_integer<int64_t>());
  sub->add_option("--dtype", a.dtype, "Storage type of the values: f32, f16 or bf16 (npy: no bf16)")
      ->check(CLI::IsMember(names(kDTypes)))
      ->default_str("f32");
  a.o_precision = sub->add_option("--precision", a.precision,
                                  "exact: within 1 ulp of the true fp32 value at every position; hf_compat: "
                                  "the common float32 recipe (for parity tests)")
                      ->check(CLI::IsMember(names(kPrecisions)))
                      ->default_str("exact");
  a.o_init = sub->add_option("--init", a.init,
                             "learned only: normal N(0, std^2), zeros, or a copy of the sinusoidal "
                             "table (--preset, --base, ... apply)")
                 ->check(CLI::IsMember(names(kInits)))
                 ->default_str("normal");
  a.o_seed = sub->add_option("--seed", a.seed, "learned --init normal: random seed (unsigned 64-bit)")
                 ->transform(decimal_integer<uint64_t>())
                 ->default_str("0");
  a.o_std = sub->add_option("--std", a.std, "learned --init normal: standard deviation (>= 0)")
                ->default_str("0.02");
  sub->add_option("--format", a.format,
                  "Output format: json, csv, npy (NumPy, f32/f16) or safetensors; npy and "
                  "safetensors need --out")
      ->required()
      ->check(CLI::IsMember({"json", "csv", "npy", "safetensors"}));
  sub->add_option("-o,--out", a.out,
                  "Output file, written atomically (temporary file + rename); default (or -): stdout "
                  "for json and csv")
      ->type_name("FILE");
  sub->add_option("--plot", a.plot, "Also draw a heatmap of the table (PNG, 1000x700, colours for [-1, 1])")
      ->type_name("FILE.png");
  sub->add_flag("-q,--quiet", a.quiet, "Do not print the summary line on stderr");

  sub->callback([args] {
    dash_is_stdout(args->out);
    run_table(*args);
  });
}

}  // namespace posenc::cli
