// cli/encoding_explain.cpp — see encoding_explain.hpp.
#include "encoding_explain.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <vector>

#include "hf_options.hpp"
#include "posenc/alibi.hpp"
#include "posenc/t5_bias.hpp"

namespace posenc::cli {
namespace {

std::string g(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.8g", v);
  return buf;
}

std::string opening(const hf::ImportReport& imp, const std::string& config_path) {
  return "config: " + config_path + (imp.model_type.empty() ? "" : " (model_type " + imp.model_type + ")") +
         "\n";
}

std::string closing(const hf::ImportReport& imp) {
  if (imp.warnings.empty()) return "";
  std::string s = "\nwarnings:\n";
  for (const std::string& w : imp.warnings) s += "  - " + w + "\n";
  return s;
}

}  // namespace

std::string explain_alibi(const hf::AlibiImport& imp, const std::string& config_path) {
  const AlibiConfig& c = imp.config;
  std::string s = opening(imp, config_path);
  s += "encoding: ALiBi: no position embedding; each head adds -slope * (query-key distance) to its "
       "attention scores\n";
  s += "heads: " + with_source(imp, std::to_string(c.num_heads), "num_heads") + "\n";
  s += "max_bias: " + with_source(imp, g(c.max_bias), "max_bias") + "\n";
  s += "form: " +
       with_source(imp,
                   c.form == AlibiForm::KeyPosition
                       ? "key_position: bias = slope * k (the key's position); under the causal mask the "
                         "same attention weights as -slope * (q - k)"
                       : "relative: bias = -slope * |q - k|",
                   "form") +
       "\n";
  s += "mask: " + with_source(imp, c.mask == AlibiMask::Causal ? "causal" : "none", "mask") + "\n";
  s += "\nper head: the slope (posenc/alibi.hpp, as HF builds it); the bias changes by 1 every 1 / slope "
       "positions of distance\n";
  char buf[160];
  std::snprintf(buf, sizeof buf, "%5s %16s %18s\n", "h", "slope", "1 / slope");
  s += buf;
  const std::vector<double> slopes = alibi_slopes(c.num_heads, c.max_bias);
  for (size_t h = 0; h < slopes.size(); ++h) {
    std::snprintf(buf, sizeof buf, "%5zu %16s %18s\n", h, g(slopes[h]).c_str(), g(1.0 / slopes[h]).c_str());
    s += buf;
  }
  return s + closing(imp);
}

std::string explain_t5_bias(const hf::T5BiasImport& imp, const std::string& config_path) {
  const T5BiasConfig& c = imp.config;
  std::string s = opening(imp, config_path);
  s += "encoding: T5 relative attention bias: no position embedding; a learned scalar per head and "
       "bucket of the relative position r = k - q is added to the attention scores (HF: computed in the "
       "first layer, shared by the others)\n";
  s += "buckets: " + with_source(imp, std::to_string(c.num_buckets), "num_buckets") + "\n";
  s += "max_distance: " + with_source(imp, std::to_string(c.max_distance), "max_distance") + "\n";
  s += "heads: " + with_source(imp, std::to_string(imp.num_heads), "num_heads") + "\n";
  s += "direction: " +
       with_source(imp,
                   c.bidirectional ? "bidirectional: keys before and after the query have their own buckets"
                                   : "causal: every key after the query shares bucket 0 with r = 0",
                   "bidirectional") +
       "\n";
  s += "table: [" + std::to_string(c.num_buckets) + ", " + std::to_string(imp.num_heads) +
       "] learned (its values are in the checkpoint)\n";
  // Scan r over twice max_distance each way: the buckets past max_distance are the last of each side,
  // so a range reaching the end of the scan is open.
  const int64_t reach = 2 * c.max_distance + 2;
  struct Span {
    int64_t lo, hi, n;  // the smallest and largest r of a bucket, and how many r it holds
  };
  std::map<int64_t, Span> range;  // by bucket
  for (int64_t r = -reach; r <= reach; ++r) {
    Span& span = range.try_emplace(t5_relative_bucket(r, c), Span{r, r, 0}).first->second;
    span.hi = r;
    ++span.n;
  }
  s += "\nper bucket: the relative positions r = k - q it holds\n";
  char buf[160];
  std::snprintf(buf, sizeof buf, "%7s  %s\n", "bucket", "r");
  s += buf;
  for (const auto& [b, span] : range) {
    const auto [lo, hi, n] = span;
    std::string what;
    if (lo == -reach && hi == reach)
      what = "every r";
    else if (lo == -reach)
      what = "r <= " + std::to_string(hi);
    else if (hi == reach)
      what = "r >= " + std::to_string(lo);
    else if (lo == hi)
      what = std::to_string(lo);
    else
      what = std::to_string(lo) + " .. " + std::to_string(hi);
    if (n != hi - lo + 1) what += " (not contiguous: " + std::to_string(n) + " values)";
    std::snprintf(buf, sizeof buf, "%7lld  %s\n", static_cast<long long>(b), what.c_str());
    s += buf;
  }
  std::string unused;
  for (int64_t b = 0; b < c.num_buckets; ++b)
    if (range.count(b) == 0) unused += (unused.empty() ? "" : ", ") + std::to_string(b);
  if (!unused.empty()) s += "never used (no relative position falls in them): bucket " + unused + "\n";
  return s + closing(imp);
}

std::string explain_absolute(const hf::AbsoluteImport& imp, const std::string& config_path) {
  std::string s = opening(imp, config_path);
  const bool sinusoidal = imp.kind == hf::AbsoluteKind::Sinusoidal;
  const std::string added_to = imp.audio_frames
                                   ? "the encoder's input frame at position p (the convolution's output)"
                                   : "the embedding of the token at position p";
  s += "encoding: " +
       with_source(imp,
                   std::string(sinusoidal ? "sinusoidal absolute positions: a fixed table"
                                          : "learned absolute positions: a trained table") +
                       ", row first_row + p added to " + added_to,
                   "kind") +
       "\n";
  if (imp.stack != hf::Stack::FromConfig)
    s += "stack: " + with_source(imp, imp.stack == hf::Stack::Encoder ? "encoder" : "decoder", "stack") +
         " (the two stacks have different tables: --stack encoder|decoder)\n";
  if (sinusoidal) {
    const SinusoidalConfig& c = imp.sinusoidal;
    std::string preset;
    const std::string b = g(c.base);
    switch (c.preset) {
      case SinusoidalPreset::Vaswani:
        preset =
            "vaswani: interleaved, column 2i = sin(p * omega_i), 2i + 1 = cos, omega_i = " + b + "^(-2i/d)";
        break;
      case SinusoidalPreset::Fairseq:
        preset = "fairseq: [sin | cos] halves, omega_i = " + b +
                 "^(-i/(h - 1)) with h = d/2; row r holds angle r * omega_i";
        break;
      case SinusoidalPreset::Tensor2Tensor:
        preset = "tensor2tensor: [sin | cos] halves, omega_i = " + b + "^(-i/(h - 1)) with h = d/2";
        break;
      case SinusoidalPreset::Marian:
        preset = "marian: [sin | cos] halves, omega_i = " + b + "^(-2i/d)";
        break;
    }
    s += "preset: " + preset + "\n";
    if (c.padding_idx >= 0)
      s += "padding row: " + with_source(imp, std::to_string(c.padding_idx) + " (all zeros)", "padding_idx") +
           "\n";
  }
  s += "columns: " + with_source(imp, std::to_string(imp.dim), "dim") + "\n";
  // HF's fairseq-style modules grow their buffer for longer inputs; the other tables are fixed.
  const bool grows = sinusoidal && imp.sinusoidal.preset == SinusoidalPreset::Fairseq;
  s += "rows: " + with_source(imp, std::to_string(imp.num_rows), "num_rows") +
       (grows ? " (HF's buffer; it grows for longer inputs)" : "") + "\n";
  s += "position 0: row " + with_source(imp, std::to_string(imp.first_row), "first_row") + "\n";
  const int64_t longest = imp.num_rows - imp.first_row;
  s += "longest sequence: " + std::to_string(longest) + " positions (0 .. " + std::to_string(longest - 1) +
       ")" +
       (grows        ? " in the buffer; the formula has no limit"
        : sinusoidal ? "; a longer one has no row in HF's table (the formula has no limit: posenc table)"
                     : "; a longer one has no row") +
       "\n";
  s += "embedding scale: " +
       with_source(imp,
                   imp.embed_scale == 1.0f
                       ? std::string("1 (") + (imp.audio_frames ? "frames" : "token embeddings") +
                             " are added unscaled)"
                       : g(imp.embed_scale) + " = sqrt(" + std::to_string(imp.dim) + "): " +
                             (imp.audio_frames ? "frames" : "token embeddings") + " are multiplied by it",
                   "embed_scale") +
       "\n";
  s += sinusoidal ? "values: posenc table --config " + config_path + " writes the table\n"
                  : "values: in the model's checkpoint (not in config.json)\n";
  return s + closing(imp);
}

}  // namespace posenc::cli
