// serving: the OpenAPI 3 document of every route of `mlops serve`.
#include <nlohmann/json.hpp>

#include "libmlops/serving/detail/state.hpp"

namespace mlops::serving::detail {
namespace {

using nlohmann::json;

json ref(const std::string& name) { return {{"$ref", "#/components/schemas/" + name}}; }

json json_body(const json& schema, const json& example = nullptr) {
  json media = {{"schema", schema}};
  if (!example.is_null()) media["example"] = example;
  return {{"required", true}, {"content", {{"application/json", media}}}};
}

json reply(const std::string& description, const json& schema) {
  return {{"description", description}, {"content", {{"application/json", {{"schema", schema}}}}}};
}

json error_reply(const std::string& description) { return reply(description, ref("Error")); }

json operation(const std::string& summary, const std::string& id, json responses, const json& body = nullptr) {
  json op = {{"summary", summary}, {"operationId", id}, {"responses", std::move(responses)}};
  if (!body.is_null()) op["requestBody"] = body;
  return op;
}

json prediction_errors(json responses) {
  responses["400"] = error_reply("Malformed JSON");
  responses["413"] = error_reply("Body or batch too large");
  responses["415"] = error_reply("Content-Type is not application/json");
  responses["422"] = error_reply("Valid JSON, wrong features (count, names, non-numeric, non-finite)");
  responses["503"] = error_reply("No model loaded");
  return responses;
}

json name_parameter(bool with_version = false) {
  json params = json::array({{{"name", "name"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}},
                              {"description", "The loaded model's registered name"}}});
  if (with_version) {
    params.push_back({{"name", "version"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}},
                      {"description", "The registry version of the primary or the canary (or its version tag)"}});
  }
  return params;
}

// Errors of the protocols that are not ours: MLflow's {"error_code","message"}, OIP's {"error"}.
json foreign_error(const std::string& description, bool mlflow) {
  const json schema = mlflow ? json{{"type", "object"},
                                    {"required", {"error_code", "message"}},
                                    {"properties", {{"error_code", {{"type", "string"}}}, {"message", {{"type", "string"}}}}}}
                             : json{{"type", "object"}, {"required", {"error"}}, {"properties", {{"error", {{"type", "string"}}}}}};
  return {{"description", description}, {"content", {{"application/json", {{"schema", schema}}}}}};
}

}  // namespace

