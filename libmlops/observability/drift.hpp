// observability: live data-drift statistics of served features against the training
// baseline — running means and the Population Stability Index per feature. Lock-free.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace mlops::observability {

struct FeatureReference {
  std::string name;
  double training_mean = 0;
  std::vector<double> bin_edges;  // ascending; see model/baseline.hpp
  std::vector<double> fractions;  // training share per bin
};

struct FeatureDrift {
  std::string name;
  double training_mean = 0;
  double live_mean = 0;
  double psi = 0;
  std::uint64_t count = 0;
};

class DriftMonitor {
 public:
  explicit DriftMonitor(std::vector<FeatureReference> features);
  // Records one row of raw feature values (size = number of features). Thread-safe.
  void observe(const double* row);
  // PSI = sum over bins of (live - train) * ln(live / train), shares floored at 1e-4 so an
  // empty bin stays finite. 0 for a feature with no observations.
  std::vector<FeatureDrift> snapshot() const;
  std::size_t features() const { return features_.size(); }

 private:
  std::vector<FeatureReference> features_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> bin_counts_;  // features x max_bins
  std::unique_ptr<std::atomic<double>[]> sums_;
  std::atomic<std::uint64_t> rows_{0};
  std::size_t max_bins_ = 1;
};

}  // namespace mlops::observability
