#include "libmlops/observability/drift.hpp"

#include <algorithm>
#include <cmath>

#include "libmlops/core/error.hpp"

namespace mlops::observability {

DriftMonitor::DriftMonitor(std::vector<FeatureReference> features, DriftWindow window)
    : features_(std::move(features)), window_(window) {
  if (window_.rows < kSegments) {
    throw Error(ErrorCode::invalid_input, "the drift window must hold at least 10 rows");
  }
  for (const auto& f : features_) max_bins_ = std::max(max_bins_, f.fractions.size());
  segment_rows_ = window_.rows / kSegments;
  counts_.assign(kSegments * features_.size() * max_bins_, 0);
  sums_.assign(kSegments * features_.size(), 0.0);
  rows_.assign(kSegments, 0);
}

std::size_t DriftMonitor::bin_of(std::size_t feature, double value) const {
  const FeatureReference& f = features_[feature];
  if (f.bin_edges.size() <= 2) return 0;
  return static_cast<std::size_t>(std::upper_bound(f.bin_edges.begin() + 1, f.bin_edges.end() - 1, value) -
                                  (f.bin_edges.begin() + 1));
}

void DriftMonitor::observe(const double* row) {
  const std::size_t n = features_.size();
  std::lock_guard lock(mutex_);
  const std::size_t segment = (observed_ / segment_rows_) % kSegments;
  if (observed_ % segment_rows_ == 0) {  // entering a segment: forget what it held a window ago
    std::fill_n(counts_.begin() + static_cast<std::ptrdiff_t>(segment * n * max_bins_), n * max_bins_, 0);
    std::fill_n(sums_.begin() + static_cast<std::ptrdiff_t>(segment * n), n, 0.0);
    rows_[segment] = 0;
  }
  for (std::size_t j = 0; j < n; ++j) {
    ++counts_[(segment * n + j) * max_bins_ + bin_of(j, row[j])];
    sums_[segment * n + j] += row[j];
  }
  ++rows_[segment];
  ++observed_;
}

std::vector<FeatureDrift> DriftMonitor::snapshot() const {
  const std::size_t n = features_.size();
  std::vector<std::uint64_t> counts(n * max_bins_, 0);
  std::vector<double> sums(n, 0.0);
  std::uint64_t rows = 0;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t s = 0; s < kSegments; ++s) {
      rows += rows_[s];
      for (std::size_t i = 0; i < n * max_bins_; ++i) counts[i] += counts_[s * n * max_bins_ + i];
      for (std::size_t j = 0; j < n; ++j) sums[j] += sums_[s * n + j];
    }
  }
  std::vector<FeatureDrift> out;
  for (std::size_t j = 0; j < n; ++j) {
    const FeatureReference& f = features_[j];
    FeatureDrift d{f.name, f.training_mean, 0, 0, rows, rows >= window_.min_rows && rows > 0, f.fractions.size()};
    if (rows > 0) {
      d.live_mean = sums[j] / static_cast<double>(rows);
      constexpr double kFloor = 1e-4;
      for (std::size_t b = 0; b < f.fractions.size(); ++b) {
        const double live = std::max(kFloor, static_cast<double>(counts[j * max_bins_ + b]) / static_cast<double>(rows));
        const double train = std::max(kFloor, f.fractions[b]);
        d.psi += (live - train) * std::log(live / train);
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace mlops::observability
