// cli/cmd_extrapolate.cpp — `posenc extrapolate`: one model per encoding, trained on lengths <= L and
// evaluated at longer lengths; results.json, results.md, extrapolation.png and order.png in --out.
//
// Every model has the same size, data, seed and schedule; only --pe differs. A learned table cannot
// encode positions past its rows: those cells are "not_applicable", never clamped.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_error.hpp"
#include "commands.hpp"
#include "io/atomic_file.hpp"
#include "json_text.hpp"
#include "pipeline_options.hpp"
#include "pipeline_plots.hpp"

namespace posenc::cli {
namespace {

struct ExtrapolateArgs {
  ModelArgs model;
  TaskArgs task;
  TrainArgs train;
  std::string pes = "none,sinusoidal,learned,rope,alibi,t5", eval_lens, out = "out/extrapolate";
  // Options of train that extrapolate does not use: hidden from --help, refused when given.
  struct Unused {
    const char* name;
    CLI::Option* option;
    const char* why;
  };
  std::vector<Unused> unused;
};

void run_extrapolate(const ExtrapolateArgs& a) {
  const std::vector<std::string> pes = parse_name_list(a.pes, "--pes", "distinct encodings, comma-separated");
  for (const auto& p : pes) model::parse_pe_kind(p);  // unknown names fail before any training
  // Before make_train_config, which would check these options' paths and pairing first.
  for (const auto& u : a.unused)
    if (u.option->count() > 0)
      throw CliError(std::string(u.name) + ": not used by extrapolate (" + u.why + ")");
  const model::TrainConfig tc = make_train_config(a.train, a.task, a.model.seed);
  const int64_t L = a.task.len;
  const std::vector<int64_t> lens = a.eval_lens.empty() ? std::vector<int64_t>{L, 2 * L, 4 * L, 8 * L}
                                                        : parse_int_list(a.eval_lens, "--eval-lens");
  TaskSetup s = make_task(a.task);
  const bool lm = s.task->kind() == model::TaskKind::Lm;
  // Every model's training and evaluation sizes are checked before the first one trains (and
  // before --out is created).
  std::vector<model::ModelConfig> cfgs;
  for (const std::string& pe : pes) {
    ModelArgs ma = a.model;
    ma.pe = pe;
    if (ma.pe != "rope") ma.rope_scaling = "default";  // --rope-scaling is for the rope model
    cfgs.push_back(make_model_config(ma, a.task, *s.task));
    check_fits_memory(cfgs.back(), tc.batch, s.task->input_length(a.task.len), a.task.len_option);
    check_eval_fits_memory(cfgs.back(), *s.task, lens, tc.batch, tc.eval_sequences, "--eval-lens");
  }
  std::error_code ec;
  std::filesystem::create_directories(a.out, ec);
  if (ec) throw CliError("--out: cannot create '" + a.out + "': " + ec.message());

  nlohmann::ordered_json config;
  config["task"] = a.task.task;
  if (lm) {
    config["data"] = a.task.data;
    config["tokenizer"] = a.task.tokenizer;
  } else {
    config["symbols"] = a.task.symbols;
  }
  config["train_len"] = L;
  config["eval_lens"] = lens;
  config["pes"] = pes;
  config["layers"] = a.model.layers;
  config["heads"] = a.model.heads;
  config["kv_heads"] = a.model.kv_heads;
  config["dim"] = a.model.dim;
  config["dropout"] = a.model.dropout;
  config["steps"] = tc.steps;
  config["batch"] = tc.batch;
  config["lr"] = tc.lr;
  config["seed"] = a.model.seed;
  config["eval_sequences"] = tc.eval_sequences;
  config["length_means"] = lm ? "window of tokens" : "content length n (input 2n+1 tokens)";

  nlohmann::ordered_json results = nlohmann::ordered_json::array(),
                         training = nlohmann::ordered_json::array();
  std::vector<LineSeries> series, order_series;
  std::vector<std::vector<LengthResult>> table;
  int threads = 0;
  for (size_t k = 0; k < pes.size(); ++k) {
    const model::ModelConfig& cfg = cfgs[k];
    threads = apply_threads(a.train.threads, cfg.dim);
    model::Transformer m(cfg);
    std::fprintf(stderr, "[%zu/%zu] %s: %s\n", k + 1, pes.size(), pes[k].c_str(), describe_model(m).c_str());
    model::TrainConfig t = tc;
    model::TrainResult r = model::train(m, *s.task, t, s.info, &std::cerr);
    const auto cells = evaluate_lengths(m, *s.task, lens, tc.batch, tc.eval_sequences, tc.seed);
    LineSeries line, order_line;
    line.name = order_line.name = pes[k];
    for (const auto& c : cells) {
      nlohmann::ordered_json j;
      j["pe"] = pes[k];
      j["eval_len"] = c.len;
      if (c.status == "ok") {
        j["loss"] = c.eval.loss;
        if (lm)
          j["ppl"] = std::exp(c.eval.loss);
        else
          j["accuracy"] = c.eval.accuracy;
      } else {
        j["loss"] = nullptr;
        j[lm ? "ppl" : "accuracy"] = nullptr;
        j["reason"] = c.reason;
      }
      j["status"] = c.status;
      j["order"] = order_json(c);
      results.push_back(j);
      line.x.push_back(static_cast<double>(c.len));
      line.y.push_back(c.status != "ok" ? NAN : lm ? c.eval.loss : c.eval.accuracy);
      order_line.x.push_back(static_cast<double>(c.len));
      order_line.y.push_back(c.status != "ok" || c.order.tokens == 0 ? NAN : c.order.sensitivity);
    }
    nlohmann::ordered_json tr;
    tr["pe"] = pes[k];
    tr["final_train_loss"] = r.history.empty() ? 0.0 : r.history.back().loss;
    tr["seconds"] = r.history.empty() ? 0.0 : r.history.back().elapsed_s;
    tr["tokens_per_s"] = r.tokens_per_s;
    training.push_back(tr);
    series.push_back(line);
    order_series.push_back(order_line);
    table.push_back(cells);
  }
  config["threads"] = threads;

  nlohmann::ordered_json doc;
  doc["config"] = config;
  doc["results"] = results;
  doc["training"] = training;
  const std::filesystem::path dir(a.out);
  write_text((dir / "results.json").string(), doc.dump(2) + "\n");

  // results.md: one row per encoding, one column per length.
  const char* metric =
      lm ? "validation loss (nats/token; perplexity in parentheses)" : "accuracy on the output tokens";
  std::string md =
      "# Length extrapolation: " + a.task.task + ", trained on length <= " + std::to_string(L) + "\n\n";
  md += "Each cell: " + std::string(metric) + ". n/a: a learned table has no rows for those positions.\n";
  md += "Model: " + std::to_string(a.model.layers) + " layers, dim " + std::to_string(a.model.dim) + ", " +
        std::to_string(a.model.heads) + " heads; " + std::to_string(tc.steps) + " steps, batch " +
        std::to_string(tc.batch) + ", seed " + std::to_string(a.model.seed) + ".\n\n";
  // One table: a row per encoding, a column per length; cell(c) formats an "ok" cell ("" for n/a).
  const auto add_table = [&](const auto& cell) {
    md += "| pe |";
    for (int64_t len : lens) md += " " + std::to_string(len) + (len == L ? " (train)" : "") + " |";
    md += "\n|---|";
    for (size_t i = 0; i < lens.size(); ++i) md += "---:|";
    md += "\n";
    for (size_t k = 0; k < pes.size(); ++k) {
      md += "| " + pes[k] + " |";
      for (const auto& c : table[k]) {
        const std::string text = c.status == "ok" ? cell(c) : "";
        md += " " + (text.empty() ? std::string("n/a") : text) + " |";
      }
      md += "\n";
    }
  };
  const auto fmt = [](const char* format, double x, double y) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, x, y);
    return std::string(buf);
  };
  add_table([&](const LengthResult& c) {
    return lm ? fmt("%.3f (%.1f)", c.eval.loss, std::exp(c.eval.loss)) : fmt("%.3f", c.eval.accuracy, 0.0);
  });
  // The same cells' order sensitivity (model/order.hpp).
  md +=
      "\nOrder sensitivity: the mean total variation distance between the model's next-token "
      "distributions with the " +
      std::string(lm ? "first half of each window" : "source tokens x1 .. xn") +
      " in order and randomly shuffled, at the " + std::string(lm ? "second half's" : "output") +
      " positions (0: the order is ignored; 1: the predictions change completely). In parentheses: the " +
      std::string(lm ? "perplexity" : "accuracy") + " with the shuffled input (same targets).\n\n";
  add_table([&](const LengthResult& c) {
    if (c.order.tokens == 0) return std::string();
    return fmt(lm ? "%.3f (%.1f)" : "%.3f (%.3f)", c.order.sensitivity,
               lm ? std::exp(c.order.shuffled_loss) : c.order.shuffled_accuracy);
  });
  write_text((dir / "results.md").string(), md);

