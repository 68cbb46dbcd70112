#include "libmlops/observability/pushgateway.hpp"

#include <fmt/format.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cctype>

#include "libmlops/core/error.hpp"
#include "libmlops/http/client.hpp"

namespace mlops::observability {
namespace {

// Grouping values go into the URL path; keep them to characters that need no escaping.
const std::string& path_segment(const std::string& value) {
  const bool ok = !value.empty() && std::all_of(value.begin(), value.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
  if (!ok) {
    throw Error(ErrorCode::invalid_input, fmt::format("'{}' cannot be a Pushgateway grouping value", value),
                "use letters, digits, '_', '-' or '.'");
  }
  return value;
}

}  // namespace

void push_job_metrics(const std::string& url, const std::string& job, const std::map<std::string, std::string>& grouping,
                      const std::vector<JobMetric>& metrics, double timeout_seconds) {
  std::string path = "/metrics/job/" + path_segment(job);
  for (const auto& [key, value] : grouping) path += "/" + path_segment(key) + "/" + path_segment(value);
  prometheus::Registry registry;
  for (const JobMetric& m : metrics) prometheus::BuildGauge().Name(m.name).Help(m.help).Register(registry).Add({}).Set(m.value);
  const std::string body = prometheus::TextSerializer().Serialize(registry.Collect());
  http::Client client(url, {timeout_seconds, 2, 0.1});
  const http::ClientResponse r = client.put(path, body, "text/plain; version=0.0.4");
  if (r.status != 200 && r.status != 202) {
    throw Error(ErrorCode::io, fmt::format("the Pushgateway at {} answered {} to PUT {}: {}", url, r.status, path, r.body.substr(0, 200)),
                "check PUSHGATEWAY_URL");
  }
}

}  // namespace mlops::observability
