#include "cli/mlflow_support.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "libmlops/mlflow/mirror.hpp"
#include "libmlops/mlflow/rollout_record.hpp"

namespace mlops::cli {

namespace {

// A command waits for MLflow at most a few seconds; `mlops mirror` is patient.
mlflow::Connection impatient_connection(const config::Settings& s) {
  mlflow::Connection connection = mlflow::connection_from(s);
  connection.http.timeout_seconds = std::min(connection.http.timeout_seconds, 5.0);
  connection.http.retries = std::min(connection.http.retries, 1);
  return connection;
}

void say(const std::string& line) { std::fprintf(stderr, "mlops: %s\n", line.c_str()); }

}  // namespace

bool take_mlflow_rollout_decisions(Context& ctx, registry::RegistryStore& store, const std::string& name) {
  const mlflow::Connection connection = impatient_connection(ctx.settings);
  if (connection.tracking_uri.empty()) return false;
  try {
    mlflow::Client client(connection);
    const std::string remote_name = mlflow::drain_options(ctx.settings).model_prefix + name;
    const auto taken = mlflow::take_rollout_decisions(store, client, name, remote_name);
    for (const std::string& line : taken) say(fmt::format("taken from MLflow (a replica decided): {}", line));
    return !taken.empty();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::not_found) say(fmt::format("MLflow's record of the rollout not read: {}", e.what()));
    return false;
  }
}

void mirror_after_change(Context& ctx) {
  const config::Settings& s = ctx.settings;
  const mlflow::Connection connection = impatient_connection(s);
  if (connection.tracking_uri.empty()) return;
  try {
    auto lock = mlflow::MirrorLock::try_acquire(s.db_path());
    if (!lock) {
      say(fmt::format("MLflow: another `mlops mirror` is sending the changes to {}", connection.tracking_uri));
      return;
    }
    registry::RegistryStore store(s.db_path());
    mlflow::Client client(connection);
    const mlflow::DrainReport r = mlflow::drain(store, client, mlflow::drain_options(s));
    if (!r.stopped_by.empty()) {
      say(fmt::format("MLflow not reached ({}); {} change(s) pending — run `mlops mirror` when it is back",
                      r.stopped_by, r.pending));
    } else if (r.failed > 0 || r.blocked > 0) {
      say(fmt::format("MLflow refused {} change(s) and {} wait behind them — see `mlops mirror status`", r.failed,
                      r.blocked));
    } else if (!ctx.quiet && r.done > 0) {
      say(fmt::format("mirrored {} change(s) to MLflow at {}", r.done, connection.tracking_uri));
    }
  } catch (const Error& e) {
    say(fmt::format("MLflow mirror skipped: {}", e.what()));
  }
}

mlflow::ModelSources model_sources(const config::Settings& s) {
  return {s.db_path(), mlflow::connection_from(s), s.home() + "/mlflow-models"};
}

}  // namespace mlops::cli
