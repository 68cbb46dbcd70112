// Test helpers: temporary directories, running the real binary, catching error codes.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "libmlops/core/error.hpp"

namespace mlops::test {

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Writes `content` to `name` in the directory and returns its path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  long max_rss_kb = 0;  // the process's peak resident memory
};

// Runs the mlops binary with `args` (no shell), in `cwd`, with MLOPS_HOME=home unless
// home is empty, and extra environment entries ("KEY=value").
CliResult run_cli(const std::vector<std::string>& args, const std::string& home,
                  const std::string& cwd = ".", const std::vector<std::string>& env = {});

// Starts the binary without waiting; returns the pid. Output goes to the given files.
int spawn_cli(const std::vector<std::string>& args, const std::string& home, const std::string& out_file,
              const std::string& err_file, const std::vector<std::string>& env = {}, const std::string& cwd = ".");

// Starts any program (an absolute path) without waiting; returns the pid. `env` is its
// whole environment.
int spawn_program(const std::string& program, const std::vector<std::string>& args, const std::vector<std::string>& env,
                  const std::string& cwd, const std::string& out_file, const std::string& err_file);

// This process's environment (NAME=value), with `overrides` replacing or adding entries.
std::vector<std::string> environment(const std::vector<std::string>& overrides = {});

// A loopback TCP port that was free a moment ago (for a server a test starts).
int free_port();

// Sends raw bytes to 127.0.0.1:port and returns everything read until the server closes
// or 5 s pass (for requests an HTTP client library would not send, e.g. no Content-Length).
std::string raw_http(int port, const std::string& request);
int wait_exit_code(int pid);

// The ErrorCode of the mlops::Error an action throws; throws std::runtime_error (failing
// the test) when it throws nothing.
ErrorCode error_code_of(const std::function<void()>& action);

// Runs a headless-Chromium page check, tests/monitoring/SCRIPT (node, with playwright-core
// from .tools), with `args` after the tools folder, in `dir`; its stdout and stderr in the
// result. The screenshot it takes goes to artifacts/NAME (build/tests/artifacts), made
// fresh: `screenshot` is set to its absolute path.
CliResult run_page_check(const std::string& script, const std::vector<std::string>& args, const std::string& dir,
                         const std::string& screenshot_name, std::string& screenshot);

std::string read_text(const std::string& path);
std::string test_data(const std::string& name);  // tests/data/<name>

}  // namespace mlops::test
