#include "libmlops/mlflow/remote_model.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "libmlops/core/fs.hpp"
#include "libmlops/core/sha256.hpp"

namespace mlops::mlflow {

bool is_mlflow_uri(std::string_view uri) { return uri.rfind(kUriScheme, 0) == 0; }

void check_model_uri(std::string_view uri, const Connection* mlflow) {
  if (!is_mlflow_uri(uri)) {
    registry::parse_model_uri(uri);
    return;
  }
  const std::string_view rest = uri.substr(kUriScheme.size());
  if (rest.rfind("models:/", 0) != 0) {
    throw Error(ErrorCode::invalid_input, fmt::format("'{}' is not an mlflow:models:/ URI", uri),
                "use mlflow:models:/NAME@ALIAS, mlflow:models:/NAME/VERSION or mlflow:models:/NAME/STAGE");
  }
  registry::parse_model_uri(rest);
  if (mlflow && mlflow->tracking_uri.empty()) {
    throw Error(ErrorCode::invalid_input, fmt::format("{} needs MLFLOW_TRACKING_URI", uri),
                "set MLFLOW_TRACKING_URI (in .env or the environment) to the MLflow server, e.g. http://127.0.0.1:5000");
  }
}

RemoteModel resolve_remote_model(Client& client, std::string_view uri) {
  if (!is_mlflow_uri(uri)) throw Error(ErrorCode::invalid_input, fmt::format("'{}' is not an mlflow:models:/ URI", uri));
  check_model_uri(uri);
  const registry::ModelUri parsed = registry::parse_model_uri(uri.substr(kUriScheme.size()));
  ModelVersion v;
  switch (parsed.kind) {
    case registry::ModelUri::Kind::alias:
      v = client.get_version_by_alias(parsed.name, parsed.alias);
      break;
    case registry::ModelUri::Kind::version:
      v = client.get_version(parsed.name, std::to_string(parsed.version));
      break;
    case registry::ModelUri::Kind::stage: {
      const std::string stage(registry::to_string(parsed.stage));
      auto latest = client.latest_version_in_stage(parsed.name, stage);
      if (!latest) {
        throw Error(ErrorCode::not_found, fmt::format("MLflow model '{}' has no version in stage {}", parsed.name, stage),
                    "promote one: mlops models promote NAME VERSION --stage " + stage);
      }
      v = *latest;
      break;
    }
    case registry::ModelUri::Kind::latest: {
      auto latest = client.latest_version(parsed.name);
      if (!latest) throw Error(ErrorCode::not_found, fmt::format("MLflow model '{}' has no version", parsed.name));
      v = *latest;
      break;
    }
    case registry::ModelUri::Kind::file:
      break;
  }
  RemoteModel out{v.name.empty() ? parsed.name : v.name, v.version, "", ""};
  if (auto it = v.tags.find("mlops.sha256"); it != v.tags.end()) out.sha256 = it->second;
  if (auto it = v.tags.find("model_version"); it != v.tags.end()) out.version_tag = it->second;
  return out;
}

namespace {
// Where the version's files are: its download URI, with a runs:/RUN/PATH source made
// relative to the run's artifact location.
std::string artifact_location(Client& client, const RemoteModel& model) {
  std::string uri = client.download_uri(model.name, model.version);
  if (uri.rfind("runs:/", 0) == 0) {
    const std::string rest = uri.substr(6);
    const std::size_t slash = rest.find('/');
    uri = client.get_run(rest.substr(0, slash)).artifact_uri + (slash == std::string::npos ? "" : rest.substr(slash));
  }
  return uri;
}
}  // namespace

std::string fetch_remote_model(Client& client, const RemoteModel& model, const std::string& cache_dir) {
  const std::string path = (std::filesystem::path(cache_dir) / model.name / model.version / "model.json").string();
  if (std::filesystem::exists(path) && (model.sha256.empty() || sha256_file(path) == model.sha256)) return path;
  const std::string bytes = client.download_artifact(artifact_location(client, model), "model.json");
  if (!model.sha256.empty() && sha256_hex(bytes) != model.sha256) {
    throw Error(ErrorCode::corrupt,
                fmt::format("MLflow's model.json of {} version {} has sha256 {}, but the version's mlops.sha256 tag says {}",
                            model.name, model.version, sha256_hex(bytes), model.sha256),
                "the artifact in MLflow was changed after it was registered; register a new version");
  }
  write_file_atomic(path, bytes);
  return path;
}

model::ModelArtifact load_any_model(std::string_view uri, const ModelSources& sources, registry::ResolvedModel* resolved) {
  registry::ResolvedModel r;
  model::ModelArtifact artifact;
  if (is_mlflow_uri(uri)) {
    check_model_uri(uri, &sources.mlflow);
    Client client(sources.mlflow);
    const RemoteModel remote = resolve_remote_model(client, uri);
    r.uri = std::string(uri);
    r.name = remote.name;
    r.version = std::stoll(remote.version);
    r.version_tag = remote.version_tag;
    r.path = fetch_remote_model(client, remote, sources.mlflow_cache_dir);
    if (!remote.sha256.empty()) r.sha256 = remote.sha256;
    artifact = model::load_artifact(r.path, r.sha256);
  } else if (registry::parse_model_uri(uri).kind == registry::ModelUri::Kind::file) {
    r.uri = r.path = std::string(uri);
    artifact = model::load_artifact(r.path);
  } else {
    artifact = registry::load_model(*registry::open_for_reading(sources.db_path), uri, &r);
  }
  if (resolved) *resolved = r;
  return artifact;
}

}  // namespace mlops::mlflow
