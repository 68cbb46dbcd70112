#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <map>
#include <string_view>
#include <vector>

#include "libmlops/core/error.hpp"
#include "libmlops/rubric/checks/common.hpp"
#include "libmlops/rubric/checks/kinds.hpp"
#include "libmlops/http/client.hpp"
#include "libmlops/mlflow/client.hpp"

namespace mlops::rubric::checks {
namespace {

using nlohmann::json;

class Http : public Check {
 public:
  Http(const YAML::Node& n, const std::string& file)
      : method_(n["method"] ? n["method"].as<std::string>() : "GET"), url_(need(n, "url", file)),
        status_(n["status"] ? n["status"].as<int>() : 200), fields_(parse_fields(n, file)) {
    if (method_ != "GET" && method_ != "POST") bad(n, file, "method is GET or POST");
    if (n["body"]) body_ = n["body"].IsScalar() ? n["body"].as<std::string>() : yaml_to_json(n["body"]).dump();
    if (n["timeout"]) timeout_ = n["timeout"].as<double>();
  }
  CheckResult run(const CheckContext& c) const override {
    const std::string url = c.expand(url_);
    try {
      const auto [base, path] = split_url(url);
      http::Client client(base, {timeout_ > 0 ? timeout_ : c.timeout_seconds, 0, 0});
      const http::ClientResponse r = method_ == "GET" ? client.get(path) : client.post(path, c.expand(body_), "application/json");
      if (r.status != status_) return {false, fmt::format("{} {}: expected HTTP {}, got {}: {}", method_, url, status_, r.status, shorten(r.body))};
      if (fields_.empty()) return {true, fmt::format("{} {} answered {}", method_, url, r.status)};
      const json doc = json::parse(r.body, nullptr, false);
      if (doc.is_discarded()) return {false, fmt::format("{} {}: the answer is not JSON: {}", method_, url, shorten(r.body))};
      if (auto why = check_fields(doc, fields_)) return {false, fmt::format("{} {}: {}", method_, url, *why)};
      return {true, fmt::format("{} {} answered {} with the expected fields", method_, url, r.status)};
    } catch (const Error& e) {
      return {false, e.what()};
    }
  }

