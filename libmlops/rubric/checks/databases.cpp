#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <cstdint>
#include <filesystem>
#include <optional>

#include "libmlops/core/error.hpp"
#include "libmlops/rubric/checks/common.hpp"
#include "libmlops/rubric/checks/kinds.hpp"
#include "libmlops/mlflow/client.hpp"
#include "libmlops/registry/registry_store.hpp"
#include "libmlops/sqlite/database.hpp"

namespace mlops::rubric::checks {
namespace {

using nlohmann::json;

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

}  // namespace

CheckPtr sqlite(const YAML::Node& n, const std::string& file) { return std::make_shared<Sqlite>(n, file); }
CheckPtr registry(const YAML::Node& n, const std::string& file) { return std::make_shared<Registry>(n, file); }

}  // namespace mlops::rubric::checks
