#include "libmlops/serving/model_slot.hpp"

#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/sha256.hpp"
#include "libmlops/mlflow/remote_model.hpp"
#include "libmlops/registry/model_uri.hpp"

namespace mlops::serving {

std::shared_ptr<const LoadedModel> load_serving_model(const std::string& uri, const ModelSources& sources,
                                                      const observability::DriftWindow& drift_window) {
  auto loaded = std::make_shared<LoadedModel>();
  registry::ResolvedModel resolved;
  loaded->artifact = mlflow::load_any_model(uri, sources, &resolved);
  const model::ModelArtifact& a = loaded->artifact;
  loaded->uri = uri;
  loaded->name = resolved.name.empty() ? a.name : resolved.name;
  loaded->registry_version = resolved.version;
  loaded->label = a.model_version.empty() ? "unversioned" : a.model_version;
  loaded->path = resolved.path;
  loaded->loaded_at_ms = now_ms();
  std::vector<observability::FeatureReference> refs;
  for (const auto& b : a.baseline) refs.push_back({b.name, b.mean, b.bin_edges, b.fractions});
  loaded->drift = std::make_unique<observability::DriftMonitor>(std::move(refs), drift_window);
  return loaded;
}

bool model_changed(const LoadedModel& loaded, const ModelSources& sources) {
  if (mlflow::is_mlflow_uri(loaded.uri)) {
    mlflow::Client client(sources.mlflow);
    const mlflow::RemoteModel now = mlflow::resolve_remote_model(client, loaded.uri);
    return std::stoll(now.version) != loaded.registry_version ||
           (!now.sha256.empty() && now.sha256 != loaded.artifact.sha256);
  }
  if (registry::parse_model_uri(loaded.uri).kind == registry::ModelUri::Kind::file) {
    return sha256_file(loaded.uri) != loaded.artifact.sha256;
  }
  const registry::ResolvedModel now = registry::resolve_model_uri(*registry::open_for_reading(sources.db_path), loaded.uri);
  return now.version != loaded.registry_version || now.sha256 != loaded.artifact.sha256;
}

}  // namespace mlops::serving
