// cli: what commands share about MLflow — mirroring after a change, and where model URIs
// (including mlflow:models:/) are resolved.
#pragma once
#include "cli/command.hpp"
#include "libmlops/mlflow/remote_model.hpp"

namespace mlops::cli {

// After a command commits a registry change: when MLFLOW_TRACKING_URI is set, sends the
// pending changes to MLflow. Never fails the command — the change is already safe locally,
// and what MLflow did not take stays pending for `mlops mirror`. One line on stderr.
void mirror_after_change(Context& ctx);

// Before `mlops rollout` shows or changes NAME's rollout: when MLFLOW_TRACKING_URI is set,
// takes into the registry the decisions that replicas serving from MLflow wrote there
// (mlflow::take_rollout_decisions), one line each on stderr. Never fails the command (MLflow
// unreachable: one line, and the registry's own record is used). True when one was taken.
bool take_mlflow_rollout_decisions(Context& ctx, registry::RegistryStore& store, const std::string& name);

// The registry, MLflow and its model cache (MLOPS_HOME/mlflow-models) from the settings.
mlflow::ModelSources model_sources(const config::Settings& settings);

}  // namespace mlops::cli
