#include "libmlops/observability/canary_analysis.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace mlops::observability {

void TrafficWindow::record(double seconds, bool server_error) {
  std::lock_guard lock(mutex_);
  ++requests_;
  if (server_error) ++errors_;
  // Reservoir sampling (Algorithm R): every answer equally likely to be in the sample.
  if (latencies_.size() < kLatencySample) {
    latencies_.push_back(seconds);
  } else if (const auto slot = static_cast<std::size_t>(rng_() % static_cast<std::uint64_t>(requests_)); slot < kLatencySample) {
    latencies_[slot] = seconds;
  }
}

TrafficFigures TrafficWindow::figures() const {
  std::lock_guard lock(mutex_);
  TrafficFigures f;
  f.requests = requests_;
  f.errors = errors_;
  f.latencies = latencies_;
  return f;
}

void TrafficWindow::reset() {
  std::lock_guard lock(mutex_);
  requests_ = errors_ = 0;
  latencies_.clear();
}

double wilson_lower_bound(std::int64_t successes, std::int64_t trials, double z) {
  if (trials <= 0 || successes <= 0) return 0;
  const double n = static_cast<double>(trials);
  const double p = static_cast<double>(successes) / n;
  const double z2 = z * z;
  const double centre = p + z2 / (2 * n);
  const double spread = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
  return std::max(0.0, (centre - spread) / (1 + z2 / n));
}

double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

double quantile_lower_bound(const std::vector<double>& sorted, double q, double z) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  // The count of samples below the true q-quantile is Binomial(n, q); its lower bound
  // (normal approximation) is the rank whose value the quantile exceeds with confidence z.
  const double n = static_cast<double>(sorted.size());
  const double rank = std::floor(n * q - z * std::sqrt(n * q * (1 - q)));
  if (rank < 1) return sorted.front();
  return sorted[std::min(static_cast<std::size_t>(rank), sorted.size()) - 1];
}

double psi_noise_floor(std::uint64_t rows, std::size_t bins) {
  if (rows == 0 || bins < 2) return 0;
  const double k = static_cast<double>(bins - 1);
  constexpr double z = 3.719;  // one-sided 99.99%
  const double c = 1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k));
  return k * c * c * c / static_cast<double>(rows);
}

namespace {

nlohmann::json figures_json(const TrafficFigures& f, const std::vector<double>& sorted) {
  nlohmann::json j = {{"requests", f.requests},
                      {"errors", f.errors},
                      {"error_ratio", f.requests ? static_cast<double>(f.errors) / static_cast<double>(f.requests) : 0.0}};
  j["p95_ms"] = sorted.empty() ? nlohmann::json(nullptr) : nlohmann::json(std::round(quantile(sorted, 0.95) * 1e5) / 100);
  j["max_psi"] = f.max_psi < 0 ? nlohmann::json(nullptr) : nlohmann::json(std::round(f.max_psi * 1e4) / 1e4);
  if (f.max_psi >= 0) j["psi_noise"] = std::round(f.psi_noise * 1e4) / 1e4;
  if (!f.psi_feature.empty()) j["psi_feature"] = f.psi_feature;
  return j;
}

}  // namespace

Verdict analyse(const TrafficFigures& stable, const TrafficFigures& candidate, const AnalysisThresholds& limits) {
  std::vector<double> cand_sorted = candidate.latencies, stable_sorted = stable.latencies;
  std::sort(cand_sorted.begin(), cand_sorted.end());
  std::sort(stable_sorted.begin(), stable_sorted.end());
  Verdict v;
  v.figures = {{"candidate", figures_json(candidate, cand_sorted)}, {"stable", figures_json(stable, stable_sorted)},
               {"min_requests", limits.min_requests}};
  if (candidate.requests < limits.min_requests) {
    v.reason = "waiting";
    v.detail = fmt::format("{} of {} candidate requests", candidate.requests, limits.min_requests);
    return v;
  }
  const bool stable_counts = stable.requests >= limits.min_requests;
  const double cand_ratio = static_cast<double>(candidate.errors) / static_cast<double>(candidate.requests);
  const double stable_ratio = stable_counts ? static_cast<double>(stable.errors) / static_cast<double>(stable.requests) : 0;
  const double error_bound = wilson_lower_bound(candidate.errors, candidate.requests);
  v.outcome = Verdict::Outcome::breach;
  if (error_bound > limits.max_error_ratio && error_bound > stable_ratio) {
    v.reason = "error_ratio";
    v.detail = fmt::format("candidate error ratio {:.2f}% ({} of {}; at least {:.2f}% with 99.9% confidence) > {:.2f}% (stable {:.2f}%)",
                           cand_ratio * 100, candidate.errors, candidate.requests, error_bound * 100,
                           limits.max_error_ratio * 100, stable_ratio * 100);
    return v;
  }
  const double p95_bound = quantile_lower_bound(cand_sorted, 0.95);
  const double stable_p95 = stable_counts ? quantile(stable_sorted, 0.95) : 0;
  if (p95_bound > limits.max_p95_seconds && p95_bound > stable_p95) {
    v.reason = "p95_latency";
    v.detail = fmt::format("candidate p95 latency {:.1f} ms (at least {:.1f} ms with 99.9% confidence) > {:.1f} ms (stable {:.1f} ms)",
                           quantile(cand_sorted, 0.95) * 1000, p95_bound * 1000, limits.max_p95_seconds * 1000,
                           stable_p95 * 1000);
    return v;
  }
  if (candidate.max_psi - candidate.psi_noise > limits.max_psi) {
    v.reason = "feature_drift";
    v.detail = fmt::format("candidate feature {} PSI {:.3f} (noise reaches {:.3f} at {} requests) > {:.3f}",
                           candidate.psi_feature, candidate.max_psi, candidate.psi_noise, candidate.requests, limits.max_psi);
    return v;
  }
  if (candidate.psi_pending) {
    v.outcome = Verdict::Outcome::waiting;
    v.reason = "waiting";
    v.detail = "the candidate's drift window has too few requests for a PSI yet";
    return v;
  }
  v.outcome = Verdict::Outcome::healthy;
  v.reason = "healthy";
  v.detail = fmt::format("candidate healthy over {} requests: error ratio {:.2f}%, p95 {:.1f} ms{}", candidate.requests,
                         cand_ratio * 100, quantile(cand_sorted, 0.95) * 1000,
                         candidate.max_psi < 0 ? "" : fmt::format(", max PSI {:.3f}", candidate.max_psi));
  return v;
}

}  // namespace mlops::observability
