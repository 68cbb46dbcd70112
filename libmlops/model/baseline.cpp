#include "libmlops/model/baseline.hpp"

#include <algorithm>
#include <cmath>

namespace mlops::model {

std::size_t bin_of(const FeatureBaseline& baseline, double v) {
  const auto& e = baseline.bin_edges;
  if (e.size() < 3) return 0;
  // Inner edges are e[1..n-2]; the count of inner edges <= v is the bin.
  const auto it = std::upper_bound(e.begin() + 1, e.end() - 1, v);
  return static_cast<std::size_t>(it - (e.begin() + 1));
}

std::vector<FeatureBaseline> compute_baseline(const data::DataView& train,
                                              const std::vector<std::string>& names, int bins) {
  std::vector<FeatureBaseline> out;
  const auto x = train.features();
  std::vector<double> column(static_cast<std::size_t>(train.rows));
  for (Eigen::Index j = 0; j < train.cols; ++j) {
    FeatureBaseline b;
    b.name = names[static_cast<std::size_t>(j)];
    for (Eigen::Index i = 0; i < train.rows; ++i) column[static_cast<std::size_t>(i)] = x(i, j);
    double sum = 0;
    for (double v : column) sum += v;
    b.mean = column.empty() ? 0 : sum / static_cast<double>(column.size());
    double sq = 0;
    for (double v : column) sq += (v - b.mean) * (v - b.mean);
    b.std = column.empty() ? 0 : std::sqrt(sq / static_cast<double>(column.size()));
    if (!column.empty()) {
      // Quantiles by successive nth_element: O(n log bins) instead of a full sort.
      auto from = column.begin();
      for (int q = 0; q <= bins; ++q) {
        const auto idx = static_cast<std::ptrdiff_t>(
            std::llround(static_cast<double>(q) / bins * static_cast<double>(column.size() - 1)));
        std::nth_element(from, column.begin() + idx, column.end());
        from = column.begin() + idx;
        const double edge = *from;
        if (b.bin_edges.empty() || edge > b.bin_edges.back()) b.bin_edges.push_back(edge);
      }
      if (b.bin_edges.size() == 1) b.bin_edges.push_back(b.bin_edges.front());  // constant
      b.fractions.assign(b.bin_edges.size() - 1, 0.0);
      for (double v : column) b.fractions[bin_of(b, v)] += 1.0;
      for (double& f : b.fractions) f /= static_cast<double>(column.size());
    }
    out.push_back(std::move(b));
  }
  return out;
}

nlohmann::json to_json(const std::vector<FeatureBaseline>& baseline) {
  nlohmann::json features = nlohmann::json::array();
  for (const FeatureBaseline& b : baseline) {
    features.push_back({{"name", b.name},
                        {"mean", b.mean},
                        {"std", b.std},
                        {"bin_edges", b.bin_edges},
                        {"fractions", b.fractions}});
  }
  return features;
}

std::vector<FeatureBaseline> baseline_from_json(const nlohmann::json& j) {
  std::vector<FeatureBaseline> out;
  for (const auto& f : j) {
    FeatureBaseline b;
    b.name = f.at("name").get<std::string>();
    b.mean = f.at("mean").get<double>();
    b.std = f.at("std").get<double>();
    b.bin_edges = f.at("bin_edges").get<std::vector<double>>();
    b.fractions = f.at("fractions").get<std::vector<double>>();
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace mlops::model
