#include "libmlops/rubric/check.hpp"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "libmlops/rubric/checks/common.hpp"
#include "libmlops/rubric/checks/kinds.hpp"

namespace mlops::rubric {
namespace {

using checks::bad;
using checks::need;

// all_of / any_of: the first failing (all_of) or passing (any_of) check decides.
class Combined : public Check {
 public:
  Combined(const YAML::Node& n, const std::string& file, bool all) : all_(all) {
    const YAML::Node list = n["checks"];
    if (!list || !list.IsSequence() || list.size() == 0) bad(n, file, fmt::format("{} needs 'checks': a list of checks", all ? "all_of" : "any_of"));
    for (const auto& c : list) checks_.push_back(parse_check(c, file));
  }
  bool runs_commands() const override {
    return std::any_of(checks_.begin(), checks_.end(), [](const auto& c) { return c->runs_commands(); });
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
  if (!node.IsMap()) checks::bad(node, file, "a check is a mapping with a 'kind'");
  const std::string kind = need(node, "kind", file);
  if (kind == "file_exists") return checks::file_exists(node, file);
  if (kind == "file_contains") return checks::file_contains(node, file);
  if (kind == "env_file") return checks::env_file(node, file);
  if (kind == "command") return checks::command(node, file);
  if (kind == "http") return checks::http(node, file);
  if (kind == "metrics") return checks::metrics(node, file);
  if (kind == "prometheus") return checks::prometheus(node, file);
  if (kind == "mlflow_run") return checks::mlflow_run(node, file);
  if (kind == "sqlite") return checks::sqlite(node, file);
  if (kind == "registry") return checks::registry(node, file);
  if (kind == "junit") return checks::junit(node, file);
  if (kind == "json" || kind == "yaml") return checks::document(node, file, kind == "yaml");
  if (kind == "all_of" || kind == "any_of") return std::make_shared<Combined>(node, file, kind == "all_of");
  checks::bad(node["kind"], file,
      fmt::format("unknown check kind '{}' (known: file_exists, file_contains, env_file, command, http, metrics, prometheus, mlflow_run, sqlite, "
                  "registry, junit, json, yaml, all_of, any_of)", kind));
}

}  // namespace mlops::rubric
