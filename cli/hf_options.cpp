// cli/hf_options.cpp — see hf_options.hpp.
#include "hf_options.hpp"

#include <cstdio>

namespace posenc::cli {

void add_config_options(CLI::App* sub, ConfigArgs& a) {
  sub->add_option("--config", a.config,
                  "The model's Hugging Face config.json (rope_theta, rope_scaling / "
                  "rope_parameters, head_dim, partial_rotary_factor, ...)")
      ->required()
      ->type_name("FILE");
  sub->add_option("--layer-type", a.layer_type,
                  "For configs with one rope dict per attention type: which one (e.g. "
                  "full_attention, sliding_attention)")
      ->type_name("NAME");
}

CLI::Option* add_stack_option(CLI::App* sub, std::string& stack, const char* which) {
  return sub
      ->add_option("--stack", stack,
                   std::string("For encoder-decoder models whose stacks differ (") + which +
                       "): which stack; default: the config's is_decoder, else the encoder (with a warning)")
      ->check(CLI::IsMember({"encoder", "decoder"}))
      ->type_name("encoder|decoder");
}

void add_json_output_options(CLI::App* sub, std::string& format, std::string& out, bool& quiet) {
  sub->add_option("--format", format, "Output format: json")
      ->check(CLI::IsMember({"json"}))
      ->default_str("json");
  sub->add_option("-o,--out", out, "Output file, written atomically; default (or -): stdout")
      ->type_name("FILE");
  sub->add_flag("-q,--quiet", quiet, "Do not print the summary line on stderr");
}

hf::Stack stack_of(const std::string& stack) {
  return stack == "encoder"   ? hf::Stack::Encoder
         : stack == "decoder" ? hf::Stack::Decoder
                              : hf::Stack::FromConfig;
}

hf::RopeImport load_config(const ConfigArgs& a, Precision precision, bool print_warnings) {
  return parse_config(a, hf::read_config_text(a.config), precision, print_warnings);
}

hf::RopeImport parse_config(const ConfigArgs& a, std::string_view text, Precision precision,
                            bool print_warnings) {
  hf::LoadOptions opt;
  opt.layer_type = a.layer_type;
  opt.precision = precision;
  hf::RopeImport r = hf::parse_rope_config(text, opt, a.config);
  if (print_warnings) cli::print_warnings(r);
  return r;
}

void print_warnings(const hf::ImportReport& report) {
  for (const std::string& w : report.warnings) std::fprintf(stderr, "posenc: warning: %s\n", w.c_str());
}

std::string with_source(const hf::ImportReport& report, const std::string& value, const std::string& field) {
  const std::string from = report.source_of(field);
  return from.empty() ? value : value + " [" + from + "]";
}

const char* layout_name(PairLayout l) {
  return l == PairLayout::Interleaved ? "interleaved" : "half_split";
}

}  // namespace posenc::cli
