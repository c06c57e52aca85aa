// cli/cmd_demo.cpp — `posenc demo [TEXT]`: the whole pipeline on one sentence, step by step.
//
//   tokens -> token embeddings E[id] -> positional encodings PE(pos) -> their sum (the model's input,
//   posenc's fused kernel) -> the Transformer's output; then order: the same tokens shuffled, through a
//   bidirectional encoder without PE (outputs are the shuffled outputs: permutation equivariance) and
//   with PE (they are not). Pictures in --out: PE heatmap, PE similarity matrix, attention map.
// Random weights (seeded) by default; --checkpoint uses a trained model (and its tokenizer).
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cli_error.hpp"
#include "commands.hpp"
#include "io/atomic_file.hpp"
#include "model/trainer.hpp"
#include "pipeline_options.hpp"
#include "pipeline_plots.hpp"
#include "posenc/alibi.hpp"
#include "posenc/sinusoidal.hpp"
#include "posenc/t5_bias.hpp"
#include "validators.hpp"

namespace posenc::cli {
namespace {

constexpr const char* kSeedSentence = "The quick brown fox jumps.";

struct DemoArgs {
  std::string text = kSeedSentence;
  ModelArgs model;
  std::string checkpoint, out = "out/demo";
  int64_t show = 6, plot_positions = 64;
  bool no_plots = false;
};

std::string fmt_vec(const at::Tensor& row, int64_t show) {
  const at::Tensor r = row.to(at::kFloat).contiguous();
  std::string s = "[";
  const int64_t n = std::min<int64_t>(show, r.size(0));
  char buf[32];
  for (int64_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%s%7.3f", i ? " " : "", r[i].item<float>());
    s += buf;
  }
  if (n < r.size(0)) s += "  ...";
  return s + " ]";
}

std::string pad(std::string s, size_t w) {
  // display width ~ code points (UTF-8 continuation bytes do not count)
  size_t cps = 0;
  for (unsigned char c : s) cps += (c & 0xC0) != 0x80;
  if (cps < w) s += std::string(w - cps, ' ');
  return s;
}

// Copies every parameter of `from` whose name and shape exist in `to` (the rest of `to` keeps its init).
void copy_matching(model::Transformer& from, model::Transformer& to) {
  torch::NoGradGuard ng;
  const auto src = from->named_parameters();
  for (auto& p : to->named_parameters()) {
    const at::Tensor* s = src.find(p.key());
    if (s && s->sizes() == p.value().sizes()) p.value().copy_(*s);
  }
}

// max |f(P x) - P f(x)| and its size relative to max |f(x)|.
std::pair<double, double> order_gap(model::Transformer& m, const at::Tensor& ids, const at::Tensor& perm) {
  torch::NoGradGuard ng;
  m->eval();
  const at::Tensor out = m->hidden(ids), out_p = m->hidden(ids.index_select(1, perm));
  const double gap = (out_p - out.index_select(1, perm)).abs().max().item<double>();
  return {gap, gap / std::max(1e-30, out.abs().max().item<double>())};
}

void write_png(const std::filesystem::path& path, const MatrixPlot& plot) {
  io::AtomicFile f(path.string());
  render_matrix(plot, f.temp_path());
  f.commit();
}

MatrixPlot matrix_of(const at::Tensor& t, std::string title, std::string x, std::string y) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  MatrixPlot p;
  p.title = std::move(title);
  p.x_label = std::move(x);
  p.y_label = std::move(y);
  p.rows = c.size(0);
  p.cols = c.size(1);
  p.values.assign(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  return p;
}

void run_demo(const DemoArgs& a) {
  if (a.show < 1) throw CliError("--show: " + std::to_string(a.show) + " is invalid (allowed: >= 1)");
  // A picture of more rows than it has pixels shows nothing more (and the model would need them all).
  if (a.plot_positions < 2 || a.plot_positions > 4096)
    throw CliError("--plot-positions: " + std::to_string(a.plot_positions) +
                   " is invalid (allowed: 2 .. 4096)");
  // The pictures' directory first (CLI audit: an --out that is a file failed only after the demo).
  if (!a.no_plots) {
    std::error_code ec;
    std::filesystem::create_directories(a.out, ec);
    if (ec) throw CliError("--out: cannot create '" + a.out + "': " + ec.message());
  }
  // ---- tokenizer and model -------------------------------------------------------------------------
  std::unique_ptr<model::Tokenizer> tok;
  model::Transformer m{nullptr};
  std::string source;
  if (!a.checkpoint.empty()) {
    model::Checkpoint meta;
    m = model::load_model(a.checkpoint, &meta);
    if (meta.info.tokenizer.empty())
      throw CliError("--checkpoint: '" + a.checkpoint + "' was trained on the " + meta.info.task +
                     " task, which has no text tokenizer (train one with --task lm --data FILE)");
    tok = model::deserialize_tokenizer(meta.info.tokenizer);
    source = "trained weights from " + a.checkpoint + " (step " + std::to_string(meta.step) + ")";
  } else {
    tok = model::build_word_tokenizer(a.text);
  }
  const std::vector<int64_t> ids_v = tok->encode(a.text);  // OOV: posenc::Error naming the word/char
  const int64_t n = static_cast<int64_t>(ids_v.size());
  if (n < 1) throw CliError("TEXT: no tokens in '" + a.text + "'");
  if (!m) {
    model::ModelConfig c;
    c.vocab_size = tok->vocab_size();
    c.dim = a.model.dim;
    c.layers = a.model.layers;
    c.heads = a.model.heads;
    c.kv_heads = a.model.kv_heads;
    c.ff_mult = a.model.ff_mult;
    c.causal = false;  // the demo's model is a bidirectional encoder (see the order step)
    c.pe = model::parse_pe_kind(a.model.pe);
    c.max_positions = std::max<int64_t>({n, a.plot_positions, a.model.max_positions});
    c.seed = a.model.seed;
    c.rope_base = a.model.rope_base;
    if (c.dim < 1 || c.layers < 1 || c.heads < 1 || c.dim % c.heads != 0)
      throw CliError(
          "--dim/--heads/--layers: need positive sizes with --dim a multiple of --heads (got dim " +
          std::to_string(c.dim) + ", heads " + std::to_string(c.heads) + ", layers " +
          std::to_string(c.layers) + ")");
    check_fits_memory(c, 1, n, "TEXT", /*training=*/false);
    m = model::Transformer(c);
    source = "random weights (seed " + std::to_string(c.seed) + ")";
  }
  if (m->max_length() >= 0 && n > m->max_length())
    throw CliError("TEXT: " + std::to_string(n) + " tokens, more than the learned table's " +
                   std::to_string(m->max_length()) + " positions (--ctx larger than the learned table)");
  apply_threads(0, m->cfg.dim);
  m->eval();
  torch::NoGradGuard ng;
  const model::ModelConfig& cfg = m->cfg;
  const at::Tensor ids = at::tensor(ids_v, at::kLong).view({1, n});
  std::vector<std::string> pieces;
  for (int64_t id : ids_v) pieces.push_back(tok->id_to_piece(id));

  std::printf("posenc demo: \"%s\"\n", a.text.c_str());
  std::printf("model: %s; %s\n\n", describe_model(m).c_str(), source.c_str());

  // ---- 1. tokens ----------------------------------------------------------------------------------
  std::printf("1. Tokens (%s tokenizer): %lld\n", model::to_string(tok->kind()), static_cast<long long>(n));
  std::printf("   %-4s %-12s %s\n", "pos", "token", "id");
  for (int64_t i = 0; i < n; ++i)
    std::printf("   %-4lld %s %lld\n", static_cast<long long>(i),
                pad(pieces[static_cast<size_t>(i)], 12).c_str(),
                static_cast<long long>(ids_v[static_cast<size_t>(i)]));

  // ---- 2. embeddings ---------------------------------------------------------------------------------
  const float scale = embed_scale(m->tok->options.scale, cfg.dim);
  const at::Tensor E = m->tok->weight.index_select(0, ids.view({-1})) * scale;
  std::printf("\n2. Token embeddings E[id]%s (first %lld of %lld dims)\n",
              scale != 1.0f ? " * sqrt(dim)" : "", static_cast<long long>(std::min(a.show, cfg.dim)),
              static_cast<long long>(cfg.dim));
  for (int64_t i = 0; i < n; ++i)
    std::printf("   %s %s\n", pad(pieces[static_cast<size_t>(i)], 10).c_str(), fmt_vec(E[i], a.show).c_str());

  // ---- 3. positional encodings ----------------------------------------------------------------------
  at::Tensor pe;  // [n, dim] when the encoding is a vector added to the input
  std::printf("\n3. Positional encoding (%s)\n", model::to_string(cfg.pe));
  switch (cfg.pe) {
    case model::PeKind::Sinusoidal: {
      const SinusoidalConfig sc = m->tok->options.sinusoidal;
      const std::vector<float> t = sinusoidal_table(sc, n);
      pe = at::from_blob(const_cast<float*>(t.data()), {n, cfg.dim}, at::kFloat).clone();
      std::printf(
          "   PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(p / 10000^(2i/d)), d = %lld; exact to "
          "fp32\n",
          static_cast<long long>(cfg.dim));
      break;
    }
    case model::PeKind::Learned:
      pe = m->tok->pe_weight.slice(0, 0, n).detach().clone();
      std::printf("   rows 0..%lld of the learned table W [%lld x %lld] (%s)\n",
                  static_cast<long long>(n - 1), static_cast<long long>(cfg.max_positions),
                  static_cast<long long>(cfg.dim),
                  a.checkpoint.empty() ? "initialised N(0, 0.02^2), trained with the model" : "trained");
      break;
    case model::PeKind::Rope: {
      const RopeFrequencies f = rope_frequencies(cfg.rope_config());
      std::printf(
          "   nothing is added: in every attention layer q and k at position p are rotated pairwise by\n"
          "   angles p * w_i, w_i = %g^(-2i/%lld), so q.k depends on positions only through their "
          "difference.\n"
          "   Angles (radians) of the first frequencies:\n",
          cfg.rope_base, static_cast<long long>(cfg.head_dim()));
      for (int64_t i = 0; i < n; ++i) {
        std::printf("   pos %-3lld", static_cast<long long>(i));
        for (size_t k = 0; k < std::min<size_t>(4, f.inv_freq.size()); ++k)
          std::printf(" %9.4f", static_cast<double>(i) * f.inv_freq[k]);
        std::printf("  ...\n");
      }
      break;
    }
    case model::PeKind::Alibi: {
      const auto s = alibi_slopes(cfg.heads);
      std::printf("   nothing is added: attention scores get -slope_h * |i - j|; slopes per head:");
      for (double v : s) std::printf(" %.4g", v);
      std::printf("\n");
      break;
    }
    case model::PeKind::T5: {
      const T5BiasConfig tc{cfg.t5_buckets, cfg.t5_max_distance, !cfg.causal};
      std::printf(
          "   nothing is added: scores get a learned scalar per (bucket of key - query, head);\n"
          "   buckets of the distances -3..3:");
      for (int d = -3; d <= 3; ++d) std::printf(" %lld", static_cast<long long>(t5_relative_bucket(d, tc)));
      std::printf("\n");
      break;
    }
    case model::PeKind::None:
      std::printf(
          "   none (NoPE): the model gets no position information apart from a causal mask, if any\n");
      break;
  }
  if (pe.defined())
    for (int64_t i = 0; i < n; ++i)
      std::printf("   pos %-4lld %s\n", static_cast<long long>(i), fmt_vec(pe[i], a.show).c_str());

  // ---- 4. the sum -------------------------------------------------------------------------------------
  const at::Tensor x = m->embed(ids)[0];
  std::printf("\n4. Input to the Transformer: E[id]%s%s (posenc's fused embedding kernel)\n",
              scale != 1.0f ? " * sqrt(dim)" : "", pe.defined() ? " + PE(pos)" : "");
  for (int64_t i = 0; i < n; ++i)
    std::printf("   %s %s\n", pad(pieces[static_cast<size_t>(i)], 10).c_str(), fmt_vec(x[i], a.show).c_str());
  const at::Tensor unfused = pe.defined() ? E + pe : E;
  if (pe.defined())
    std::printf("   max |fused - (E + PE) computed separately| = %.3g\n",
                (x - unfused).abs().max().item<double>());
  else  // nothing added here: the encoding (if any) acts inside attention
    std::printf("   max |fused - E computed separately| = %.3g (no PE is added to the input%s)\n",
                (x - unfused).abs().max().item<double>(),
                cfg.pe == model::PeKind::None ? "" : ": this encoding acts inside attention");

  // ---- 5. output ----------------------------------------------------------------------------------------
  const at::Tensor h = m->hidden(ids, /*keep_weights=*/true)[0];
  std::printf("\n5. Transformer output (%s, %lld pre-norm layers): final hidden state per token\n",
              cfg.causal ? "causal decoder" : "bidirectional encoder", static_cast<long long>(cfg.layers));
  for (int64_t i = 0; i < n; ++i)
    std::printf("   %s %s\n", pad(pieces[static_cast<size_t>(i)], 10).c_str(), fmt_vec(h[i], a.show).c_str());
  if (!a.checkpoint.empty()) {
    const at::Tensor next = m->head(h).argmax(-1);
    std::printf("   next-token predictions:");
    for (int64_t i = 0; i < n; ++i) std::printf(" %s", tok->id_to_piece(next[i].item<int64_t>()).c_str());
    std::printf("\n");
  }

  // ---- 6. order ----------------------------------------------------------------------------------------
  std::printf("\n6. Order: the same tokens shuffled\n");
  if (n < 2) {
    std::printf("   (one token: nothing to shuffle)\n");
  } else {
    std::vector<int64_t> perm_v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) perm_v[static_cast<size_t>(i)] = i;
    std::mt19937 rng(static_cast<uint32_t>(cfg.seed + 1));
    do std::shuffle(perm_v.begin(), perm_v.end(), rng);
    while (std::is_sorted(perm_v.begin(), perm_v.end()));
    const at::Tensor perm = at::tensor(perm_v, at::kLong);
    std::printf("   shuffled:");
    for (int64_t p : perm_v) std::printf(" %s", pieces[static_cast<size_t>(p)].c_str());
    std::printf("\n   distance = max |f(shuffled tokens) - shuffled(f(tokens))| (relative to max |f|)\n");
    auto variant = [&](model::PeKind pe_kind, bool causal) {
      model::ModelConfig c = cfg;
      c.pe = pe_kind;
      c.causal = causal;
      c.max_positions = std::max<int64_t>(c.max_positions, n);
      model::Transformer v(c);
      copy_matching(m, v);
      return v;
    };
    const model::PeKind with = cfg.pe == model::PeKind::None ? model::PeKind::Sinusoidal : cfg.pe;
    auto enc_none = variant(model::PeKind::None, false), enc_pe = variant(with, false);
    auto dec_none = variant(model::PeKind::None, true);
    const auto g0 = order_gap(enc_none, ids, perm), g1 = order_gap(enc_pe, ids, perm),
               g2 = order_gap(dec_none, ids, perm);
    std::printf(
        "   bidirectional encoder, no PE:        %9.3g  (%.2g)  permutation-equivariant: it sees a bag of "
        "tokens\n",
        g0.first, g0.second);
    std::printf("   bidirectional encoder, %-12s %9.3g  (%.2g)  order changes the output\n",
                (std::string(model::to_string(with)) + ":").c_str(), g1.first, g1.second);
    std::printf("   causal decoder, no PE:               %9.3g  (%.2g)  the causal mask itself leaks order\n",
                g2.first, g2.second);
  }

