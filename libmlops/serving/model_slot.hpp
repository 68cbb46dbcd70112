// serving: a loaded model and the slot that swaps it atomically under live traffic.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "libmlops/mlflow/remote_model.hpp"
#include "libmlops/model/artifact.hpp"
#include "libmlops/observability/drift.hpp"

namespace mlops::serving {

struct LoadedModel {
  model::ModelArtifact artifact;
  std::string uri;               // as configured (models:/... or a path)
  std::string name;              // registered name, else the artifact's
  std::int64_t registry_version = 0;  // the version in the registry (or MLflow's); 0 for a file
  std::string label;             // the model_version label of responses and metrics
  std::string path;              // the artifact file that was loaded
  std::int64_t loaded_at_ms = 0;
  std::unique_ptr<observability::DriftMonitor> drift;
};

using mlflow::ModelSources;

// Loads `uri` (see mlflow::load_any_model) and prepares it for serving. Throws like it.
// Its drift monitor keeps `drift_window`.
std::shared_ptr<const LoadedModel> load_serving_model(const std::string& uri, const ModelSources& sources,
                                                      const observability::DriftWindow& drift_window = {});

// Whether `uri` would now resolve to a different artifact than `loaded` (another version,
// an alias moved in MLflow, or a file whose bytes changed). Throws like load_serving_model.
bool model_changed(const LoadedModel& loaded, const ModelSources& sources);

// Readers take a reference-counted snapshot, so a request in flight keeps the model it
// started with while a reload swaps in the next one.
class ModelSlot {
 public:
  std::shared_ptr<const LoadedModel> get() const { return current_.load(std::memory_order_acquire); }
  void set(std::shared_ptr<const LoadedModel> model) { current_.store(std::move(model), std::memory_order_release); }

 private:
  std::atomic<std::shared_ptr<const LoadedModel>> current_;
};

}  // namespace mlops::serving
