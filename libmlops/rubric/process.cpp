#include "libmlops/rubric/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <thread>

#include "libmlops/core/error.hpp"

namespace mlops::rubric {
namespace {

constexpr std::size_t kMaxOutputBytes = 64 * 1024;
constexpr const char* kSandboxHome = "/tmp/home";

// MLOPS_BWRAP names bwrap where it is installed elsewhere (or, empty or missing, none).
std::optional<std::string> find_bwrap() {
  if (const char* named = std::getenv("MLOPS_BWRAP")) {
    if (::access(named, X_OK) == 0) return std::string(named);
    return std::nullopt;
  }
  for (const char* candidate : {"/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"}) {
    if (::access(candidate, X_OK) == 0) return std::string(candidate);
  }
  return std::nullopt;
}

// The bubblewrap command line around `/bin/sh -c COMMAND`. bwrap itself is PID 1's parent
// and its environment is readable inside (/proc/1/environ): it is started with nothing
// but the check's environment, never the grader's.
std::vector<std::string> sandbox_argv(const std::string& bwrap, const CommandSpec& spec) {
  std::vector<std::string> a = {bwrap,
                                "--die-with-parent",  // the grader gone, the sandbox goes
                                "--new-session",      // no TIOCSTI into the grader's terminal
                                "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "sandbox",
                                "--ro-bind", "/", "/",  // the system, read-only
                                "--dev", "/dev", "--proc", "/proc",
                                // Unix sockets stay connectable on a read-only mount: /run's
                                // (Docker's, podman's, D-Bus's) are hidden.
                                "--tmpfs", "/run", "--tmpfs", "/tmp", "--dir", kSandboxHome};
  // /etc/resolv.conf may point into /run (systemd-resolved): keep it resolvable.
  std::error_code ec;
  const std::string resolv = std::filesystem::canonical("/etc/resolv.conf", ec).string();
  if (!ec && resolv.rfind("/run/", 0) == 0) a.insert(a.end(), {"--ro-bind", resolv, resolv});
  // Read-only folders first, so that a writable one inside them stays writable.
  const auto bind = [&](const std::string& dir, const char* how, const char* what) {
    const std::string real = std::filesystem::canonical(dir, ec).string();
    if (ec || !std::filesystem::is_directory(real)) {
      throw Error(ErrorCode::invalid_input, fmt::format("{} is not a folder: it cannot be made {} for the check", dir, what));
    }
    a.insert(a.end(), {how, real, real});
  };
  for (const std::string& dir : spec.sandbox.readable) bind(dir, "--ro-bind", "readable");
  std::vector<std::string> writable = spec.sandbox.writable;
  if (!spec.workspace.empty()) writable.insert(writable.begin(), spec.workspace);
  for (const std::string& dir : writable) bind(dir, "--bind", "writable");
  const std::string workdir = spec.workspace.empty() ? "/" : std::filesystem::canonical(spec.workspace, ec).string();
  a.insert(a.end(), {"--chdir", workdir, "--", "/bin/sh", "-c", spec.command});
  return a;
}

// Reads both pipes until they close or the deadline passes; false on the deadline.
bool drain(int out_fd, int err_fd, std::chrono::steady_clock::time_point deadline, std::string& out, std::string& err) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    if (::poll(fds, 2, static_cast<int>(left)) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buffer[4096];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      std::string& into = i == 0 ? out : err;
      if (into.size() < kMaxOutputBytes) into.append(buffer, std::min<std::size_t>(static_cast<std::size_t>(n), kMaxOutputBytes - into.size()));
    }
  }
  return true;
}

struct Fd {
  int fd = -1;
  ~Fd() { if (fd >= 0) ::close(fd); }
};

}  // namespace

