// registry: the workflows over the store — track a training run with its artifact, and
// register an artifact as a model version behind an accuracy gate.
#pragma once
#include <functional>
#include <optional>
#include <string>

#include "libmlops/model/artifact.hpp"
#include "libmlops/model/training.hpp"
#include "libmlops/registry/registry_store.hpp"

namespace mlops::registry {

// Copies artifact text into the immutable store as <artifacts_dir>/<run_id>/model.json
// (read-only) and returns its absolute path. Writing the same bytes again is a no-op; different
// bytes for an existing run are refused with Error{conflict}.
std::string store_artifact(const std::string& artifacts_dir, const std::string& run_id,
                           const std::string& text);

struct RegisterOptions {
  std::string name;                   // registered model name
  std::string version_tag;            // "" = the artifact's model_version
  std::optional<Stage> stage;         // move the new version to this stage
  bool archive_existing = false;
  std::string alias;                  // point this alias at the new version ("" = none)
  std::optional<double> min_accuracy; // the gate on the artifact's accuracy
  std::string description;
  Change change;
};

struct RegisterOutcome {
  bool registered = false;   // false: the gate refused it
  double accuracy = 0;
  std::string gate;          // e.g. "accuracy 0.9650 >= 0.85 passed" ("" without a gate)
  std::optional<ModelVersion> version;
};

// Registers an artifact that is already in the artifact store or on disk at `path`: the
// gate first (a refusal is recorded in the audit log), then the run (an artifact trained
// elsewhere gets an imported run), the stored copy, the version, stage and alias.
RegisterOutcome register_artifact(RegistryStore& store, const std::string& artifacts_dir,
                                  const model::ModelArtifact& artifact, const std::string& path,
                                  const RegisterOptions& options);

struct TrackedTraining {
  model::TrainedModel trained;
  Run run;
  std::string stored_path;  // the copy in the artifact store
};

// Trains with a tracked run: creates the run (RUNNING), trains, writes the artifact to
// `output` and the store, and finishes the run (FINISHED with metrics, or FAILED when
// training throws — the error is rethrown).
TrackedTraining train_tracked(RegistryStore& store, const std::string& artifacts_dir,
                              model::TrainingSpec spec, const std::string& experiment,
                              const std::string& output);

}  // namespace mlops::registry
