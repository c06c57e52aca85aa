// model/io.hpp — whole-file reads and atomic writes for the model layer (checkpoints, metrics).
//
// write_file_atomic writes "<path>.tmp.<pid>" in the same directory, fsyncs it and renames it over
// path, so a reader (or a run killed at any point) sees the old file or the new one, never half of
// one; on failure the temporary is removed. Errors are posenc::Error naming the path and the OS reason.
#pragma once

#include <string>
#include <string_view>

namespace posenc::model {

void write_file_atomic(const std::string& path, std::string_view bytes);
// Throws posenc::Error when path is a directory or its directory does not exist (checked before a long
// run, so that it does not fail only when writing its results).
void check_writable_path(const std::string& path, const char* what);
// The whole file; a missing or unreadable file is a posenc::Error naming the path.
std::string read_file(const std::string& path, const char* what = "file");

}  // namespace posenc::model
