// Test helper: a real `mlops serve` process on an ephemeral loopback port, always stopped.
#pragma once
#include <string>
#include <vector>

#include "tests/support/support.hpp"

namespace mlops::test {

class ServerProcess {
 public:
  // Starts `mlops COMMAND... --port 0 args...` (COMMAND defaults to serve; e.g. crm serve)
  // with MLOPS_HOME=home and waits (up to 10 s) until it prints its port and answers
  // /health. Throws std::runtime_error otherwise.
  ServerProcess(const std::string& home, const std::vector<std::string>& args,
                const std::vector<std::string>& env = {}, const std::vector<std::string>& command = {"serve"});
  ~ServerProcess();  // SIGKILL if still running
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  int pid() const { return pid_; }
  // Sends SIGTERM and returns the exit code (waits up to 10 s, then SIGKILL and -1).
  int terminate();
  std::string log() const;  // stderr so far
  std::string output() const;  // stdout so far
  std::string log_path() const { return io_.file("err"); }

 private:
  TempDir io_;
  int pid_ = -1;
  int port_ = 0;
};

}  // namespace mlops::test
