// Test helper: a real MLflow 2.9 tracking server (../shared/mlflow-server, installed into the
// build tree by scripts/mlflow_server.sh) in its own folder on a free loopback port, with a
// REST helper and a snapshot of what it holds, comparable with MlflowDouble::state().
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/support.hpp"

namespace mlops::test {

// Where the server is installed (MLOPS_REAL_MLFLOW, set by ctest), "" when it is not.
std::string real_mlflow_install();

class RealMlflow {
 public:
  RealMlflow();   // starts it (5-10 s); throws std::runtime_error when it cannot
  ~RealMlflow();  // stops it (its process group only) and removes its folder
  RealMlflow(const RealMlflow&) = delete;
  RealMlflow& operator=(const RealMlflow&) = delete;

  std::string url() const;
  void stop();     // the port refuses connections; the database is kept
  void restart();  // up again on the same port with the same data
  void kill();     // SIGKILL to the whole server, as a crash

  // One REST call: {status, body as JSON (null when not JSON)}. GET sends `body` as the query.
  struct Answer {
    int status = 0;
    nlohmann::json body;
  };
  Answer call(const std::string& method, const std::string& route, const nlohmann::json& body = nlohmann::json::object()) const;

  // {experiments:[{experiment_id,name,lifecycle_stage}], runs:[{info, params, metrics, tags}],
  // models:[{name, tags, aliases:{alias: version}, versions:[...]}]} — runs of every experiment.
  nlohmann::json state() const;

 private:
  void start();
  TempDir dir_;
  int port_ = 0;
};

}  // namespace mlops::test
