// cli/cmd_train.cpp — `posenc train` and `posenc eval`: a Transformer with any encoding on the built-in
// tasks (copy, reverse, sort) or a language model on a text file (model/trainer.hpp).
//
//   posenc train [--task copy|reverse|sort|lm] [--data FILE] [--pe rope] [--layers 2 --heads 4 --dim 64]
//                [--len 16] [--batch 32 --steps 500 --lr 3e-3 --dropout 0 --seed 0]
//                [--checkpoint FILE [--resume]] [--metrics-csv FILE] [--metrics-json FILE]
//   posenc eval --checkpoint FILE [--lens 16,32,64] [--data FILE] [--json FILE]
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_error.hpp"
#include "commands.hpp"
#include "io/paths.hpp"
#include "json_text.hpp"
#include "pipeline_options.hpp"
#include "posenc/error.hpp"
#include "posenc/threads.hpp"
#include "validators.hpp"

namespace posenc::cli {
namespace {

struct TrainCmd {
  ModelArgs model;
  TaskArgs task;
  TrainArgs train;
};

void run_train(const TrainCmd& a) {
  const model::TrainConfig tc = make_train_config(a.train, a.task, a.model.seed);  // before the text is read
  TaskSetup s = make_task(a.task);
  const model::ModelConfig cfg = make_model_config(a.model, a.task, *s.task);
  if (tc.resume) check_resume_config(cfg, tc.checkpoint, a.task);
  check_fits_memory(cfg, tc.batch, s.task->input_length(a.task.len), a.task.len_option);
  const int threads = apply_threads(a.train.threads, cfg.dim);
  model::Transformer m(cfg);
  std::fprintf(stderr,
               "posenc train: %s\n  task %s, length <= %lld, batch %lld, %lld steps, lr %g, %d thread%s\n",
               describe_model(m).c_str(), a.task.task.c_str(), static_cast<long long>(a.task.len),
               static_cast<long long>(tc.batch), static_cast<long long>(tc.steps), tc.lr, threads,
               threads == 1 ? "" : "s");
  const model::TrainResult r = [&] {
    try {
      return model::train(m, *s.task, tc, s.info, &std::cerr);
    } catch (const posenc::Error& e) {
      // --resume with other options: the field that differs from the checkpoint, as an option.
      if (e.where() == "posenc::model::checkpoint") rethrow_in_option_words(e, a.task);
      throw;
    }
  }();
  const bool lm = s.task->kind() == model::TaskKind::Lm;
  if (r.stopped) {
    std::printf("stopped at step %lld of %lld (--stop-after); continue with --resume\n",
                static_cast<long long>(r.history.back().step), static_cast<long long>(tc.steps));
    if (!tc.checkpoint.empty()) std::printf("checkpoint: %s\n", tc.checkpoint.c_str());
    return;
  }
  std::printf("trained to step %lld: eval loss %.4f, %s %.4f at length %lld; %.0f tokens/s\n",
              static_cast<long long>(r.history.empty() ? 0 : r.history.back().step), r.final_eval.loss,
              lm ? "perplexity" : "accuracy", lm ? std::exp(r.final_eval.loss) : r.final_eval.accuracy,
              static_cast<long long>(a.task.len), r.tokens_per_s);
  if (!tc.checkpoint.empty()) std::printf("checkpoint: %s\n", tc.checkpoint.c_str());
  if (!tc.metrics_csv.empty()) std::printf("metrics: %s\n", tc.metrics_csv.c_str());
  if (!tc.metrics_json.empty()) std::printf("metrics: %s\n", tc.metrics_json.c_str());
}

struct EvalCmd {
  std::string checkpoint, lens, data, json;
  CLI::Option* lens_option = nullptr;
  int64_t sequences = 256, batch = 32;
  int threads = 0;
};

void run_eval(const EvalCmd& a) {
  if (a.checkpoint.empty()) throw CliError("--checkpoint: required");
  // Before the checkpoint is loaded: the sizes (CLI audit: --batch 0 crashed, --eval-sequences 0
  // reported a loss of 0), and no output over an input.
  if (a.batch < 1) throw CliError("--batch: " + std::to_string(a.batch) + " is invalid (allowed: >= 1)");
  if (a.sequences < 1)
    throw CliError("--eval-sequences: " + std::to_string(a.sequences) + " is invalid (allowed: >= 1)");
  if (a.threads < 0 || a.threads > posenc::kMaxThreads)
    throw CliError("--threads: " + std::to_string(a.threads) + " is invalid (allowed: 0 .. " +
                   std::to_string(posenc::kMaxThreads) + ", 0: automatic)");
  if (!a.json.empty()) io::check_writable_path(a.json, "--json");
  io::check_distinct_paths({{"--checkpoint", a.checkpoint}, {"--data", a.data}, {"--json", a.json}});
  model::Checkpoint meta;
  model::Transformer m = model::load_model(a.checkpoint, &meta);
  apply_threads(a.threads, meta.model.dim);
  const nlohmann::json train = nlohmann::json::parse(meta.train_json);
  TaskArgs t;
  t.task = meta.info.task;
  t.symbols = meta.info.symbols;
  t.len = train.at("train_len").get<int64_t>();
  t.data = a.data;
  std::unique_ptr<model::Tokenizer> tok;
  if (!meta.info.tokenizer.empty()) tok = model::deserialize_tokenizer(meta.info.tokenizer);
  TaskSetup s = make_task(t, tok.get());
  const std::vector<int64_t> lens =
      a.lens_option->count() == 0 ? std::vector<int64_t>{t.len} : parse_int_list(a.lens, "--lens");
  check_eval_fits_memory(meta.model, *s.task, lens, a.batch, a.sequences, "--lens");
  std::vector<LengthResult> results;
  try {
    results = evaluate_lengths(m, *s.task, lens, a.batch, a.sequences, train.at("seed").get<uint64_t>());
  } catch (const Error&) {  // the lengths' range was said in --lens's words by check_eval_fits_memory
    throw;
  } catch (const CliError&) {
    throw;
  } catch (const std::exception& e) {  // LibTorch's (out of memory for a long length, ...)
    const std::string what = e.what();
    throw CliError("--lens " + a.lens + ": the evaluation failed (" + what.substr(0, what.find('\n')) +
                   "); try shorter lengths or a smaller --batch");
  }
  const bool lm = s.task->kind() == model::TaskKind::Lm;
  std::printf("%s (step %lld), task %s\n", describe_model(m).c_str(), static_cast<long long>(meta.step),
              t.task.c_str());
  // order: the order sensitivity (model/order.hpp); shuffled: the metric with the context shuffled.
  std::printf("%8s %10s %12s %8s %12s\n", "length", "loss", lm ? "perplexity" : "accuracy", "order",
              lm ? "shuffled ppl" : "shuffled acc");
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const auto& r : results) {
    nlohmann::ordered_json j;
    j["eval_len"] = r.len;
    j["status"] = r.status;
    if (r.status == "ok") {
      const double metric = lm ? std::exp(r.eval.loss) : r.eval.accuracy;
      std::printf("%8lld %10.4f %12.4f", static_cast<long long>(r.len), r.eval.loss, metric);
      if (r.order.tokens > 0)
        std::printf(" %8.4f %12.4f\n", r.order.sensitivity,
                    lm ? std::exp(r.order.shuffled_loss) : r.order.shuffled_accuracy);
      else
        std::printf(" %8s %12s\n", "n/a", "n/a");
      j["loss"] = r.eval.loss;
      j[lm ? "ppl" : "accuracy"] = metric;
    } else {
      std::printf("%8lld %10s %12s   (%s)\n", static_cast<long long>(r.len), "n/a", "n/a", r.reason.c_str());
      j["loss"] = nullptr;
      j[lm ? "ppl" : "accuracy"] = nullptr;
      j["reason"] = r.reason;
    }
    j["order"] = order_json(r);
    rows.push_back(j);
  }
  std::printf(
      "order: the mean total variation between the next-token distributions with the %s in order "
      "and shuffled (0: order ignored, 1: predictions changed completely); %s: with it shuffled\n",
      lm ? "first half of each window" : "source x1..xn", lm ? "shuffled ppl" : "shuffled acc");
  if (!a.json.empty()) {
    nlohmann::ordered_json out;
    out["checkpoint"] = a.checkpoint;
    out["task"] = t.task;
    out["results"] = rows;
    write_text(a.json, out.dump(2) + "\n");
    std::printf("results: %s\n", a.json.c_str());
  }
}

}  // namespace

