#include "libmlops/core/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "libmlops/core/error.hpp"

namespace mlops {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(path)) {
      throw Error(ErrorCode::not_found, fmt::format("{}: no such file", path));
    }
    throw Error(ErrorCode::io, fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

namespace {
// What a failed write means for the person at the keyboard.
Error write_error(const std::string& path, int err) {
  std::string hint;
  if (err == ENOSPC || err == EDQUOT) hint = "the disk is full: free some space and run the command again (the old file, if any, is untouched)";
  if (err == EROFS || err == EACCES || err == EPERM) hint = "the folder is not writable: choose a writable one (e.g. MLOPS_HOME, --output)";
  return Error(ErrorCode::io, fmt::format("cannot write {}: {}", path, std::strerror(err)), hint);
}
}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  if (ec) {
    throw Error(ErrorCode::io,
                fmt::format("cannot create directory {}: {}", target.parent_path().string(),
                            ec.message()));
  }
  std::string temp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) throw write_error(path, errno);
  const char* data = content.data();
  std::size_t left = content.size();
  bool ok = true;
  while (left > 0 && ok) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) {
      data += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  const int saved = errno;
  ok = ok && ::fchmod(fd, 0644) == 0 && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = ok ? errno : saved;
    ::unlink(temp.c_str());
    throw write_error(path, err);
  }
}

}  // namespace mlops
