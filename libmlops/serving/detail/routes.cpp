// serving (internal): every HTTP route. Handlers see JSON in and JSON out; the httplib
// plumbing (content types, errors, metrics, the request log) lives in the adapters here.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <cmath>
#include <map>
#include <random>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/log.hpp"
#include "libmlops/crm/crm_store.hpp"
#include "libmlops/registry/registry_store.hpp"
#include "libmlops/serving/detail/dashboard.hpp"
#include "libmlops/serving/detail/state.hpp"
#include "libmlops/serving/request.hpp"

// Last: <resolv.h>, which httplib includes, defines a macro `_res` that breaks Eigen.
#include <httplib.h>

namespace mlops::serving::detail {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Per-request context: set by the pre-routing handler and the route adapters, read by the
// logger, all on the worker thread that serves the request.
thread_local Clock::time_point t_start;
thread_local const char* t_route = "unmatched";

std::string new_request_id() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{:016x}", rng());
}

std::string request_id_of(const httplib::Response& res) { return res.get_header_value("X-Request-ID"); }

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

void write_error(httplib::Response& res, int status, std::string_view code, std::string_view message,
                 const json& details = nullptr) {
  json error = {{"code", code}, {"message", message}};
  if (!details.is_null()) error["details"] = details;
  res.status = status;
  res.set_content(json{{"error", error}}.dump(), "application/json");
}

void write_json(httplib::Response& res, const json& body, int status = 200) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

bool is_json(const httplib::Request& req) {
  const std::string type = req.get_header_value("Content-Type");
  return type.size() >= 16 && strncasecmp(type.c_str(), "application/json", 16) == 0;
}

// Constant-time comparison, so the key cannot be guessed byte by byte from timings.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

bool authorized(const ServiceState& state, const httplib::Request& req) {
  const std::string& key = state.options.api_key;
  if (key.empty()) return true;
  const std::string auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) == 0 && same_secret(auth.substr(7), key)) return true;
  return req.has_header("X-API-Key") && same_secret(req.get_header_value("X-API-Key"), key);
}

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

Handler route(const char* name, Handler handler) {
  return [name, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    t_route = name;
    handler(req, res);
  };
}

// Chooses the model for a prediction: the canary for its share of traffic. A request key
// (X-Request-Key) hashes to a fixed point in [0, 1), so one caller always sees one version.
std::shared_ptr<const LoadedModel> choose_model(ServiceState& state, const httplib::Request& req,
                                                std::string key = {}) {
  auto primary = state.primary.get();
  auto canary = state.canary.get();
  if (!canary || state.options.canary_weight <= 0) return primary;
  if (!primary) return canary;
  double point = 0;
  if (key.empty()) key = req.get_header_value("X-Request-Key");
  if (!key.empty()) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;  // finalise: FNV's low bits alone are poorly spread
    h ^= h >> 33;
    point = static_cast<double>(h >> 11) * 0x1.0p-53;
  } else {
    thread_local std::mt19937_64 rng(std::random_device{}());
    point = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  }
  return point < state.options.canary_weight ? canary : primary;
}

struct Scored {
  std::vector<double> probabilities;  // rows x classes
  std::vector<std::size_t> predicted;
};

Scored score(const LoadedModel& m, const Rows& rows, observability::ServingMetrics& metrics) {
  const std::size_t k = m.artifact.classes.size();
  const std::size_t p = m.artifact.feature_names.size();
  Scored s;
  s.probabilities.resize(rows.rows * k);
  s.predicted.resize(rows.rows);
  for (std::size_t i = 0; i < rows.rows; ++i) {
    const double* x = &rows.values[i * p];
    double* probs = &s.probabilities[i * k];
    m.artifact.model.predict_proba_row(x, probs);
    s.predicted[i] = static_cast<std::size_t>(std::max_element(probs, probs + k) - probs);
    m.drift->observe(x);
    metrics.record_class(m.label, m.artifact.classes[s.predicted[i]]);
  }
  return s;
}

