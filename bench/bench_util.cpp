#include "bench_util.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include "posenc/threads.hpp"

namespace posenc_bench {

namespace {
int g_threads = 1;

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

int to_threads(const char* s, const char* what) {
  char* end = nullptr;
  const long n = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || n < 1 || n > posenc::kMaxThreads)
    throw std::invalid_argument(std::string(what) + " must be an integer in [1, " +
                                std::to_string(posenc::kMaxThreads) + "], got '" + s + "'");
  return static_cast<int>(n);
}
}  // namespace

void Buffer::Free::operator()(void* p) const {
  std::free(p);
}

Buffer::Buffer(size_t bytes) : bytes_(bytes) {
  const size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
  p_.reset(std::aligned_alloc(64, rounded));
  if (!p_) throw std::bad_alloc();
  auto* b = static_cast<unsigned char*>(p_.get());
  const auto n = static_cast<int64_t>(rounded);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i += 4096)
    std::memset(b + i, 0, static_cast<size_t>(std::min<int64_t>(4096, n - i)));
}

Buffer random_floats(posenc::DType t, int64_t n, uint64_t seed, float a) {
  Buffer buf(static_cast<size_t>(n * posenc::dtype_size(t)));
  const uint64_t s = mix(seed);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    // 24 random bits -> [-a, a]
    const float u = static_cast<float>(mix(s ^ static_cast<uint64_t>(i)) >> 40) * (1.0f / 16777216.0f);
    const float v = (2.0f * u - 1.0f) * a;
    if (t == posenc::DType::BF16)
      buf.as<uint16_t>()[i] = posenc::f32_to_bf16_bits(v);
    else
      buf.as<float>()[i] = v;
  }
  return buf;
}

std::vector<int64_t> random_ids(int64_t n, int64_t V, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> dist(0, V - 1);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (auto& v : ids) v = dist(rng);
  return ids;
}

int64_t count_distinct(const std::vector<int64_t>& keys) {
  std::vector<int64_t> k(keys);
  std::sort(k.begin(), k.end());
  return static_cast<int64_t>(std::unique(k.begin(), k.end()) - k.begin());
}

int parse_threads(int* argc, char** argv) {
  const std::string flag = "--posenc_threads=";
  int n = 0;
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind(flag, 0) == 0)
      n = to_threads(argv[i] + flag.size(), "--posenc_threads");
    else
      argv[out++] = argv[i];
  }
  *argc = out;
  if (n == 0) {
    if (const char* env = std::getenv("POSENC_BENCH_THREADS"); env != nullptr && *env != '\0')
      n = to_threads(env, "POSENC_BENCH_THREADS");
  }
  if (n == 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  g_threads = n;
  return n;
}

int threads() {
  return g_threads;
}

}  // namespace posenc_bench
