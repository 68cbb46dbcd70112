// serving (internal): the state shared by the routes and the server.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "libmlops/crm/segment_policy.hpp"
#include "libmlops/observability/metrics.hpp"
#include "libmlops/serving/model_slot.hpp"
#include "libmlops/serving/server.hpp"

namespace mlops::http { class JsonServer; }

namespace mlops::serving::detail {

struct ReloadStatus {
  std::int64_t at_ms = 0;
  bool ok = true;
  std::string message;  // what happened, or the error that kept the old model
};

struct ServiceState {
  explicit ServiceState(ServerOptions o)
      : options(std::move(o)),
        policy(options.policy_path.empty() ? crm::SegmentPolicy::course_default()
                                           : crm::SegmentPolicy::load(options.policy_path)) {}
  ServerOptions options;
  crm::SegmentPolicy policy;
  observability::ServingMetrics metrics;
  ModelSlot primary;
  ModelSlot canary;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  std::mutex reload_mutex;  // one reload at a time (a reload may download a model)
  std::map<std::string, std::string> slot_errors;  // role -> the last reload error (under reload_mutex)
  std::mutex status_mutex;  // guards last_reload, so /health never waits for a reload
  ReloadStatus last_reload;

  // Re-resolves the configured URIs and swaps in what changed (force: reload even if not).
  // A failure keeps the old model and is returned, logged and shown in /health.
  nlohmann::json reload(bool force);
  ReloadStatus reload_status();
  void publish_models();  // refreshes model_loaded / model_info
  // mlflow_mirror_pending_events from the registry's outbox (only with MLflow configured).
  void publish_mirror_backlog();
};

// Prediction routes: /predict, /invocations, /v2 infer and metadata, /crm_segment_update.
void install_prediction_routes(http::JsonServer& server, ServiceState& state);
// Operations routes: /, /health, /live, /ready, /metrics, /dashboard, /openapi.json,
// /admin/reload.
void install_operations_routes(http::JsonServer& server, ServiceState& state);
nlohmann::json openapi_document();

}  // namespace mlops::serving::detail
