#include "libmlops/mlflow/client.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "libmlops/config/settings.hpp"

namespace mlops::mlflow {
namespace {

using nlohmann::json;

const std::string kApi = "/api/2.0/mlflow/";
const std::string kArtifactsApi = "/api/2.0/mlflow-artifacts/artifacts/";
const std::string kArtifactsScheme = "mlflow-artifacts:/";

json tag_list(const Tags& tags) {
  json list = json::array();
  for (const auto& [key, value] : tags) list.push_back({{"key", key}, {"value", value}});
  return list;
}

Tags tags_of(const json& j) {
  Tags tags;
  if (j.is_array()) {
    for (const json& t : j) tags[t.value("key", "")] = t.value("value", "");
  }
  return tags;
}

RunInfo run_info_of(const json& info) {
  return {info.value("run_id", info.value("run_uuid", "")), info.value("experiment_id", ""), info.value("status", ""),
          info.value("artifact_uri", ""), info.value("lifecycle_stage", "active")};
}

ModelVersion version_of(const json& v) {
  ModelVersion out;
  out.name = v.value("name", "");
  out.version = v.value("version", "");
  out.source = v.value("source", "");
  out.run_id = v.value("run_id", "");
  out.current_stage = v.value("current_stage", "None");
  if (v.contains("aliases")) out.aliases = v["aliases"].get<std::vector<std::string>>();
  out.tags = tags_of(v.value("tags", json::array()));
  return out;
}

// Filter strings quote values with '; MLflow's parser has no escape for a quote inside.
const std::string& filter_value(const std::string& value) {
  if (value.find('\'') != std::string::npos) {
    throw Error(ErrorCode::invalid_input, fmt::format("'{}' cannot be searched for in MLflow (it holds a quote)", value));
  }
  return value;
}

// mlflow-artifacts:/1/<run>/artifacts + model/model.json -> the proxy's URL path.
std::string artifact_path(const std::string& artifact_uri, const std::string& path) {
  if (artifact_uri.rfind(kArtifactsScheme, 0) != 0) {
    throw Error(ErrorCode::invalid_input,
                fmt::format("artifact location '{}' is not served by MLflow's artifacts proxy", artifact_uri),
                "start the MLflow server with --serve-artifacts (the default since 2.0) and no "
                "--default-artifact-root, and let experiments use the default artifact location");
  }
  std::string rest = artifact_uri.substr(kArtifactsScheme.size());
  while (!rest.empty() && rest.front() == '/') rest.erase(0, 1);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::string encoded;
  for (const std::string_view part : {std::string_view(rest), std::string_view(path)}) {
    std::size_t start = 0;
    while (start <= part.size()) {
      const std::size_t slash = std::min(part.find('/', start), part.size());
      if (slash > start) {
        if (!encoded.empty()) encoded += '/';
        encoded += http::url_encode(part.substr(start, slash - start));
      }
      start = slash + 1;
    }
  }
  return kArtifactsApi + encoded;
}

}  // namespace

Connection connection_from(const config::Settings& s) {
  Connection c;
  // user:password@ in the URI is basic auth, kept out of every message and stored error.
  const http::UrlCredentials given = http::take_credentials(s.get("MLFLOW_TRACKING_URI"));
  c.tracking_uri = given.url;
  while (!c.tracking_uri.empty() && c.tracking_uri.back() == '/') c.tracking_uri.pop_back();
  c.http.timeout_seconds = s.number("MLFLOW_HTTP_REQUEST_TIMEOUT");
  c.http.retries = static_cast<int>(s.number("MLFLOW_HTTP_REQUEST_MAX_RETRIES", 0, 100));
  c.http.backoff_seconds = 0.2;
  c.http.bearer_token = s.get("MLFLOW_TRACKING_TOKEN");
  c.http.username = s.get("MLFLOW_TRACKING_USERNAME");
  c.http.password = s.get("MLFLOW_TRACKING_PASSWORD");
  if (c.http.username.empty() && c.http.bearer_token.empty()) {
    c.http.username = given.username;
    c.http.password = given.password;
  }
  std::string insecure = s.get("MLFLOW_TRACKING_INSECURE_TLS");
  std::transform(insecure.begin(), insecure.end(), insecure.begin(), [](unsigned char ch) { return std::tolower(ch); });
  c.http.verify_tls = !(insecure == "true" || insecure == "1");
  c.http.ca_cert_path = s.get("MLFLOW_TRACKING_SERVER_CERT_PATH");
  return c;
}

MlflowError::MlflowError(ErrorCode code, int http_status, std::string error_code, std::string message, std::string hint)
    : Error(code, std::move(message), std::move(hint)), http_status_(http_status), error_code_(std::move(error_code)) {}

bool MlflowError::permanent() const noexcept {
  // A 4xx without MLflow's JSON (an HTML 404 or 405) means the URL is not an MLflow
  // server's API: a setup problem, not this request's.
  if (error_code_.empty()) return false;
  return http_status_ >= 400 && http_status_ < 500 && http_status_ != 401 && http_status_ != 403 &&
         http_status_ != 408 && http_status_ != 429;
}

Client::Client(const Connection& connection) : http_(connection.tracking_uri, connection.http) {}

namespace {
// Turns an answer other than 200 into the error it means.
[[noreturn]] void raise_for(const http::ClientResponse& r, const std::string& where) {
  const json parsed = json::parse(r.body, nullptr, false);
  const bool mlflow_json = !parsed.is_discarded() && parsed.is_object() && parsed.contains("error_code");
  const std::string code = mlflow_json ? parsed.value("error_code", "") : "";
  if (r.status == 401 || r.status == 403) {
    throw MlflowError(ErrorCode::unavailable, r.status, code, fmt::format("{} refused the credentials ({})", where, r.status),
                      "set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD");
  }
  if (mlflow_json) {
    ErrorCode mapped = r.status >= 500 ? ErrorCode::unavailable : ErrorCode::invalid_input;
    if (code == "RESOURCE_DOES_NOT_EXIST") mapped = ErrorCode::not_found;
    if (code == "RESOURCE_ALREADY_EXISTS") mapped = ErrorCode::conflict;
    throw MlflowError(mapped, r.status, code,
                      fmt::format("{}: {} {}: {}", where, r.status, code, parsed.value("message", "").substr(0, 500)),
                      r.status >= 500 ? "MLflow failed on its side; the change is sent again later" : "");
  }
  throw MlflowError(r.status >= 500 ? ErrorCode::unavailable : ErrorCode::io, r.status, "",
                    fmt::format("{} answered {} without MLflow's error JSON", where, r.status),
                    "check that MLFLOW_TRACKING_URI is the MLflow tracking server's address (http://HOST:5000)");
}
}  // namespace

std::string Client::where(const std::string& method, const std::string& path) const {
  return fmt::format("MLflow at {} ({} {})", http_.base_url(), method, path.substr(0, path.find('?')));
}

json Client::call(const std::string& method, const std::string& path, const json& body, bool idempotent) {
  const http::ClientResponse r =
      method == "GET" ? http_.get(path) : http_.send(method, path, body.dump(), "application/json", idempotent);
  if (r.status != 200) raise_for(r, where(method, path));
  json parsed = json::parse(r.body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    throw MlflowError(ErrorCode::corrupt, r.status, "",
                      fmt::format("{} answered 200 with a body that is not JSON", where(method, path)),
                      "check that MLFLOW_TRACKING_URI is the MLflow tracking server's address");
  }
  return parsed;
}

json Client::get(const std::string& path_and_query) { return call("GET", path_and_query, nullptr, true); }

std::optional<std::string> Client::find_experiment_id(const std::string& name) {
  try {
    return get(kApi + "experiments/get-by-name?experiment_name=" + http::url_encode(name))["experiment"].value(
        "experiment_id", "");
  } catch (const MlflowError& e) {
    if (e.error_code() == "RESOURCE_DOES_NOT_EXIST") return std::nullopt;
    throw;
  }
}

std::string Client::ensure_experiment(const std::string& name) {
  if (auto id = find_experiment_id(name)) return *id;
  try {
    return call("POST", kApi + "experiments/create", {{"name", name}}, true).value("experiment_id", "");
  } catch (const MlflowError& e) {
    if (e.error_code() != "RESOURCE_ALREADY_EXISTS") throw;  // created meanwhile by someone else
  }
  if (auto id = find_experiment_id(name)) return *id;
  throw Error(ErrorCode::io, fmt::format("MLflow at {} says experiment '{}' exists but cannot find it", tracking_uri(), name));
}

std::string Client::experiment_lifecycle(const std::string& experiment_id) {
  return get(kApi + "experiments/get?experiment_id=" + http::url_encode(experiment_id))["experiment"].value(
      "lifecycle_stage", "active");
}

void Client::restore_experiment(const std::string& experiment_id) {
  call("POST", kApi + "experiments/restore", {{"experiment_id", experiment_id}}, true);
}

void Client::restore_run(const std::string& run_id) { call("POST", kApi + "runs/restore", {{"run_id", run_id}}, true); }

RunInfo Client::create_run(const std::string& experiment_id, const std::string& run_name, std::int64_t start_time,
                           const Tags& tags) {
  json body = {{"experiment_id", experiment_id}, {"start_time", start_time}, {"tags", tag_list(tags)}};
  if (!run_name.empty()) body["run_name"] = run_name;
  if (auto user = tags.find("mlflow.user"); user != tags.end()) body["user_id"] = user->second;
  // Not retried: a second create would make a second run. The mirror looks before it creates.
  return run_info_of(call("POST", kApi + "runs/create", body, false)["run"]["info"]);
}

RunInfo Client::get_run(const std::string& run_id) {
  return run_info_of(get(kApi + "runs/get?run_id=" + http::url_encode(run_id))["run"]["info"]);
}

std::optional<RunInfo> Client::find_run_by_tag(const std::string& experiment_id, const std::string& key,
                                               const std::string& value) {
  const json body = {{"experiment_ids", {experiment_id}},
                     {"filter", fmt::format("tags.`{}` = '{}'", key, filter_value(value))},
                     {"max_results", 1},
                     {"run_view_type", "ALL"},  // a run deleted in MLflow is found, and restored, not made again
                     {"order_by", {"attributes.start_time DESC"}}};
  const json found = call("POST", kApi + "runs/search", body, true);
  if (!found.contains("runs") || found["runs"].empty()) return std::nullopt;
  return run_info_of(found["runs"][0]["info"]);
}

std::optional<RunData> Client::latest_run(const std::string& experiment_id) {
  const json body = {{"experiment_ids", {experiment_id}}, {"max_results", 1}, {"order_by", {"attributes.start_time DESC"}}};
  const json found = call("POST", kApi + "runs/search", body, true);
  if (!found.contains("runs") || !found["runs"].is_array() || found["runs"].empty()) return std::nullopt;
  const json& run = found["runs"][0];
  RunData out;
  out.info = run_info_of(run.at("info"));
  const json data = run.value("data", json::object());
  try {
    for (const json& p : data.value("params", json::array())) out.params[p.at("key").get<std::string>()] = p.at("value").get<std::string>();
    for (const json& t : data.value("tags", json::array())) out.tags[t.at("key").get<std::string>()] = t.at("value").get<std::string>();
    for (const json& m : data.value("metrics", json::array())) out.metrics[m.at("key").get<std::string>()] = m.at("value").get<double>();
  } catch (const json::exception& e) {
    throw Error(ErrorCode::corrupt, fmt::format("{}: a run's data is not MLflow's ({})", where("POST", "runs/search"), e.what()));
  }
  return out;
}

void Client::log_batch(const std::string& run_id, const Tags& params, const std::vector<Metric>& metrics,
                       const Tags& tags) {
  auto param = params.begin();
  auto tag = tags.begin();
  std::size_t metric = 0;
  do {
    json body = {{"run_id", run_id}, {"params", json::array()}, {"metrics", json::array()}, {"tags", json::array()}};
    for (int n = 0; n < 100 && param != params.end(); ++n, ++param) {
      body["params"].push_back({{"key", param->first}, {"value", param->second}});
    }
    for (int n = 0; n < 100 && tag != tags.end(); ++n, ++tag) {
      body["tags"].push_back({{"key", tag->first}, {"value", tag->second}});
    }
    for (int n = 0; n < 800 && metric < metrics.size(); ++n, ++metric) {  // 100 + 100 + 800 = MLflow's 1000 items
      const Metric& m = metrics[metric];
      body["metrics"].push_back({{"key", m.key}, {"value", m.value}, {"timestamp", m.timestamp}, {"step", m.step}});
    }
    call("POST", kApi + "runs/log-batch", body, true);  // same values again are accepted
  } while (param != params.end() || tag != tags.end() || metric < metrics.size());
}

void Client::update_run(const std::string& run_id, const std::string& status, std::int64_t end_time) {
  call("POST", kApi + "runs/update", {{"run_id", run_id}, {"status", status}, {"end_time", end_time}}, true);
}

void Client::upload_artifact(const std::string& artifact_uri, const std::string& path, const std::string& bytes) {
  const std::string url_path = artifact_path(artifact_uri, path);
  const http::ClientResponse r = http_.put(url_path, bytes, "application/octet-stream");
  if (r.status != 200) raise_for(r, where("PUT", url_path));
}

std::string Client::download_artifact(const std::string& artifact_uri, const std::string& path) {
  const std::string url_path = artifact_path(artifact_uri, path);
  const http::ClientResponse r = http_.get(url_path);
  if (r.status == 200) return r.body;
  // MLflow 2.9 answers a missing file with 500 INTERNAL_ERROR "... No such file ...", not 404.
  if (r.status == 500 && r.body.find("No such file") != std::string::npos) {
    throw MlflowError(ErrorCode::not_found, r.status, "INTERNAL_ERROR",
                      fmt::format("MLflow at {} has no artifact {}/{}", tracking_uri(), artifact_uri, path),
                      "the model version's files are missing from MLflow's artifact store");
  }
  raise_for(r, where("GET", url_path));
}

bool Client::ensure_registered_model(const std::string& name, const std::string& description, const Tags& tags) {
  try {
    call("POST", kApi + "registered-models/create",
         {{"name", name}, {"description", description}, {"tags", tag_list(tags)}}, true);
    return true;
  } catch (const MlflowError& e) {
    if (e.error_code() == "RESOURCE_ALREADY_EXISTS") return false;
    throw;
  }
}

RegisteredModel Client::get_registered_model(const std::string& name) {
  const json model = get(kApi + "registered-models/get?name=" + http::url_encode(name))["registered_model"];
  RegisteredModel out{model.value("name", name), tags_of(model.value("tags", json::array())), {}};
  for (const json& a : model.value("aliases", json::array())) out.aliases[a.value("alias", "")] = a.value("version", "");
  return out;
}

std::vector<ModelVersion> Client::list_versions(const std::string& name) {
  const std::string filter = fmt::format("name='{}'", filter_value(name));
  const json found = get(kApi + "model-versions/search?filter=" + http::url_encode(filter) + "&max_results=10000");
  std::vector<ModelVersion> out;
  for (const json& v : found.value("model_versions", json::array())) out.push_back(version_of(v));
  return out;
}

void Client::set_registered_model_tag(const std::string& name, const std::string& key, const std::string& value) {
  call("POST", kApi + "registered-models/set-tag", {{"name", name}, {"key", key}, {"value", value}}, true);
}

ModelVersion Client::create_model_version(const std::string& name, const std::string& source, const std::string& run_id,
                                          const std::string& description, const Tags& tags) {
  json body = {{"name", name}, {"source", source}, {"description", description}, {"tags", tag_list(tags)}};
  if (!run_id.empty()) body["run_id"] = run_id;
  // Not retried: every call creates a new version. The mirror looks before it creates.
  return version_of(call("POST", kApi + "model-versions/create", body, false)["model_version"]);
}

std::optional<ModelVersion> Client::find_version_by_tag(const std::string& name, const std::string& key,
                                                        const std::string& value) {
  std::string filter = fmt::format("tags.`{}`='{}'", key, filter_value(value));
  if (!name.empty()) filter = fmt::format("name='{}' and {}", filter_value(name), filter);
  const json found = get(kApi + "model-versions/search?filter=" + http::url_encode(filter) + "&max_results=1");
  if (!found.contains("model_versions") || found["model_versions"].empty()) return std::nullopt;
  return version_of(found["model_versions"][0]);
}

std::optional<ModelVersion> Client::find_any_version(const std::string& name) {
  const std::string filter = fmt::format("name='{}'", filter_value(name));
  const json found = get(kApi + "model-versions/search?filter=" + http::url_encode(filter) + "&max_results=1");
  if (!found.contains("model_versions") || found["model_versions"].empty()) return std::nullopt;
  return version_of(found["model_versions"][0]);
}

ModelVersion Client::get_version(const std::string& name, const std::string& version) {
  return version_of(get(kApi + "model-versions/get?name=" + http::url_encode(name) + "&version=" +
                        http::url_encode(version))["model_version"]);
}

ModelVersion Client::get_version_by_alias(const std::string& name, const std::string& alias) {
  return version_of(get(kApi + "registered-models/alias?name=" + http::url_encode(name) + "&alias=" +
                        http::url_encode(alias))["model_version"]);
}

std::optional<ModelVersion> Client::latest_version_in_stage(const std::string& name, const std::string& stage) {
  const json found =
      call("POST", kApi + "registered-models/get-latest-versions", {{"name", name}, {"stages", {stage}}}, true);
  if (!found.contains("model_versions") || found["model_versions"].empty()) return std::nullopt;
  return version_of(found["model_versions"][0]);
}

std::optional<ModelVersion> Client::latest_version(const std::string& name) {
  const json found = call("POST", kApi + "registered-models/get-latest-versions", {{"name", name}}, true);
  std::optional<ModelVersion> best;
  for (const json& v : found.value("model_versions", json::array())) {
    ModelVersion candidate = version_of(v);
    if (!best || std::stoll("0" + candidate.version) > std::stoll("0" + best->version)) best = std::move(candidate);
  }
  return best;
}

std::string Client::download_uri(const std::string& name, const std::string& version) {
  return get(kApi + "model-versions/get-download-uri?name=" + http::url_encode(name) + "&version=" +
             http::url_encode(version))
      .value("artifact_uri", "");
}

ModelVersion Client::transition_stage(const std::string& name, const std::string& version, const std::string& stage,
                                      bool archive_existing_versions) {
  const json body = {{"name", name}, {"version", version}, {"stage", stage},
                     {"archive_existing_versions", archive_existing_versions}};
  return version_of(call("POST", kApi + "model-versions/transition-stage", body, true)["model_version"]);
}

void Client::set_alias(const std::string& name, const std::string& alias, const std::string& version) {
  call("POST", kApi + "registered-models/alias", {{"name", name}, {"alias", alias}, {"version", version}}, true);
}

void Client::delete_alias(const std::string& name, const std::string& alias) {
  call("DELETE", kApi + "registered-models/alias", {{"name", name}, {"alias", alias}}, true);
}

void Client::set_version_tag(const std::string& name, const std::string& version, const std::string& key,
                             const std::string& value) {
  call("POST", kApi + "model-versions/set-tag", {{"name", name}, {"version", version}, {"key", key}, {"value", value}},
       true);
}

}  // namespace mlops::mlflow
