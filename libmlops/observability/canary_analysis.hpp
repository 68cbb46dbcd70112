// observability: canary analysis — one model version's traffic over a rollout step (a
// bounded recorder) and the judgment of a candidate against the stable version. Every
// check waits for a minimum of requests and asks for statistical evidence (a one-sided 99.9%
// confidence bound beyond the threshold; the analysis looks again at every poll, so each
// look must be strict), so noise on a small or healthy sample does not fire it.
#pragma once
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace mlops::observability {

// What one version answered over a window.
struct TrafficFigures {
  std::int64_t requests = 0;
  std::int64_t errors = 0;        // answers with a 5xx status: the server's failures
  std::vector<double> latencies;  // seconds; a uniform sample of at most kLatencySample
  double max_psi = -1;            // the feature PSI of the version's drift window furthest above its noise; -1 = not reported yet
  double psi_noise = 0;           // the PSI that sampling noise alone can reach there (psi_noise_floor)
  std::string psi_feature;        // which feature
  bool psi_pending = false;       // the version has a drift baseline but its window is not yet reported
};

// Thread-safe recorder of one version's answers (a few tens of ns per request).
class TrafficWindow {
 public:
  static constexpr std::size_t kLatencySample = 4096;
  void record(double seconds, bool server_error);
  TrafficFigures figures() const;  // max_psi left at -1: the caller adds drift
  void reset();

 private:
  mutable std::mutex mutex_;
  std::int64_t requests_ = 0;
  std::int64_t errors_ = 0;
  std::vector<double> latencies_;
  std::minstd_rand rng_{20261203};
};

struct AnalysisThresholds {
  double max_error_ratio = 0.01;
  double max_p95_seconds = 0.2;
  double max_psi = 0.2;
  std::int64_t min_requests = 200;
};

struct Verdict {
  enum class Outcome { waiting, healthy, breach };
  Outcome outcome = Outcome::waiting;
  std::string reason;   // breach: error_ratio, p95_latency or feature_drift; else healthy / waiting
  std::string detail;   // one line a person reads: the figures against the threshold
  nlohmann::json figures;  // both versions' figures, for the registry and the log
};

// Judges the candidate. Breaches, first found first:
//  error_ratio  — the 99.9% lower bound of its 5xx share (Wilson) is above max_error_ratio
//                 and above the stable version's share;
//  p95_latency  — the 99.9% lower bound of its p95 (an order statistic) is above
//                 max_p95_seconds and above the stable version's p95 (so a slow machine,
//                 slowing both, does not count against the candidate);
//  feature_drift — its drift window's PSI, less what noise alone reaches (psi_noise_floor),
//                 is above max_psi (against its own training baseline, once reported).
// Each only with at least min_requests candidate requests; the stable version's figures
// count only with as many. Healthy: enough requests, the drift measured (when the version
// has a baseline) and no breach; else waiting.
Verdict analyse(const TrafficFigures& stable, const TrafficFigures& candidate, const AnalysisThresholds& limits);

// The Wilson score interval's lower bound of a proportion (z = 3.09: one-sided 99.9%).
double wilson_lower_bound(std::int64_t successes, std::int64_t trials, double z = 3.09);
// A lower confidence bound of the q-quantile of `sorted` (ascending): the order statistic
// that the true quantile exceeds with one-sided confidence z. NaN when empty.
double quantile_lower_bound(const std::vector<double>& sorted, double q, double z = 3.09);
double quantile(const std::vector<double>& sorted, double q);  // nearest rank; NaN when empty
// The PSI that `rows` rows drawn from the training distribution itself stay under with
// 99.99% confidence: n·PSI is about χ²(bins − 1) for small differences, so the floor is
// that χ² quantile (Wilson–Hilferty) over n. About 0.28 for 121 rows in 10 bins, 0.034
// for 1,000: a PSI over 0.2 from 100 rows can be noise.
double psi_noise_floor(std::uint64_t rows, std::size_t bins);

}  // namespace mlops::observability
