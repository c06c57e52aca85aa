// model/checkpoint_file.cpp — see checkpoint_file.hpp for the layout.
#include "model/checkpoint_file.hpp"

#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "posenc/error.hpp"

namespace posenc::model {
namespace {

constexpr char kMagic[8] = {'P', 'O', 'S', 'E', 'N', 'C', 'C', 'K'};
constexpr uint32_t kEnvelopeVersion = 1;
constexpr size_t kHeader = 24;

uint32_t crc32_of(std::string_view bytes) {
  return static_cast<uint32_t>(
      crc32_z(crc32_z(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_le(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= uint64_t{static_cast<unsigned char>(in[at + static_cast<size_t>(i)])} << (8 * i);
  return v;
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace

std::string seal_checkpoint(std::string_view archive) {
  std::string out;
  out.reserve(kHeader + archive.size());
  out.append(kMagic, sizeof kMagic);
  put_le(out, kEnvelopeVersion, 4);
  put_le(out, crc32_of(archive), 4);
  put_le(out, archive.size(), 8);
  out.append(archive);
  return out;
}

std::string_view unseal_checkpoint(std::string_view file, const std::string& path) {
  const char* where = "posenc::model::checkpoint";
  const std::string name = "checkpoint '" + path + "'";
  if (file.size() >= 4 && file.substr(0, 4) == std::string_view("PK\3\4", 4))
    return file;  // written before the envelope: no size or CRC to check
  if (file.size() < sizeof kMagic || file.substr(0, sizeof kMagic) != std::string_view(kMagic, sizeof kMagic))
    throw Error(where, name, "starts with '" + escape_bytes(file.substr(0, 8)) + "'",
                "a posenc checkpoint (starting with 'POSENCCK')");
  if (file.size() < kHeader)
    throw Error(where, name, std::to_string(file.size()) + " bytes",
                "at least the " + std::to_string(kHeader) + "-byte header (the file is truncated)");
  const uint64_t version = get_le(file, 8, 4);
  if (version != kEnvelopeVersion)
    throw Error(where, name + " envelope version", std::to_string(version),
                std::to_string(kEnvelopeVersion) + " (written by another posenc version, or damaged)");
  const uint64_t size = get_le(file, 16, 8), have = file.size() - kHeader;
  if (have < size)
    throw Error(where, name, std::to_string(have) + " bytes after the header",
                std::to_string(size) + ", the size in its header (the file is truncated)");
  if (have > size)
    throw Error(where, name, std::to_string(have) + " bytes after the header",
                std::to_string(size) + ", the size in its header (" + std::to_string(have - size) +
                    " bytes were appended, or the header is damaged)");
  const std::string_view payload = file.substr(kHeader);
  const uint32_t want = static_cast<uint32_t>(get_le(file, 12, 4)), got = crc32_of(payload);
  if (got != want)
    throw Error(where, name + " CRC-32", hex32(got),
                hex32(want) + ", the CRC-32 in its header (the file is damaged)");
  return payload;
}

}  // namespace posenc::model
