// cli/cmd_t5.cpp — `posenc t5-bucket`: T5 relative-position buckets (posenc/t5_bias.hpp).
//
//   posenc t5-bucket --num-buckets B --max-distance M (--bidirectional | --causal)
//                    --relative LIST [--format json] [--out FILE]
//     {"num_buckets", "max_distance", "bidirectional", "relative_position": [...], "bucket": [...]}
// relative = key position - query position (HF's relative_position); buckets exactly as
// T5Attention._relative_position_bucket, float32 steps included.
#include <charconv>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli_error.hpp"
#include "commands.hpp"
#include "json_text.hpp"
#include "posenc/error.hpp"
#include "posenc/positions.hpp"
#include "posenc/t5_bias.hpp"
#include "validators.hpp"

namespace posenc::cli {
namespace {

struct T5Args {
  int64_t num_buckets = 0, max_distance = 0;
  bool bidirectional = false, causal = false, quiet = false;
  std::string relative, format = "json", out;
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
  if (a.bidirectional == a.causal)
    throw CliError("exactly one of --bidirectional (encoder) or --causal (decoder) is required");
  const std::vector<int64_t> rel = parse_relative(a.relative);
  T5BiasConfig cfg;
  cfg.num_buckets = a.num_buckets;
  cfg.max_distance = a.max_distance;
  cfg.bidirectional = a.bidirectional;
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
  write_text(a.out, json_object({{"num_buckets", std::to_string(a.num_buckets)},
                                 {"max_distance", std::to_string(a.max_distance)},
                                 {"bidirectional", a.bidirectional ? "true" : "false"},
                                 {"relative_position", json_array(rel, "relative_position")},
                                 {"bucket", json_array(buckets, "bucket")}}));
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
      "Example:\n  posenc t5-bucket --num-buckets 32 --max-distance 128 --bidirectional "
      "--relative -5,0,7");
  sub->add_option("--num-buckets", a.num_buckets, "Number of buckets N (>= 2 causal, >= 4 bidirectional)")
      ->required()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--max-distance", a.max_distance,
                  "Distance from which all buckets are the last one (> N/4 bidirectional, > N/2 "
                  "causal)")
      ->required()
      ->transform(decimal_integer<int64_t>());
  auto* bi = sub->add_flag("--bidirectional", a.bidirectional,
                           "Encoder: separate buckets for keys before and after the query");
  auto* ca = sub->add_flag("--causal", a.causal, "Decoder: keys after the query share bucket 0");
  bi->excludes(ca);
  sub->add_option("--relative", a.relative,
                  "Relative positions key - query, comma-separated integers, e.g. -5,0,7")
      ->required()
      ->type_name("LIST");
  sub->add_option("--format", a.format, "Output format: json")
      ->check(CLI::IsMember({"json"}))
      ->default_str("json");
  sub->add_option("-o,--out", a.out, "Output file, written atomically; default: stdout")->type_name("FILE");
  sub->add_flag("-q,--quiet", a.quiet, "Do not print the summary line on stderr");
  sub->callback([args] { run_t5(*args); });
}

}  // namespace posenc::cli
