// cli/commands.hpp — the subcommands of `posenc`.
//
// Each subcommand lives in cmd_<name>.cpp and has one entry point that adds it to the app: its
// options, their help, and a callback that does the work (throwing CliError / posenc::Error; main()
// reports them). To add a subcommand, write cmd_<name>.cpp, declare register_<name>() here, call it
// from main.cpp and list the file in cli/CMakeLists.txt.
#pragma once

#include <CLI/CLI.hpp>

namespace posenc::cli {

// posenc table: a positional-encoding table as json/csv/npy/safetensors, optionally with a heatmap.
void register_table(CLI::App& app);
// posenc rope: a model's RoPE from its HF config.json (frequencies, cos/sin; --apply to a .npy).
void register_rope(CLI::App& app);
// posenc alibi: ALiBi slopes per head.
void register_alibi(CLI::App& app);
// posenc t5-bucket: T5 relative-position buckets.
void register_t5(CLI::App& app);
// posenc inspect: what a config.json's RoPE does, in words and a wavelength plot.
void register_inspect(CLI::App& app);
// posenc bench: the benchmark suite as one table (posenc vs memcpy vs LibTorch eager GB/s).
void register_bench(CLI::App& app);

#ifdef POSENC_CLI_PIPELINE_FORWARD
// demo / train / eval / extrapolate in `posenc`: run posenc-pipeline with the same arguments.
void register_pipeline_forwarders(CLI::App& app);
#endif

// The pipeline commands, in posenc-pipeline (built when LibTorch is found, cli/CMakeLists.txt).
// posenc demo: the pipeline step by step on one sentence, with pictures.
void register_demo(CLI::App& app);
// posenc train / eval: a small Transformer with any encoding on built-in tasks or a text file.
void register_train(CLI::App& app);
void register_eval(CLI::App& app);
// posenc extrapolate: one model per encoding, evaluated past its training length.
void register_extrapolate(CLI::App& app);

}  // namespace posenc::cli