  LinePlot plot;
  plot.title = "Length extrapolation (" + a.task.task + ", trained on length <= " + std::to_string(L) + ")";
  plot.x_label = lm ? "evaluation window (tokens)" : "evaluation length n";
  plot.y_label = lm ? "validation loss (nats/token)" : "accuracy";
  plot.series = series;
  plot.log2_x = true;
  plot.marker_x = static_cast<double>(L);
  plot.marker_label = "train length";
  {
    io::AtomicFile f((dir / "extrapolation.png").string());
    render_lines(plot, f.temp_path());
    f.commit();
  }
  plot.title = "Order sensitivity (" + a.task.task + ", trained on length <= " + std::to_string(L) + ")";
  plot.y_label = "mean total variation, context shuffled";
  plot.series = order_series;
  {
    io::AtomicFile f((dir / "order.png").string());
    render_lines(plot, f.temp_path());
    f.commit();
  }
  std::printf("\n%s", md.c_str());
  std::printf("\nwrote %s, %s, %s, %s\n", (dir / "results.json").string().c_str(),
              (dir / "results.md").string().c_str(), (dir / "extrapolation.png").string().c_str(),
              (dir / "order.png").string().c_str());
}

}  // namespace

void register_extrapolate(CLI::App& app) {
  auto args = std::make_shared<ExtrapolateArgs>();
  ExtrapolateArgs& a = *args;
  a.task.len = 8;
  a.task.symbols = 8;
  a.train.steps = 1000;
  CLI::App* sub = app.add_subcommand(
      "extrapolate", "Train one model per encoding on short sequences; evaluate on longer ones.");
  sub->footer(
      "Examples:\n  posenc extrapolate                       (copy task, all encodings, a few minutes)\n"
      "  posenc extrapolate --task lm --data book.txt --tokenizer char --train-len 64 --eval-lens "
      "64,128,256\n"
      "Length: for copy/reverse/sort the content length n (inputs of 2n+1 tokens); for lm the window.");
  sub->add_option("--pes", a.pes, "Encodings to compare")->capture_default_str();
  sub->add_option("--train-len", a.task.len, "Longest training length L")->capture_default_str();
  sub->add_option("--eval-lens", a.eval_lens, "Evaluation lengths (default: L,2L,4L,8L)");
  sub->add_option("-o,--out", a.out, "Directory for results.json, results.md, extrapolation.png, order.png")
      ->capture_default_str();
  add_model_options(sub, a.model);
  add_task_options(sub, a.task);
  add_train_options(sub, a.train);
  a.task.len_option = "--train-len";
  sub->get_option("--len")->group("");  // train's name of --train-len, still accepted
  const char* one_run = "it trains one model per encoding and keeps none";
  for (const auto& [name, why] : std::vector<std::pair<const char*, const char*>>{
           {"--pe", "it trains each encoding of --pes"},
           {"--checkpoint", one_run},
           {"--checkpoint-every", one_run},
           {"--resume", one_run},
           {"--stop-after", one_run},
           {"--metrics-csv",
            "it trains one model per encoding; results.json has each one's training summary"},
           {"--metrics-json",
            "it trains one model per encoding; results.json has each one's training summary"}}) {
    CLI::Option* o = sub->get_option(name);
    o->group("");
    a.unused.push_back({name, o, why});
  }
  sub->callback([args] { run_extrapolate(*args); });
}

}  // namespace posenc::cli
