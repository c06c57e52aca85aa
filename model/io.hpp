// model/io.hpp — whole-file reads and atomic writes for the model layer (checkpoints, metrics).
//
// write_file_atomic writes "<path>.tmp.<pid>" in the same directory, fsyncs it and renames it over
// path, so a reader (or a run killed at any point) sees the old file or the new one, never half of
// one; on failure the temporary is removed. As cli/atomic_file.hpp's AtomicFile: a symlink is followed
// (the file it names is replaced, the link stays), an existing target that is not a regular file
// (/dev/null, a FIFO, a device) is written directly with every write checked, a directory is an error.
// Errors are posenc::Error naming the path and the OS reason.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace posenc::model {

void write_file_atomic(const std::string& path, std::string_view bytes);
// Throws posenc::Error when path is a directory or its directory does not exist (checked before a long
// run, so that it does not fail only when writing its results).
void check_writable_path(const std::string& path, const char* what);
// Throws posenc::Error when two of the named paths (empty ones are skipped) are the same file, by any
// spelling or link: {{"checkpoint", p1}, {"metrics_csv", p2}, ...}.
void check_distinct_paths(const std::vector<std::pair<std::string, std::string>>& named_paths);
// The whole file; a missing or unreadable file is a posenc::Error naming the path.
std::string read_file(const std::string& path, const char* what = "file");

}  // namespace posenc::model