json row_result(const LoadedModel& m, const Scored& s, std::size_t i) {
  const std::size_t k = m.artifact.classes.size();
  json probabilities = json::object();
  for (std::size_t c = 0; c < k; ++c) probabilities[m.artifact.classes[c]] = s.probabilities[i * k + c];
  return {{"prediction", m.artifact.class_label(static_cast<Eigen::Index>(s.predicted[i]))},
          {"probability", s.probabilities[i * k + s.predicted[i]]},
          {"probabilities", std::move(probabilities)}};
}

using Parser = Rows (*)(const json&, const std::vector<std::string>&, std::size_t);
using Renderer = std::function<json(const LoadedModel&, const Rows&, const Scored&, const json& body,
                                    const std::string& request_id)>;

// The shared path of every prediction route: content type, JSON, model choice, parsing,
// scoring, metrics. Client mistakes are answered, never thrown past here.
void predict_route(ServiceState& state, const httplib::Request& req, httplib::Response& res, std::string_view endpoint,
                   Parser parse, const Renderer& render, std::shared_ptr<const LoadedModel> model = nullptr) {
  const auto start = Clock::now();
  std::string label = "none";
  if (!is_json(req)) {
    write_error(res, 415, "unsupported_media_type", "send the body as JSON with 'Content-Type: application/json'");
  } else {
    try {
      const json body = json::parse(req.body);
      if (!model) model = choose_model(state, req);
      if (!model) {
        write_error(res, 503, "model_not_loaded", "no model is loaded",
                    {{"hint", "train and register one (mlops train --register --stage Production), then POST /admin/reload"}});
      } else {
        label = model->label;
        const Rows rows = parse(body, model->artifact.feature_names, state.options.max_batch);
        const Scored scored = score(*model, rows, state.metrics);
        res.set_header("X-Model-Version", label);
        write_json(res, render(*model, rows, scored, body, request_id_of(res)));
      }
    } catch (const json::parse_error& e) {
      write_error(res, 400, "malformed_json", fmt::format("the body is not valid JSON (at byte {})", e.byte));
    } catch (const json::out_of_range&) {  // e.g. 1e400: valid syntax, no finite double
      write_error(res, 422, "invalid_features", "the body holds a number too large to be finite");
    } catch (const RequestError& e) {
      write_error(res, e.status(), e.code_name(), e.what(), e.details());
    } catch (const std::exception& e) {
      logging::event(logging::Level::error, "prediction failed", {{"error", e.what()}});
      write_error(res, 500, "internal", "the prediction failed; see the server log");
    }
  }
  state.metrics.record_prediction(label, endpoint, res.status, seconds_since(start));
}

