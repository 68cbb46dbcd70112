#include "cli/push_metrics.hpp"

#include <cstdio>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"

namespace mlops::cli {

void push_job_metrics(Context& ctx, const std::string& job, const std::map<std::string, std::string>& grouping,
                      std::vector<observability::JobMetric> metrics, double duration_seconds) {
  const std::string url = ctx.settings.get("PUSHGATEWAY_URL");
  if (url.empty()) return;
  metrics.push_back({"mlops_job_duration_seconds", "Wall time of the job's last successful run", duration_seconds});
  metrics.push_back({"mlops_job_last_success_timestamp_seconds", "When the job last succeeded (Unix time)",
                     static_cast<double>(now_ms()) / 1000});
  try {
    observability::push_job_metrics(url, job, grouping, metrics);
  } catch (const Error& e) {
    std::fprintf(stderr, "mlops: warning: run metrics not pushed: %s\n", e.what());
  }
}

}  // namespace mlops::cli
