// io/paths.cpp — see io/paths.hpp.
#include "io/paths.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/atomic_file.hpp"
#include "posenc/error.hpp"

namespace posenc::io {

namespace fs = std::filesystem;

void check_writable_path(const std::string& path, const char* what) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw Error("posenc::io", what, "'" + path + "'", "a file path (it is a directory)");
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw Error("posenc::io", what, "'" + path + "'",
                "a path in an existing directory ('" + parent.string() + "' does not exist)");
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec1, ec2;
  if (fs::exists(a, ec1) && fs::exists(b, ec2)) {
    std::error_code ec;
    const bool eq = fs::equivalent(a, b, ec);
    if (!ec) return eq;
  }
  // Absolute first: weakly_canonical keeps a relative path whose first component does not exist as it is
  // ("y.json"), while "./y.json" comes out absolute.
  const fs::path ca = fs::weakly_canonical(fs::absolute(a, ec1), ec1),
                 cb = fs::weakly_canonical(fs::absolute(b, ec2), ec2);
  return !ec1 && !ec2 ? ca.lexically_normal() == cb.lexically_normal() : a == b;
}

void check_distinct_paths(const std::vector<std::pair<std::string, std::string>>& named_paths) {
  for (size_t i = 0; i < named_paths.size(); ++i)
    for (size_t j = i + 1; j < named_paths.size(); ++j) {
      const auto& [na, pa] = named_paths[i];
      const auto& [nb, pb] = named_paths[j];
      if (pa.empty() || pb.empty() || !same_file(pa, pb)) continue;
      std::error_code ec;
      if (fs::exists(pa, ec) && !fs::is_regular_file(pa, ec) && !fs::is_directory(pa, ec)) continue;
      throw Error("posenc::io", nb, "'" + pb + "'", "a file other than " + na + " '" + pa + "'");
    }
}

std::string read_file(const std::string& path, const char* what) {
  const std::string action = std::string("read ") + what;
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw IoError(action, path, "it is a directory");
  // A device (/dev/zero, /dev/urandom) never ends: a FIFO does, when its writer closes it.
  if (const fs::file_status st = fs::status(path, ec);
      st.type() == fs::file_type::character || st.type() == fs::file_type::block)
    throw IoError(action, path, "it is a device, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(action, path, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw IoError(action, path, "read error");
  return ss.str();
}

}  // namespace posenc::io
