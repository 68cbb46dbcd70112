#include "tests/support/server_process.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include <httplib.h>

namespace mlops::test {

ServerProcess::ServerProcess(const std::string& home, const std::vector<std::string>& args,
                             const std::vector<std::string>& env, const std::vector<std::string>& command) {
  std::vector<std::string> full = command;
  full.insert(full.end(), {"--port", "0"});
  full.insert(full.end(), args.begin(), args.end());
  // Its own working directory, so that no stray ./.env or ./models/ changes its defaults.
  pid_ = spawn_cli(full, home, io_.file("out"), io_.file("err"), env, io_.path());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const std::string marker = "listening on http://";
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("mlops serve exited early: " + read_text(io_.file("err")));
    }
    const std::string out = read_text(io_.file("out"));
    const auto at = out.find(marker);
    const auto colon = at == std::string::npos ? at : out.find(':', at + marker.size());
    if (port_ == 0 && colon != std::string::npos && colon + 1 < out.size()) port_ = std::atoi(out.c_str() + colon + 1);
    if (port_ != 0) {
      httplib::Client client("127.0.0.1", port_);
      if (auto res = client.Get("/health"); res && res->status == 200) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::string so_far = log();
  ::kill(pid_, SIGKILL);  // the destructor does not run for a constructor that throws
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  throw std::runtime_error("the server did not become ready in 10 s: " + so_far);
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

int ServerProcess::terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;  // the destructor kills it
}

std::string ServerProcess::log() const { return read_text(io_.file("err")); }
std::string ServerProcess::output() const { return read_text(io_.file("out")); }

}  // namespace mlops::test
