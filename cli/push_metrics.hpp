// cli: pushes a finished batch job's metrics to PUSHGATEWAY_URL when it is set. A failed
// push never fails the job: it prints one warning line.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "libmlops/observability/pushgateway.hpp"

namespace mlops::cli {

// Adds mlops_job_duration_seconds and mlops_job_last_success_timestamp_seconds to `metrics`.
void push_job_metrics(Context& ctx, const std::string& job, const std::map<std::string, std::string>& grouping,
                      std::vector<observability::JobMetric> metrics, double duration_seconds);

}  // namespace mlops::cli
