// serving (internal): the operations routes — the index, health and probes, metrics, the
// built-in dashboard, the OpenAPI document and the admin reload. The probes run on the I/O
// threads and never wait for a reload, a database or another service.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/log.hpp"
#include "libmlops/http/json_server.hpp"
#include "libmlops/serving/detail/dashboard.hpp"
#include "libmlops/serving/detail/state.hpp"

namespace mlops::serving::detail {
namespace {

using nlohmann::json;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Replaces each absolute path in `text` by its last component ("…/model.json"): a URI such
// as models:/NAME@ALIAS stays whole (its '/' follows a ':').
std::string hide_paths(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const bool starts_path = text[i] == '/' && (i == 0 || std::string_view(" '\"(=").find(text[i - 1]) != std::string_view::npos);
    if (!starts_path) {
      out += text[i++];
      continue;
    }
    std::size_t end = text.find_first_of(" '\"),;", i);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view path = text.substr(i, end - i);
    out += "\u2026/";
    out += path.substr(path.rfind('/') + 1);
    i = end;
  }
  return out;
}

// What anyone who can reach the port may see: the model's URI and digest, never a path on
// the server's disk.
json health(ServiceState& state) {
  const auto primary = state.primary.get();
  const auto canary = state.canary.get();
  const ReloadStatus reload = state.reload_status();
  json j = {{"status", primary ? "ok" : "no_model"},
            {"model_loaded", primary != nullptr},
            {"uptime_seconds", seconds_since(state.started)},
            {"last_reload", {{"at", reload.at_ms ? iso8601_utc(reload.at_ms) : ""}, {"ok", reload.ok}, {"message", hide_paths(reload.message)}}}};
  if (primary) {
    j["model_name"] = primary->name;
    j["model_version"] = primary->label;
    j["registry_version"] = primary->registry_version;
    j["model_uri"] = hide_paths(primary->uri);
    j["sha256"] = primary->artifact.sha256;
  } else {
    j["model_uri"] = hide_paths(state.options.model_uri);
  }
  if (!state.options.canary_uri.empty() || canary) {
    j["canary"] = {{"uri", hide_paths(canary ? canary->uri : state.options.canary_uri)},
                   {"weight", state.canary_weight.load()},
                   {"loaded", canary != nullptr},
                   {"model_version", canary ? canary->label : ""}};
  } else {
    j["canary"] = nullptr;
  }
  j["rollout"] = state.rollout_health();
  return j;
}

// POST /admin/alerts: Alertmanager's webhook payload (version 4) — {"status", "receiver",
// "alerts": [{"status": "firing"|"resolved", "labels": {"alertname": ...}, "startsAt"}]}.
// Only the alert names come from the payload into the registry (a fixed set): its other
// labels and annotations are untrusted text and are not recorded.
json handle_alerts(ServiceState& state, const http::Request& req) {
  const json body = http::parse_json_body(req, 100000);
  if (!body.is_object() || !body.contains("alerts") || !body["alerts"].is_array()) {
    throw http::HttpError(400, "invalid_alerts", "expected Alertmanager's webhook payload: an object with an \"alerts\" list",
                          {{"hint", "point a webhook_configs url of alertmanager.yml at /admin/alerts"}});
  }
  std::vector<std::string> firing;
  for (const json& alert : body["alerts"]) {
    if (!alert.is_object() || !alert.contains("labels") || !alert["labels"].is_object()) {
      throw http::HttpError(400, "invalid_alerts", "each alert needs a \"labels\" object");
    }
    const json& name = alert["labels"].contains("alertname") ? alert["labels"]["alertname"] : json();
    if (!name.is_string()) throw http::HttpError(400, "invalid_alerts", "each alert needs a labels.alertname string");
    if (alert.value("status", "firing") != "firing") continue;  // resolved: nothing to undo
    const auto& watched = state.options.rollback_alerts;
    if (std::find(watched.begin(), watched.end(), name.get<std::string>()) != watched.end() &&
        std::find(firing.begin(), firing.end(), name.get<std::string>()) == firing.end()) {
      firing.push_back(name.get<std::string>());
    }
  }
  const auto primary = state.primary.get();
  const std::string model = req.query_param("model").value_or(primary ? primary->name : "");
  json answer = {{"acted", false}, {"alerts", firing}, {"model", model}};
  if (firing.empty()) {
    answer["reason"] = "no firing alert that rolls back (MLOPS_ROLLBACK_ALERTS)";
    return answer;
  }
  if (model.empty()) {
    answer["reason"] = "no model is served and none named (?model=NAME)";
    return answer;
  }
  std::optional<registry::Rollout> ended;
  try {
    ended = state.roll_back_now(model, fmt::format("alert: {} fired (Alertmanager)", fmt::join(firing, ", ")),
                                json{{"alerts", firing}}.dump());
  } catch (const Error& e) {
    throw http::HttpError(e.code() == ErrorCode::not_found ? 404 : 503, "rollback_failed", e.what());
  }
  if (!ended) {
    answer["reason"] = fmt::format("model {} has no active rollout", model);
    return answer;
  }
  for (const std::string& alert : firing) state.metrics.record_rollout_decision("rollback", "alert:" + alert);
  logging::event(logging::Level::error, "rollout rolled back",
                 {{"model", model}, {"rollout", std::to_string(ended->id)}, {"candidate_version", std::to_string(ended->candidate_version)},
                  {"reason", "alert"}, {"alerts", fmt::format("{}", fmt::join(firing, ","))}, {"request_id", req.request_id}});
  answer["acted"] = true;
  answer["rollout"] = {{"id", ended->id}, {"state", to_string(ended->state)}, {"candidate_version", ended->candidate_version},
                       {"stable_version", ended->stable_version}};
  return answer;
}

// The built-in dashboard's data: totals since start (the page computes rates between polls).
json dashboard_stats(ServiceState& state) {
  const observability::MetricsSnapshot m = state.metrics.snapshot();
  json crm_updates = json::array();
  for (const auto& [key, count] : m.crm_updates) {
    const std::size_t bar = key.find('|');
    crm_updates.push_back({{"segment", key.substr(0, bar)}, {"result", key.substr(bar + 1)}, {"count", count}});
  }
  json bounds = json::array();
  for (double b : m.latency_bounds) bounds.push_back(std::isinf(b) ? json(nullptr) : json(b));  // JSON has no +Inf
  return {{"health", health(state)},
          {"predictions", {{"by_version", m.predictions_by_version}, {"by_status", m.predictions_by_status}}},
          {"crm_updates", crm_updates},
          {"classes", m.classes},
          {"latency", {{"bounds", bounds}, {"cumulative", m.latency_cumulative}, {"sum", m.latency_sum}}}};
}

}  // namespace

