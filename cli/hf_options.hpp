// cli/hf_options.hpp — the options that name a Hugging Face config.json (rope, inspect, table).
//
//   --config FILE        the model's config.json (posenc::hf::load_rope_config)
//   --layer-type NAME    for configs with one rope dict per attention type
//   --stack encoder|decoder   the stack of an encoder-decoder model (posenc::hf::Stack): T5's
//                        buckets, the tables of Whisper and Speech2Text
// Loading prints the importer's warnings on stderr as "posenc: warning: ..." lines.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "posenc/hf_config.hpp"

namespace posenc::cli {

struct ConfigArgs {
  std::string config, layer_type;
};

void add_config_options(CLI::App* sub, ConfigArgs& a);
// --stack encoder|decoder into `stack` ("" when not given).
// which: the models whose stacks differ for this command, in the help text.
CLI::Option* add_stack_option(CLI::App* sub, std::string& stack, const char* which);
// --format json (the only one), -o/--out FILE (default or "-": stdout), -q/--quiet: the outputs of alibi
// and t5-bucket.
void add_json_output_options(CLI::App* sub, std::string& format, std::string& out, bool& quiet);
// "" -> FromConfig, "encoder", "decoder".
hf::Stack stack_of(const std::string& stack);

// Prints an importer's warnings on stderr as "posenc: warning: ..." lines.
void print_warnings(const hf::ImportReport& report);

// "value [the config.json field it came from]" (just value when the report has no source for field).
std::string with_source(const hf::ImportReport& report, const std::string& value, const std::string& field);

// Prints the importer's warnings on stderr unless print_warnings is false.
hf::RopeImport load_config(const ConfigArgs& a, Precision precision, bool print_warnings = true);
// The same from a.config's text, already read (hf::read_config_text).
hf::RopeImport parse_config(const ConfigArgs& a, std::string_view text, Precision precision,
                            bool print_warnings = true);

// "half_split" / "interleaved".
const char* layout_name(PairLayout l);

}  // namespace posenc::cli
