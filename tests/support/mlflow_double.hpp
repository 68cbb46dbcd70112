// Test double of an MLflow 2.9 tracking server — the part of its REST API that mlops uses,
// answering as ../shared/MLFLOW-REST.md records a real server: paths, JSON shapes (empty
// fields omitted, ids and versions as strings), error_code values with their HTTP statuses,
// HTML pages for unknown routes and wrong methods, and the recorded quirks (DELETE reads a
// JSON body, a missing artifact is a 500, version search omits aliases, a numeric version in
// transition-stage is refused). Served over real HTTP on 127.0.0.1 so a separate `mlops`
// process talks to it as it would to MLflow. MLflow itself cannot be installed here.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace mlops::test {

class MlflowDouble {
 public:
  explicit MlflowDouble(int port = 0);  // listens on 127.0.0.1:port (0 = an ephemeral port)
  ~MlflowDouble();  // stops; a request held by hold_after() is released
  MlflowDouble(const MlflowDouble&) = delete;
  MlflowDouble& operator=(const MlflowDouble&) = delete;

  std::string url() const;  // http://127.0.0.1:PORT
  int port() const;
  void stop();     // "MLflow is down": the port refuses connections; the state is kept
  void restart();  // up again on the same port with the same state

  // Faults. fail_next: the next n API calls answer `status` with INTERNAL_ERROR (nothing
  // done). reject: calls whose path and body contain both parts answer 400
  // INVALID_PARAMETER_VALUE, as a server-side rule would, until clear_faults().
  // hold_after: the next call whose path contains `path_part` is carried out, then its
  // answer is held (the client times out or is killed) until clear_faults() or stop.
  void fail_next(int n, int status = 500);
  void reject(const std::string& path_part, const std::string& body_part, const std::string& message);
  void hold_after(const std::string& path_part);
  void clear_faults();
  // Every API call then needs this bearer token (401 without it, as MLflow's basic-auth app).
  void require_token(const std::string& token);

  // Inspection. calls(): API calls seen whose "METHOD path" contains `part`.
  int calls(const std::string& part) const;
  // {experiments:[...], runs:[{info, params, metrics, tags}], models:[{name, aliases,
  // versions:[...]}], artifacts:{path: bytes}} — what an MLflow UI would show.
  nlohmann::json state() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlops::test
