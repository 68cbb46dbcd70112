#include "libmlops/rubric/check.hpp"

#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "libmlops/core/error.hpp"
#include "libmlops/core/fs.hpp"
#include "libmlops/http/client.hpp"
#include "libmlops/mlflow/client.hpp"
#include "libmlops/registry/registry_store.hpp"
#include "libmlops/sqlite/database.hpp"

extern char** environ;

namespace mlops::rubric {
namespace {

using nlohmann::json;

std::string where(const YAML::Node& node, const std::string& file) {
  return fmt::format("{}:{}", file, node.Mark().line + 1);
}

[[noreturn]] void bad(const YAML::Node& node, const std::string& file, const std::string& message) {
  throw Error(ErrorCode::invalid_input, fmt::format("{}: {}", where(node, file), message),
              "see rubric/README.md for the check kinds and their fields");
}

std::string need(const YAML::Node& node, const char* key, const std::string& file) {
  const YAML::Node v = node[key];
  if (!v || !v.IsScalar() || v.as<std::string>().empty()) bad(node, file, fmt::format("this check needs '{}'", key));
  return v.as<std::string>();
}

std::string shorten(std::string s, std::size_t max = 120) {
  for (char& c : s) if (c == '\n' || c == '\r') c = ' ';
  return s.size() > max ? s.substr(0, max) + "…" : s;
}

// POSIX extended regular expressions (the same syntax as grep -E).
class Regex {
 public:
  Regex(const std::string& pattern, const YAML::Node& node, const std::string& file) : pattern_(pattern) {
    if (regcomp(&re_, pattern.c_str(), REG_EXTENDED | REG_NOSUB) != 0) bad(node, file, fmt::format("'{}' is not a valid regex", pattern));
  }
  ~Regex() { regfree(&re_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  bool search(const std::string& text) const { return regexec(&re_, text.c_str(), 0, nullptr, 0) == 0; }
  const std::string& pattern() const { return pattern_; }

 private:
  regex_t re_{};
  std::string pattern_;
};

std::filesystem::path in_workspace(const CheckContext& c, const std::string& path) {
  const std::filesystem::path p(c.expand(path));
  return p.is_absolute() ? p : std::filesystem::path(c.workspace) / p;
}

// A learner's workspace is untrusted: a relative path must stay inside it once symlinks are
// followed (an absolute path comes from the rubric or the grader, and is taken as given).
// nullopt when the path may be read; else why not.
std::optional<std::string> outside_workspace(const CheckContext& c, const std::string& path) {
  if (std::filesystem::path(c.expand(path)).is_absolute()) return std::nullopt;
  std::error_code ec;
  const std::string root = std::filesystem::weakly_canonical(c.workspace, ec).string();
  const std::string target = std::filesystem::weakly_canonical(in_workspace(c, path), ec).string();
  if (!ec && (target == root || target.rfind(root + "/", 0) == 0)) return std::nullopt;
  return fmt::format("{} is outside the workspace (it leads to {}): not read", path, target);
}

// The most a check reads of one file: more is refused, not loaded.
constexpr std::uintmax_t kMaxFileBytes = 16u << 20;

// Reads a file a check looks at: inside the workspace, a regular file (not a pipe that
// would block), at most kMaxFileBytes. Error{not_found|invalid_input} otherwise.
std::string read_workspace_file(const CheckContext& c, const std::string& path) {
  if (auto why = outside_workspace(c, path)) throw Error(ErrorCode::invalid_input, *why);
  const std::filesystem::path p = in_workspace(c, path);
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) throw Error(ErrorCode::not_found, fmt::format("{} does not exist in the workspace", path));
  if (!std::filesystem::is_regular_file(p, ec)) throw Error(ErrorCode::invalid_input, fmt::format("{} is not a regular file", path));
  const std::uintmax_t size = std::filesystem::file_size(p, ec);
  if (ec || size > kMaxFileBytes) {
    throw Error(ErrorCode::invalid_input, fmt::format("{} is larger than {} MB: not read", path, kMaxFileBytes >> 20));
  }
  return read_file(p.string());
}

bool compare(double got, const std::string& op, double expected) {
  return op == ">" ? got > expected : op == ">=" ? got >= expected : op == "<" ? got < expected : op == "<=" ? got <= expected
         : op == "==" ? got == expected : got != expected;
}

// An optional numeric comparison on a check: one of >, >=, <, <=, ==, !=.
struct Comparison {
  std::string op;
  double value = 0;
  Comparison() = default;
  Comparison(const YAML::Node& n, const std::string& file) {
    for (const char* candidate : {">", ">=", "<", "<=", "==", "!="}) {
      if (!n[candidate]) continue;
      if (!op.empty()) bad(n, file, "give one comparison");
      op = candidate;
      try {
        value = n[candidate].as<double>();
      } catch (const YAML::Exception&) {
        bad(n[candidate], file, fmt::format("'{}' compares with a number", candidate));
      }
    }
  }
  // nullopt when it holds (or there is none); else why not.
  std::optional<std::string> test(double got, const std::string& what) const {
    if (op.empty() || compare(got, op, value)) return std::nullopt;
    return fmt::format("{}: expected {} {}, got {}", what, op, value, got);
  }
};

// --- field assertions on JSON (HTTP bodies, json and yaml files) -------------------------

// One assertion: `path` (dotted, [i] for arrays) and one of equals, exists, type, regex,
// or a comparison (">", ">=", "<", "<=", "==", "!=") with a number.
struct FieldAssertion {
  std::string path;
  std::string op;
  json expected;
  std::shared_ptr<Regex> regex;
};

std::optional<json> lookup(const json& doc, const std::string& path) {
  const json* at = &doc;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') ++i;
    if (i < path.size() && path[i] == '[') {
      const std::size_t close = path.find(']', i);
      const std::size_t index = std::stoul(path.substr(i + 1, close - i - 1));
      if (!at->is_array() || index >= at->size()) return std::nullopt;
      at = &(*at)[index];
      i = close + 1;
      continue;
    }
    const std::size_t end = path.find_first_of(".[", i);
    const std::string key = path.substr(i, end == std::string::npos ? std::string::npos : end - i);
    if (!at->is_object() || !at->contains(key)) return std::nullopt;
    at = &(*at)[key];
    i = end == std::string::npos ? path.size() : end;
  }
  return *at;
}

// YAML's aliases let a few hundred bytes name billions of nodes ("billion laughs"): the
// conversion counts the nodes it builds and the depth, and stops past these.
constexpr std::size_t kMaxYamlNodes = 200'000;
constexpr int kMaxYamlDepth = 64;

json yaml_to_json(const YAML::Node& n, std::size_t& budget, int depth) {
  if (budget == 0 || --budget == 0) {
    throw Error(ErrorCode::invalid_input, fmt::format("more than {} YAML nodes once aliases are expanded: not read", kMaxYamlNodes));
  }
  if (depth > kMaxYamlDepth) throw Error(ErrorCode::invalid_input, fmt::format("YAML nested deeper than {} levels: not read", kMaxYamlDepth));
  if (n.IsMap()) {
    json j = json::object();
    for (const auto& kv : n) j[kv.first.as<std::string>()] = yaml_to_json(kv.second, budget, depth + 1);
    return j;
  }
  if (n.IsSequence()) {
    json j = json::array();
    for (const auto& v : n) j.push_back(yaml_to_json(v, budget, depth + 1));
    return j;
  }
  if (!n.IsScalar()) return nullptr;
  const std::string s = n.as<std::string>();
  if (n.Tag() == "!") return s;  // quoted: a string
  if (s == "true" || s == "false") return s == "true";
  try {
    std::size_t used = 0;
    const double d = std::stod(s, &used);
    if (used == s.size()) {
      if (d == std::floor(d) && std::abs(d) < 9e15) return static_cast<std::int64_t>(d);  // shown as 20, not 20.0
      return d;
    }
  } catch (const std::exception&) {
  }
  return s;
}

json yaml_to_json(const YAML::Node& n) {
  std::size_t budget = kMaxYamlNodes;
  return yaml_to_json(n, budget, 0);
}

std::vector<FieldAssertion> parse_fields(const YAML::Node& node, const std::string& file) {
  std::vector<FieldAssertion> out;
  const YAML::Node fields = node["fields"];
  if (!fields) return out;
  if (!fields.IsSequence()) bad(fields, file, "'fields' is a list of {path, equals|exists|type|regex|>|>=|<|<=|==|!=}");
  for (const auto& f : fields) {
    FieldAssertion a;
    a.path = need(f, "path", file);
    for (const char* op : {"equals", "exists", "type", "regex", ">", ">=", "<", "<=", "==", "!="}) {
      if (!f[op]) continue;
      if (!a.op.empty()) bad(f, file, fmt::format("field '{}' has two assertions; give one per entry", a.path));
      a.op = op;
      a.expected = yaml_to_json(f[op]);
      if (a.op == "regex") a.regex = std::make_shared<Regex>(f[op].as<std::string>(), f, file);
      if (std::string_view(op).find_first_of("<>=!") == 0 && !a.expected.is_number()) bad(f, file, fmt::format("'{}' compares with a number", op));
    }
    if (a.op.empty()) bad(f, file, fmt::format("field '{}' has no assertion (equals, exists, type, regex or a comparison)", a.path));
    out.push_back(std::move(a));
  }
  return out;
}

std::string type_name(const json& j) {
  if (j.is_string()) return "string";
  if (j.is_boolean()) return "boolean";
  if (j.is_number()) return "number";
  if (j.is_array()) return "array";
  if (j.is_object()) return "object";
  return "null";
}

// The first failing assertion's reason, or nullopt when all hold.
std::optional<std::string> check_fields(const json& doc, const std::vector<FieldAssertion>& fields) {
  for (const FieldAssertion& a : fields) {
    const std::optional<json> got = lookup(doc, a.path);
    if (a.op == "exists") {
      if (got.has_value() != a.expected.get<bool>()) return fmt::format("{}: expected {}", a.path, got ? "absent" : "present");
      continue;
    }
    if (!got) return fmt::format("{}: missing", a.path);
    const std::string shown = shorten(got->dump(), 60);
    if (a.op == "equals") {
      const bool same = (*got == a.expected) || (got->is_number() && a.expected.is_number() && got->get<double>() == a.expected.get<double>()) ||
                        (got->is_string() && !a.expected.is_string() && got->get<std::string>() == a.expected.dump());
      if (!same) return fmt::format("{}: expected {}, got {}", a.path, a.expected.dump(), shown);
    } else if (a.op == "type") {
      if (type_name(*got) != a.expected.get<std::string>()) return fmt::format("{}: expected a {}, got {}", a.path, a.expected.get<std::string>(), shown);
    } else if (a.op == "regex") {
      const std::string text = got->is_string() ? got->get<std::string>() : got->dump();
      if (!a.regex->search(text)) return fmt::format("{}: expected to match /{}/, got {}", a.path, a.regex->pattern(), shown);
    } else {
      if (!got->is_number()) return fmt::format("{}: expected a number {} {}, got {}", a.path, a.op, a.expected.dump(), shown);
      const double v = got->get<double>(), e = a.expected.get<double>();
      if (!compare(v, a.op, e)) return fmt::format("{}: expected {} {}, got {}", a.path, a.op, a.expected.dump(), shown);
    }
  }
  return std::nullopt;
}

// --- the kinds ----------------------------------------------------------------------------

class FileExists : public Check {
 public:
  FileExists(const YAML::Node& n, const std::string& file) : path_(need(n, "path", file)) {}
  CheckResult run(const CheckContext& c) const override {
    if (auto why = outside_workspace(c, path_)) return {false, *why};
    const auto p = in_workspace(c, path_);
    if (std::filesystem::exists(p)) return {true, fmt::format("{} exists", path_)};
    return {false, fmt::format("{} does not exist in the workspace", path_)};
  }

