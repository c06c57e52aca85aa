// tests/fuzz/fuzz_npy.cpp — fuzz target: the posenc command's .npy reader (cli/npy_io.hpp,
// parse_npy_f32, behind `posenc rope --apply` and friends) on arbitrary bytes.
// Properties: the reader returns or throws CliError (anything else escapes and fails the run) whose
// message starts with the name it was given and is printable ASCII (a damaged header must not send raw
// bytes to the terminal); a returned array has a non-negative shape whose product is its element count.
#include <cstdint>
#include <string>
#include <string_view>

#include "cli_error.hpp"
#include "fuzz_util.hpp"
#include "npy_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::string what = "--apply 'fuzz.npy'";
  posenc::cli::NpyF32 a;
  try {
    a = posenc::cli::parse_npy_f32(bytes, what);
  } catch (const posenc::cli::CliError& e) {
    const std::string_view msg = e.what();
    FUZZ_CHECK(msg.substr(0, what.size()) == what, "message without the name: %s", e.what());
    for (const char c : msg)
      FUZZ_CHECK(c >= 0x20 && c < 0x7f, "unprintable byte 0x%02x in: %s", static_cast<unsigned char>(c),
                 e.what());
    return 0;
  }
  uint64_t count = 1;
  bool wraps = false, empty = false;
  for (const int64_t d : a.shape) {
    FUZZ_CHECK(d >= 0, "shape entry %lld", static_cast<long long>(d));
    empty = empty || d == 0;
    wraps = __builtin_mul_overflow(count, static_cast<uint64_t>(d), &count) || wraps;
  }
  // A product that wraps could equal the element count by accident: an accepted shape must not wrap
  // (unless an entry is 0: then the array is empty, whatever the other entries).
  if (empty) count = 0;
  FUZZ_CHECK(empty || !wraps, "the shape's product overflows 64 bits");
  FUZZ_CHECK(count == a.data.size(), "shape product %llu, %zu elements",
             static_cast<unsigned long long>(count), a.data.size());
  return 0;
}
