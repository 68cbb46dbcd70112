// observability: live data-drift statistics of served features against the training
// baseline — means and the Population Stability Index per feature over a sliding window
// of the most recent requests, reported only once the window holds enough of them.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace mlops::observability {

struct FeatureReference {
  std::string name;
  double training_mean = 0;
  std::vector<double> bin_edges;  // ascending; see model/baseline.hpp
  std::vector<double> fractions;  // training share per bin
};

// The window: the last `rows` requests and, when `seconds` > 0, only those of the last
// `seconds` too (kept as 10 segments, so between 90% and 100% of either), and the fewest
// rows a PSI is reported for — fewer give large PSIs from noise.
struct DriftWindow {
  std::size_t rows = 1000;
  std::size_t min_rows = 100;
  double seconds = 0;  // 0 = no time limit
};

struct FeatureDrift {
  std::string name;
  double training_mean = 0;
  double live_mean = 0;    // over the window; 0 when it is empty
  double psi = 0;          // over the window; meaningful only when `reported`
  std::uint64_t count = 0;  // rows in the window
  bool reported = false;    // count >= min_rows
  std::size_t bins = 0;     // the training baseline's bins
};

// Population Stability Index of `current` shares against `reference` shares (bin by bin):
// sum of (current - reference) * ln(current / reference), each share floored at 1e-4 so an
// empty bin stays finite. The live monitor's and `mlops drift`'s measure.
double psi(const std::vector<double>& reference, const std::vector<double>& current);

class DriftMonitor {
 public:
  explicit DriftMonitor(std::vector<FeatureReference> features, DriftWindow window = {});
  // Records one row of raw feature values (size = number of features). Thread-safe.
  void observe(const double* row);
  // Each feature's window against its training shares (psi above).
  std::vector<FeatureDrift> snapshot() const;
  std::size_t features() const { return features_.size(); }

 private:
  static constexpr std::size_t kSegments = 10;
  std::size_t bin_of(std::size_t feature, double value) const;

  std::vector<FeatureReference> features_;
  DriftWindow window_;
  std::size_t max_bins_ = 1;
  std::size_t segment_rows_ = 1;
  mutable std::mutex mutex_;
  // Per segment: bin counts (features x max_bins), value sums (features), rows.
  std::vector<std::uint64_t> counts_;
  std::vector<double> sums_;
  std::vector<std::uint64_t> rows_;
  std::vector<std::int64_t> started_ms_;  // when each segment took its first row (steady clock)
  std::size_t current_ = 0;               // the segment rows go to
  std::int64_t segment_ms_ = 0;           // a segment's span with a time window, else 0
};

}  // namespace mlops::observability