 private:
  std::string path_;
};

class FileContains : public Check {
 public:
  FileContains(const YAML::Node& n, const std::string& file)
      : path_(need(n, "path", file)), regex_(need(n, "regex", file), n, file) {}
  CheckResult run(const CheckContext& c) const override {
    try {
      if (regex_.search(read_workspace_file(c, path_))) return {true, fmt::format("{} matches /{}/", path_, regex_.pattern())};
      return {false, fmt::format("{} has no match for /{}/", path_, regex_.pattern())};
    } catch (const Error& e) {
      return {false, e.what()};
    }
  }

 private:
  std::string path_;
  Regex regex_;
};

class EnvFile : public Check {
 public:
  EnvFile(const YAML::Node& n, const std::string& file) : path_(n["path"] ? n["path"].as<std::string>() : ".env") {
    const YAML::Node keys = n["keys"];
    if (!keys || !keys.IsSequence() || keys.size() == 0) bad(n, file, "env_file needs 'keys': the settings the file must set");
    for (const auto& k : keys) keys_.push_back(k.as<std::string>());
  }
  CheckResult run(const CheckContext& c) const override {
    std::string text;
    try {
      text = read_workspace_file(c, path_);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::not_found) return {false, e.what()};
      return {false, fmt::format("{} is missing (copy .env.example to {})", path_, path_)};
    }
    std::vector<std::string> missing;
    for (const std::string& key : keys_) {
      bool found = false;
      std::size_t start = 0;
      while (!found && start < text.size()) {
        const std::size_t end = text.find('\n', start);
        std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (line.rfind("export ", 0) == 0) line = line.substr(7);
        found = line.rfind(key + "=", 0) == 0 && line.size() > key.size() + 1;
        start = end == std::string::npos ? text.size() : end + 1;
      }
      if (!found) missing.push_back(key);
    }
    if (missing.empty()) return {true, fmt::format("{} sets {}", path_, fmt::join(keys_, ", "))};
    return {false, fmt::format("{} does not set {}", path_, fmt::join(missing, ", "))};
  }

