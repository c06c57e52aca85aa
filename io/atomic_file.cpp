// io/atomic_file.cpp — temporary file + fsync + rename; see atomic_file.hpp.
#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

namespace posenc::io {
namespace {

constexpr size_t kBufferBytes = size_t{1} << 20;

// Temporaries not yet committed, kept where a signal handler can reach them without allocating.
constexpr int kSlots = 8;
constexpr size_t kPathBytes = 4096;
std::array<std::array<char, kPathBytes>, kSlots> g_temp_paths{};
std::array<volatile std::sig_atomic_t, kSlots> g_temp_in_use{};

int register_temporary(const std::string& path) {
  if (path.size() >= kPathBytes) return -1;  // still removed by ~AtomicFile, just not on a signal
  for (int i = 0; i < kSlots; ++i) {
    if (g_temp_in_use[static_cast<size_t>(i)] != 0) continue;
    std::memcpy(g_temp_paths[static_cast<size_t>(i)].data(), path.c_str(), path.size() + 1);
    g_temp_in_use[static_cast<size_t>(i)] = 1;
    return i;
  }
  return -1;
}

void unregister_temporary(int slot) {
  if (slot >= 0) g_temp_in_use[static_cast<size_t>(slot)] = 0;
}

extern "C" void on_fatal_signal(int sig) {
  remove_pending_temporaries();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

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

std::string os_reason(int err) {
  return std::strerror(err);
}

std::string parent_dir(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

std::string random_suffix() {
  std::random_device rd;
  const uint64_t r = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(r));
  return buf;
}

void write_all(int fd, const char* p, size_t n, const std::string& name) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw IoError("write", name, os_reason(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

IoError::IoError(const std::string& action, const std::string& path, const std::string& reason)
    : posenc::Error("cannot " + action + " '" + path + "': " + reason, "posenc::io", "path", "'" + path + "'",
                    reason) {}

ByteSink::ByteSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}

void ByteSink::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  if (n >= kBufferBytes / 2) {  // large writes go straight through
    flush();
    write_all(fd_, p, n, name_);
    return;
  }
  if (buf_.empty()) buf_.resize(kBufferBytes);
  if (used_ + n > buf_.size()) flush();
  std::memcpy(buf_.data() + used_, p, n);
  used_ += n;
}

void ByteSink::flush() {
  write_all(fd_, buf_.data(), used_, name_);
  used_ = 0;
}

StdoutSink::StdoutSink() : ByteSink(STDOUT_FILENO, "<stdout>") {}

AtomicFile::AtomicFile(std::string target) : ByteSink(-1, target), target_(std::move(target)) {
  if (target_.empty()) throw IoError("write", "", "the path is empty");
  resolved_ = target_;
  struct stat st {};
  if (::stat(target_.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw IoError("write", target_, "it is a directory");
    if (!S_ISREG(st.st_mode)) {
      direct_ = true;
      fd_ = ::open(target_.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd_ < 0) throw IoError("write", target_, os_reason(errno));
      return;
    }
  }
  // A symlink (also one naming a file not yet there) is followed: the file it names is replaced.
  resolved_ = follow_symlinks(target_);
  for (int attempt = 0; attempt < 16; ++attempt) {
    temp_ = resolved_ + ".tmp." + std::to_string(::getpid()) + "." + random_suffix();
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0 || errno != EEXIST) break;
  }
  if (fd_ < 0) {
    throw IoError("write", target_,
                  "cannot create a temporary file in '" + parent_dir(resolved_) + "': " + os_reason(errno));
  }
  slot_ = register_temporary(temp_);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !direct_) ::unlink(temp_.c_str());
  if (!staging_.empty()) ::unlink(staging_.c_str());
  unregister_temporary(slot_);
}

const std::string& AtomicFile::temp_path() {
  if (!direct_) return temp_;
  if (staging_.empty()) {
    const char* dir = std::getenv("TMPDIR");
    const std::string base = dir != nullptr && *dir != '\0' ? dir : "/tmp";
    std::string name = base + "/posenc-staging-XXXXXX";
    const int fd = ::mkstemp(name.data());
    if (fd < 0)
      throw IoError("write", target_, "cannot create a staging file in '" + base + "': " + os_reason(errno));
    ::close(fd);
    staging_ = name;
    slot_ = register_temporary(staging_);
  }
  return staging_;
}

void AtomicFile::commit() {
  flush();
  const int fd = fd_;
  fd_ = -1;
  if (direct_) {
    if (!staging_.empty()) {  // what a path-taking writer staged: copied in, every write checked
      const int in = ::open(staging_.c_str(), O_RDONLY | O_CLOEXEC);
      if (in < 0) {
        const int err = errno;
        ::close(fd);
        throw IoError("write", target_, "cannot read its staging file: " + os_reason(err));
      }
      char chunk[1 << 16];
      for (;;) {
        const ssize_t n = ::read(in, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        try {
          write_all(fd, chunk, static_cast<size_t>(n), target_);
        } catch (...) {
          ::close(in);
          ::close(fd);
          throw;
        }
      }
      ::close(in);
    }
    if (::close(fd) != 0) throw IoError("write", target_, os_reason(errno));
    committed_ = true;
    return;
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    throw IoError("write", target_, "fsync failed: " + os_reason(err));
  }
  if (::close(fd) != 0) throw IoError("write", target_, "close failed: " + os_reason(errno));
  if (::rename(temp_.c_str(), resolved_.c_str()) != 0) {
    throw IoError("write", target_, "renaming '" + temp_ + "' over it failed: " + os_reason(errno));
  }
  committed_ = true;
  unregister_temporary(slot_);
  slot_ = -1;
  // Make the rename itself durable; failure here leaves a complete file, so it is not an error.
  const int dir = ::open(parent_dir(resolved_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

void remove_pending_temporaries() noexcept {
  for (size_t i = 0; i < g_temp_paths.size(); ++i) {
    if (g_temp_in_use[i] != 0) {
      ::unlink(g_temp_paths[i].data());
      g_temp_in_use[i] = 0;
    }
  }
}

void install_temp_cleanup_handlers() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, on_fatal_signal);
}

}  // namespace posenc::io
