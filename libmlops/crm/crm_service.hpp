// crm: the reference CRM service — the original course's CRM API over the embedded store,
// plus batch endpoints, so connectors and the course's tests talk to it over real HTTP.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

#include "libmlops/http/json_server.hpp"

namespace mlops::crm {

struct CrmServiceOptions {
  // Address, limits, workers and the API key (required on the writing routes when set).
  http::ServiceOptions service = [] {
    http::ServiceOptions s;
    s.name = "mlops crm serve";
    s.port = 8001;
    return s;
  }();
  std::string db_path = "crm.db";
  std::size_t max_batch = 1000;  // records per POST /customers/segments
  double shutdown_timeout = 10;  // seconds SIGTERM waits for requests in flight
};

// Serves until SIGINT/SIGTERM (drained, like `mlops serve`); calls on_listening(port) once
// bound. The writing routes (POST) need the API key when one is set. Routes:
//   GET  /health
//   GET  /customer/{id}/features  -> {"user_id","feature_count","features":[...]}
//   GET  /customer/{id}           -> {"user_id","name","segment",...}
//   POST /crm_segment_update      {"user_id","ai_segment"} -> {"status","user_id","old_segment","new_segment"}
//   GET  /customers?after=ID&limit=N        a page with features and segment
//   POST /customers/segments      {"updates":[{"user_id","ai_segment"},...]} all-or-nothing
//   GET  /metrics
void serve_crm_until_signal(const CrmServiceOptions& options, const std::function<void(int port)>& on_listening);

}  // namespace mlops::crm
