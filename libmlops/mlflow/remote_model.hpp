// mlflow: models served straight from MLflow's registry — `mlflow:models:/NAME@ALIAS`,
// `mlflow:models:/NAME/VERSION` or `mlflow:models:/NAME/STAGE`.
#pragma once
#include <string>
#include <string_view>

#include "libmlops/mlflow/client.hpp"
#include "libmlops/model/artifact.hpp"
#include "libmlops/registry/model_uri.hpp"

namespace mlops::mlflow {

inline constexpr std::string_view kUriScheme = "mlflow:";

bool is_mlflow_uri(std::string_view uri);

// Checks a model URI's syntax without resolving it: models:/..., mlflow:models:/... or a
// file path. With `mlflow`, an mlflow: URI also needs its tracking URI. Throws
// Error{invalid_input}.
void check_model_uri(std::string_view uri, const Connection* mlflow = nullptr);

struct RemoteModel {
  std::string name;
  std::string version;       // MLflow's version number
  std::string sha256;        // the mlops.sha256 tag the mirror wrote; "" for a version it did not write
  std::string version_tag;   // the model_version tag
};

// Asks MLflow which version the URI names now (one call: what a reload poll costs). Throws Error{invalid_input} for a malformed
// URI, Error{not_found} (MlflowError) when the model, version, stage or alias is missing.
RemoteModel resolve_remote_model(Client& client, std::string_view uri);

// Downloads the version's model.json into cache_dir/NAME/VERSION/ unless it is there
// already (versions are immutable), checks it against the sha256 tag, and returns the
// file's path. Throws
// Error{corrupt} when the bytes do not match.
std::string fetch_remote_model(Client& client, const RemoteModel& model, const std::string& cache_dir);

// Where model URIs are resolved.
struct ModelSources {
  std::string db_path;           // the local registry, for models:/ URIs
  Connection mlflow;             // MLflow, for mlflow:models:/ URIs
  std::string mlflow_cache_dir;  // where models fetched from MLflow are kept
};

// Any model URI a command accepts: mlflow:models:/... (fetched from MLflow and verified),
// models:/... (the local registry, sha256 checked) or a file. Fills `resolved` when given
// (for MLflow: its name, version number and the cached file). Throws Error{not_found|
// corrupt|invalid_input}, or Error{unavailable|timeout} when MLflow cannot be reached.
model::ModelArtifact load_any_model(std::string_view uri, const ModelSources& sources,
                                    registry::ResolvedModel* resolved = nullptr);

}  // namespace mlops::mlflow
