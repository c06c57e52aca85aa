// cli/cmd_t5.cpp — `posenc t5-bucket`: T5 relative-position buckets (posenc/t5_bias.hpp).
//
//   posenc t5-bucket --num-buckets B --max-distance M (--bidirectional | --causal)
//                    --relative LIST [--format json] [--out FILE]
//     {"num_buckets", "max_distance", "bidirectional", "relative_position": [...], "bucket": [...]}
//   posenc t5-bucket --config config.json [--bidirectional | --causal] --relative LIST ...
//     the same, plus "model_type" and "num_heads", from a T5-family config (posenc::hf::
//     load_t5_bias_config); --bidirectional / --causal choose the encoder's or the decoder's
//     self-attention (default: the config's is_decoder, false for the usual encoder-decoder config)
// relative = key position - query position (HF's relative_position); buckets exactly as
// T5Attention._relative_position_bucket, float32 steps included.
#include <charconv>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli_error.hpp"
#include "commands.hpp"
#include "hf_options.hpp"
#include "io/paths.hpp"
#include "json_text.hpp"
#include "posenc/error.hpp"
#include "posenc/hf_config.hpp"
#include "posenc/positions.hpp"
#include "posenc/t5_bias.hpp"
#include "validators.hpp"

namespace posenc::cli {
namespace {

struct T5Args {
  int64_t num_buckets = 0, max_distance = 0;
  bool bidirectional = false, causal = false, quiet = false;
  std::string relative, format = "json", out, config;
  const CLI::Option *num_buckets_option = nullptr, *max_distance_option = nullptr;  // given or not
};

// Comma-separated signed decimal integers with |r| <= 2^31 - 1.
std::vector<int64_t> parse_relative(std::string_view text) {
  const std::string allowed = "(allowed: comma-separated integers in [-" + std::to_string(kMaxPosition) +
                              ", " + std::to_string(kMaxPosition) + "], e.g. -5,0,7)";
  std::vector<int64_t> out;
  size_t index = 0;
  for (size_t begin = 0;; ++index) {
    const size_t comma = text.find(',', begin);
    std::string_view e = text.substr(begin, comma == std::string_view::npos ? comma : comma - begin);
    while (!e.empty() && e.front() == ' ') e.remove_prefix(1);
    while (!e.empty() && e.back() == ' ') e.remove_suffix(1);
    const std::string where = "--relative: entry " + std::to_string(index);
    if (e.empty()) throw CliError(where + " is empty " + allowed);
    int64_t v = 0;
    const auto [p, ec] = std::from_chars(e.data(), e.data() + e.size(), v);
    if (ec != std::errc() || p != e.data() + e.size())
      throw CliError(where + " = \"" + std::string(e) + "\" is not an integer " + allowed);
    if (v < -kMaxPosition || v > kMaxPosition)
      throw CliError(where + " = " + std::string(e) + " is out of range " + allowed);
    out.push_back(v);
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
  return out;
}

void run_t5(const T5Args& a) {
  io::check_distinct_paths({{"--config", a.config}, {"--out", a.out}});
  T5BiasConfig cfg;
  std::vector<std::pair<std::string, std::string>> head;  // fields only a config gives
  if (!a.config.empty()) {
    const hf::T5Stack stack = a.bidirectional ? hf::T5Stack::Encoder
                              : a.causal      ? hf::T5Stack::Decoder
                                              : hf::T5Stack::FromConfig;
    const hf::T5BiasImport imp = hf::load_t5_bias_config(a.config, stack);
    print_warnings(imp);
    cfg = imp.config;
    head = {{"model_type", json_string(imp.model_type)}, {"num_heads", std::to_string(imp.num_heads)}};
  } else {
    if (a.num_buckets_option->count() == 0 || a.max_distance_option->count() == 0)
      throw CliError("--num-buckets and --max-distance are required (or --config)");
    if (a.bidirectional == a.causal)
      throw CliError("exactly one of --bidirectional (encoder) or --causal (decoder) is required");
    cfg.num_buckets = a.num_buckets;
    cfg.max_distance = a.max_distance;
    cfg.bidirectional = a.bidirectional;
  }
  const std::vector<int64_t> rel = parse_relative(a.relative);
  std::vector<int64_t> buckets;
  try {
    validate(cfg, "posenc t5-bucket");
    for (int64_t r : rel) buckets.push_back(t5_relative_bucket(r, cfg));
  } catch (const Error& e) {
    const std::string opt = e.argument().find("num_buckets") != std::string::npos    ? "--num-buckets"
                            : e.argument().find("max_distance") != std::string::npos ? "--max-distance"
                                                                                     : "--relative";
    throw CliError(opt + ": " + e.what());
  }
  std::vector<std::pair<std::string, std::string>> fields = head;
  fields.insert(fields.end(), {{"num_buckets", std::to_string(cfg.num_buckets)},
                               {"max_distance", std::to_string(cfg.max_distance)},
                               {"bidirectional", cfg.bidirectional ? "true" : "false"},
                               {"relative_position", json_array(rel, "relative_position")},
                               {"bucket", json_array(buckets, "bucket")}});
  write_text(a.out, json_object(fields));
  if (!a.quiet)
    std::fprintf(stderr, "posenc: wrote %zu T5 buckets to %s\n", buckets.size(),
                 a.out.empty() ? "<stdout>" : a.out.c_str());
}

}  // namespace

void register_t5(CLI::App& app) {
  auto args = std::make_shared<T5Args>();
  T5Args& a = *args;
  CLI::App* sub = app.add_subcommand("t5-bucket",
                                     "T5 relative-position buckets of key - query distances (HF's "
                                     "_relative_position_bucket).");
  sub->footer(
      "Examples:\n  posenc t5-bucket --num-buckets 32 --max-distance 128 --bidirectional "
      "--relative -5,0,7\n  posenc t5-bucket --config t5-small/config.json --causal --relative -5,0,7");
  auto* nb =
      sub->add_option("--num-buckets", a.num_buckets, "Number of buckets N (>= 2 causal, >= 4 bidirectional)")
          ->transform(decimal_integer<int64_t>());
  auto* md = sub->add_option("--max-distance", a.max_distance,
                             "Distance from which all buckets are the last one (> N/4 bidirectional, > N/2 "
                             "causal)")
                 ->transform(decimal_integer<int64_t>());
  a.num_buckets_option = nb;
  a.max_distance_option = md;
  sub->add_option("--config", a.config,
                  "A T5-family model's Hugging Face config.json: buckets, max distance and heads from it "
                  "(then --bidirectional / --causal choose the encoder or the decoder, default: is_decoder)")
      ->type_name("FILE")
      ->excludes(nb)
      ->excludes(md);
  auto* bi = sub->add_flag("--bidirectional", a.bidirectional,
                           "Encoder: separate buckets for keys before and after the query");
  auto* ca = sub->add_flag("--causal", a.causal, "Decoder: keys after the query share bucket 0");
  bi->excludes(ca);
  sub->add_option("--relative", a.relative,
                  "Relative positions key - query, comma-separated integers, e.g. -5,0,7")
      ->required()
      ->type_name("LIST");
  add_json_output_options(sub, a.format, a.out, a.quiet);
  sub->callback([args] {
    dash_is_stdout(args->out);
    run_t5(*args);
  });
}

}  // namespace posenc::cli
