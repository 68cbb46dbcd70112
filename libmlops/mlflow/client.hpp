// mlflow: a client for MLflow's REST API 2.0 (tracking, artifacts proxy, model registry),
// as MLflow 2.9 answers it (../shared/MLFLOW-REST.md). Errors in MLflow's `error_code`
// become MlflowError; transport failures are Error{unavailable|timeout}.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "libmlops/core/error.hpp"
#include "libmlops/http/client.hpp"

namespace mlops::config { class Settings; }

namespace mlops::mlflow {

// Where MLflow is and how to talk to it: MLFLOW_TRACKING_URI and friends, named as MLflow's
// own client names them.
struct Connection {
  std::string tracking_uri;  // "" = no MLflow
  http::ClientOptions http;
};
// From MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN (bearer) or MLFLOW_TRACKING_USERNAME and
// _PASSWORD (basic), MLFLOW_TRACKING_INSECURE_TLS, MLFLOW_TRACKING_SERVER_CERT_PATH,
// MLFLOW_HTTP_REQUEST_TIMEOUT and MLFLOW_HTTP_REQUEST_MAX_RETRIES.
Connection connection_from(const config::Settings& settings);

// An error MLflow answered. permanent(): the request itself is wrong (a 4xx other than
// auth, throttling or a non-MLflow page) and sending it again cannot succeed.
class MlflowError : public Error {
 public:
  MlflowError(ErrorCode code, int http_status, std::string error_code, std::string message, std::string hint);
  int http_status() const noexcept { return http_status_; }
  const std::string& error_code() const noexcept { return error_code_; }  // "" when the body was not MLflow's JSON
  bool permanent() const noexcept;

 private:
  int http_status_;
  std::string error_code_;
};

using Tags = std::map<std::string, std::string>;

struct Metric {
  std::string key;
  double value = 0;
  std::int64_t timestamp = 0;  // epoch ms; MLflow requires one
  std::int64_t step = 0;
};

struct RunInfo {
  std::string run_id;
  std::string experiment_id;
  std::string status;
  std::string artifact_uri;  // mlflow-artifacts:/<experiment>/<run>/artifacts when proxied
  std::string lifecycle_stage = "active";  // or "deleted"
};

// A run with its data: params, the latest value of each metric, tags.
struct RunData {
  RunInfo info;
  Tags params;
  std::map<std::string, double> metrics;
  Tags tags;
};

struct RegisteredModel {
  std::string name;
  Tags tags;
  std::map<std::string, std::string> aliases;  // alias -> version (MLflow 2.9 keeps an alias of a deleted version)
};

struct ModelVersion {
  std::string name;
  std::string version;  // MLflow sends versions as strings
  std::string source;
  std::string run_id;
  std::string current_stage;
  std::vector<std::string> aliases;
  Tags tags;
};

class Client {
 public:
  // Throws Error{invalid_input} for a malformed tracking URI.
  explicit Client(const Connection& connection);
  const std::string& tracking_uri() const { return http_.base_url(); }

  // Tracking.
  std::optional<std::string> find_experiment_id(const std::string& name);  // get-by-name
  // Creates the experiment, or finds it when it already exists; returns its id.
  std::string ensure_experiment(const std::string& name);
  // "active" or "deleted" (deleted experiments keep their name until garbage-collected).
  std::string experiment_lifecycle(const std::string& experiment_id);
  void restore_experiment(const std::string& experiment_id);
  void restore_run(const std::string& run_id);
  RunInfo create_run(const std::string& experiment_id, const std::string& run_name, std::int64_t start_time,
                     const Tags& tags);
  RunInfo get_run(const std::string& run_id);
  // The newest run of the experiment carrying tag key=value (runs/search), deleted ones too.
  std::optional<RunInfo> find_run_by_tag(const std::string& experiment_id, const std::string& key,
                                         const std::string& value);
  // Sends in as many log-batch calls as MLflow's limits (100 params, 1000 metrics, 100 tags) need.
  // The newest active run of the experiment (runs/search), or nullopt when it has none.
  std::optional<RunData> latest_run(const std::string& experiment_id);
  void log_batch(const std::string& run_id, const Tags& params, const std::vector<Metric>& metrics, const Tags& tags);
  void update_run(const std::string& run_id, const std::string& status, std::int64_t end_time);

  // Artifacts through the proxy: `artifact_uri` is an mlflow-artifacts:/ URI (a run's or a
  // model version's), `path` a file below it. Error{invalid_input} for another scheme.
  void upload_artifact(const std::string& artifact_uri, const std::string& path, const std::string& bytes);
  std::string download_artifact(const std::string& artifact_uri, const std::string& path);

  // Model registry. ensure_registered_model: false when it existed already.
  bool ensure_registered_model(const std::string& name, const std::string& description, const Tags& tags);
  RegisteredModel get_registered_model(const std::string& name);
  // Every version of the model (model-versions/search; deleted ones are gone).
  std::vector<ModelVersion> list_versions(const std::string& name);
  void set_registered_model_tag(const std::string& name, const std::string& key, const std::string& value);
  ModelVersion create_model_version(const std::string& name, const std::string& source, const std::string& run_id,
                                    const std::string& description, const Tags& tags);
  // name "" = in any model.
  std::optional<ModelVersion> find_version_by_tag(const std::string& name, const std::string& key,
                                                  const std::string& value);
  std::optional<ModelVersion> find_any_version(const std::string& name);  // any version of the model
  ModelVersion get_version(const std::string& name, const std::string& version);
  ModelVersion get_version_by_alias(const std::string& name, const std::string& alias);
  std::optional<ModelVersion> latest_version_in_stage(const std::string& name, const std::string& stage);
  // The highest version of the model in any stage (what MLflow's models:/NAME/latest names).
  std::optional<ModelVersion> latest_version(const std::string& name);
  std::string download_uri(const std::string& name, const std::string& version);
  // Stage is one of None, Staging, Production, Archived (any case).
  ModelVersion transition_stage(const std::string& name, const std::string& version, const std::string& stage,
                                bool archive_existing_versions);
  void set_alias(const std::string& name, const std::string& alias, const std::string& version);
  void delete_alias(const std::string& name, const std::string& alias);
  void set_version_tag(const std::string& name, const std::string& version, const std::string& key,
                       const std::string& value);

 private:
  nlohmann::json call(const std::string& method, const std::string& path, const nlohmann::json& body,
                      bool idempotent);
  nlohmann::json get(const std::string& path_and_query);
  std::string where(const std::string& method, const std::string& path) const;

  http::Client http_;
};

}  // namespace mlops::mlflow