  // ---- 7. pictures --------------------------------------------------------------------------------------
  if (a.no_plots) return;
  const std::filesystem::path dir(a.out);
  std::vector<std::string> written;
  const int64_t P = std::max(a.plot_positions, n);
  const std::string pe_name = model::to_string(cfg.pe);
  at::Tensor table;  // [P, k] vectors whose dot products tell how positions relate
  if (cfg.pe == model::PeKind::Sinusoidal) {
    const std::vector<float> t = sinusoidal_table(m->tok->options.sinusoidal, P);
    table = at::from_blob(const_cast<float*>(t.data()), {P, cfg.dim}, at::kFloat).clone();
    write_png(dir / "pe_heatmap.png", matrix_of(table, "sinusoidal PE, positions 0.." + std::to_string(P - 1),
                                                "dimension", "position"));
  } else if (cfg.pe == model::PeKind::Learned) {
    table = m->tok->pe_weight.slice(0, 0, std::min(P, cfg.max_positions)).detach().clone();
    write_png(dir / "pe_heatmap.png",
              matrix_of(table,
                        std::string("learned PE (") +
                            (a.checkpoint.empty() ? "at initialisation" : "trained") + ")",
                        "dimension", "position"));
  } else if (cfg.pe == model::PeKind::Rope) {
    const RopeFrequencies f = rope_frequencies(cfg.rope_config());
    const at::Tensor w = at::tensor(f.inv_freq, at::kDouble);
    const at::Tensor ang = at::outer(at::arange(P, at::kDouble), w);  // [P, r/2]
    write_png(dir / "pe_heatmap.png", matrix_of(ang.cos(), "RoPE: cos(p w_i) of each rotation pair",
                                                "frequency index i", "position"));
    // A unit vector rotated to each position: its dot products depend only on p - q.
    table = at::cat({ang.cos(), ang.sin()}, 1) / std::sqrt(static_cast<double>(w.size(0)));
  } else if (cfg.pe == model::PeKind::Alibi || cfg.pe == model::PeKind::T5) {
    const int64_t Q = std::min<int64_t>(P, 64);
    at::Tensor bias;
    if (cfg.pe == model::PeKind::Alibi) {
      AlibiConfig ac;
      ac.num_heads = cfg.heads;
      bias = libtorch::alibi_bias(ac, Q, Q);
    } else {
      bias = m->t5(Q, Q, 0).detach();
    }
    MatrixPlot p = matrix_of(bias[0], pe_name + " attention bias, head 0 (query x key)", "key position",
                             "query position");
    write_png(dir / "pe_heatmap.png", p);
  }
  if (cfg.pe != model::PeKind::None) written.push_back("pe_heatmap.png");
  if (table.defined()) {
    const std::string what = cfg.pe == model::PeKind::Rope
                                 ? "rope: (R_p u) . (R_q u), one unit vector rotated to p and to q"
                                 : pe_name + ": PE(p) . PE(q)";
    MatrixPlot p = matrix_of(at::matmul(table, table.t()), what, "position q", "position p");
    write_png(dir / "pe_similarity.png", p);
    written.push_back("pe_similarity.png");
  }
  const std::vector<at::Tensor> att = m->attention_weights();
  if (!att.empty() && att[0].defined()) {
    MatrixPlot p =
        matrix_of(att[0][0].mean(0), "attention weights, layer 1 (mean over heads)", "key", "query");
    p.row_labels = pieces;
    p.col_labels = pieces;
    p.scale = MatrixPlot::Scale::Sequential;
    p.value_range = 0;
    p.annotate = n <= 12;
    write_png(dir / "attention.png", p);
    written.push_back("attention.png");
  }
  std::printf("\n7. Pictures written to %s/:\n", a.out.c_str());
  for (const auto& w : written) std::printf("   %s\n", (dir / w).string().c_str());
  if (cfg.pe == model::PeKind::None)
    std::printf("   (no PE: no PE heatmap or similarity matrix)\n");
  else if (!table.defined())
    std::printf("   (%s adds no vectors: the heatmap shows its attention bias; no similarity matrix)\n",
                pe_name.c_str());
}

}  // namespace