json health(ServiceState& state) {
  const auto primary = state.primary.get();
  const auto canary = state.canary.get();
  const ReloadStatus reload = state.reload_status();
  json j = {{"status", primary ? "ok" : "no_model"},
            {"model_loaded", primary != nullptr},
            {"uptime_seconds", seconds_since(state.started)},
            {"last_reload", {{"at", reload.at_ms ? iso8601_utc(reload.at_ms) : ""}, {"ok", reload.ok}, {"message", reload.message}}}};
  if (primary) {
    j["model_name"] = primary->name;
    j["model_version"] = primary->label;
    j["registry_version"] = primary->registry_version;
    j["model_uri"] = primary->uri;
    j["sha256"] = primary->artifact.sha256;
  } else {
    j["model_uri"] = state.options.model_uri;
  }
  if (!state.options.canary_uri.empty()) {
    j["canary"] = {{"uri", state.options.canary_uri},
                   {"weight", state.options.canary_weight},
                   {"loaded", canary != nullptr},
                   {"model_version", canary ? canary->label : ""}};
  } else {
    j["canary"] = nullptr;
  }
  return j;
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

json v2_metadata(const LoadedModel& m) {
  const bool integers = m.artifact.integer_classes;
  return {{"name", m.name},
          {"versions", {m.registry_version ? std::to_string(m.registry_version) : m.label}},
          {"platform", "mlops_logistic_regression"},
          {"inputs", {{{"name", "input-0"}, {"datatype", "FP64"}, {"shape", {-1, m.artifact.feature_names.size()}}}}},
          {"outputs",
           {{{"name", "predict"}, {"datatype", integers ? "INT64" : "BYTES"}, {"shape", {-1}}},
            {{"name", "predict_proba"}, {"datatype", "FP64"}, {"shape", {-1, m.artifact.classes.size()}}}}}};
}

// The model a v2 route names: the primary's registered name (or its label).
std::shared_ptr<const LoadedModel> v2_model(ServiceState& state, const std::string& name, httplib::Response& res) {
  auto model = state.primary.get();
  if (model && (name == model->name || name == model->label)) return model;
  write_error(res, 404, "model_not_found", fmt::format("no loaded model named '{}'", name),
              {{"loaded", model ? json(model->name) : json(nullptr)}});
  return nullptr;
}

// The CRM of this worker thread (SQLite connections are per thread), opened on first use.
crm::CrmStore& thread_crm(const std::string& url, double timeout) {
  thread_local std::string opened;
  thread_local std::unique_ptr<crm::CrmStore> store;
  if (!store || opened != url) {
    store = crm::open_crm(url, timeout);
    opened = url;
  }
  return *store;
}

int status_of(const Error& e) {
  switch (e.code()) {
    case ErrorCode::not_found: return 404;
    case ErrorCode::invalid_input: return 422;
    case ErrorCode::unavailable: return 503;
    case ErrorCode::timeout: return 504;
    default: return 502;
  }
}

// POST /crm_segment_update?customer_id=ID[&force=true]: CRM features -> predict -> policy
// -> write the segment. Every step is logged with the request id; the CRM is written last,
// so any failure before leaves it untouched.
void crm_segment_update(ServiceState& state, const httplib::Request& req, httplib::Response& res) {
  const auto start = Clock::now();
  const std::string request_id = request_id_of(res);
  const std::string id = req.get_param_value("customer_id");
  const bool force = req.get_param_value("force") == "true";
  std::string label = "none";
  const auto step = [&](std::string_view what, logging::Fields fields) {
    fields.insert(fields.begin(), {{"customer_id", id}, {"request_id", request_id}});
    logging::event(logging::Level::info, what, fields);
  };
  // Every answer is counted once in prediction_requests_total, failures included.
  const auto fail = [&](int status, std::string_view code, const std::string& message, const json& details = nullptr) {
    write_error(res, status, code, message, details);
    state.metrics.record_crm_update("none", "error");
    state.metrics.record_prediction(label, "/crm_segment_update", status, seconds_since(start));
    step("crm update failed", {{"status", std::to_string(status)}, {"error", message}});
  };
  if (!authorized(state, req)) {
    fail(401, "unauthorized", "this route needs the API key",
         {{"hint", "send 'Authorization: Bearer KEY' or 'X-API-Key: KEY' (setting MLOPS_API_KEY)"}});
    return;
  }
  try {
    if (id.empty()) {
      fail(400, "missing_customer_id", "give the customer as ?customer_id=ID", {{"example", "/crm_segment_update?customer_id=CUST_TEST_007"}});
      return;
    }
    crm::check_customer_id(id);
  } catch (const Error& e) {
    fail(400, "invalid_customer_id", e.what());
    return;
  }
  const auto model = choose_model(state, req, id);
  if (!model) {
    fail(503, "model_not_loaded", "no model is loaded");
    return;
  }
  label = model->label;
  try {
    crm::CrmStore& store = thread_crm(state.options.crm_url, state.options.crm_timeout);
    const auto customer = store.find_customer(id);
    if (!customer) {
      fail(404, "unknown_customer", fmt::format("no customer with id '{}' in the CRM", id));
      return;
    }
    step("crm features fetched", {{"features", std::to_string(customer->features.size())}, {"segment", customer->segment}});
    const auto& names = model->artifact.feature_names;
    if (customer->features.size() != names.size()) {
      fail(422, "feature_mismatch",
           fmt::format("the CRM has {} features for {}, the model expects {}", customer->features.size(), id, names.size()),
           {{"expected_features", names}});
      return;
    }
    state.policy.check_classes(model->artifact.classes);
    Rows rows;
    rows.values = customer->features;
    rows.rows = 1;
    const Scored scored = score(*model, rows, state.metrics);
    const json result = row_result(*model, scored, 0);
    step("prediction", {{"prediction", result["prediction"].dump()}, {"probability", fmt::format("{:.4f}", result["probability"].get<double>())},
                        {"model_version", label}});
    const std::string segment = state.policy.decide(scored.predicted[0], model->artifact.classes, scored.probabilities.data());
    step("decision", {{"segment", segment}, {"previous_segment", customer->segment}, {"policy", state.policy.origin()}});
    const auto change = store.write_segments({{id, segment, label, "request:" + request_id, force}}).front();
    const std::string status = change.changed || force ? "updated" : "unchanged";
    step("crm write", {{"status", status}, {"segment", segment}});
    state.metrics.record_crm_update(segment, status);
    res.set_header("X-Model-Version", label);
    write_json(res, {{"customer_id", id},
                     {"status", status},
                     {"previous_segment", change.old_segment},
                     {"segment", segment},
                     {"prediction", result["prediction"]},
                     {"probability", result["probability"]},
                     {"model_version", label},
                     {"request_id", request_id}});
  } catch (const Error& e) {
    const int status = status_of(e);
    const char* code = status == 503 ? "crm_unavailable" : status == 504 ? "crm_timeout" : status == 404 ? "unknown_customer"
                       : status == 422 ? "invalid" : "crm_error";
    fail(status, code, e.what());
    return;
  }
  state.metrics.record_prediction(label, "/crm_segment_update", res.status, seconds_since(start));
}

void admin_reload(ServiceState& state, const httplib::Request& req, httplib::Response& res) {
  if (!authorized(state, req)) {
    write_error(res, 401, "unauthorized", "this route needs the API key",
                {{"hint", "send 'Authorization: Bearer KEY' or 'X-API-Key: KEY' (setting MLOPS_API_KEY)"}});
    return;
  }
  const json result = state.reload(true);
  write_json(res, result, result.value("ok", false) ? 200 : 502);
}

// mlflow_mirror_pending_events: registry changes not yet in MLflow. Only with MLflow
// configured: without it the outbox grows by design and is no backlog.
void publish_mirror_backlog(ServiceState& state) {
  if (state.options.mlflow.tracking_uri.empty()) return;
  std::error_code ec;
  if (!std::filesystem::exists(state.options.db_path, ec)) return;
  try {
    registry::RegistryStore store(state.options.db_path);
    state.metrics.set_gauge("mlflow_mirror_pending_events", "Registry changes waiting to be mirrored to MLflow",
                            static_cast<double>(store.outbox_counts().pending));
  } catch (const Error& e) {
    logging::event(logging::Level::warn, "cannot read the mirror outbox", {{"error", e.what()}});
  }
}

}  // namespace

