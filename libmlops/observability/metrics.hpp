// observability: the serving metric families of DESIGN.md §6 on a prometheus-cpp registry,
// rendered as Prometheus text. prometheus-cpp stays behind this header.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libmlops/observability/drift.hpp"

namespace mlops::observability {

struct ModelInfo {
  std::string name;
  std::string version;  // the model_version label (the artifact's version tag)
  std::string uri;
  std::string sha256;
  std::map<std::string, double> class_training_share;  // class -> its share of the predictions on the test split
};

// One loaded version's drift window.
struct VersionDrift {
  std::string model_version;
  std::vector<FeatureDrift> features;
};

// The headline numbers of the serving metrics since the server started (for the built-in
// dashboard): totals, not rates — a reader computes rates from two snapshots.
struct MetricsSnapshot {
  std::map<std::string, double> predictions_by_version;  // prediction requests answered per model version
  std::map<std::string, double> predictions_by_status;   // ... per HTTP status
  std::map<std::string, double> crm_updates;              // "segment|result" -> updates
  std::map<std::string, double> classes;                  // predicted class -> rows
  std::vector<double> latency_bounds;                     // bucket upper bounds in seconds (+Inf last)
  std::vector<double> latency_cumulative;                 // requests at or under each bound, all versions
  double latency_sum = 0;                                 // seconds
};

// Thread-safe. Label values are bounded by construction: routes not paths, versions of
// loaded models, the model's classes.
class ServingMetrics {
 public:
  ServingMetrics();
  ~ServingMetrics();
  ServingMetrics(const ServingMetrics&) = delete;
  ServingMetrics& operator=(const ServingMetrics&) = delete;

  // One prediction request answered by `model_version` (rows = rows scored).
  void record_prediction(const std::string& model_version, std::string_view endpoint, int http_status,
                         double seconds);
  void record_class(const std::string& model_version, const std::string& class_label, double rows = 1);
  void record_http(std::string_view method, std::string_view route, int status, double seconds);
  void record_crm_update(std::string_view segment, std::string_view result);

  // The loaded models: model_loaded{model_version} is 1 for these and 0 for versions
  // loaded before; model_info carries name, version, uri and sha256;
  // prediction_class_training_share{model_version,class} the reference of prediction drift.
  void set_models(const std::vector<ModelInfo>& loaded);
  void set_gauge(const std::string& name, const std::string& help, double value);

  // The model's rollout: rollout_state{model,state} is 1 for `state` (running, paused,
  // promoted, rolled_back, aborted) and 0 for the others; rollout_step_weight{model} is the
  // candidate's share of traffic.
  void set_rollout(const std::string& model, std::string_view state, double weight);
  // rollout_decisions_total{decision,reason}: decision step|promote|rollback, reason
  // healthy, error_ratio, p95_latency, feature_drift, alert:NAME.
  void record_rollout_decision(std::string_view decision, std::string_view reason);

  // Called at each scrape to supply the drift of each loaded model version (the primary
  // and a canary or rollout candidate), exported with a model_version label.
  void set_drift_source(std::function<std::vector<VersionDrift>()> source);

  // The text exposition format (version 0.0.4), process_* metrics included.
  std::string scrape();
  MetricsSnapshot snapshot();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The histogram buckets of prediction latency: 50 µs to 1 s with an edge at 0.2 s, so the
// course's "p95 > 200 ms" gate is exact.
const std::vector<double>& latency_buckets();

}  // namespace mlops::observability
