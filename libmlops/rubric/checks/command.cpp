#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <cctype>
#include <cstdlib>
#include <vector>

#include "libmlops/core/error.hpp"
#include "libmlops/rubric/checks/common.hpp"
#include "libmlops/rubric/checks/kinds.hpp"
#include "libmlops/rubric/process.hpp"

namespace mlops::rubric::checks {
namespace {

// The environment a command sees: PATH, HOME, LANG and TERM from the grader and the
// rubric's variables as RUBRIC_<NAME> — none of the grader's secrets.
std::vector<std::string> command_environment(const CheckContext& c) {
  std::vector<std::string> env;
  for (const char* keep : {"PATH", "HOME", "LANG", "TERM"}) {
    if (const char* v = std::getenv(keep)) env.push_back(fmt::format("{}={}", keep, v));
  }
  for (const auto& [k, v] : c.variables) {
    std::string name = "RUBRIC_" + k;
    for (char& ch : name) ch = std::isalnum(static_cast<unsigned char>(ch)) ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : '_';
    env.push_back(name + "=" + v);
  }
  return env;
}

// `/bin/sh -c RUN` in the workspace, sandboxed unless the grader runs with --no-sandbox:
// an exit code and, optionally, patterns its stdout and stderr must match.
class Command : public Check {
 public:
  Command(const YAML::Node& n, const std::string& file) : command_(need(n, "run", file)) {
    if (n["exit_code"]) exit_code_ = n["exit_code"].as<int>();
    if (n["timeout"]) timeout_ = n["timeout"].as<double>();
    if (n["stdout"]) stdout_ = std::make_shared<Regex>(n["stdout"].as<std::string>(), n, file);
    if (n["stderr"]) stderr_ = std::make_shared<Regex>(n["stderr"].as<std::string>(), n, file);
  }
  bool runs_commands() const override { return true; }
  CheckResult run(const CheckContext& c) const override {
    if (c.sandbox.enabled) {
      if (const auto why = sandbox_problem()) {
        return {false, fmt::format("not run: the sandbox cannot start ({}); --no-sandbox runs commands without it", *why)};
      }
    }
    CommandSpec spec;
    spec.command = c.expand(command_);
    spec.workspace = c.workspace;
    spec.environment = command_environment(c);
    spec.timeout_seconds = timeout_ > 0 ? timeout_ : c.timeout_seconds;
    spec.sandbox = c.sandbox;
    const std::string shown = shorten(spec.command, 60);
    CommandOutcome o;
    try {
      o = run_command(spec);
    } catch (const Error& e) {
      return {false, fmt::format("`{}` could not start: {}", shown, e.what())};
    }
    if (o.timed_out) return {false, fmt::format("`{}` did not finish within {} s", shown, spec.timeout_seconds)};
    if (o.exit_code != exit_code_) {
      return {false, fmt::format("`{}` exited {}, expected {}{}", shown, o.exit_code, exit_code_, o.err.empty() ? "" : ": " + shorten(o.err))};
    }
    if (stdout_ && !stdout_->search(o.out)) return {false, fmt::format("stdout has no match for /{}/: {}", stdout_->pattern(), shorten(o.out))};
    if (stderr_ && !stderr_->search(o.err)) return {false, fmt::format("stderr has no match for /{}/: {}", stderr_->pattern(), shorten(o.err))};
    return {true, fmt::format("`{}` exited {}", shown, o.exit_code)};
  }

 private:
  std::string command_;
  int exit_code_ = 0;
  double timeout_ = 0;
  std::shared_ptr<Regex> stdout_, stderr_;
};

}  // namespace

CheckPtr command(const YAML::Node& n, const std::string& file) { return std::make_shared<Command>(n, file); }

}  // namespace mlops::rubric::checks