json openapi_document() {
  const json number_row = {{"type", "array"}, {"items", {{"type", "number"}}}};
  const json object_row = {{"type", "object"}, {"additionalProperties", {{"type", "number"}}}};
  const json row = {{"oneOf", json::array({number_row, object_row})}};
  json schemas;
  schemas["Error"] = {{"type", "object"},
                      {"required", {"error"}},
                      {"properties",
                       {{"error",
                         {{"type", "object"},
                          {"required", {"code", "message"}},
                          {"properties", {{"code", {{"type", "string"}}}, {"message", {{"type", "string"}}}, {"details", json::object()}}}}}}}};
  schemas["PredictRequest"] = {
      {"type", "object"},
      {"description", "One row (features, as an array in feature order or an object by name) or a batch (instances)"},
      {"properties", {{"features", row}, {"instances", {{"type", "array"}, {"items", row}}}}}};
  schemas["Prediction"] = {{"type", "object"},
                           {"properties",
                            {{"prediction", {{"oneOf", json::array({{{"type", "integer"}}, {{"type", "string"}}})}}},
                             {"probability", {{"type", "number"}}},
                             {"probabilities", {{"type", "object"}, {"additionalProperties", {{"type", "number"}}}}}}}};
  schemas["PredictResponse"] = {{"allOf", json::array({ref("Prediction"),
                                                        {{"type", "object"},
                                                         {"properties",
                                                          {{"predictions", {{"type", "array"}, {"items", ref("Prediction")}}},
                                                           {"model_version", {{"type", "string"}}},
                                                           {"request_id", {{"type", "string"}}}}}}})}};
  schemas["InvocationsRequest"] = {
      {"type", "object"},
      {"description", "MLflow's scoring protocol: exactly one of these keys"},
      {"properties",
       {{"dataframe_split", {{"type", "object"}, {"properties", {{"columns", {{"type", "array"}, {"items", {{"type", "string"}}}}}, {"data", {{"type", "array"}, {"items", number_row}}}}}}},
        {"dataframe_records", {{"type", "array"}, {"items", object_row}}},
        {"instances", {{"type", "array"}, {"items", row}}},
        {"inputs", {{"oneOf", json::array({{{"type", "array"}, {"items", row}}, {{"type", "object"}}})}}}}}};
  schemas["InvocationsResponse"] = {{"type", "object"}, {"properties", {{"predictions", {{"type", "array"}, {"items", json::object()}}}}}};
  schemas["Tensor"] = {{"type", "object"},
                       {"required", {"name", "shape", "datatype", "data"}},
                       {"properties",
                        {{"name", {{"type", "string"}}},
                         {"shape", {{"type", "array"}, {"items", {{"type", "integer"}}}}},
                         {"datatype", {{"type", "string"}}},
                         {"data", {{"type", "array"}, {"items", json::object()}}}}}};
  schemas["InferRequest"] = {{"type", "object"},
                             {"required", {"inputs"}},
                             {"properties", {{"id", {{"type", "string"}}}, {"inputs", {{"type", "array"}, {"items", ref("Tensor")}}}}}};
  schemas["InferResponse"] = {{"type", "object"},
                              {"properties",
                               {{"model_name", {{"type", "string"}}},
                                {"model_version", {{"type", "string"}}},
                                {"id", {{"type", "string"}}},
                                {"outputs", {{"type", "array"}, {"items", ref("Tensor")}}}}}};
  schemas["Health"] = {{"type", "object"},
                       {"required", {"status", "model_loaded"}},
                       {"properties",
                        {{"status", {{"type", "string"}}},
                         {"model_loaded", {{"type", "boolean"}}},
                         {"model_name", {{"type", "string"}}},
                         {"model_version", {{"type", "string"}}},
                         {"registry_version", {{"type", "integer"}}},
                         {"model_uri", {{"type", "string"}}},
                         {"sha256", {{"type", "string"}}},
                         {"uptime_seconds", {{"type", "number"}}},
                         {"canary", {{"type", "object"}, {"nullable", true}}},
                         {"last_reload", {{"type", "object"}}}}}};
  schemas["Status"] = {{"type", "object"}, {"additionalProperties", true}};
  schemas["Index"] = {{"type", "object"},
                      {"required", {"status", "service", "model_loaded", "model_version", "routes"}},
                      {"properties",
                       {{"status", {{"type", "string"}, {"enum", {"ok"}}}},
                        {"service", {{"type", "string"}}},
                        {"model_loaded", {{"type", "boolean"}}},
                        {"model_version", {{"type", "string"}, {"nullable", true}}},
                        {"routes", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}};
  schemas["SegmentUpdate"] = {
      {"type", "object"},
      {"required", {"customer_id", "status", "segment_ai_decision", "crm_mock_response", "update_status", "segment"}},
      {"properties",
       {{"customer_id", {{"type", "string"}}},
        {"status", {{"type", "string"}, {"enum", {"Success"}}, {"description", "the course's: the flow ran"}}},
        {"segment_ai_decision", {{"type", "string"}}},
        {"crm_mock_response", {{"type", "object"}, {"description", "the CRM's write, in the course mock's shape"}}},
        {"update_status", {{"type", "string"}, {"enum", {"updated", "unchanged"}}}},
        {"previous_segment", {{"type", "string"}}},
        {"segment", {{"type", "string"}}},
        {"prediction", json::object()},  // the model's class: a number or a string
        {"probability", {{"type", "number"}}},
        {"model_version", {{"type", "string"}}},
        {"request_id", {{"type", "string"}}}}}};

  json paths;
  paths["/"]["get"] = operation("The course's health check, with the index of the routes", "index",
                                {{"200", reply("Status and routes", ref("Index"))}});
  paths["/predict"]["post"] = operation(
      "Predict one row or a batch", "predict",
      prediction_errors({{"200", reply("Prediction(s)", ref("PredictResponse"))}}),
      json_body(ref("PredictRequest"), {{"features", {5.2, 1.3, 7.7, 2.0, 3.1, 4.4, 1.0, 8.2, 2.5, 6.0}}}));
  json invocations_body = json_body(ref("InvocationsRequest"));
  invocations_body["content"]["text/csv"] = {{"schema", {{"type", "string"}}},
                                             {"example", "feature_1,feature_2\n5.2,1.3\n"}};
  paths["/invocations"]["post"] = operation(
      "MLflow scoring protocol (as `mlflow models serve`): JSON with exactly one of dataframe_split, "
      "dataframe_records, instances, inputs; or text/csv with a header row",
      "invocations",
      {{"200", reply("Predicted labels", ref("InvocationsResponse"))},
       {"400", foreign_error("Bad input: MLflow's BAD_REQUEST", true)},
       {"413", foreign_error("Body or batch too large", true)},
       {"415", {{"description", "Neither application/json nor text/csv (plain text, as MLflow)"},
                {"content", {{"text/plain", {{"schema", {{"type", "string"}}}}}}}}},
       {"503", foreign_error("No model loaded", true)}},
      invocations_body);
  paths["/ping"]["get"] = operation("MLflow scoring server's health check: 200 with a model, 404 without", "ping",
                                    {{"200", {{"description", "A model is loaded"}}}, {"404", {{"description", "No model"}}}});
  paths["/version"]["get"] = operation("MLflow scoring server's version route: the bare version string", "version",
                                       {{"200", {{"description", "The mlops version"}}}});
  paths["/v2"]["get"] = operation("Open Inference Protocol: server metadata", "v2ServerMetadata",
                                  {{"200", reply("name, version, extensions", ref("Status"))}});
  paths["/health"]["get"] = operation("Service and model status", "health", {{"200", reply("Status", ref("Health"))}});
  paths["/live"]["get"] = operation("Liveness", "live", {{"200", reply("Alive", ref("Status"))}});
  paths["/ready"]["get"] = operation("Readiness: 503 until a model is loaded", "ready",
                                     {{"200", reply("Ready", ref("Status"))}, {"503", error_reply("No model loaded")}});
  paths["/metrics"]["get"] = operation(
      "Prometheus metrics", "metrics",
      {{"200", {{"description", "Text exposition format 0.0.4"}, {"content", {{"text/plain", {{"schema", {{"type", "string"}}}}}}}}}});
  paths["/dashboard"]["get"] = operation(
      "The built-in live dashboard (one self-contained HTML page)", "dashboard",
      {{"200", {{"description", "HTML page"}, {"content", {{"text/html", {{"schema", {{"type", "string"}}}}}}}}}});
  paths["/dashboard/stats"]["get"] = operation(
      "The dashboard's data: prediction, CRM update and latency totals since start, with the health status", "dashboardStats",
      {{"200", reply("Totals", ref("Status"))}});
  paths["/openapi.json"]["get"] = operation("This document", "openapi", {{"200", reply("OpenAPI 3", ref("Status"))}});
  paths["/crm_segment_update"]["post"] = operation(
      "CRM features -> predict -> segment policy -> write the segment back", "crmSegmentUpdate",
      {{"200", reply("The decision, the CRM's answer, updated or unchanged", ref("SegmentUpdate"))},
       {"400", error_reply("Missing or invalid customer id")},
       {"401", error_reply("API key missing or wrong")},
       {"404", error_reply("Unknown customer")},
       {"422", error_reply("The CRM's features do not fit the model")},
       {"502", error_reply("The CRM answered with an error")},
       {"503", error_reply("No model loaded, or the CRM is unreachable")}});
  paths["/crm_segment_update"]["post"]["parameters"] = json::array(
      {{{"name", "customer_id"}, {"in", "query"}, {"required", true}, {"schema", {{"type", "string"}}}, {"example", "CUST_TEST_007"}},
       {{"name", "force"}, {"in", "query"}, {"required", false}, {"schema", {{"type", "boolean"}}}}});
  paths["/admin/reload"]["post"] = operation(
      "Re-resolve the model URIs and swap atomically", "reload",
      {{"200", reply("Reloaded", ref("Status"))}, {"401", error_reply("API key missing or wrong")},
       {"502", reply("Reload failed; the old model keeps serving", ref("Status"))}});
  paths["/admin/reload"]["post"]["security"] = json::array({{{"bearer", json::array()}}, {{"apiKey", json::array()}}});
  paths["/admin/alerts"]["post"] = operation(
      "Alertmanager webhook: a firing rollback alert rolls back the active rollout", "alerts",
      {{"200", reply("What was done: acted, alerts, model, rollout or reason", ref("Status"))},
       {"400", error_reply("Not Alertmanager's webhook payload")}, {"401", error_reply("API key missing or wrong")},
       {"503", error_reply("The registry (or MLflow, for a model served from it) cannot be written")}},
      json_body({{"type", "object"}, {"required", {"alerts"}}, {"properties", {{"alerts", {{"type", "array"}}}}}}));
  paths["/admin/alerts"]["post"]["parameters"] = json::array(
      {{{"name", "model"}, {"in", "query"}, {"required", false}, {"schema", {{"type", "string"}}}}});
  paths["/admin/alerts"]["post"]["security"] = paths["/admin/reload"]["post"]["security"];
  paths["/v2/health/live"]["get"] = operation("Open Inference Protocol: live", "v2Live", {{"200", reply("Live", ref("Status"))}});
  paths["/v2/health/ready"]["get"] = operation("Open Inference Protocol: ready", "v2Ready",
                                               {{"200", reply("Ready", ref("Status"))}, {"400", reply("Not ready", ref("Status"))}});
  const json infer_responses = {{"200", reply("Outputs predict and predict_proba (or those asked in outputs)", ref("InferResponse"))},
                                 {"400", foreign_error("Bad input (OIP)", false)},
                                 {"404", foreign_error("Unknown model or version", false)},
                                 {"413", foreign_error("Body or batch too large", false)},
                                 {"503", foreign_error("No model loaded", false)}};
  for (const bool versioned : {false, true}) {
    const std::string base = versioned ? "/v2/models/{name}/versions/{version}" : "/v2/models/{name}";
    const std::string id = versioned ? "Version" : "";
    paths[base]["get"] = operation("Model metadata", "v2Metadata" + id,
                                   {{"200", reply("Metadata", ref("Status"))}, {"404", foreign_error("Unknown model", false)}});
    paths[base]["parameters"] = name_parameter(versioned);
    paths[base + "/ready"]["get"] = operation("Model readiness", "v2ModelReady" + id,
                                              {{"200", reply("Ready", ref("Status"))}, {"404", foreign_error("Unknown model", false)}});
    paths[base + "/ready"]["parameters"] = name_parameter(versioned);
    paths[base + "/infer"]["post"] = operation("Open Inference Protocol inference", "v2Infer" + id, infer_responses,
                                               json_body(ref("InferRequest")));
    paths[base + "/infer"]["parameters"] = name_parameter(versioned);
  }

  return {{"openapi", "3.0.3"},
          {"info",
           {{"title", "mlops serve"},
            {"version", MLOPS_VERSION_STRING},
            {"description", "Prediction service of the mlops toolkit: /predict, MLflow /invocations, Open Inference Protocol v2"},
            {"license", {{"name", "MIT"}}}}},
          {"servers", json::array({{{"url", "http://127.0.0.1:8000"}}})},
          {"paths", paths},
          {"components",
           {{"schemas", schemas},
            {"securitySchemes",
             {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}},
              {"apiKey", {{"type", "apiKey"}, {"in", "header"}, {"name", "X-API-Key"}}}}}}}};
}

}  // namespace mlops::serving::detail
