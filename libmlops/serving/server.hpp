// serving: the HTTP prediction service — routes, validation, the model slots (primary and
// canary), reload, metrics and the request log. Never trains.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "libmlops/mlflow/client.hpp"

namespace mlops::serving {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                  // 0 = any free port
  int threads = 64;                 // worker threads; a keep-alive connection holds one
  std::string model_uri;            // "" = start without a model
  std::string canary_uri;           // "" = no canary
  double canary_weight = 0.1;       // share of prediction traffic for the canary, [0, 1]
  double reload_interval = 10;      // seconds between registry checks; 0 = never
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_batch = 1000;     // rows per request
  std::string api_key;              // required on mutating routes when set
  bool json_logs = false;
  std::string db_path;              // the registry database, for models:/ URIs
  mlflow::Connection mlflow;        // MLflow, for mlflow:models:/ URIs and the mirror backlog gauge
  std::string mlflow_cache_dir;     // where models fetched from MLflow are kept
  std::string crm_url = "sqlite:crm.db";  // the CRM of /crm_segment_update
  double crm_timeout = 5;           // seconds per CRM call
  std::string policy_path;          // segment policy YAML; "" = the course's binary policy
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the models (a failure leaves the slot empty and is reported by /health), binds
  // and returns the port. Throws Error{unavailable} when the address cannot be bound.
  int bind();
  // Serves until stop(); then finishes the requests in flight and returns.
  void run();
  // Thread-safe; async-signal-unsafe (call it from a thread, not a signal handler).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Binds, calls on_listening(port), serves until SIGINT or SIGTERM, shuts down gracefully.
void serve_until_signal(ServerOptions options, const std::function<void(int port)>& on_listening);

}  // namespace mlops::serving
