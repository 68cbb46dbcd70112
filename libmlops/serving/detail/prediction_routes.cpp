// serving (internal): the prediction routes — /predict, MLflow's /invocations, the Open
// Inference Protocol's /v2 routes and /crm_segment_update. JSON in, JSON out; the HTTP
// plumbing (limits, errors, the request log) is the service layer's.
#include <fmt/format.h>

#include <chrono>
#include <random>

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
  if (!canary || state.options.canary_weight <= 0) return primary;
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

// The most JSON values a prediction body may hold for this model: every row of the batch
// with its features and the containers around them. Bounds memory before parsing.
std::size_t max_values(const LoadedModel& m, std::size_t max_batch) {
  const std::size_t p = m.artifact.feature_names.size();
  return max_batch * (p + 2) + 4 * p + 64;
}

using Parser = Rows (*)(const json&, const std::vector<std::string>&, std::size_t);
using Renderer = std::function<json(const LoadedModel&, const Rows&, const Scored&, const json& body,
                                    const std::string& request_id)>;

// The shared path of every prediction route: model choice, content type, bounded JSON,
// parsing, scoring, metrics. Every answer, refusals included, is counted once.
void predict_route(ServiceState& state, const http::Request& req, http::Response& res, std::string_view endpoint,
                   Parser parse, const Renderer& render, std::shared_ptr<const LoadedModel> model = nullptr) {
  std::string label = "none";
  try {
    if (!model) model = choose_model(state, req.header("X-Request-Key"));
    if (!model) {
      throw http::HttpError(503, "model_not_loaded", "no model is loaded",
                            {{"hint", "train and register one (mlops train --register --stage Production), then POST /admin/reload"}});
    }
    label = model->label;
    const json body = http::parse_json_body(req, max_values(*model, state.options.max_batch));
    const Rows rows = parse(body, model->artifact.feature_names, state.options.max_batch);
    const Scored scored = score(*model, rows, state.metrics);
    res.set_header("X-Model-Version", label);
    res.log_fields.emplace_back("model_version", label);
    res.json(render(*model, rows, scored, body, req.request_id));
  } catch (const http::HttpError& e) {
    res.error(e.status(), e.code_name(), e.what(), e.details());
  } catch (const json::out_of_range&) {  // e.g. 1e400: valid syntax, no finite double
    res.error(422, "invalid_features", "the body holds a number too large to be finite");
  } catch (const std::exception& e) {
    logging::event(logging::Level::error, "prediction failed", {{"error", e.what()}});
    res.error(500, "internal", "the prediction failed; see the server log");
  }
  state.metrics.record_prediction(label, endpoint, res.status, seconds_since(req.started));
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
std::shared_ptr<const LoadedModel> v2_model(ServiceState& state, const std::string& name) {
  auto model = state.primary.get();
  if (model && (name == model->name || name == model->label)) return model;
  throw http::HttpError(404, "model_not_found", fmt::format("no loaded model named '{}'", name),
                        {{"loaded", model ? json(model->name) : json(nullptr)}});
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
  res.json({{"customer_id", id},
            {"status", update.status},
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
  json labels = json::array();
  for (std::size_t i = 0; i < rows.rows; ++i) labels.push_back(m.artifact.class_label(static_cast<Eigen::Index>(s.predicted[i])));
  json out = {{"model_name", m.name},
              {"model_version", m.label},
              {"outputs",
               {{{"name", "predict"}, {"datatype", m.artifact.integer_classes ? "INT64" : "BYTES"}, {"shape", {rows.rows}}, {"data", labels}},
                {{"name", "predict_proba"}, {"datatype", "FP64"}, {"shape", {rows.rows, k}}, {"data", s.probabilities}}}}};
  if (body.contains("id")) out["id"] = body["id"];
  return out;
}

}  // namespace

void install_prediction_routes(http::JsonServer& server, ServiceState& state) {
  server.route("POST", "/predict", [&state](http::Request& req, http::Response& res) {
    predict_route(state, req, res, "/predict", parse_predict, render_predict);
  });
  server.route("POST", "/invocations", [&state](http::Request& req, http::Response& res) {
    predict_route(state, req, res, "/invocations", parse_invocations, render_invocations);
  });
  server.route("GET", "/v2/models/{name}", [&state](http::Request& req, http::Response& res) {
    res.json(v2_metadata(*v2_model(state, req.params[0])));
  });
  server.route("GET", "/v2/models/{name}/ready", [&state](http::Request& req, http::Response& res) {
    const auto m = v2_model(state, req.params[0]);
    res.json({{"name", m->name}, {"ready", true}});
  });
  server.route("POST", "/v2/models/{name}/infer", [&state](http::Request& req, http::Response& res) {
    std::shared_ptr<const LoadedModel> model;
    try {
      model = v2_model(state, req.params[0]);
    } catch (const http::HttpError& e) {
      res.error(e.status(), e.code_name(), e.what(), e.details());
      state.metrics.record_prediction("none", "/v2/models/{name}/infer", e.status(), 0);
      return;
    }
    predict_route(state, req, res, "/v2/models/{name}/infer", parse_v2_infer, render_v2_infer, model);
  });
  // The CRM may be a database or another service: off the I/O threads.
  server.route("POST", "/crm_segment_update", [&state](http::Request& req, http::Response& res) {
    crm_segment_update(state, req, res);
  }, {http::Lane::worker});
}

}  // namespace mlops::serving::detail