 private:
  std::string path_;
  std::vector<std::string> keys_;
};

// Runs `/bin/sh -c COMMAND` in the workspace with a scrubbed environment (PATH, HOME,
// LANG and the rubric's variables only: none of the grader's secrets), its output captured
// (the first 64 KB) and killed after the timeout.
class Command : public Check {
 public:
  Command(const YAML::Node& n, const std::string& file) : command_(need(n, "run", file)) {
    if (n["exit_code"]) exit_code_ = n["exit_code"].as<int>();
    if (n["timeout"]) timeout_ = n["timeout"].as<double>();
    if (n["stdout"]) stdout_ = std::make_shared<Regex>(n["stdout"].as<std::string>(), n, file);
    if (n["stderr"]) stderr_ = std::make_shared<Regex>(n["stderr"].as<std::string>(), n, file);
  }
  CheckResult run(const CheckContext& c) const override {
    const std::string command = c.expand(command_);
    const double timeout = timeout_ > 0 ? timeout_ : c.timeout_seconds;
    std::vector<std::string> env_store;
    for (const char* keep : {"PATH", "HOME", "LANG", "TERM"}) {
      if (const char* v = std::getenv(keep)) env_store.push_back(fmt::format("{}={}", keep, v));
    }
    for (const auto& [k, v] : c.variables) {
      std::string name = "RUBRIC_" + k;
      for (char& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      env_store.push_back(name + "=" + v);
    }
    int out_pipe[2], err_pipe[2];
    if (::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) return {false, "cannot create a pipe"};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
    posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
    posix_spawn_file_actions_addchdir_np(&actions, c.workspace.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // its own group, so a timeout kills its children too
    posix_spawnattr_setpgroup(&attr, 0);
    std::vector<std::string> argv_store = {"/bin/sh", "-c", command};
    std::vector<char*> argv, envp;
    for (auto& a : argv_store) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (rc != 0) {
      ::close(out_pipe[0]);
      ::close(err_pipe[0]);
      return {false, "cannot start /bin/sh"};
    }
    std::string out, err;
    bool timed_out = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout);
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      if (::poll(fds, 2, static_cast<int>(left)) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
        char buffer[4096];
        const ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
        if (n <= 0) {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          --open_fds;
        } else {
          std::string& into = i == 0 ? out : err;
          if (into.size() < 65536) into.append(buffer, static_cast<std::size_t>(n));
        }
      }
    }
    for (auto& f : fds) if (f.fd >= 0) ::close(f.fd);
    if (timed_out) ::kill(-pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) return {false, fmt::format("`{}` did not finish within {} s", shorten(command, 60), timeout)};
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != exit_code_) {
      return {false, fmt::format("`{}` exited {}, expected {}{}", shorten(command, 60), code, exit_code_,
                                 err.empty() ? "" : ": " + shorten(err))};
    }
    if (stdout_ && !stdout_->search(out)) return {false, fmt::format("stdout has no match for /{}/: {}", stdout_->pattern(), shorten(out))};
    if (stderr_ && !stderr_->search(err)) return {false, fmt::format("stderr has no match for /{}/: {}", stderr_->pattern(), shorten(err))};
    return {true, fmt::format("`{}` exited {}", shorten(command, 60), code)};
  }

