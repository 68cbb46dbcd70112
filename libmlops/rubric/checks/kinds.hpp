// rubric/checks: one factory per check kind, each parsing its `check:` node (Error{invalid_input}
// naming file, line and field). parse_check() in check.cpp picks the kind.
#pragma once
#include <memory>
#include <string>

#include "libmlops/rubric/check.hpp"

namespace mlops::rubric::checks {

using CheckPtr = std::shared_ptr<const Check>;

// files.cpp: file_exists, file_contains, env_file
CheckPtr file_exists(const YAML::Node& node, const std::string& file);
CheckPtr file_contains(const YAML::Node& node, const std::string& file);
CheckPtr env_file(const YAML::Node& node, const std::string& file);
// documents.cpp: json, yaml (field assertions on a workspace file), junit (a test report)
CheckPtr document(const YAML::Node& node, const std::string& file, bool yaml);
CheckPtr junit(const YAML::Node& node, const std::string& file);
// command.cpp: a shell command, sandboxed (process.hpp)
CheckPtr command(const YAML::Node& node, const std::string& file);
// web.cpp: http (status and fields of an answer), metrics (Prometheus text), prometheus (PromQL),
// mlflow_run (the newest run of an MLflow experiment logs these params and metrics)
CheckPtr http(const YAML::Node& node, const std::string& file);
CheckPtr metrics(const YAML::Node& node, const std::string& file);
CheckPtr prometheus(const YAML::Node& node, const std::string& file);
CheckPtr mlflow_run(const YAML::Node& node, const std::string& file);
// databases.cpp: sqlite (a query), registry (a registered model, optionally in MLflow)
CheckPtr sqlite(const YAML::Node& node, const std::string& file);
CheckPtr registry(const YAML::Node& node, const std::string& file);

}  // namespace mlops::rubric::checks
