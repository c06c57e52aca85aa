// model/io.cpp — see model/io.hpp.
#include "model/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
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

namespace {
// The file a chain of symlinks names (the path itself when it is not a link); a link to a file not yet
// there is followed too (std::filesystem::canonical would fail on it). At most 40 links, as the kernel.
std::string follow_symlinks(const std::string& path) {
  std::filesystem::path p = path;
  for (int i = 0; i < 40; ++i) {
    std::error_code ec;
    if (!std::filesystem::is_symlink(std::filesystem::symlink_status(p, ec)) || ec) break;
    const std::filesystem::path to = std::filesystem::read_symlink(p, ec);
    if (ec) break;
    p = to.is_absolute() ? to : p.parent_path() / to;
  }
  return p.string();
}

void write_all(int fd, std::string_view bytes, const std::string& path, const std::string& tmp) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      if (!tmp.empty()) ::unlink(tmp.c_str());
      io_fail(path, "output path", err);
    }
    done += static_cast<size_t>(n);
  }
}
}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  std::string target = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      throw Error("posenc::model", "output path", "'" + path + "'", "a file path (it is a directory)");
    if (!S_ISREG(st.st_mode)) {  // nothing to replace atomically: write it directly
      const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) io_fail(path, "output path", errno);
      write_all(fd, bytes, path, "");
      if (::close(fd) != 0) io_fail(path, "output path", errno);
      return;
    }
  }
  // A symlink (also one naming a file not yet there) is followed: the file it names is replaced.
  target = follow_symlinks(path);
  const std::string tmp = target + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) io_fail(path, "output path", errno);
  write_all(fd, bytes, path, tmp);
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_fail(path, "output path", err);
  }
  if (std::rename(tmp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_fail(path, "output path", err);
  }
}

void check_distinct_paths(const std::vector<std::pair<std::string, std::string>>& named_paths) {
  namespace fs = std::filesystem;
  const auto same = [](const std::string& a, const std::string& b) {
    std::error_code ec1, ec2;
    if (fs::exists(a, ec1) && fs::exists(b, ec2)) {
      std::error_code ec;
      const bool eq = fs::equivalent(a, b, ec);
      if (!ec) return eq;
    }
    const fs::path ca = fs::weakly_canonical(a, ec1), cb = fs::weakly_canonical(b, ec2);
    return !ec1 && !ec2 ? ca == cb : a == b;
  };
  for (size_t i = 0; i < named_paths.size(); ++i)
    for (size_t j = i + 1; j < named_paths.size(); ++j) {
      const auto& [na, pa] = named_paths[i];
      const auto& [nb, pb] = named_paths[j];
      if (pa.empty() || pb.empty() || !same(pa, pb)) continue;
      // /dev/null may take any number of outputs.
      std::error_code ec;
      if (fs::exists(pa, ec) && !fs::is_regular_file(pa, ec) && !fs::is_directory(pa, ec)) continue;
      throw Error("posenc::model", nb, "'" + pb + "'", "a file other than " + na + " '" + pa + "'");
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
