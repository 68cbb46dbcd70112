// serving: a loaded model and the slot that swaps it atomically under live traffic.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "libmlops/model/artifact.hpp"
#include "libmlops/observability/drift.hpp"

namespace mlops::serving {

struct LoadedModel {
  model::ModelArtifact artifact;
  std::string uri;               // as configured (models:/... or a path)
  std::string name;              // registered name, else the artifact's
  std::int64_t registry_version = 0;  // 0 when loaded from a file
  std::string label;             // the model_version label of responses and metrics
  std::string path;              // the artifact file that was loaded
  std::int64_t loaded_at_ms = 0;
  std::unique_ptr<observability::DriftMonitor> drift;
};

// Resolves `uri` against the registry at db_path (or reads a file) and prepares it for
// serving. Throws Error{not_found|corrupt|invalid_input}.
std::shared_ptr<const LoadedModel> load_serving_model(const std::string& uri, const std::string& db_path);

// Whether `uri` would now resolve to a different artifact than `loaded` (another version,
// or a file whose bytes changed). Throws like load_serving_model.
bool model_changed(const LoadedModel& loaded, const std::string& db_path);

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
