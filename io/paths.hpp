// io/paths.hpp — checks on the paths a command is given, before a long run spends its time, and
// whole-file reads.
//
// Outputs are written by io/atomic_file.hpp. These checks fail early what would fail only at the end
// (a directory, a missing parent directory) or what would destroy data (an output that is an input, two
// outputs renamed over one file). Errors are posenc::Error naming the argument, the path and why.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace posenc::io {

// Throws posenc::Error when path is a directory or its directory does not exist.
void check_writable_path(const std::string& path, const char* what);

// Throws posenc::Error when two of the named paths (empty ones are skipped) are the same file, by any
// spelling or symlink: {{"--out", p1}, {"--plot", p2}, {"--config", p3}}. Devices and FIFOs (/dev/null)
// may be named any number of times.
void check_distinct_paths(const std::vector<std::pair<std::string, std::string>>& named_paths);

// Whether a and b name the same file: by inode when both exist, else by their normalized absolute
// paths with the symlinks that exist resolved.
bool same_file(const std::string& a, const std::string& b);

// The whole file; a missing, unreadable or directory path is an IoError ("cannot read '<path>' ...")
// that names `what` (e.g. "--data").
std::string read_file(const std::string& path, const char* what = "file");

}  // namespace posenc::io