void install_operations_routes(http::JsonServer& server, ServiceState& state) {
  // The course's health check (app/main.py's GET /: status, service, model_loaded,
  // model_version) and, beside it, the index of the routes.
  server.route("GET", "/", [&state](http::Request&, http::Response& res) {
    const auto primary = state.primary.get();
    res.json({{"status", "ok"},
              {"service", "mlops serve"},
              {"model_loaded", primary != nullptr},
              {"model_version", primary ? json(primary->label) : json(nullptr)},
              {"routes",
               {"POST /predict", "POST /invocations", "GET /ping", "GET /version", "GET /health", "GET /live", "GET /ready",
                "GET /metrics", "POST /crm_segment_update?customer_id=ID", "POST /admin/reload", "POST /admin/alerts", "GET /openapi.json",
                "GET /dashboard", "GET /v2", "GET /v2/health/live", "GET /v2/health/ready", "GET /v2/models/{name}",
                "GET /v2/models/{name}/ready", "POST /v2/models/{name}/infer", "GET /v2/models/{name}/versions/{version}",
                "GET /v2/models/{name}/versions/{version}/ready", "POST /v2/models/{name}/versions/{version}/infer"}},
              {"docs", "GET /openapi.json"}});
  });
  server.route("GET", "/health", [&state](http::Request&, http::Response& res) { res.json(health(state)); });
  server.route("GET", "/live", [](http::Request&, http::Response& res) { res.json({{"status", "alive"}}); });
  server.route("GET", "/ready", [&state](http::Request&, http::Response& res) {
    if (state.primary.get()) {
      res.json({{"status", "ready"}});
    } else {
      res.error(503, "model_not_loaded", "no model is loaded yet");
    }
  });
  server.route("GET", "/metrics", [&state](http::Request&, http::Response& res) {
    res.text(state.metrics.scrape(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.route("GET", "/dashboard", [](http::Request&, http::Response& res) {
    res.text(std::string(kDashboardHtml), "text/html; charset=utf-8");
  });
  server.route("GET", "/dashboard/stats", [&state](http::Request&, http::Response& res) { res.json(dashboard_stats(state)); });
  server.route("GET", "/openapi.json", [](http::Request&, http::Response& res) {
    static const std::string document = openapi_document().dump(2);
    res.text(document, "application/json");
  });
  server.route("GET", "/v2/health/live", [](http::Request&, http::Response& res) { res.json({{"live", true}}); });
  server.route("GET", "/v2/health/ready", [&state](http::Request&, http::Response& res) {
    const bool ready = state.primary.get() != nullptr;
    res.json({{"ready", ready}}, ready ? 200 : 400);  // OIP: 4xx means false
  });
  // Alertmanager's webhook: a firing alert of options.rollback_alerts rolls back the active
  // rollout (of the served model, or of ?model=NAME). It writes the registry: a worker.
  server.route("POST", "/admin/alerts", [&state](http::Request& req, http::Response& res) {
    res.json(handle_alerts(state, req));
  }, {http::Lane::worker, /*needs_key=*/true});
  // A reload may download a model from MLflow: off the I/O threads.
  server.route("POST", "/admin/reload", [&state](http::Request&, http::Response& res) {
    const json result = state.reload(true);
    res.json(result, result.value("ok", false) ? 200 : 502);
  }, {http::Lane::worker, /*needs_key=*/true});
}

}  // namespace mlops::serving::detail
