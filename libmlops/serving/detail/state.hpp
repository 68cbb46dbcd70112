// serving (internal): the state shared by the routes and the server.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>

#include "libmlops/crm/segment_policy.hpp"
#include "libmlops/observability/canary_analysis.hpp"
#include "libmlops/observability/metrics.hpp"
#include "libmlops/registry/registry_store.hpp"
#include "libmlops/serving/model_slot.hpp"
#include "libmlops/serving/server.hpp"

namespace mlops::http { class JsonServer; }

namespace mlops::serving::detail {

struct ReloadStatus {
  std::int64_t at_ms = 0;
  bool ok = true;
  std::string message;  // what happened, or the error that kept the old model
};

// Where a followed rollout lives: the local registry, or MLflow for a primary served from
// MLflow (mlflow/rollout_record.hpp). Decisions have RegistryStore's meaning: acted on only
// while the rollout is still at the step judged.
class RolloutSource {
 public:
  virtual ~RolloutSource() = default;
  virtual std::optional<registry::Rollout> latest(const std::string& name) = 0;
  virtual registry::Rollout advance(const std::string& name, const registry::RolloutDecision& decision) = 0;
  virtual registry::Rollout roll_back(const std::string& name, const registry::RolloutDecision& decision, bool any_step) = 0;
  virtual std::string candidate_uri(const registry::Rollout& r) const = 0;
  virtual std::string_view where() const = 0;  // "registry" or "mlflow"
};

struct ServiceState {
  explicit ServiceState(ServerOptions o)
      : options(std::move(o)),
        policy(options.policy_path.empty() ? crm::SegmentPolicy::course_default()
                                           : crm::SegmentPolicy::load(options.policy_path)),
        canary_weight(options.canary_weight) {}
  ServerOptions options;
  crm::SegmentPolicy policy;
  observability::ServingMetrics metrics;
  ModelSlot primary;
  ModelSlot canary;
  // The canary's share of prediction traffic: --canary-weight, or the followed rollout's step.
  std::atomic<double> canary_weight;
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

  // Rollouts (detail/rollout_follower.cpp). The poller calls follow_rollout every tick:
  // it reads the primary model's rollout (from the registry, or from MLflow when the primary
  // comes from there), serves its candidate at the
  // step's weight, analyses this replica's traffic of the step and records the decision.
  void follow_rollout();
  // Ends the model's active rollout now (an alert fired): weight 0 here at once, then the
  // registry. Returns the rollout as it ended, or nothing when none was active.
  std::optional<registry::Rollout> roll_back_now(const std::string& model_name, const std::string& reason,
                                                 const std::string& figures);
  // One prediction answer, for the analysis of the followed rollout.
  void record_outcome(const LoadedModel& model, int status, double seconds);
  nlohmann::json rollout_health();  // for /health (a copy, under status_mutex)

  std::atomic<bool> rollout_active{false};           // a rollout's candidate is served
  observability::TrafficWindow stable_traffic;        // this step's answers, per side
  observability::TrafficWindow candidate_traffic;
  std::mutex rollout_mutex;  // guards the rest; the poller and the alert route take it
  std::unique_ptr<RolloutSource> rollout_source;  // opened at the first poll that needs it
  std::optional<registry::Rollout> followed;  // as last read from the registry
  std::string last_analysis;  // the verdict's detail
  std::string follow_error;   // the last failure to read or write the registry (logged once)
  nlohmann::json rollout_status;  // for /health, under status_mutex: the probe never waits for the poller
 private:
  // The source of `model`'s rollout (kept across polls), nullptr when it has none to follow.
  RolloutSource* rollout_source_for(const LoadedModel& model);
  void apply_rollout(const registry::Rollout& r, const LoadedModel& primary_model);
  void analyse_step(const registry::Rollout& r, const LoadedModel& primary_model);
  void publish_rollout_status();
};

// Prediction routes: /predict, /invocations, /v2 infer and metadata, /crm_segment_update.
void install_prediction_routes(http::JsonServer& server, ServiceState& state);
// Operations routes: /, /health, /live, /ready, /metrics, /dashboard, /openapi.json,
// /admin/reload.
void install_operations_routes(http::JsonServer& server, ServiceState& state);
nlohmann::json openapi_document();

}  // namespace mlops::serving::detail