 private:
  std::string method_, url_, body_;
  int status_;
  double timeout_ = 0;
  std::vector<FieldAssertion> fields_;
};

// A metric in Prometheus text exposition: name, optional label filters, optional value test.
class Metrics : public Check {
 public:
  Metrics(const YAML::Node& n, const std::string& file)
      : url_(need(n, "url", file)), name_(need(n, "metric", file)), comparison_(n, file) {
    if (n["labels"]) {
      for (const auto& kv : n["labels"]) labels_[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
  }
  CheckResult run(const CheckContext& c) const override {
    const std::string url = c.expand(url_);
    try {
      const auto [base, path] = split_url(url);
      const http::ClientResponse r = http::Client(base, {c.timeout_seconds, 0, 0}).get(path);
      if (r.status != 200) return {false, fmt::format("GET {}: HTTP {}", url, r.status)};
      double total = 0;
      int series = 0;
      std::size_t start = 0;
      while (start < r.body.size()) {
        const std::size_t end = r.body.find('\n', start);
        const std::string line = r.body.substr(start, end == std::string::npos ? std::string::npos : end - start);
        start = end == std::string::npos ? r.body.size() : end + 1;
        if (line.empty() || line[0] == '#' || line.rfind(name_, 0) != 0) continue;
        const char next = line.size() > name_.size() ? line[name_.size()] : ' ';
        if (next != '{' && next != ' ') continue;
        bool match = true;
        for (const auto& [k, v] : labels_) match = match && line.find(fmt::format("{}=\"{}\"", k, v)) != std::string::npos;
        if (!match) continue;
        ++series;
        total += std::stod(line.substr(line.rfind(' ') + 1));
      }
      std::vector<std::string> filters;
      for (const auto& [k, v] : labels_) filters.push_back(fmt::format("{}=\"{}\"", k, v));
      const std::string what = labels_.empty() ? name_ : fmt::format("{}{{{}}}", name_, fmt::join(filters, ","));
      if (series == 0) return {false, fmt::format("{} has no {}", url, what)};
      if (auto why = comparison_.test(total, what)) return {false, *why};
      return {true, fmt::format("{} = {}", what, total)};
    } catch (const Error& e) {
      return {false, e.what()};
    }
  }

 private:
  std::string url_, name_;
  std::map<std::string, std::string> labels_;
  Comparison comparison_;
};

// A PromQL query through Prometheus's HTTP API: valid, non-empty, and optionally compared.
class Prometheus : public Check {
 public:
  Prometheus(const YAML::Node& n, const std::string& file)
      : url_(n["url"] ? n["url"].as<std::string>() : "{prometheus}"), query_(need(n, "query", file)), comparison_(n, file) {}
  CheckResult run(const CheckContext& c) const override {
    const std::string base = c.expand(url_);
    const std::string query = c.expand(query_);
    if (base.find('{') != std::string::npos) return {false, "no Prometheus URL: pass --prometheus URL"};
    try {
      const http::ClientResponse r = http::Client(base, {c.timeout_seconds, 0, 0}).get("/api/v1/query?query=" + http::url_encode(query));
      const json body = json::parse(r.body, nullptr, false);
      if (body.is_discarded()) return {false, fmt::format("{} is not Prometheus (HTTP {}: {})", base, r.status, shorten(r.body))};
      if (body.value("status", "") != "success") return {false, fmt::format("`{}`: {}", query, body.value("error", "query failed"))};
      const json& result = body["data"]["result"];
      if (!result.is_array() || result.empty()) return {false, fmt::format("`{}` returned no data", query)};
      const double value = std::stod(result[0]["value"][1].get<std::string>());
      if (auto why = comparison_.test(value, fmt::format("`{}`", query))) return {false, *why};
      return {true, fmt::format("`{}` = {}", query, value)};
    } catch (const Error& e) {
      return {false, e.what()};
    } catch (const std::exception& e) {
      return {false, fmt::format("`{}`: unexpected answer ({})", query, e.what())};
    }
  }

 private:
  std::string url_, query_;
  Comparison comparison_;
};

// The newest run of an MLflow experiment (by name) logs these params and metrics — what
// a course's training script is asked to track, whichever language it is written in.
class MlflowRun : public Check {
 public:
  MlflowRun(const YAML::Node& n, const std::string& file)
      : url_(n["url"] ? n["url"].as<std::string>() : "{mlflow}"), experiment_(need(n, "experiment", file)) {
    for (const char* list : {"params", "metrics"}) {
      if (!n[list]) continue;
      if (!n[list].IsSequence()) bad(n[list], file, fmt::format("'{}' is a list of names", list));
      for (const auto& name : n[list]) (std::string_view(list) == "params" ? params_ : metrics_).push_back(name.as<std::string>());
    }
    if (params_.empty() && metrics_.empty()) bad(n, file, "mlflow_run needs 'params' or 'metrics': the names the run must log");
  }
  CheckResult run(const CheckContext& c) const override {
    const std::string url = c.expand(url_);
    const std::string experiment = c.expand(experiment_);
    if (url.find('{') != std::string::npos) return {false, "no MLflow URL: pass --mlflow URL"};
    try {
      mlflow::Connection connection{url, {}};
      connection.http.timeout_seconds = c.timeout_seconds;
      connection.http.retries = 0;
      mlflow::Client client(connection);
      const auto id = client.find_experiment_id(experiment);
      if (!id) return {false, fmt::format("MLflow at {} has no experiment '{}'", url, experiment)};
      const auto run = client.latest_run(*id);
      if (!run) return {false, fmt::format("experiment '{}' has no run", experiment)};
      std::vector<std::string> missing;
      for (const std::string& p : params_) if (!run->params.count(p)) missing.push_back("param " + p);
      for (const std::string& m : metrics_) if (!run->metrics.count(m)) missing.push_back("metric " + m);
      if (!missing.empty()) {
        return {false, fmt::format("run {} of '{}' does not log {}", run->info.run_id, experiment, fmt::join(missing, ", "))};
      }
      return {true, fmt::format("run {} of '{}' logs {}", run->info.run_id, experiment, fmt::join(params_.empty() ? metrics_ : params_, ", "))};
    } catch (const Error& e) {
      return {false, e.what()};
    }
  }

 private:
  std::string url_, experiment_;
  std::vector<std::string> params_, metrics_;
};

}  // namespace

CheckPtr http(const YAML::Node& n, const std::string& file) { return std::make_shared<Http>(n, file); }
CheckPtr metrics(const YAML::Node& n, const std::string& file) { return std::make_shared<Metrics>(n, file); }
CheckPtr prometheus(const YAML::Node& n, const std::string& file) { return std::make_shared<Prometheus>(n, file); }
CheckPtr mlflow_run(const YAML::Node& n, const std::string& file) { return std::make_shared<MlflowRun>(n, file); }

}  // namespace mlops::rubric::checks
