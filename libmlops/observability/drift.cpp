#include "libmlops/observability/drift.hpp"

#include <algorithm>
#include <chrono>
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
  started_ms_.assign(kSegments, 0);
  if (window_.seconds > 0) segment_ms_ = std::max<std::int64_t>(1, std::llround(window_.seconds * 1000 / kSegments));
}

namespace {
std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

double psi(const std::vector<double>& reference, const std::vector<double>& current) {
  constexpr double kFloor = 1e-4;
  double sum = 0;
  for (std::size_t b = 0; b < reference.size() && b < current.size(); ++b) {
    const double r = std::max(kFloor, reference[b]);
    const double c = std::max(kFloor, current[b]);
    sum += (c - r) * std::log(c / r);
  }
  return sum;
}

std::size_t DriftMonitor::bin_of(std::size_t feature, double value) const {
  const FeatureReference& f = features_[feature];
  if (f.bin_edges.size() <= 2) return 0;
  return static_cast<std::size_t>(std::upper_bound(f.bin_edges.begin() + 1, f.bin_edges.end() - 1, value) -
                                  (f.bin_edges.begin() + 1));
}

void DriftMonitor::observe(const double* row) {
  const std::size_t n = features_.size();
  const std::int64_t now = segment_ms_ ? steady_ms() : 0;
  std::lock_guard lock(mutex_);
  // The segment is full, or (with a time window) older than its span: the next one takes
  // over, forgetting what it held a window ago.
  if (rows_[current_] == segment_rows_ || (segment_ms_ && rows_[current_] > 0 && now - started_ms_[current_] >= segment_ms_)) {
    current_ = (current_ + 1) % kSegments;
    std::fill_n(counts_.begin() + static_cast<std::ptrdiff_t>(current_ * n * max_bins_), n * max_bins_, 0);
    std::fill_n(sums_.begin() + static_cast<std::ptrdiff_t>(current_ * n), n, 0.0);
    rows_[current_] = 0;
  }
  if (rows_[current_] == 0) started_ms_[current_] = now;
  const std::size_t segment = current_;
  for (std::size_t j = 0; j < n; ++j) {
    ++counts_[(segment * n + j) * max_bins_ + bin_of(j, row[j])];
    sums_[segment * n + j] += row[j];
  }
  ++rows_[segment];
}

std::vector<FeatureDrift> DriftMonitor::snapshot() const {
  const std::size_t n = features_.size();
  std::vector<std::uint64_t> counts(n * max_bins_, 0);
  std::vector<double> sums(n, 0.0);
  std::uint64_t rows = 0;
  const std::int64_t now = segment_ms_ ? steady_ms() : 0;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t s = 0; s < kSegments; ++s) {
      // With a time window, a segment whose first row is older than the window is out.
      if (segment_ms_ && rows_[s] > 0 && now - started_ms_[s] >= segment_ms_ * static_cast<std::int64_t>(kSegments)) continue;
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
      std::vector<double> live(f.fractions.size());
      for (std::size_t b = 0; b < live.size(); ++b) {
        live[b] = static_cast<double>(counts[j * max_bins_ + b]) / static_cast<double>(rows);
      }
      d.psi = psi(f.fractions, live);
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace mlops::observability
