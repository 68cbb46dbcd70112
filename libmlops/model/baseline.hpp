// model: the per-feature training baseline that drift monitoring compares live inputs to.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "libmlops/data/dataset.hpp"

namespace mlops::model {

struct FeatureBaseline {
  std::string name;
  double mean = 0;
  double std = 0;
  std::vector<double> bin_edges;  // ascending; first = training min, last = training max
  std::vector<double> fractions;  // share of training rows per bin (size = edges - 1)
};

// Decile bins (fewer when a feature has repeated values) of each training feature.
// A value v falls in bin i when edges[i] <= v < edges[i+1]; below the first edge counts
// in bin 0 and at or above the last inner edge in the last bin.
std::vector<FeatureBaseline> compute_baseline(const data::DataView& train,
                                              const std::vector<std::string>& names, int bins = 10);

// The bin index of value v for a baseline (used by drift statistics).
std::size_t bin_of(const FeatureBaseline& baseline, double v);

nlohmann::json to_json(const std::vector<FeatureBaseline>& baseline);
std::vector<FeatureBaseline> baseline_from_json(const nlohmann::json& j);

}  // namespace mlops::model
