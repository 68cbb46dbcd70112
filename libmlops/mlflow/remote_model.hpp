// mlflow: models served straight from MLflow's registry — `mlflow:models:/NAME@ALIAS`,
// `mlflow:models:/NAME/VERSION` or `mlflow:models:/NAME/STAGE`.
#pragma once
#include <string>
#include <string_view>

#include "libmlops/mlflow/client.hpp"

namespace mlops::mlflow {

inline constexpr std::string_view kUriScheme = "mlflow:";

bool is_mlflow_uri(std::string_view uri);

struct RemoteModel {
  std::string name;
  std::string version;       // MLflow's version number
  std::string artifact_uri;  // where its files are (the version's download URI)
  std::string sha256;        // the mlops.sha256 tag the mirror wrote; "" for a version it did not write
  std::string version_tag;   // the model_version tag
};

// Asks MLflow which version the URI names now. Throws Error{invalid_input} for a malformed
// URI, Error{not_found} (MlflowError) when the model, version, stage or alias is missing.
RemoteModel resolve_remote_model(Client& client, std::string_view uri);

// Downloads the version's model.json into cache_dir/NAME/VERSION/ (kept: versions are
// immutable), checks it against the sha256 tag, and returns the file's path. Throws
// Error{corrupt} when the bytes do not match.
std::string fetch_remote_model(Client& client, const RemoteModel& model, const std::string& cache_dir);

}  // namespace mlops::mlflow
