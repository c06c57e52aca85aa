// T5 relative attention bias: config and shape checks, and dispatch to the CPU kernels
// (src/cpu/t5_bias.cpp, src/cpu/t5_bias_simd.cpp).
#include "posenc/t5_bias.hpp"

#include <string>

#include "check.hpp"
#include "cpu/t5_bias.hpp"
#include "cuda/cuda_ops.hpp"
#include "posenc/positions.hpp"

namespace posenc {

using detail::fail;

namespace {
// "[lo, hi]" or "(lo, hi]", built by appends (GCC 12 flags literal + std::string chains with a
// false -Wrestrict, GCC bug 105329).
std::string interval(char open, int64_t lo, int64_t hi) {
  std::string s(1, open);
  s += std::to_string(lo);
  s += ", ";
  s += std::to_string(hi);
  s += ']';
  return s;
}

void check_positions(const char* where, const char* name, std::span<const int64_t> pos) {
  for (size_t n = 0; n < pos.size(); ++n)
    if (pos[n] < 0 || pos[n] > kMaxPosition)
      fail(where, std::string(name) + "[" + std::to_string(n) + "]", std::to_string(pos[n]),
           interval('[', 0, kMaxPosition));
}

// Checks bias [H, Tq, Tk] against table [N, H] (N = cfg.num_buckets) and the positions.
void check_call(const char* where, const char* table_name, const TensorView& table, const char* bias_name,
                const TensorView& bias, const T5BiasConfig& cfg, std::span<const int64_t> q,
                std::span<const int64_t> k) {
  validate(cfg, where);
  detail::check_device(where, bias_name, bias);
  detail::check_float_view(where, table_name, table, 2, bias.device);
  detail::check_float_view(where, bias_name, bias, 3, bias.device);
  detail::check_size(where, table_name, table, 0, cfg.num_buckets, "cfg.num_buckets");
  detail::check_size(where, bias_name, bias, 0, table.size(1),
                     std::string(table_name) + ".shape[1] (heads H)");
  detail::check_size(where, bias_name, bias, 1, static_cast<int64_t>(q.size()),
                     "query_positions.size() (Tq)");
  detail::check_size(where, bias_name, bias, 2, static_cast<int64_t>(k.size()), "key_positions.size() (Tk)");
  check_positions(where, "query_positions", q);
  check_positions(where, "key_positions", k);
}
}  // namespace

void validate(const T5BiasConfig& cfg, const char* where) {
  const int64_t lowest = cfg.bidirectional ? 4 : 2;
  if (cfg.num_buckets < lowest || cfg.num_buckets > kMaxPosition)
    fail(where, "num_buckets", std::to_string(cfg.num_buckets),
         interval('[', lowest, kMaxPosition) +
             (cfg.bidirectional ? " when bidirectional (each direction needs >= 2)" : ""));
  const int64_t exact = (cfg.bidirectional ? cfg.num_buckets / 2 : cfg.num_buckets) / 2;
  if (cfg.max_distance <= exact || cfg.max_distance > kMaxPosition)
    fail(where, "max_distance", std::to_string(cfg.max_distance),
         interval('(', exact, kMaxPosition) + ": above max_exact, the exact-distance buckets");
}

int64_t t5_relative_bucket(int64_t relative_position, const T5BiasConfig& cfg) {
  constexpr const char* where = "posenc::t5_relative_bucket";
  validate(cfg, where);
  if (relative_position < -kMaxPosition || relative_position > kMaxPosition)
    fail(where, "relative_position", std::to_string(relative_position),
         interval('[', -kMaxPosition, kMaxPosition));
  return detail::cpu::t5_bucket(relative_position, cfg);
}

void t5_bias_forward(TensorView out, const TensorView& table, const T5BiasConfig& cfg,
                     std::span<const int64_t> query_positions, std::span<const int64_t> key_positions) {
  constexpr const char* where = "posenc::t5_bias_forward";
  check_call(where, "table", table, "out", out, cfg, query_positions, key_positions);
  detail::check_writable(where, "out", out);
  detail::check_disjoint(where, "out", out, "table", table);
  if (out.numel() == 0) return;
  if (out.device == Device::CUDA) {
    detail::cuda::DeviceViews(where).add("out", out).add("table", table);
    return detail::cuda::t5_bias_forward(where, out, table, cfg, query_positions, key_positions);
  }
  detail::cpu::t5_bias_forward(out, table, cfg, query_positions.data(), key_positions.data());
}

void t5_bias_backward(TensorView dtable, const TensorView& dout, const T5BiasConfig& cfg,
                      std::span<const int64_t> query_positions, std::span<const int64_t> key_positions) {
  constexpr const char* where = "posenc::t5_bias_backward";
  check_call(where, "dtable", dtable, "dout", dout, cfg, query_positions, key_positions);
  detail::check_writable(where, "dtable", dtable);
  detail::check_disjoint(where, "dtable", dtable, "dout", dout);
  if (dout.numel() == 0) return;
  if (dout.device == Device::CUDA) {
    detail::cuda::DeviceViews(where).add("dtable", dtable).add("dout", dout);
    return detail::cuda::t5_bias_backward(where, dtable, dout, cfg, query_positions, key_positions);
  }
  detail::cpu::t5_bias_backward(dtable, dout, cfg, query_positions.data(), key_positions.data());
}

}  // namespace posenc
