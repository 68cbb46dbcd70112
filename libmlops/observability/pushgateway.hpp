// observability: a batch job's run metrics pushed to a Prometheus Pushgateway, which
// Prometheus scrapes (a job that ends cannot be scraped itself).
#pragma once
#include <map>
#include <string>
#include <vector>

namespace mlops::observability {

struct JobMetric {
  std::string name;  // e.g. crm_sync_customers_changed
  std::string help;
  double value = 0;
};

// Replaces the metrics of group job/JOB[/KEY/VALUE...] on the Pushgateway at `url`
// (http://HOST:PORT) with `metrics` as gauges (PUT, so a rerun overwrites the last one).
// Throws Error{unavailable} or Error{timeout} when it cannot be reached, Error{io} when it
// refuses the push, Error{invalid_input} for a grouping value that is not [A-Za-z0-9_.-].
void push_job_metrics(const std::string& url, const std::string& job, const std::map<std::string, std::string>& grouping,
                      const std::vector<JobMetric>& metrics, double timeout_seconds = 5);

}  // namespace mlops::observability
