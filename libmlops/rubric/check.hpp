// rubric: the automated checks a criterion can carry, each answering pass or fail with a
// reason a learner can act on (expected vs got).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "libmlops/rubric/process.hpp"

namespace YAML { class Node; }

namespace mlops::rubric {

struct CheckContext {
  std::string workspace;                         // files and commands are relative to it
  std::map<std::string, std::string> variables;  // {server} -> http://127.0.0.1:8000
  double timeout_seconds = 10;                   // per check, unless the check sets its own
  Sandbox sandbox;                               // how `command` checks run (process.hpp)
  std::string expand(const std::string& text) const;  // replaces {name} with its variable
};

struct CheckResult {
  bool passed = false;
  std::string reason;  // why it failed (or what passed), one line
};

class Check {
 public:
  virtual ~Check() = default;
  // Never throws: a failure of any kind (unreachable server, timeout, bad file) is a
  // failed result with its reason.
  virtual CheckResult run(const CheckContext& context) const = 0;
  // True for a check that runs a shell command from the workspace (the sandbox's concern).
  virtual bool runs_commands() const { return false; }
};

// Parses a `check:` node. Kinds: file_exists, file_contains, env_file, command, http,
// metrics, prometheus, mlflow_run, sqlite, registry, junit, json, yaml, all_of, any_of. Throws Error{invalid_input} naming file, line, field.
std::shared_ptr<const Check> parse_check(const YAML::Node& node, const std::string& file);

}  // namespace mlops::rubric
