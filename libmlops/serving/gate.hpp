// serving: the course's deployment gate — measure a running service from outside (N
// prediction requests, a few at a time) and judge its p95 latency and error ratio.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mlops::serving {

struct GateOptions {
  std::string url;                 // the service: http://host:port
  std::int64_t requests = 100;     // prediction requests to send
  int concurrency = 4;             // at once
  double max_p95_seconds = 0.2;    // breach above
  double max_error_ratio = 0.01;   // breach above (non-2xx answers and failed connections)
  double timeout_seconds = 10;     // per request
  nlohmann::json body;             // the /predict body; null = a row of the training means
  std::string data_path;           // else rows of this CSV, in turn (columns named as the model's features)
};

struct GateReport {
  std::string model_name;     // from /health
  std::string model_version;
  std::int64_t requests = 0;
  std::int64_t errors = 0;
  double p50 = 0, p95 = 0, p99 = 0, max = 0;  // seconds, client-side
  std::vector<std::string> breaches;          // what failed, with the figures
  bool passed() const { return breaches.empty(); }
};

// The /predict body of one row: the model's training means by feature name, read from the
// service's feature_training_mean metric. Error{invalid_input} when it exposes none.
nlohmann::json training_mean_row(const std::string& metrics_text);

// Measures the service. Throws Error{unavailable} when /health does not answer, before any
// load; progress(done) is called as requests finish.
GateReport run_gate(const GateOptions& options, const std::function<void(std::int64_t)>& progress = {});

}  // namespace mlops::serving