CommandOutcome run_command(const CommandSpec& spec) {
  std::vector<std::string> environment = spec.environment;
  std::vector<std::string> argv_store;
  if (spec.sandbox.enabled) {
    const std::optional<std::string> bwrap = find_bwrap();
    if (!bwrap) throw Error(ErrorCode::unavailable, "bubblewrap (bwrap) is not installed", "run `make deps`, or pass --no-sandbox");
    argv_store = sandbox_argv(*bwrap, spec);
    std::erase_if(environment, [](const std::string& e) { return e.rfind("HOME=", 0) == 0; });
    environment.push_back(std::string("HOME=") + kSandboxHome);  // empty, inside the sandbox
  } else {
    argv_store = {"/bin/sh", "-c", spec.command};
  }
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<char*> argv, envp;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);
  const double timeout = spec.timeout_seconds > 0 ? spec.timeout_seconds : 10;
  const rlim_t cpu = static_cast<rlim_t>(std::ceil(timeout)) + 1;
  const rlimit cpu_limit{cpu, cpu + 1};
  const rlimit data_limit{static_cast<rlim_t>(spec.sandbox.memory_limit_mb) << 20, static_cast<rlim_t>(spec.sandbox.memory_limit_mb) << 20};
  const rlimit no_core{0, 0};
  const char* workdir = spec.workspace.empty() ? "/" : spec.workspace.c_str();

  int out_pipe[2], err_pipe[2];
  Fd devnull{::open("/dev/null", O_RDONLY | O_CLOEXEC)};
  if (devnull.fd < 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) throw Error(ErrorCode::unavailable, "cannot create a pipe for the command");
  Fd out_read{out_pipe[0]}, out_write{out_pipe[1]};
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw Error(ErrorCode::unavailable, "cannot create a pipe for the command");
  Fd err_read{err_pipe[0]}, err_write{err_pipe[1]};

  const pid_t pid = ::fork();
  if (pid < 0) throw Error(ErrorCode::unavailable, "cannot start a process for the command (fork failed)");
  if (pid == 0) {
    ::setpgid(0, 0);  // its own group: the timeout ends everything it started
    if (::dup2(devnull.fd, 0) < 0 || ::dup2(out_pipe[1], 1) < 0 || ::dup2(err_pipe[1], 2) < 0) ::_exit(126);
    ::close_range(3, ~0U, 0);  // none of the grader's files, sockets or databases
    if (::chdir(workdir) != 0) ::_exit(126);
    ::setrlimit(RLIMIT_CPU, &cpu_limit);
    ::setrlimit(RLIMIT_DATA, &data_limit);
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_write.fd);
  out_write.fd = -1;
  ::close(err_write.fd);
  err_write.fd = -1;

  CommandOutcome outcome;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeout));
  bool done = drain(out_read.fd, err_read.fd, deadline, outcome.out, outcome.err);
  // Both pipes closed: wait for the exit (still before the deadline), leaving it a zombie
  // (WNOWAIT) so its process group id cannot be reused before the group is ended.
  siginfo_t info{};
  while (done) {
    info.si_pid = 0;
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 && errno != EINTR) break;
    if (info.si_pid == pid) break;
    if (std::chrono::steady_clock::now() >= deadline) done = false;
    else std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  outcome.timed_out = !done;
  ::kill(-pid, SIGKILL);  // what it left behind in its group (the sandbox's namespace ends with bwrap)
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (outcome.exit_code == 127 && outcome.err.empty() && !outcome.timed_out) {
    outcome.err = fmt::format("cannot start {}", argv_store[0]);
  }
  return outcome;
}

std::optional<std::string> sandbox_problem() {
  static std::once_flag once;
  static std::optional<std::string> problem;
  std::call_once(once, [] {
    if (!find_bwrap()) {
      const char* named = std::getenv("MLOPS_BWRAP");
      problem = named ? fmt::format("MLOPS_BWRAP={} is not an executable", named)
                      : "bubblewrap (bwrap) is not installed: run `make deps` (or apt-get install bubblewrap)";
      return;
    }
    CommandSpec probe;
    probe.command = "exit 0";
    probe.timeout_seconds = 10;
    try {
      const CommandOutcome o = run_command(probe);
      if (o.exit_code != 0) {
        std::string why = o.err.substr(0, o.err.find('\n'));
        problem = fmt::format("bwrap cannot create its namespaces here ({}): allow unprivileged user namespaces "
                              "(sysctl kernel.unprivileged_userns_clone=1) or run the grader as root",
                              why.empty() ? fmt::format("exit {}", o.exit_code) : why);
      }
    } catch (const Error& e) {
      problem = e.what();
    }
  });
  return problem;
}

}  // namespace mlops::rubric
