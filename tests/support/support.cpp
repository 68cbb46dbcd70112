#include "tests/support/support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace mlops::test {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "mlops-test-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  // Stored artifacts are read-only; make them removable first.
  for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
  }
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  const std::string path = file(name);
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::vector<std::string> environment(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  for (const auto& o : overrides) {  // replaces the inherited NAME= (getenv would take the first)
    const std::string name = o.substr(0, o.find('=') + 1);
    std::erase_if(env, [&](const std::string& entry) { return entry.rfind(name, 0) == 0; });
    env.push_back(o);
  }
  return env;
}

namespace {
std::vector<std::string> environment_with(const std::string& home, const std::vector<std::string>& extra) {
  std::vector<std::string> env = environment(extra);
  std::erase_if(env, [&](const std::string& entry) {  // isolate tests from the machine's settings
    const bool setting = entry.rfind("MLOPS_", 0) == 0 || entry.rfind("MODEL_", 0) == 0 || entry.rfind("MLFLOW_", 0) == 0;
    return setting && std::find(extra.begin(), extra.end(), entry) == extra.end();
  });
  if (!home.empty()) env.push_back("MLOPS_HOME=" + home);
  return env;
}

}  // namespace

int spawn_program(const std::string& program, const std::vector<std::string>& args, const std::vector<std::string>& env,
                  const std::string& cwd, const std::string& out_file, const std::string& err_file) {
  std::vector<std::string> argv_store = {program};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store = env;
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + program);
  return pid;
}

namespace {
int spawn(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& cwd,
          const std::string& out_file, const std::string& err_file) {
  return spawn_program(MLOPS_BINARY, args, env, cwd, out_file, err_file);
}
}  // namespace

int wait_exit_code(int pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int spawn_cli(const std::vector<std::string>& args, const std::string& home, const std::string& out_file,
              const std::string& err_file, const std::vector<std::string>& env, const std::string& cwd) {
  return spawn(args, environment_with(home, env), cwd, out_file, err_file);
}

int free_port() {  // the kernel's pick, closed again so that the test's server can bind it
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string raw_http(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return response;
}

CliResult run_cli(const std::vector<std::string>& args, const std::string& home, const std::string& cwd,
                  const std::vector<std::string>& env) {
  TempDir io;
  const int pid = spawn(args, environment_with(home, env), cwd, io.file("out"), io.file("err"));
  CliResult r;
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.max_rss_kb = usage.ru_maxrss;
  r.out = read_text(io.file("out"));
  r.err = read_text(io.file("err"));
  return r;
}

ErrorCode error_code_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.code();
  }
  throw std::runtime_error("expected an mlops::Error, but nothing was thrown");
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string test_data(const std::string& name) { return std::string(MLOPS_TEST_DATA) + "/" + name; }

CliResult run_page_check(const std::string& script, const std::vector<std::string>& args, const std::string& dir,
                         const std::string& screenshot_name, std::string& screenshot) {
  std::filesystem::create_directories("artifacts");
  screenshot = std::filesystem::absolute("artifacts/" + screenshot_name).string();
  std::filesystem::remove(screenshot);
  std::vector<std::string> full = {std::string(MLOPS_SOURCE_DIR) + "/tests/monitoring/" + script,
                                   std::string(MLOPS_SOURCE_DIR) + "/.tools"};
  full.insert(full.end(), args.begin(), args.end());
  full.push_back(screenshot);
  const std::string out = dir + "/" + script + ".out", err = dir + "/" + script + ".err";
  CliResult r;
  r.exit_code = wait_exit_code(spawn_program("/usr/bin/node", full, environment(), dir, out, err));
  r.out = read_text(out);
  r.err = read_text(err);
  return r;
}

}  // namespace mlops::test
