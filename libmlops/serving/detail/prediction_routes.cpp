// serving (internal): the prediction routes — /predict, MLflow's /invocations, the Open
// Inference Protocol's /v2 routes and /crm_segment_update. JSON in, JSON out; the HTTP
// plumbing (limits, errors, the request log) is the service layer's.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <random>
#include <thread>

#include "libmlops/core/log.hpp"
#include "libmlops/crm/crm_store.hpp"
#include "libmlops/crm/segment_update.hpp"
#include "libmlops/http/json_server.hpp"
#include "libmlops/serving/detail/state.hpp"
#include "libmlops/serving/request.hpp"

namespace mlops::serving::detail {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Chooses the model for a prediction: the canary for its share of traffic. A request key
// (X-Request-Key) hashes to a fixed point in [0, 1), so one caller always sees one version.
std::shared_ptr<const LoadedModel> choose_model(ServiceState& state, std::string_view key) {
  auto primary = state.primary.get();
  auto canary = state.canary.get();
  const double weight = state.canary_weight.load(std::memory_order_relaxed);
  if (!canary || weight <= 0) return primary;
  if (!primary) return canary;
  double point = 0;
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
  return point < weight ? canary : primary;
}

// --inject-fault: the delay, then an error for its share of requests.
void inject_fault(const FaultInjection& fault) {
  if (fault.delay_seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(fault.delay_seconds));
  thread_local std::mt19937_64 rng(std::random_device{}());
  if (fault.error_ratio > 0 && static_cast<double>(rng() >> 11) * 0x1.0p-53 < fault.error_ratio) {
    throw http::HttpError(500, "injected_fault", "a fault injected on purpose (mlops serve --inject-fault)");
  }
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

// The most JSON values a prediction body may hold for this model: every row of the batch
// with its features and the containers around them. Bounds memory before parsing.
std::size_t max_values(const LoadedModel& m, std::size_t max_batch) {
  const std::size_t p = m.artifact.feature_names.size();
  return max_batch * (p + 2) + 4 * p + 64;
}

// Whose error shape and status codes a route answers with: ours (DESIGN.md §5), MLflow's
// scoring server ({"error_code","message"}, 400 for any bad input) or the Open Inference
// Protocol ({"error"}, 400 for any bad input).
enum class Protocol { mlops, mlflow, oip };

void answer_error(http::Response& res, Protocol protocol, int status, std::string_view code, const std::string& message,
                  const json& details = nullptr) {
  const int bad_input = status == 422 ? 400 : status;
  switch (protocol) {
    case Protocol::mlops:
      res.error(status, code, message, details);
      return;
    case Protocol::mlflow:
      if (status == 415) {  // MLflow answers this one in plain text
        res.text(message, "text/plain; charset=utf-8");
        res.status = 415;
        return;
      }
      res.json({{"error_code", status == 404   ? "RESOURCE_DOES_NOT_EXIST"
                               : status == 503 ? "TEMPORARILY_UNAVAILABLE"
                               : status >= 500 ? "INTERNAL_ERROR"
                                               : "BAD_REQUEST"},
                {"message", message}},
               bad_input);
      return;
    case Protocol::oip:
      res.json({{"error", message}}, bad_input);
      return;
  }
}

// Reads a request body into rows for the model (and the JSON body, for the renderer).
using BodyParser = Rows (*)(const http::Request&, const LoadedModel&, std::size_t max_batch, json& body);
using Renderer = json (*)(const LoadedModel&, const Rows&, const Scored&, const json& body, const std::string& request_id);

using JsonParser = Rows (*)(const json&, const std::vector<std::string>&, std::size_t);

// A JSON body, bounded before it is parsed, read by `parse`.
Rows json_rows(const http::Request& req, const LoadedModel& m, std::size_t max_batch, json& body, JsonParser parse) {
  body = http::parse_json_body(req, max_values(m, max_batch));
  return parse(body, m.artifact.feature_names, max_batch);
}

Rows predict_body(const http::Request& req, const LoadedModel& m, std::size_t max_batch, json& body) {
  return json_rows(req, m, max_batch, body, parse_predict);
}

// MLflow's /invocations: JSON or text/csv, as its scoring server takes them.
Rows invocations_body(const http::Request& req, const LoadedModel& m, std::size_t max_batch, json& body) {
  std::string type(req.header("Content-Type").substr(0, req.header("Content-Type").find(';')));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
  if (type == "text/csv") return parse_csv_rows(req.body, m.artifact.feature_names, max_batch);
  if (type != "application/json") {
    throw http::HttpError(415, "unsupported_media_type",
                          fmt::format("This predictor only supports the following content types: Types: ['text/csv', "
                                      "'application/json']. Got '{}'.",
                                      type));
  }
  return json_rows(req, m, max_batch, body, parse_invocations);
}

// The shared path of every prediction route: model choice, bounded parsing, scoring,
// metrics, errors in the route's protocol. Every answer, refusals included, is counted once.
void predict_route(ServiceState& state, const http::Request& req, http::Response& res, std::string_view endpoint,
                   Protocol protocol, BodyParser parse, Renderer render,
                   std::shared_ptr<const LoadedModel> model = nullptr) {
  std::string label = "none";
  try {
    if (!model) model = choose_model(state, req.header("X-Request-Key"));
    if (!model) {
      throw http::HttpError(503, "model_not_loaded", "no model is loaded",
                            {{"hint", "train and register one (mlops train --register --stage Production), then POST /admin/reload"}});
    }
    label = model->label;
    if (state.options.fault.active() && model->registry_version == state.options.fault.version) {
      inject_fault(state.options.fault);
    }
    json body;
    const Rows rows = parse(req, *model, state.options.max_batch, body);
    const Scored scored = score(*model, rows, state.metrics);
    res.set_header("X-Model-Version", label);
    res.log_fields.emplace_back("model_version", label);
    res.json(render(*model, rows, scored, body, req.request_id));
  } catch (const http::HttpError& e) {
    answer_error(res, protocol, e.status(), e.code_name(), e.what(), e.details());
  } catch (const json::out_of_range&) {  // e.g. 1e400: valid syntax, no finite double
    answer_error(res, protocol, 422, "invalid_features", "the body holds a number too large to be finite");
  } catch (const std::exception& e) {
    logging::event(logging::Level::error, "prediction failed", {{"error", e.what()}});
    answer_error(res, protocol, 500, "internal", "the prediction failed; see the server log");
  }
  const double seconds = seconds_since(req.started);
  state.metrics.record_prediction(label, endpoint, res.status, seconds);
  if (model) state.record_outcome(*model, res.status, seconds);
}

// A loaded model's version as OIP paths name it: its registry version, else its label.
std::string v2_version(const LoadedModel& m) {
  return m.registry_version ? std::to_string(m.registry_version) : m.label;
}

json v2_metadata(ServiceState& state, const LoadedModel& m) {
  const bool integers = m.artifact.integer_classes;
  json versions = json::array();
  for (const auto& loaded : {state.primary.get(), state.canary.get()}) {
    if (loaded && loaded->name == m.name) versions.push_back(v2_version(*loaded));
  }
  return {{"name", m.name},
          {"versions", versions},
          {"platform", "mlops_logistic_regression"},
          {"inputs", {{{"name", "input-0"}, {"datatype", "FP64"}, {"shape", {-1, m.artifact.feature_names.size()}}}}},
          {"outputs",
           {{{"name", "predict"}, {"datatype", integers ? "INT64" : "BYTES"}, {"shape", {-1}}},
            {{"name", "predict_proba"}, {"datatype", "FP64"}, {"shape", {-1, m.artifact.classes.size()}}}}}};
}

// The model a v2 route names: by registered name (or label), and by version when the path
// has one — the primary's or the canary's. Without a version, the primary.
std::shared_ptr<const LoadedModel> v2_model(ServiceState& state, const std::string& name, const std::string& version = "") {
  for (const auto& model : {state.primary.get(), state.canary.get()}) {
    if (!model || (name != model->name && name != model->label)) continue;
    if (version.empty() || version == v2_version(*model) || version == model->label) return model;
  }
  throw http::HttpError(404, "model_not_found",
                        version.empty() ? fmt::format("Model {} is not found", name)
                                        : fmt::format("Model {} version {} is not found", name, version));
}

// The OIP infer body: the tensor, and the outputs it asks for (names the model has).
Rows v2_infer_body(const http::Request& req, const LoadedModel& m, std::size_t max_batch, json& body) {
  Rows rows = json_rows(req, m, max_batch, body, parse_v2_infer);
  if (body.contains("outputs")) {
    const json& outputs = body["outputs"];
    if (!outputs.is_array()) throw http::HttpError(400, "invalid_outputs", "outputs must be a list of {\"name\": ...}");
    for (const json& o : outputs) {
      const std::string name = o.is_object() && o.contains("name") && o["name"].is_string() ? o["name"].get<std::string>() : "";
      if (name != "predict" && name != "predict_proba") {
        throw http::HttpError(400, "invalid_outputs",
                              fmt::format("unknown output '{}': model {} has outputs predict and predict_proba", name, m.name));
      }
    }
  }
  return rows;
}

// An OIP route's handler, with errors in OIP's shape.
template <typename Handler>
http::Handler oip(Handler handler) {
  return [handler](http::Request& req, http::Response& res) {
    try {
      handler(req, res);
    } catch (const http::HttpError& e) {
      answer_error(res, Protocol::oip, e.status(), e.code_name(), e.what());
    }
  };
}

// The CRM of this worker thread (SQLite connections are per thread), opened on first use.
crm::CrmStore& thread_crm(const std::string& url, double timeout, const std::string& api_key) {
  thread_local std::string opened;
  thread_local std::unique_ptr<crm::CrmStore> store;
  if (!store || opened != url) {
    store = crm::open_crm(url, timeout, 1, api_key);
    opened = url;
  }
  return *store;
}

// POST /crm_segment_update?customer_id=ID[&force=true]: the steps are crm::update_segment's;
// this route chooses the model, scores and answers. Every answer is counted once in
// prediction_requests_total, refusals included.
void crm_segment_update(ServiceState& state, const http::Request& req, http::Response& res) {
  const std::string id = req.query_param("customer_id").value_or("");
  std::string label = "none";
  const auto fail = [&](int status, std::string_view code, const std::string& message, const json& details = nullptr) {
    res.error(status, code, message, details);
    state.metrics.record_crm_update("none", "error");
    state.metrics.record_prediction(label, "/crm_segment_update", status, seconds_since(req.started));
    logging::event(logging::Level::info, "crm update failed",
                   {{"customer_id", id}, {"request_id", req.request_id}, {"status", std::to_string(status)}, {"error", message}});
  };
  const std::string& key = state.options.service.api_key;
  if (!key.empty() && !http::has_api_key(req, key)) {
    return fail(401, "unauthorized", "this route needs the API key",
                {{"hint", "send 'Authorization: Bearer KEY' or 'X-API-Key: KEY' (setting MLOPS_API_KEY)"}});
  }
  if (id.empty()) {
    return fail(400, "missing_customer_id", "give the customer as ?customer_id=ID",
                {{"example", "/crm_segment_update?customer_id=CUST_TEST_007"}});
  }
  try {
    crm::check_customer_id(id);
  } catch (const Error& e) {
    return fail(400, "invalid_customer_id", e.what());
  }
  const auto model = choose_model(state, id);
  if (!model) return fail(503, "model_not_loaded", "no model is loaded");
  label = model->label;
  try {
    state.policy.check_classes(model->artifact.classes);
  } catch (const Error& e) {  // the server's policy does not fit its model: not the client's doing
    return fail(500, "policy_mismatch", e.what());
  }
  crm::SegmentUpdate update;
  try {
    crm::CrmStore& store = thread_crm(state.options.crm_url, state.options.crm_timeout, state.options.crm_api_key);
    const auto scorer = [&](const std::vector<double>& features) {
      Rows rows;
      rows.values = features;
      rows.rows = 1;
      const Scored scored = score(*model, rows, state.metrics);
      const json result = row_result(*model, scored, 0);
      return crm::Prediction{result["prediction"], result["probability"].get<double>(),
                             state.policy.decide(scored.predicted[0], model->artifact.classes, scored.probabilities.data())};
    };
    update = crm::update_segment(store, {id, label, model->artifact.feature_names.size(), "request:" + req.request_id,
                                         req.query_param("force").value_or("") == "true", state.policy.origin(), req.request_id},
                                 scorer);
  } catch (const Error& e) {
    // The CRM is a dependency: its failures are a bad gateway (502), its silence a 503/504.
    switch (e.code()) {
      case ErrorCode::not_found: return fail(404, "unknown_customer", e.what());
      case ErrorCode::invalid_input:
        return fail(422, "feature_mismatch", e.what(), {{"expected_features", model->artifact.feature_names}});
      case ErrorCode::unavailable: return fail(503, "crm_unavailable", e.what());
      case ErrorCode::timeout: return fail(504, "crm_timeout", e.what());
      default: return fail(502, "crm_error", e.what());
    }
  }
  state.metrics.record_crm_update(update.segment, update.status);
  res.set_header("X-Model-Version", label);
  res.log_fields.emplace_back("model_version", label);
  // The course's answer (status "Success", segment_ai_decision, crm_mock_response: the
  // CRM's write in its mock's shape), then ours; our outcome is update_status.
  res.json({{"customer_id", id},
            {"status", "Success"},
            {"segment_ai_decision", update.segment},
            {"crm_mock_response",
             {{"status", update.status == "updated" ? "success" : update.status},
              {"user_id", id},
              {"old_segment", update.previous_segment},
              {"new_segment", update.segment}}},
            {"update_status", update.status},
            {"previous_segment", update.previous_segment},
            {"segment", update.segment},
            {"prediction", update.prediction.label},
            {"probability", update.prediction.probability},
            {"model_version", label},
            {"request_id", req.request_id}});
  state.metrics.record_prediction(label, "/crm_segment_update", res.status, seconds_since(req.started));
}

json render_predict(const LoadedModel& m, const Rows& rows, const Scored& s, const json&, const std::string& request_id) {
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
}

json render_invocations(const LoadedModel& m, const Rows& rows, const Scored& s, const json&, const std::string&) {
  json predictions = json::array();
  for (std::size_t i = 0; i < rows.rows; ++i) {
    predictions.push_back(m.artifact.class_label(static_cast<Eigen::Index>(s.predicted[i])));
  }
  return json{{"predictions", std::move(predictions)}};
}

json render_v2_infer(const LoadedModel& m, const Rows& rows, const Scored& s, const json& body, const std::string&) {
  const std::size_t k = m.artifact.classes.size();
  const auto wanted = [&](const char* name) {
    if (!body.contains("outputs")) return true;
    for (const json& o : body["outputs"]) {
      if (o["name"] == name) return true;
    }
    return false;
  };
  json outputs = json::array();
  if (wanted("predict")) {
    json labels = json::array();
    for (std::size_t i = 0; i < rows.rows; ++i) labels.push_back(m.artifact.class_label(static_cast<Eigen::Index>(s.predicted[i])));
    outputs.push_back({{"name", "predict"}, {"datatype", m.artifact.integer_classes ? "INT64" : "BYTES"}, {"shape", {rows.rows}}, {"data", labels}});
  }
  if (wanted("predict_proba")) {
    outputs.push_back({{"name", "predict_proba"}, {"datatype", "FP64"}, {"shape", {rows.rows, k}}, {"data", s.probabilities}});
  }
  json out = {{"model_name", m.name}, {"model_version", v2_version(m)}, {"outputs", std::move(outputs)}};
  if (body.contains("id")) out["id"] = body["id"];
  if (body.contains("parameters") && body["parameters"].is_object()) out["parameters"] = body["parameters"];
  return out;
}

}  // namespace

void install_prediction_routes(http::JsonServer& server, ServiceState& state) {
  // Scoring is microseconds: on the I/O threads. An injected delay sleeps, so then the
  // prediction routes run on the workers and a slow version delays only its own requests.
  const http::RouteOptions scoring{state.options.fault.delay_seconds > 0 ? http::Lane::worker : http::Lane::io, false};
  server.route("POST", "/predict", [&state](http::Request& req, http::Response& res) {
    predict_route(state, req, res, "/predict", Protocol::mlops, predict_body, render_predict);
  }, scoring);
  // MLflow's scoring server: /ping, /version and /invocations as `mlflow models serve` answers them.
  server.route("POST", "/invocations", [&state](http::Request& req, http::Response& res) {
    predict_route(state, req, res, "/invocations", Protocol::mlflow, invocations_body, render_invocations);
  }, scoring);
  server.route("GET", "/ping", [&state](http::Request&, http::Response& res) {
    res.text("\n", "application/json");
    res.status = state.primary.get() ? 200 : 404;
  });
  server.route("GET", "/version", [](http::Request&, http::Response& res) {
    res.text(MLOPS_VERSION_STRING, "application/json");  // as MLflow: the bare version string
  });
  // The Open Inference Protocol v2 (KServe, MLServer, Triton).
  server.route("GET", "/v2", oip([](http::Request&, http::Response& res) {
    res.json({{"name", "mlops"}, {"version", MLOPS_VERSION_STRING}, {"extensions", json::array()}});
  }));
  const auto metadata = [&state](http::Request& req, http::Response& res) {
    res.json(v2_metadata(state, *v2_model(state, req.params[0], req.params.size() > 1 ? req.params[1] : "")));
  };
  const auto ready = [&state](http::Request& req, http::Response& res) {
    const auto m = v2_model(state, req.params[0], req.params.size() > 1 ? req.params[1] : "");
    res.json({{"name", m->name}, {"ready", true}});
  };
  const auto infer = [&state](std::string_view endpoint) {
    return [&state, endpoint](http::Request& req, http::Response& res) {
      std::shared_ptr<const LoadedModel> model;
      try {
        model = v2_model(state, req.params[0], req.params.size() > 1 ? req.params[1] : "");
      } catch (const http::HttpError& e) {
        answer_error(res, Protocol::oip, e.status(), e.code_name(), e.what());
        state.metrics.record_prediction("none", endpoint, e.status(), 0);
        return;
      }
      predict_route(state, req, res, endpoint, Protocol::oip, v2_infer_body, render_v2_infer, model);
    };
  };
  server.route("GET", "/v2/models/{name}", oip(metadata));
  server.route("GET", "/v2/models/{name}/ready", oip(ready));
  server.route("POST", "/v2/models/{name}/infer", infer("/v2/models/{name}/infer"), scoring);
  server.route("GET", "/v2/models/{name}/versions/{version}", oip(metadata));
  server.route("GET", "/v2/models/{name}/versions/{version}/ready", oip(ready));
  server.route("POST", "/v2/models/{name}/versions/{version}/infer", infer("/v2/models/{name}/versions/{version}/infer"), scoring);
  // The CRM may be a database or another service: off the I/O threads.
  server.route("POST", "/crm_segment_update", [&state](http::Request& req, http::Response& res) {
    crm_segment_update(state, req, res);
  }, {http::Lane::worker});
}

}  // namespace mlops::serving::detail
