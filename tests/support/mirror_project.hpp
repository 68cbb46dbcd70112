// Test helper: a learner's project (its own MLOPS_HOME in a temporary folder) whose
// registry mirrors to an MLflow at `url` — the test double or the real server.
#pragma once
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "libmlops/registry/registry_store.hpp"
#include "tests/support/support.hpp"

namespace mlops::test {

struct MirrorProject {
  TempDir dir;
  std::string home = dir.file(".mlops");
  std::vector<std::string> env;
  // retries: MLFLOW_HTTP_REQUEST_MAX_RETRIES; extra: more KEY=VALUE settings.
  MirrorProject(const std::string& url, int retries, const std::vector<std::string>& extra = {})
      : env{"MLFLOW_TRACKING_URI=" + url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES=" + std::to_string(retries)} {
    env.insert(env.end(), extra.begin(), extra.end());
  }
  CliResult run(const std::vector<std::string>& args, const std::vector<std::string>& more_env = {}) {
    std::vector<std::string> e = env;
    e.insert(e.end(), more_env.begin(), more_env.end());
    return run_cli(args, home, dir.path(), e);
  }
  // train --register of a small model tagged `tag` (written to TAG.json in the project).
  CliResult train(const std::string& tag, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"train", "--n-samples", "300", "--c-param", "0.5", "--model-version", tag,
                                     "-o", dir.file(tag + ".json"), "--register"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args);
  }
  nlohmann::json status() {
    const auto r = run({"mirror", "status", "--json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return nlohmann::json::parse(r.out);
  }
  std::string registry_id() {
    return registry::RegistryStore(home + "/mlops.db", registry::RegistryStore::Mode::read_only).registry_id();
  }
};

// The model named `name` in an MLflow state snapshot (double or real server), or nullptr.
inline const nlohmann::json* find_model(const nlohmann::json& state, const std::string& name) {
  for (const nlohmann::json& m : state["models"]) {
    if (m["name"] == name) return &m;
  }
  return nullptr;
}

}  // namespace mlops::test