 private:
  std::string command_;
  int exit_code_ = 0;
  double timeout_ = 0;
  std::shared_ptr<Regex> stdout_, stderr_;
};

// Splits http://host:port/path?query into the client's base and the path.
std::pair<std::string, std::string> split_url(const std::string& url) {
  const std::size_t scheme = url.find("://");
  const std::size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return {url, "/"};
  return {url.substr(0, slash), url.substr(slash)};
}

class Http : public Check {
 public:
  Http(const YAML::Node& n, const std::string& file)
      : method_(n["method"] ? n["method"].as<std::string>() : "GET"), url_(need(n, "url", file)),
        status_(n["status"] ? n["status"].as<int>() : 200), fields_(parse_fields(n, file)) {
    if (method_ != "GET" && method_ != "POST") bad(n, file, "method is GET or POST");
    if (n["body"]) body_ = n["body"].IsScalar() ? n["body"].as<std::string>() : yaml_to_json(n["body"]).dump();
    if (n["timeout"]) timeout_ = n["timeout"].as<double>();
  }
  CheckResult run(const CheckContext& c) const override {
    const std::string url = c.expand(url_);
    try {
      const auto [base, path] = split_url(url);
      http::Client client(base, {timeout_ > 0 ? timeout_ : c.timeout_seconds, 0, 0});
      const http::ClientResponse r = method_ == "GET" ? client.get(path) : client.post(path, c.expand(body_), "application/json");
      if (r.status != status_) return {false, fmt::format("{} {}: expected HTTP {}, got {}: {}", method_, url, status_, r.status, shorten(r.body))};
      if (fields_.empty()) return {true, fmt::format("{} {} answered {}", method_, url, r.status)};
      const json doc = json::parse(r.body, nullptr, false);
      if (doc.is_discarded()) return {false, fmt::format("{} {}: the answer is not JSON: {}", method_, url, shorten(r.body))};
      if (auto why = check_fields(doc, fields_)) return {false, fmt::format("{} {}: {}", method_, url, *why)};
      return {true, fmt::format("{} {} answered {} with the expected fields", method_, url, r.status)};
    } catch (const Error& e) {
      return {false, e.what()};
    }
  }

