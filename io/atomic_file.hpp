// io/atomic_file.hpp — output files that appear complete or not at all: the one output policy of the
// posenc command, the pipeline and the model layer's checkpoints and metrics.
//
// AtomicFile writes to "<target>.tmp.<pid>.<random>" in the target's directory; commit() flushes,
// fsyncs, closes and rename()s it over the target, then fsyncs the directory. Until commit()
// succeeds the target is untouched, and the temporary is removed by the destructor (an exception
// unwinding), by a SIGINT/SIGTERM/SIGHUP handler (see install_temp_cleanup_handlers) or by
// remove_pending_temporaries() (PLplot's fatal-error hook).
//
// Targets that cannot be replaced by a rename: a symlink is followed (the file it points to is
// replaced, the link stays; also a link to a file not there yet); an existing target that is not a
// regular file (/dev/null, /dev/stdout, a FIFO) is opened and written directly, as there is nothing to
// replace atomically (a file written by path, see temp_path(), is staged and copied in by commit());
// a directory is an error.
//
// Errors are IoError (a posenc::Error): "cannot write '<path>': <reason>", with the OS reason.
//
// ByteSink is the buffered writer the table writers use; StdoutSink sends the same bytes to
// standard output. write_file_atomic() is AtomicFile for bytes already in memory.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "posenc/error.hpp"

namespace posenc::io {

// A failed read or write of a file: what() is "cannot <action> '<path>': <reason>"; argument() is
// "path", value() the quoted path, allowed() the reason.
class IoError : public posenc::Error {
 public:
  IoError(const std::string& action, const std::string& path, const std::string& reason);
};

class ByteSink {
 public:
  ByteSink(int fd, std::string name);
  virtual ~ByteSink() = default;
  ByteSink(const ByteSink&) = delete;
  ByteSink& operator=(const ByteSink&) = delete;

  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  void write(const void* data, size_t n);
  void flush();
  // What the bytes are going to, for messages: the target path or "<stdout>".
  const std::string& name() const { return name_; }

 protected:
  int fd_;

 private:
  std::string name_;
  std::vector<char> buf_;  // allocated on the first buffered write
  size_t used_ = 0;
};

// Nothing is flushed on destruction: call flush() when the output is complete.
class StdoutSink : public ByteSink {
 public:
  StdoutSink();
};

class AtomicFile : public ByteSink {
 public:
  explicit AtomicFile(std::string target);  // creates the temporary (exclusive, mode 0666 & ~umask)
  ~AtomicFile() override;                   // removes the temporary unless committed
  // Where a writer that takes a path (PLplot) writes: the temporary; for a direct target a staging
  // file in $TMPDIR (or /tmp), which commit() copies into the target with every write checked (PLplot
  // does not report failed writes: a plot to /dev/full would otherwise "succeed").
  const std::string& temp_path();
  const std::string& target() const { return target_; }
  void commit();

 private:
  std::string target_;    // as the user named it (messages)
  std::string resolved_;  // symlinks followed: what the rename replaces
  std::string temp_;
  std::string staging_;  // direct targets written through temp_path()
  bool direct_ = false;  // target is a device or FIFO: written in place
  int slot_ = -1;        // entry in the signal-safe registry of temporaries
  bool committed_ = false;
};

// The whole of `bytes` to `path` through an AtomicFile.
void write_file_atomic(const std::string& path, std::string_view bytes);

// Remove every temporary that is not committed yet (async-signal-safe).
void remove_pending_temporaries() noexcept;
// On SIGINT, SIGTERM and SIGHUP: remove the pending temporaries, then die of the signal as before.
void install_temp_cleanup_handlers();

}  // namespace posenc::io
