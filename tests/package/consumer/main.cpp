// Uses the installed library: PE(1, 0) = sin(1) and PE(1, 1) = cos(1) for the Vaswani table.
#include <cmath>
#include <cstdio>
#include <posenc/posenc.hpp>

int main() {
  posenc::SinusoidalConfig cfg;
  cfg.dim = 4;
  const std::vector<float> t = posenc::sinusoidal_table(cfg, 2);
  const bool ok =
      t[4] == static_cast<float>(std::sin(1.0)) && t[5] == static_cast<float>(std::cos(1.0));
  std::printf("consumer: posenc %s, PE(1, 0..1) = %.9g %.9g: %s\n", posenc::kVersion, t[4], t[5],
              ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
