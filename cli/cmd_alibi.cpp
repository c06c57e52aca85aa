// cli/cmd_alibi.cpp — `posenc alibi`: ALiBi head slopes (posenc/alibi.hpp).
//
//   posenc alibi --heads N [--max-bias 8] [--format json] [--out FILE]
//     {"num_heads": N, "max_bias": B, "slopes": [N]}
//   posenc alibi --config config.json [--format json] [--out FILE]       (BLOOM, Falcon, MPT)
//     {"model_type", "num_heads", "max_bias", "form", "mask", "slopes"}   (posenc::hf::load_alibi_config)
// Slopes are BLOOM's / MPT's for any N (powers of two and not), computed in double.
#include <cstdio>
#include <memory>
#include <string>

#include "cli_error.hpp"
#include "commands.hpp"
#include "hf_options.hpp"
#include "io/paths.hpp"
#include "json_text.hpp"
#include "posenc/alibi.hpp"
#include "posenc/error.hpp"
#include "posenc/hf_config.hpp"
#include "validators.hpp"

namespace posenc::cli {
namespace {

struct AlibiArgs {
  int64_t heads = 0;
  double max_bias = 8.0;
  std::string format = "json", out, config;
  bool quiet = false;
  const CLI::Option* heads_option = nullptr;  // given or not
};

void run_from_config(const AlibiArgs& a) {
  const hf::AlibiImport imp = hf::load_alibi_config(a.config);
  print_warnings(imp);
  const AlibiConfig& c = imp.config;
  const std::vector<double> slopes = alibi_slopes(c.num_heads, c.max_bias);
  write_text(
      a.out,
      json_object({{"model_type", json_string(imp.model_type)},
                   {"num_heads", std::to_string(c.num_heads)},
                   {"max_bias", json_number(c.max_bias, "max_bias")},
                   {"form", json_string(c.form == AlibiForm::KeyPosition ? "key_position" : "relative")},
                   {"mask", json_string(c.mask == AlibiMask::Causal ? "causal" : "none")},
                   {"slopes", json_array(slopes, "slopes")}}));
  if (!a.quiet)
    std::fprintf(stderr, "posenc: wrote %lld ALiBi slopes of %s (%s) to %s\n",
                 static_cast<long long>(c.num_heads), a.config.c_str(), imp.model_type.c_str(),
                 a.out.empty() ? "<stdout>" : a.out.c_str());
}

void run_alibi(const AlibiArgs& a) {
  io::check_distinct_paths({{"--config", a.config}, {"--out", a.out}});
  if (!a.config.empty()) return run_from_config(a);
  if (a.heads_option->count() == 0) throw CliError("one of --heads or --config is required");
  if (a.heads < 1) throw CliError("--heads: " + std::to_string(a.heads) + " is invalid (allowed: >= 1)");
  std::vector<double> slopes;
  try {
    slopes = alibi_slopes(a.heads, a.max_bias);
  } catch (const Error& e) {
    throw CliError((e.argument() == "max_bias" ? "--max-bias: " : "--heads: ") + std::string(e.what()));
  }
  write_text(a.out, json_object({{"num_heads", std::to_string(a.heads)},
                                 {"max_bias", json_number(a.max_bias, "max_bias")},
                                 {"slopes", json_array(slopes, "slopes")}}));
  if (!a.quiet)
    std::fprintf(stderr, "posenc: wrote %lld ALiBi slopes to %s\n", static_cast<long long>(a.heads),
                 a.out.empty() ? "<stdout>" : a.out.c_str());
}

}  // namespace

void register_alibi(CLI::App& app) {
  auto args = std::make_shared<AlibiArgs>();
  AlibiArgs& a = *args;
  CLI::App* sub = app.add_subcommand("alibi", "ALiBi slopes per head (BLOOM / MPT; any number of heads).");
  sub->footer(
      "Examples:\n  posenc alibi --heads 12 --format json\n  posenc alibi --config bloom/config.json");
  auto* heads = sub->add_option("--heads", a.heads, "Number of attention heads H (>= 1)")
                    ->transform(decimal_integer<int64_t>());
  a.heads_option = heads;
  auto* bias = sub->add_option("--max-bias", a.max_bias,
                               "Largest exponent: slope_h = 2^(-max_bias (h+1) / H) for H a power of two")
                   ->default_str("8");
  sub->add_option("--config", a.config,
                  "A model's Hugging Face config.json (bloom, falcon with alibi, mpt): heads, max_bias and "
                  "form from it, instead of --heads / --max-bias")
      ->type_name("FILE")
      ->excludes(heads)
      ->excludes(bias);
  add_json_output_options(sub, a.format, a.out, a.quiet);
  sub->callback([args] {
    dash_is_stdout(args->out);
    run_alibi(*args);
  });
}

}  // namespace posenc::cli
