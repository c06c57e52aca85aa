// Uses the installed libraries: PE(1, 0) = sin(1) and PE(1, 1) = cos(1) for the Vaswani table, and
// a config.json read by posenc::hf gives the rotary setup it describes.
#include <cmath>
#include <cstdio>
#include <posenc/hf_config.hpp>
#include <posenc/posenc.hpp>

int main() {
  posenc::SinusoidalConfig cfg;
  cfg.dim = 4;
  const std::vector<float> t = posenc::sinusoidal_table(cfg, 2);
  const bool table_ok =
      t[4] == static_cast<float>(std::sin(1.0)) && t[5] == static_cast<float>(std::cos(1.0));
  const posenc::hf::RopeImport imp = posenc::hf::parse_rope_config(
      R"({"hidden_size": 512, "num_attention_heads": 8, "rope_theta": 500000.0, "max_position_embeddings": 2048})");
  const bool hf_ok = imp.config.head_dim == 64 && imp.config.base == 500000.0;
  std::printf("consumer: posenc %s, PE(1, 0..1) = %.9g %.9g, config head_dim %lld: %s\n", posenc::kVersion,
              t[4], t[5], static_cast<long long>(imp.config.head_dim), table_ok && hf_ok ? "ok" : "WRONG");
  return table_ok && hf_ok ? 0 : 1;
}