void register_demo(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  DemoArgs& a = *args;
  a.model.dim = 16;
  CLI::App* sub = app.add_subcommand(
      "demo", "The pipeline step by step on one sentence: tokens, embeddings, PE, sum, Transformer, order.");
  sub->footer(
      "Examples:\n  posenc demo\n  posenc demo \"A man bites a dog.\" --pe rope --out out/rope\n"
      "  posenc demo \"some text\" --checkpoint lm.pt");
  sub->add_option("text", a.text, "Text to run (default: \"The quick brown fox jumps.\")");
  sub->add_option("--pe", a.model.pe, "none, sinusoidal, learned, rope, alibi, t5")->capture_default_str();
  sub->add_option("--dim", a.model.dim, "Model width")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--layers", a.model.layers, "Layers")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--heads", a.model.heads, "Heads")
      ->capture_default_str()
      ->transform(decimal_integer<int64_t>());
  sub->add_option("--seed", a.model.seed, "Seed of the random weights")
      ->capture_default_str()
      ->transform(decimal_integer<uint64_t>());
  sub->add_option("--checkpoint", a.checkpoint,
                  "Use a trained model (posenc train --task lm) and its tokenizer")
      ->type_name("FILE");
  sub->add_option("--show", a.show, "Dimensions printed per vector")->capture_default_str();
  sub->add_option("--plot-positions", a.plot_positions, "Positions in the PE pictures")
      ->capture_default_str();
  sub->add_option("-o,--out", a.out, "Directory for the pictures")->capture_default_str();
  sub->add_flag("--no-plots", a.no_plots, "Print only");
  sub->callback([args] { run_demo(*args); });
}

}  // namespace posenc::cli