 private:
  std::string method_, url_, body_;
  int status_;
  double timeout_ = 0;
  std::vector<FieldAssertion> fields_;
};

// A metric in Prometheus text exposition: name, optional label filters, optional value test.
class Metrics : public Check {
 public:
  Metrics(const YAML::Node& n, const std::string& file)
      : url_(need(n, "url", file)), name_(need(n, "metric", file)), comparison_(n, file) {
    if (n["labels"]) {
      for (const auto& kv : n["labels"]) labels_[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
  }
  CheckResult run(const CheckContext& c) const override {
    const std::string url = c.expand(url_);
    try {
      const auto [base, path] = split_url(url);
      const http::ClientResponse r = http::Client(base, {c.timeout_seconds, 0, 0}).get(path);
      if (r.status != 200) return {false, fmt::format("GET {}: HTTP {}", url, r.status)};
      double total = 0;
      int series = 0;
      std::size_t start = 0;
      while (start < r.body.size()) {
        const std::size_t end = r.body.find('\n', start);
        const std::string line = r.body.substr(start, end == std::string::npos ? std::string::npos : end - start);
        start = end == std::string::npos ? r.body.size() : end + 1;
        if (line.empty() || line[0] == '#' || line.rfind(name_, 0) != 0) continue;
        const char next = line.size() > name_.size() ? line[name_.size()] : ' ';
        if (next != '{' && next != ' ') continue;
        bool match = true;
        for (const auto& [k, v] : labels_) match = match && line.find(fmt::format("{}=\"{}\"", k, v)) != std::string::npos;
        if (!match) continue;
        ++series;
        total += std::stod(line.substr(line.rfind(' ') + 1));
      }
      std::vector<std::string> filters;
      for (const auto& [k, v] : labels_) filters.push_back(fmt::format("{}=\"{}\"", k, v));
      const std::string what = labels_.empty() ? name_ : fmt::format("{}{{{}}}", name_, fmt::join(filters, ","));
      if (series == 0) return {false, fmt::format("{} has no {}", url, what)};
      if (auto why = comparison_.test(total, what)) return {false, *why};
      return {true, fmt::format("{} = {}", what, total)};
    } catch (const Error& e) {
      return {false, e.what()};
    }
  }

 private:
  std::string url_, name_;
  std::map<std::string, std::string> labels_;
  Comparison comparison_;
};

// Field assertions on a JSON or YAML file of the workspace.
class DocumentFile : public Check {
 public:
  DocumentFile(const YAML::Node& n, const std::string& file, bool yaml)
      : path_(need(n, "path", file)), yaml_(yaml), fields_(parse_fields(n, file)) {}
  CheckResult run(const CheckContext& c) const override {
    json doc;
    try {
      const std::string text = read_workspace_file(c, path_);
      // yaml-cpp spends a few hundred bytes a node: YAML documents are held to 2 MB.
      if (yaml_ && text.size() > (2u << 20)) return {false, fmt::format("{} is larger than 2 MB: not read as YAML", path_)};
      doc = yaml_ ? yaml_to_json(YAML::Load(text)) : json::parse(text);
    } catch (const std::exception& e) {
      return {false, fmt::format("{} cannot be read as {}: {}", path_, yaml_ ? "YAML" : "JSON", shorten(e.what()))};
    }
    if (auto why = check_fields(doc, fields_)) return {false, fmt::format("{}: {}", path_, *why)};
    return {true, fmt::format("{} has the expected fields", path_)};
  }

 private:
  std::string path_;
  bool yaml_;
  std::vector<FieldAssertion> fields_;
};


// A PromQL query through Prometheus's HTTP API: valid, non-empty, and optionally compared.
class Prometheus : public Check {
 public:
  Prometheus(const YAML::Node& n, const std::string& file)
      : url_(n["url"] ? n["url"].as<std::string>() : "{prometheus}"), query_(need(n, "query", file)), comparison_(n, file) {}
  CheckResult run(const CheckContext& c) const override {
    const std::string base = c.expand(url_);
    const std::string query = c.expand(query_);
    if (base.find('{') != std::string::npos) return {false, "no Prometheus URL: pass --prometheus URL"};
    try {
      const http::ClientResponse r = http::Client(base, {c.timeout_seconds, 0, 0}).get("/api/v1/query?query=" + http::url_encode(query));
      const json body = json::parse(r.body, nullptr, false);
      if (body.is_discarded()) return {false, fmt::format("{} is not Prometheus (HTTP {}: {})", base, r.status, shorten(r.body))};
      if (body.value("status", "") != "success") return {false, fmt::format("`{}`: {}", query, body.value("error", "query failed"))};
      const json& result = body["data"]["result"];
      if (!result.is_array() || result.empty()) return {false, fmt::format("`{}` returned no data", query)};
      const double value = std::stod(result[0]["value"][1].get<std::string>());
      if (auto why = comparison_.test(value, fmt::format("`{}`", query))) return {false, *why};
      return {true, fmt::format("`{}` = {}", query, value)};
    } catch (const Error& e) {
      return {false, e.what()};
    } catch (const std::exception& e) {
      return {false, fmt::format("`{}`: unexpected answer ({})", query, e.what())};
    }
  }

 private:
  std::string url_, query_;
  Comparison comparison_;
};

// A query on an existing SQLite file of the workspace: the first column of the
// first row equals a value or compares with a number.
class Sqlite : public Check {
 public:
  Sqlite(const YAML::Node& n, const std::string& file) : path_(need(n, "path", file)), query_(need(n, "query", file)), comparison_(n, file) {
    if (n["equals"]) equals_ = n["equals"].as<std::string>();
  }
  CheckResult run(const CheckContext& c) const override {
    if (auto why = outside_workspace(c, path_)) return {false, *why};
    const std::string path = in_workspace(c, path_).string();
    if (!std::filesystem::exists(path)) return {false, fmt::format("{} does not exist in the workspace", path_)};
    if (!std::filesystem::is_regular_file(path)) return {false, fmt::format("{} is not a regular file", path_)};
    try {
      // Read-only: grading never changes a database (no journal mode switch, no write).
      sqlite::Database db(path, 5000, sqlite::Access::read_only);
      sqlite::Statement s(db, c.expand(query_));
      if (!s.step()) return {false, fmt::format("`{}` returned no row", query_)};
      const std::string got = s.column_text(0);
      if (equals_ && got != *equals_) return {false, fmt::format("`{}`: expected {}, got {}", query_, *equals_, got)};
      if (!comparison_.op.empty()) {
        if (auto why = comparison_.test(s.column_double(0), fmt::format("`{}`", query_))) return {false, *why};
      }
      return {true, fmt::format("`{}` = {}", query_, got)};
    } catch (const Error& e) {
      return {false, e.what()};
    }
  }

 private:
  std::string path_, query_;
  std::optional<std::string> equals_;
  Comparison comparison_;
};

// A registered model in the workspace's registry: a version, a stage and/or an alias.
class Registry : public Check {
 public:
  Registry(const YAML::Node& n, const std::string& file)
      : path_(n["path"] ? n["path"].as<std::string>() : ".mlops/mlops.db"), model_(need(n, "model", file)) {
    if (n["version"]) version_ = n["version"].as<std::int64_t>();
    if (n["stage"]) {
      stage_ = registry::parse_stage(n["stage"].as<std::string>());
      if (!stage_) bad(n["stage"], file, "stage is None, Staging, Production or Archived");
    }
    if (n["alias"]) alias_ = n["alias"].as<std::string>();
    if (n["mlflow"]) mlflow_ = n["mlflow"].as<std::string>();
  }
  CheckResult run(const CheckContext& c) const override {
    if (auto why = outside_workspace(c, path_)) return {false, *why};
    const std::string path = in_workspace(c, path_).string();
    if (!std::filesystem::exists(path)) return {false, fmt::format("no registry at {} (run `mlops train --register`)", path_)};
    try {
      // Read-only: grading must not change (or migrate) the learner's registry.
      registry::RegistryStore store(path, registry::RegistryStore::Mode::read_only);
      if (!store.find_model(model_)) return {false, fmt::format("model {} is not registered", model_)};
      if (version_ && !store.find_version(model_, *version_)) return {false, fmt::format("{} has no version {}", model_, *version_)};
      if (stage_ && !store.find_latest_in_stage(model_, *stage_)) {
        return {false, fmt::format("{} has no version in stage {}", model_, registry::to_string(*stage_))};
      }
      if (alias_ && !store.find_by_alias(model_, *alias_)) return {false, fmt::format("{} has no alias @{}", model_, *alias_)};
      if (mlflow_) return in_mlflow(store, c.expand(*mlflow_), c.timeout_seconds);
      return {true, fmt::format("{} is registered as asked", model_)};
    } catch (const Error& e) {
      return {false, e.what()};
    }
  }

 private:
  // The asked version, as this workspace registered it, is in MLflow — found by the origin
  // tag only this registry writes (not any version of that name, which another registry
  // sharing the MLflow may own) — with the same bytes and, when asked, the same stage.
  CheckResult in_mlflow(registry::RegistryStore& store, const std::string& url, double timeout) const {
    std::optional<registry::ModelVersion> local;
    if (version_) local = store.find_version(model_, *version_);
    else if (stage_) local = store.find_latest_in_stage(model_, *stage_);
    else if (alias_) local = store.find_by_alias(model_, *alias_);
    else if (const auto m = store.find_model(model_)) local = store.find_version(model_, m->latest_version);
    if (!local) return {false, fmt::format("{} has no version to look for in MLflow", model_)};
    const std::string origin = fmt::format("{}/version/{}/{}", store.registry_id(), model_, local->version);
    mlflow::Connection connection{url, {}};
    connection.http.timeout_seconds = timeout;
    connection.http.retries = 0;
    mlflow::Client client(connection);
    const auto remote = client.find_version_by_tag("", "mlops.origin", origin);
    if (!remote) {
      return {false, fmt::format("{} version {} of this workspace is not in MLflow at {} (run `mlops mirror`)", model_,
                                 local->version, url)};
    }
    const auto sha = remote->tags.find("mlops.sha256");
    if (sha == remote->tags.end() || sha->second != local->artifact_sha256) {
      return {false, fmt::format("MLflow's {} version {} does not hold this workspace's artifact", remote->name, remote->version)};
    }
    if (stage_ && registry::parse_stage(remote->current_stage) != stage_) {
      return {false, fmt::format("MLflow's {} version {} is in stage {}, not {}", remote->name, remote->version,
                                 remote->current_stage, registry::to_string(*stage_))};
    }
    return {true, fmt::format("{} version {} is MLflow's {} version {}{}", model_, local->version, remote->name,
                              remote->version, stage_ ? fmt::format(" ({})", remote->current_stage) : "")};
  }

  std::string path_, model_;
  std::optional<std::int64_t> version_;
  std::optional<registry::Stage> stage_;
  std::optional<std::string> alias_;
  std::optional<std::string> mlflow_;  // also check that MLflow at this URL has the version
};

// A JUnit XML report: no failures or errors, at least `min_tests` tests.
class Junit : public Check {
 public:
  Junit(const YAML::Node& n, const std::string& file) : path_(need(n, "path", file)) {
    if (n["min_tests"]) min_tests_ = n["min_tests"].as<int>();
  }
  CheckResult run(const CheckContext& c) const override {
    std::string xml;
    try {
      xml = read_workspace_file(c, path_);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::not_found) return {false, e.what()};
      return {false, fmt::format("{} is missing (write a JUnit report, e.g. ctest --output-junit)", path_)};
    }
    // Counts the <testcase> elements and the <failure>/<error> elements inside them.
    const auto count = [&](const std::string& tag) {
      int n = 0;
      for (std::size_t at = xml.find("<" + tag); at != std::string::npos; at = xml.find("<" + tag, at + 1)) {
        const char next = at + tag.size() + 1 < xml.size() ? xml[at + tag.size() + 1] : ' ';
        n += next == ' ' || next == '>' || next == '/' || next == '\n';
      }
      return n;
    };
    if (xml.find("<testsuite") == std::string::npos) return {false, fmt::format("{} is not a JUnit report", path_)};
    const int tests = count("testcase"), failures = count("failure") + count("error");
    if (failures > 0) return {false, fmt::format("{}: {} of {} tests failed", path_, failures, tests)};
    if (tests < min_tests_) return {false, fmt::format("{}: {} tests, expected at least {}", path_, tests, min_tests_)};
    return {true, fmt::format("{}: {} tests passed", path_, tests)};
  }

 private:
  std::string path_;
  int min_tests_ = 1;
};

class Combined : public Check {
 public:
  Combined(const YAML::Node& n, const std::string& file, bool all) : all_(all) {
    const YAML::Node list = n["checks"];
    if (!list || !list.IsSequence() || list.size() == 0) bad(n, file, fmt::format("{} needs 'checks': a list of checks", all ? "all_of" : "any_of"));
    for (const auto& c : list) checks_.push_back(parse_check(c, file));
  }
  CheckResult run(const CheckContext& c) const override {
    std::vector<std::string> reasons;
    for (const auto& check : checks_) {
      CheckResult r = check->run(c);
      if (all_ && !r.passed) return r;
      if (!all_ && r.passed) return r;
      reasons.push_back(r.reason);
    }
    return {all_, all_ ? fmt::format("all {} checks pass", checks_.size()) : fmt::format("none passes: {}", fmt::join(reasons, "; "))};
  }