void register_train(CLI::App& app) {
  auto args = std::make_shared<TrainCmd>();
  CLI::App* sub = app.add_subcommand("train", "Train a small Transformer with a chosen positional encoding.");
  sub->footer(
      "Examples:\n"
      "  posenc train --task copy --pe rope --steps 600 --checkpoint copy.pt --checkpoint-every 100\n"
      "  posenc train --task lm --data book.txt --tokenizer char --len 128 --pe alibi\n"
      "  posenc train --task copy --pe rope --steps 600 --checkpoint copy.pt --checkpoint-every 100 "
      "--resume\n"
      "      (continue a killed run from its last checkpoint: the options of the run that wrote it, plus\n"
      "      --resume; without --checkpoint-every a killed run leaves no checkpoint)");
  add_model_options(sub, args->model);
  add_task_options(sub, args->task);
  add_train_options(sub, args->train);
  sub->callback([args] { run_train(*args); });
}

void register_eval(CLI::App& app) {
  auto args = std::make_shared<EvalCmd>();
  EvalCmd& a = *args;
  CLI::App* sub =
      app.add_subcommand("eval", "Evaluate a checkpoint on held-out data, at one or more lengths.");
  sub->footer("Example:\n  posenc eval --checkpoint copy.pt --lens 16,32,64");
  sub->add_option("--checkpoint", a.checkpoint, "Checkpoint written by posenc train")
      ->required()
      ->type_name("FILE");
  a.lens_option = sub->add_option("--lens", a.lens, "Comma-separated lengths (default: the training length)");
  sub->add_option("--data", a.data, "Text file, required for lm checkpoints: validated on its last 10%")
      ->type_name("FILE");
  sub->add_option("--eval-sequences", a.sequences, "Held-out sequences per length")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--batch", a.batch, "Sequences per batch")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--threads", a.threads, "Threads (0: 1 for --dim <= 128, else all cores)")
      ->capture_default_str()
      ->transform(decimal_integer<int>());
  sub->add_option("--json", a.json, "Write the results as JSON")->type_name("FILE");
  sub->callback([args] { run_eval(*args); });
}

}  // namespace posenc::cli
