// model/io.cpp — see model/io.hpp.
#include "model/io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "posenc/error.hpp"

namespace posenc::model {

namespace {
[[noreturn]] void io_fail(const std::string& path, const std::string& what, int err) {
  throw Error("posenc::model", what, "'" + path + "'",
              std::string("a writable/readable path (") + std::strerror(err) + ")");
}
}  // namespace

void check_writable_path(const std::string& path, const char* what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw Error("posenc::model", what, "'" + path + "'", "a file path (it is a directory)");
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw Error("posenc::model", what, "'" + path + "'",
                "a path in an existing directory ('" + parent.string() + "' does not exist)");
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) io_fail(path, "output path", errno);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      io_fail(path, "output path", err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_fail(path, "output path", err);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_fail(path, "output path", err);
  }
}

std::string read_file(const std::string& path, const char* what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error("posenc::model", what, "'" + path + "'", "a readable file (it is a directory)");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error("posenc::model", what, "'" + path + "'",
                std::string("a readable file (") + std::strerror(errno) + ")");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error("posenc::model", what, "'" + path + "'", "a readable file (read error)");
  return ss.str();
}

}  // namespace posenc::model
