// cli/cmd_rope.cpp — `posenc rope`: a model's RoPE, from its HF config.json.
//
//   posenc rope --config config.json --positions LIST [--precision exact|hf_compat] [--seq-len N]
//               [--layer-type NAME] [--format json] [--out FILE]
//     {"rotary_dim", "inv_freq": [r/2], "attention_scaling", "cos": [[r] per position], "sin": ...}
//     with cos/sin as HF's rotary embedding returns them (frequency list repeated for half_split,
//     each value twice for interleaved, multiplied by attention_scaling).
//   posenc rope --config config.json --positions LIST --apply in.npy --out out.npy [...]
//     rotates a float32 [T, H, D] array (T = number of positions, D = head_dim) by rope_forward.
// seq_len (max position + 1 unless given) picks dynamic NTK's base and LongRoPE's factor list.
// Outputs are written atomically; after an error nothing is written.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli_error.hpp"
#include "commands.hpp"
#include "hf_options.hpp"
#include "io/paths.hpp"
#include "json_text.hpp"
#include "npy_io.hpp"
#include "posenc/positions.hpp"
#include "posenc/rope.hpp"
#include "position_list.hpp"
#include "validators.hpp"

namespace posenc::cli {
namespace {

struct RopeArgs {
  ConfigArgs config;
  std::string positions, precision = "exact", format, out, apply;
  int64_t seq_len = 0;
  bool quiet = false;
  CLI::Option* o_seq_len = nullptr;
};

Precision parse_precision(const std::string& p) {
  return p == "hf_compat" ? Precision::HfCompat : Precision::Exact;
}

// The sequence length the frequencies are for: --seq-len, else max position + 1.
int64_t sequence_length(const RopeArgs& a, const std::vector<int64_t>& pos) {
  const int64_t needed = *std::max_element(pos.begin(), pos.end()) + 1;
  if (a.o_seq_len->count() == 0) return needed;
  if (a.seq_len < needed || a.seq_len > kMaxPosition + 1)
    throw CliError("--seq-len: " + std::to_string(a.seq_len) +
                   " is invalid (allowed: " + std::to_string(needed) + " (max position + 1) .. " +
                   std::to_string(kMaxPosition + 1) + ")");
  return a.seq_len;
}

std::string rows_json(const std::vector<float>& v, int64_t rows, int64_t cols, const char* what) {
  std::string s = "[";
  for (int64_t n = 0; n < rows; ++n) {
    s += n ? ",\n    " : "\n    ";
    s += json_array(std::span<const float>(v.data() + n * cols, static_cast<size_t>(cols)), what);
  }
  return s + (rows ? "\n  ]" : "]");
}

std::string rope_json(const hf::RopeImport& imp, const std::vector<int64_t>& pos, int64_t seq_len,
                      const std::string& precision) {
  const RopeConfig& cfg = imp.config;
  const int64_t r = cfg.rot(), N = static_cast<int64_t>(pos.size());
  const RopeFrequencies f = rope_frequencies(cfg, seq_len);
  std::vector<float> cos(static_cast<size_t>(N * r)), sin(cos.size());
  rope_cos_sin(TensorView::contiguous(cos.data(), DType::F32, {N, r}),
               TensorView::contiguous(sin.data(), DType::F32, {N, r}), cfg, pos, seq_len);
  // hf_compat: HF's float32 inv_freq, printed as float32; exact: the double nearest omega_i.
  const std::string inv_freq = cfg.precision == Precision::HfCompat ? json_array(f.inv_freq_f32, "inv_freq")
                                                                    : json_array(f.inv_freq, "inv_freq");
  return json_object({{"model_type", json_string(imp.model_type)},
                      {"rope_type", json_string(imp.rope_type)},
                      {"head_dim", std::to_string(cfg.head_dim)},
                      {"rotary_dim", std::to_string(r)},
                      {"layout", json_string(layout_name(cfg.layout))},
                      {"precision", json_string(precision)},
                      {"seq_len", std::to_string(seq_len)},
                      {"positions", json_array(pos, "positions")},
                      {"inv_freq", inv_freq},
                      {"attention_scaling", json_number(f.attention_scaling, "attention_scaling")},
                      {"cos", rows_json(cos, N, r, "cos")},
                      {"sin", rows_json(sin, N, r, "sin")}});
}

// Rotates the [T, H, D] array of --apply and writes it to --out.
std::string apply_rope(const RopeArgs& a, const RopeConfig& cfg, const std::vector<int64_t>& pos,
                       int64_t seq_len) {
  NpyF32 x = read_npy_f32(a.apply, "--apply");
  const std::string what = "--apply '" + a.apply + "'";
  std::string shape;
  for (size_t i = 0; i < x.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(x.shape[i]);
  shape = "(" + shape + ")";
  if (x.shape.size() != 3)
    throw CliError(what + ": shape " + shape +
                   " is not [T, H, D] (3 dimensions: positions, heads, "
                   "head_dim)");
  const int64_t T = x.shape[0], H = x.shape[1], D = x.shape[2];
  if (T != static_cast<int64_t>(pos.size()))
    throw CliError(what + ": shape " + shape + " has T = " + std::to_string(T) +
                   " rows, but --positions lists " + std::to_string(pos.size()));
  if (D != cfg.head_dim)
    throw CliError(what + ": shape " + shape + " has D = " + std::to_string(D) +
                   ", but the config's head_dim is " + std::to_string(cfg.head_dim));
  if (H < 1) throw CliError(what + ": shape " + shape + " has no heads");
  RopeTensors t;
  t.q = TensorView::contiguous(x.data.data(), DType::F32, {1, T, H, D});
  const Positions ids = Positions::ids(TensorView::contiguous(pos.data(), DType::I64, {1, T}));
  rope_forward(t, cfg, ids, seq_len);  // in place
  io::AtomicFile out(a.out);
  write_npy_f32(out, x);
  out.commit();
  return "[" + std::to_string(T) + " x " + std::to_string(H) + " x " + std::to_string(D) + "]";
}

void run_rope(const RopeArgs& a) {
  const bool applying = !a.apply.empty();
  const std::string format = a.format.empty() ? (applying ? "npy" : "json") : a.format;
  if (applying && format != "npy")
    throw CliError("--apply writes the rotated array as npy: use --format npy (or leave it out)");
  if (!applying && format != "json")
    throw CliError(
        "--format npy is for --apply IN.npy (the rotated array); the frequencies and "
        "cos/sin tables are written as json");
  if (applying && a.out.empty()) throw CliError("--apply needs --out FILE.npy for the result");
  // CLI audit: --out over --config replaced the model's config (--apply's input is read first, so
  // --out may rewrite it in place).
  io::check_distinct_paths({{"--config", a.config.config}, {"--out", a.out}});
  const std::vector<int64_t> pos = parse_position_list(a.positions, "--positions");
  const int64_t seq_len = sequence_length(a, pos);
  const hf::RopeImport imp = load_config(a.config, parse_precision(a.precision));

  std::string summary;
  if (applying) {
    summary = "rotated " + apply_rope(a, imp.config, pos, seq_len) + " from " + a.apply;
  } else {
    write_text(a.out, rope_json(imp, pos, seq_len, a.precision));
    summary = "wrote " + imp.rope_type + " RoPE of " + std::to_string(pos.size()) + " positions";
  }
  if (!a.quiet)
    std::fprintf(stderr, "posenc: %s to %s\n", summary.c_str(), a.out.empty() ? "<stdout>" : a.out.c_str());
}

}  // namespace

void register_rope(CLI::App& app) {
  auto args = std::make_shared<RopeArgs>();
  RopeArgs& a = *args;
  CLI::App* sub =
      app.add_subcommand("rope",
                         "A model's rotary embedding from its HF config.json: frequencies and cos/sin as "
                         "HF computes them, or --apply it to a [T, H, D] array.");
  sub->footer(
      "Examples:\n"
      "  posenc rope --config config.json --positions 0,1,4096,131071 --precision hf_compat\n"
      "  posenc rope --config config.json --positions 0,1,2 --apply q.npy --out q_rot.npy");
  add_config_options(sub, a.config);
  sub->add_option("--positions", a.positions,
                  "Positions, comma-separated integers in [0, 2^31-1], e.g. 0,1,4096")
      ->required()
      ->type_name("LIST");
  sub->add_option("--precision", a.precision,
                  "exact: every cos/sin within 1 ulp of the true value; hf_compat: HF's float32 "
                  "recipe (inv_freq and angles in float32)")
      ->check(CLI::IsMember({"exact", "hf_compat"}))
      ->default_str("exact");
  a.o_seq_len = sub->add_option("--seq-len", a.seq_len,
                                "Sequence length the frequencies are for (dynamic NTK, LongRoPE); "
                                "default: max position + 1, as HF")
                    ->transform(decimal_integer<int64_t>());
  sub->add_option("--format", a.format, "json (frequencies, cos, sin) or npy (with --apply)")
      ->check(CLI::IsMember({"json", "npy"}));
  sub->add_option("--apply", a.apply,
                  "Rotate this float32 .npy array [T, H, D] (T = number of positions, D = "
                  "head_dim) and write it to --out")
      ->type_name("IN.npy");
  sub->add_option("-o,--out", a.out, "Output file, written atomically; default (or -): stdout (json)")
      ->type_name("FILE");
  sub->add_flag("-q,--quiet", a.quiet, "Do not print the summary line on stderr");
  sub->callback([args] {
    dash_is_stdout(args->out);
    run_rope(*args);
  });
}

}  // namespace posenc::cli
