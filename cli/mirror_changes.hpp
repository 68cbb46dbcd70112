// cli: after a command commits a registry change, mirror it to MLflow when
// MLFLOW_TRACKING_URI is set. Never fails the command: the change is already safe locally,
// and what MLflow did not take stays pending for `mlops mirror`. One line on stderr.
#pragma once
#include "cli/command.hpp"

namespace mlops::cli {

void mirror_after_change(Context& ctx);

}  // namespace mlops::cli
