#include "libmlops/serving/gate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <chrono>
#include <mutex>
#include <sstream>
#include <thread>

#include "libmlops/core/error.hpp"
#include "libmlops/data/csv.hpp"
#include "libmlops/http/client.hpp"
#include "libmlops/observability/canary_analysis.hpp"

namespace mlops::serving {

nlohmann::json training_mean_row(const std::string& metrics_text) {
  // Lines as prometheus-cpp prints them (labels sorted), one version's (the first listed):
  //   feature_training_mean{feature="NAME",model_version="V"} VALUE
  constexpr std::string_view kPrefix = "feature_training_mean{feature=\"";
  nlohmann::json row = nlohmann::json::object();
  std::string version;  // the first version listed; a canary's rows are skipped
  std::istringstream in(metrics_text);
  for (std::string line; std::getline(in, line) && row.size() < 100000;) {
    if (line.rfind(kPrefix, 0) != 0) continue;
    const std::size_t name_end = line.find('"', kPrefix.size());
    const std::size_t labels_end = line.find("} ", kPrefix.size());
    if (name_end == std::string::npos || labels_end == std::string::npos || name_end > labels_end) continue;
    const std::string name = line.substr(kPrefix.size(), name_end - kPrefix.size());
    if (name.find('\\') != std::string::npos) continue;  // an escaped name: not one a model has
    const std::string labels = line.substr(name_end, labels_end - name_end);
    if (version.empty()) version = labels;
    if (labels != version) continue;
    try {
      std::size_t used = 0;
      const std::string value = line.substr(labels_end + 2);
      const double v = std::stod(value, &used);
      if (used == value.size() && std::isfinite(v)) row[name] = v;
    } catch (const std::exception&) {
    }
  }
  if (row.empty()) {
    throw Error(ErrorCode::invalid_input, "the service's /metrics has no feature_training_mean to build a request from",
                "give the request body yourself: --body '{\"features\": [...]}'");
  }
  return {{"features", row}};
}

GateReport run_gate(const GateOptions& o, const std::function<void(std::int64_t)>& progress) {
  http::ClientOptions client_options;
  client_options.timeout_seconds = o.timeout_seconds;
  client_options.retries = 0;  // a retried request would hide the failure being measured
  GateReport report;
  {
    http::Client probe(o.url, client_options);
    const http::ClientResponse health = probe.get("/health");
    const nlohmann::json h = nlohmann::json::parse(health.body, nullptr, false);
    if (health.status != 200 || !h.is_object()) {
      throw Error(ErrorCode::unavailable, fmt::format("{}/health answered {}: not an mlops-style service that is up", o.url, health.status),
                  "check --url and that the service is running");
    }
    if (h.contains("model_name") && h["model_name"].is_string()) report.model_name = h["model_name"];
    if (h.contains("model_version") && h["model_version"].is_string()) report.model_version = h["model_version"];
  }
  // The bodies, sent in turn: the given one, the CSV's rows, or one row of training means.
  std::vector<std::string> bodies;
  if (!o.body.is_null()) {
    bodies.push_back(o.body.dump());
  } else {
    const nlohmann::json means = training_mean_row(http::Client(o.url, client_options).get("/metrics").body);
    if (o.data_path.empty()) {
      bodies.push_back(means.dump());
    } else {
      std::vector<std::string> names;
      for (const auto& [name, value] : means["features"].items()) names.push_back(name);
      const data::FeatureTable table = data::read_feature_csv(o.data_path, names);
      if (table.rows == 0) throw Error(ErrorCode::invalid_input, fmt::format("{} has no rows", o.data_path));
      for (std::size_t r = 0; r < table.rows; ++r) {
        nlohmann::json row = nlohmann::json::object();
        for (std::size_t j = 0; j < names.size(); ++j) row[names[j]] = table.values[r * names.size() + j];
        bodies.push_back(nlohmann::json{{"features", row}}.dump());
      }
    }
  }
  std::mutex mutex;
  std::vector<double> latencies;
  std::atomic<std::int64_t> next{0}, errors{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, o.concurrency); ++t) {
    threads.emplace_back([&] {
      http::Client client(o.url, client_options);
      for (std::int64_t i; (i = next.fetch_add(1)) < o.requests;) {
        const std::string& body = bodies[static_cast<std::size_t>(i) % bodies.size()];
        const auto start = std::chrono::steady_clock::now();
        bool ok = false;
        try {
          const int status = client.post("/predict", body, "application/json").status;
          ok = status >= 200 && status < 300;
        } catch (const Error&) {
          ok = false;  // no answer in time, or none at all
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (!ok) ++errors;
        {
          std::lock_guard lock(mutex);
          latencies.push_back(seconds);
        }
        if (progress) progress(++done);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::sort(latencies.begin(), latencies.end());
  report.requests = static_cast<std::int64_t>(latencies.size());
  report.errors = errors;
  report.p50 = observability::quantile(latencies, 0.5);
  report.p95 = observability::quantile(latencies, 0.95);
  report.p99 = observability::quantile(latencies, 0.99);
  report.max = latencies.empty() ? 0 : latencies.back();
  if (report.p95 > o.max_p95_seconds) {
    report.breaches.push_back(fmt::format("p95 latency {:.1f} ms > {:.1f} ms", report.p95 * 1000, o.max_p95_seconds * 1000));
  }
  const double ratio = report.requests ? static_cast<double>(report.errors) / static_cast<double>(report.requests) : 0;
  if (ratio > o.max_error_ratio) {
    report.breaches.push_back(fmt::format("error ratio {:.2f}% ({} of {}) > {:.2f}%", ratio * 100, report.errors, report.requests,
                                          o.max_error_ratio * 100));
  }
  return report;
}

}  // namespace mlops::serving
