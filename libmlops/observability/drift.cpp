#include "libmlops/observability/drift.hpp"

#include <algorithm>
#include <cmath>

namespace mlops::observability {

DriftMonitor::DriftMonitor(std::vector<FeatureReference> features) : features_(std::move(features)) {
  for (const auto& f : features_) max_bins_ = std::max(max_bins_, f.fractions.size());
  bin_counts_ = std::make_unique<std::atomic<std::uint64_t>[]>(features_.size() * max_bins_);
  sums_ = std::make_unique<std::atomic<double>[]>(features_.size());
}

void DriftMonitor::observe(const double* row) {
  for (std::size_t j = 0; j < features_.size(); ++j) {
    const FeatureReference& f = features_[j];
    std::size_t bin = 0;
    if (f.bin_edges.size() > 2) {
      bin = static_cast<std::size_t>(std::upper_bound(f.bin_edges.begin() + 1, f.bin_edges.end() - 1, row[j]) -
                                     (f.bin_edges.begin() + 1));
    }
    bin_counts_[j * max_bins_ + bin].fetch_add(1, std::memory_order_relaxed);
    sums_[j].fetch_add(row[j], std::memory_order_relaxed);
  }
  rows_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<FeatureDrift> DriftMonitor::snapshot() const {
  std::vector<FeatureDrift> out;
  for (std::size_t j = 0; j < features_.size(); ++j) {
    const FeatureReference& f = features_[j];
    FeatureDrift d{f.name, f.training_mean, 0, 0, 0};
    for (std::size_t b = 0; b < f.fractions.size(); ++b) d.count += bin_counts_[j * max_bins_ + b].load();
    if (d.count > 0) {
      d.live_mean = sums_[j].load() / static_cast<double>(d.count);
      constexpr double kFloor = 1e-4;
      for (std::size_t b = 0; b < f.fractions.size(); ++b) {
        const double live = std::max(kFloor, static_cast<double>(bin_counts_[j * max_bins_ + b].load()) /
                                                 static_cast<double>(d.count));
        const double train = std::max(kFloor, f.fractions[b]);
        d.psi += (live - train) * std::log(live / train);
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace mlops::observability
