// serving: the HTTP prediction service — routes, validation, the model slots (primary and
// canary), reload, metrics and the request log. Never trains.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libmlops/http/json_server.hpp"
#include "libmlops/mlflow/client.hpp"
#include "libmlops/observability/drift.hpp"

namespace mlops::serving {

// Faults served on purpose by one registry version (like a service mesh's fault injection):
// for lessons and tests of rollouts — a candidate that fails or is slow. Off by default.
struct FaultInjection {
  std::int64_t version = 0;    // the registry version it applies to; 0 = off
  double error_ratio = 0;      // share of its prediction requests answered 500 injected_fault
  double delay_seconds = 0;    // added before each of its answers
  bool active() const { return version > 0 && (error_ratio > 0 || delay_seconds > 0); }
};
// "VERSION:errors=0.1,delay=300ms" (errors 0 to 1; delay in ms or s, at most 10 s).
// Throws Error{invalid_input} naming the part that is wrong.
FaultInjection parse_fault_injection(std::string_view spec);

struct ServerOptions {
  // Address, limits, deadlines, worker threads (for routes that may block: the CRM, reload)
  // and the API key (required on mutating routes when set).
  http::ServiceOptions service = [] {
    http::ServiceOptions s;
    s.name = "mlops serve";
    s.port = 8000;
    return s;
  }();
  std::string model_uri;            // "" = start without a model
  std::string canary_uri;           // "" = no canary
  double canary_weight = 0.1;       // share of prediction traffic for the canary, [0, 1]
  double reload_interval = 10;      // seconds between registry checks; 0 = never
  observability::DriftWindow drift_window;  // the requests drift is measured over
  FaultInjection fault;             // off unless asked for (--inject-fault)
  // The Alertmanager alerts whose firing (POST /admin/alerts) rolls back the active rollout.
  std::vector<std::string> rollback_alerts = {"PredictionLatencyP95High", "PredictionErrorRatioHigh", "FeatureDrift"};
  double shutdown_timeout = 10;     // seconds SIGTERM waits for requests in flight
  std::size_t max_batch = 1000;     // rows per request
  std::string db_path;              // the registry database, for models:/ URIs
  mlflow::Connection mlflow;        // MLflow, for mlflow:models:/ URIs and the mirror backlog gauge
  std::string mlflow_cache_dir;     // where models fetched from MLflow are kept
  std::string crm_url = "sqlite:crm.db";  // the CRM of /crm_segment_update
  double crm_timeout = 5;           // seconds per CRM call
  std::string crm_api_key;          // sent to an HTTP CRM
  std::string policy_path;          // segment policy YAML; "" = the course's binary policy
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Thread-safe; async-signal-unsafe (call it from a thread, not a signal handler). Drains
  // requests in flight for up to shutdown_timeout.
  void stop();
  // Re-resolves the model URIs now (as POST /admin/reload and SIGHUP do).
  void reload();
  // Loads, binds, calls on_listening(port) and serves until SIGTERM/SIGINT (drained);
  // SIGHUP reloads the model.
  void serve_until_signal(const std::function<void(int port)>& on_listening);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Server(options).serve_until_signal(on_listening).
void serve_until_signal(ServerOptions options, const std::function<void(int port)>& on_listening);

}  // namespace mlops::serving
