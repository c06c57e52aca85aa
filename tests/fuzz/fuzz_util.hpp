// tests/fuzz/fuzz_util.hpp — what posenc's fuzz targets share: FUZZ_CHECK (a failed property aborts, so
// that libFuzzer and tests/fuzz/fuzz_main.cpp both report it as a crash) and a reader that turns the
// fuzzer's bytes into bounded integers and choices.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "posenc/error.hpp"

#define FUZZ_CHECK(cond, ...)                                                            \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                                 \
      std::fprintf(stderr, "\n");                                                        \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace posenc::fuzz {

// A posenc::Error must say where, which argument and what is allowed (the value may be empty, e.g.
// for a missing field).
inline void check_error(const posenc::Error& e) {
  FUZZ_CHECK(std::strlen(e.what()) > 0, "empty message");
  FUZZ_CHECK(!e.where().empty(), "no 'where' in: %s", e.what());
  FUZZ_CHECK(!e.argument().empty(), "no argument named in: %s", e.what());
  FUZZ_CHECK(!e.allowed().empty(), "no allowed range in: %s", e.what());
}

// Consumes the input from the front; past the end every read gives 0 (so short inputs still run).
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  bool empty() const { return n_ == 0; }
  uint64_t u64() {
    uint64_t v = 0;
    const size_t k = n_ < 8 ? n_ : 8;
    std::memcpy(&v, p_, k);
    p_ += k;
    n_ -= k;
    return v;
  }
  uint8_t u8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  // A value in [lo, hi] (inclusive), from one byte when the range is small.
  int64_t range(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;
    const uint64_t v = span <= 256 ? u8() : u64();
    return span == 0 ? static_cast<int64_t>(v) : lo + static_cast<int64_t>(v % span);
  }
  bool flag() { return (u8() & 1) != 0; }
  template <typename E>
  E pick(std::initializer_list<E> options) {
    return options.begin()[range(0, static_cast<int64_t>(options.size()) - 1)];
  }

 private:
  const uint8_t* p_;
  size_t n_;
};

}  // namespace posenc::fuzz