 private:
  bool all_;
  std::vector<std::shared_ptr<const Check>> checks_;
};

}  // namespace

std::string CheckContext::expand(const std::string& text) const {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '{') {
      const std::size_t close = text.find('}', i);
      if (close != std::string::npos) {
        auto it = variables.find(text.substr(i + 1, close - i - 1));
        if (it != variables.end()) {
          out += it->second;
          i = close;
          continue;
        }
      }
    }
    out += text[i];
  }
  return out;
}

std::shared_ptr<const Check> parse_check(const YAML::Node& node, const std::string& file) {
  if (!node.IsMap()) bad(node, file, "a check is a mapping with a 'kind'");
  const std::string kind = need(node, "kind", file);
  if (kind == "file_exists") return std::make_shared<FileExists>(node, file);
  if (kind == "file_contains") return std::make_shared<FileContains>(node, file);
  if (kind == "env_file") return std::make_shared<EnvFile>(node, file);
  if (kind == "command") return std::make_shared<Command>(node, file);
  if (kind == "http") return std::make_shared<Http>(node, file);
  if (kind == "metrics") return std::make_shared<Metrics>(node, file);
  if (kind == "prometheus") return std::make_shared<Prometheus>(node, file);
  if (kind == "sqlite") return std::make_shared<Sqlite>(node, file);
  if (kind == "registry") return std::make_shared<Registry>(node, file);
  if (kind == "junit") return std::make_shared<Junit>(node, file);
  if (kind == "json" || kind == "yaml") return std::make_shared<DocumentFile>(node, file, kind == "yaml");
  if (kind == "all_of" || kind == "any_of") return std::make_shared<Combined>(node, file, kind == "all_of");
  bad(node["kind"], file,
      fmt::format("unknown check kind '{}' (known: file_exists, file_contains, env_file, command, http, metrics, prometheus, sqlite, "
                  "registry, junit, json, yaml, all_of, any_of)", kind));
}

}  // namespace mlops::rubric