void install_routes(httplib::Server& server, ServiceState& state) {
  // POSTs that carry no body (`curl -X POST URL`, as the course calls /crm_segment_update)
  // send no Content-Length; cpp-httplib 0.11 would then read the body until the client
  // closes. The pre-routing handler runs before that read, so it answers them here.
  const std::map<std::string, Handler> bodyless = {
      {"/crm_segment_update", route("/crm_segment_update", [&state](const httplib::Request& req, httplib::Response& res) {
         crm_segment_update(state, req, res);
       })},
      {"/admin/reload", route("/admin/reload", [&state](const httplib::Request& req, httplib::Response& res) {
         admin_reload(state, req, res);
       })}};
  server.set_pre_routing_handler([bodyless](const httplib::Request& req, httplib::Response& res) {
    t_start = Clock::now();
    t_route = "unmatched";
    const std::string given = req.get_header_value("X-Request-ID");
    res.set_header("X-Request-ID", !given.empty() && given.size() <= 128 ? given : new_request_id());
    if (req.method == "POST" && !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      if (const auto it = bodyless.find(req.path); it != bodyless.end()) {
        it->second(req, res);
      } else {
        write_error(res, 411, "length_required", "this route needs a body with a Content-Length");
      }
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Statuses httplib answers itself (404, 413, 400 on a bad request line) get our error body.
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    switch (res.status) {
      case 404: write_error(res, 404, "not_found", fmt::format("no route {} {}", req.method, req.path), {{"routes", "GET /"}}); break;
      case 413: write_error(res, 413, "payload_too_large", "the body exceeds the server's --max-body-bytes"); break;
      case 405: write_error(res, 405, "method_not_allowed", fmt::format("{} is not allowed on {}", req.method, req.path)); break;
      default: write_error(res, res.status, "bad_request", "the request could not be read"); break;
    }
  });
  server.set_logger([&state](const httplib::Request& req, const httplib::Response& res) {
    const double seconds = seconds_since(t_start);
    state.metrics.record_http(req.method, t_route, res.status, seconds);
    const logging::Level level = res.status >= 500 ? logging::Level::error : logging::Level::info;
    if (!logging::enabled(level)) return;
    logging::event(level, "request",
                   {{"method", req.method},
                    {"route", t_route},
                    {"path", req.path},
                    {"status", std::to_string(res.status)},
                    {"latency_ms", fmt::format("{:.3f}", seconds * 1000)},
                    {"model_version", res.get_header_value("X-Model-Version")},
                    {"request_id", request_id_of(res)}});
  });

  server.Get("/", route("/", [](const httplib::Request&, httplib::Response& res) {
    write_json(res, {{"service", "mlops serve"},
                     {"routes",
                      {"POST /predict", "POST /invocations", "GET /health", "GET /live", "GET /ready", "GET /metrics",
                       "POST /crm_segment_update?customer_id=ID", "POST /admin/reload", "GET /openapi.json", "GET /dashboard", "GET /v2/health/live", "GET /v2/health/ready",
                       "GET /v2/models/{name}", "GET /v2/models/{name}/ready", "POST /v2/models/{name}/infer"}},
                     {"docs", "GET /openapi.json"}});
  }));
  server.Get("/health", route("/health", [&state](const httplib::Request&, httplib::Response& res) {
    write_json(res, health(state));
  }));
  server.Get("/live", route("/live", [](const httplib::Request&, httplib::Response& res) {
    write_json(res, {{"status", "alive"}});
  }));
  server.Get("/ready", route("/ready", [&state](const httplib::Request&, httplib::Response& res) {
    if (state.primary.get()) {
      write_json(res, {{"status", "ready"}});
    } else {
      write_error(res, 503, "model_not_loaded", "no model is loaded yet");
    }
  }));
  server.Get("/metrics", route("/metrics", [&state](const httplib::Request&, httplib::Response& res) {
    publish_mirror_backlog(state);
    res.set_content(state.metrics.scrape(), "text/plain; version=0.0.4; charset=utf-8");
  }));
  server.Get("/dashboard", route("/dashboard", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(kDashboardHtml), "text/html; charset=utf-8");
  }));
  server.Get("/dashboard/stats", route("/dashboard/stats", [&state](const httplib::Request&, httplib::Response& res) {
    write_json(res, dashboard_stats(state));
  }));
  server.Get("/openapi.json", route("/openapi.json", [](const httplib::Request&, httplib::Response& res) {
    static const std::string document = openapi_document().dump(2);
    res.set_content(document, "application/json");
  }));

  server.Post("/predict", route("/predict", [&state](const httplib::Request& req, httplib::Response& res) {
    predict_route(state, req, res, "/predict", parse_predict,
                  [](const LoadedModel& m, const Rows& rows, const Scored& s, const json&,
                     const std::string& request_id) {
                    json out;
                    if (rows.batch) {
                      json predictions = json::array();
                      for (std::size_t i = 0; i < rows.rows; ++i) predictions.push_back(row_result(m, s, i));
                      out = {{"predictions", std::move(predictions)}};
                    } else {
                      out = row_result(m, s, 0);
                    }
                    out["model_version"] = m.label;
                    out["request_id"] = request_id;
                    return out;
                  });
  }));
  server.Post("/invocations", route("/invocations", [&state](const httplib::Request& req, httplib::Response& res) {
    predict_route(state, req, res, "/invocations", parse_invocations,
                  [](const LoadedModel& m, const Rows& rows, const Scored& s, const json&,
                     const std::string&) {
                    json predictions = json::array();
                    for (std::size_t i = 0; i < rows.rows; ++i) {
                      predictions.push_back(m.artifact.class_label(static_cast<Eigen::Index>(s.predicted[i])));
                    }
                    return json{{"predictions", std::move(predictions)}};
                  });
  }));

  server.Get("/v2/health/live", route("/v2/health/live", [](const httplib::Request&, httplib::Response& res) {
    write_json(res, {{"live", true}});
  }));
  server.Get("/v2/health/ready", route("/v2/health/ready", [&state](const httplib::Request&, httplib::Response& res) {
    const bool ready = state.primary.get() != nullptr;
    write_json(res, {{"ready", ready}}, ready ? 200 : 400);  // OIP: 4xx means false
  }));
  server.Get(R"(/v2/models/([^/]+))", route("/v2/models/{name}", [&state](const httplib::Request& req, httplib::Response& res) {
    if (auto m = v2_model(state, req.matches[1], res)) write_json(res, v2_metadata(*m));
  }));
  server.Get(R"(/v2/models/([^/]+)/ready)",
             route("/v2/models/{name}/ready", [&state](const httplib::Request& req, httplib::Response& res) {
               if (auto m = v2_model(state, req.matches[1], res)) write_json(res, {{"name", m->name}, {"ready", true}});
             }));
  server.Post(R"(/v2/models/([^/]+)/infer)",
              route("/v2/models/{name}/infer", [&state](const httplib::Request& req, httplib::Response& res) {
                auto model = v2_model(state, req.matches[1], res);
                if (!model) {
                  state.metrics.record_prediction("none", "/v2/models/{name}/infer", 404, 0);
                  return;
                }
                predict_route(state, req, res, "/v2/models/{name}/infer", parse_v2_infer,
                              [](const LoadedModel& m, const Rows& rows, const Scored& s, const json& body,
                                 const std::string&) {
                                const std::size_t k = m.artifact.classes.size();
                                json labels = json::array();
                                for (std::size_t i = 0; i < rows.rows; ++i) {
                                  labels.push_back(m.artifact.class_label(static_cast<Eigen::Index>(s.predicted[i])));
                                }
                                json out = {{"model_name", m.name},
                                            {"model_version", m.label},
                                            {"outputs",
                                             {{{"name", "predict"},
                                               {"datatype", m.artifact.integer_classes ? "INT64" : "BYTES"},
                                               {"shape", {rows.rows}},
                                               {"data", labels}},
                                              {{"name", "predict_proba"},
                                               {"datatype", "FP64"},
                                               {"shape", {rows.rows, k}},
                                               {"data", s.probabilities}}}}};
                                if (body.contains("id")) out["id"] = body["id"];
                                return out;
                              },
                              model);
              }));

  for (const auto& [path, handler] : bodyless) server.Post(path, handler);
}

}  // namespace mlops::serving::detail
