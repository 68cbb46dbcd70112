// core: small file helpers shared by modules that persist files.
#pragma once
#include <string>

namespace mlops {

// Reads a whole file. Throws Error{not_found} when it does not exist, Error{io} otherwise.
std::string read_file(const std::string& path);
// Writes through a temporary file in the same directory, fsyncs and renames, so readers see
// the old or the new content, never a torn file. Creates missing parent directories.
// Throws Error{io}.
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace mlops
