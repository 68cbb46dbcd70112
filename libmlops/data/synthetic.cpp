#include "libmlops/data/synthetic.hpp"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "libmlops/core/error.hpp"

namespace mlops::data {
namespace {
// numpy's legacy random_sample(): 27 + 26 bits of two MT19937 outputs -> [0, 1).
double numpy_random_sample(std::mt19937& rng) {
  const std::uint32_t a = rng() >> 5;
  const std::uint32_t b = rng() >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}
}  // namespace

const std::vector<double>& churn_weights() {
  static const std::vector<double> weights = {0.5, -0.3, 0.8, -0.1, 0.2, 0.1, -0.4, 0.6, -0.2, 0.3};
  return weights;
}

double churn_probability(const double* x, std::size_t features) {
  const std::vector<double>& w = churn_weights();
  double z = kChurnBias;
  for (std::size_t j = 0; j < features; ++j) z += x[j] * w[j % w.size()];
  return 1.0 / (1.0 + std::exp(-z));
}

Dataset generate_churn(const SyntheticSpec& spec) {
  if (spec.samples < 1 || spec.features < 1 || spec.classes < 2) {
    throw Error(ErrorCode::invalid_input,
                fmt::format("cannot generate {} samples x {} features with {} classes",
                            spec.samples, spec.features, spec.classes),
                "use at least 1 sample, 1 feature and 2 classes");
  }
  const auto rows = static_cast<std::size_t>(spec.samples);
  const auto cols = static_cast<std::size_t>(spec.features);
  Dataset ds;
  ds.values.resize(rows * cols);
  ds.labels.resize(rows);
  for (std::size_t j = 0; j < cols; ++j) ds.feature_names.push_back(fmt::format("feature_{}", j + 1));
  for (int k = 0; k < spec.classes; ++k) ds.classes.push_back(std::to_string(k));
  ds.integer_classes = true;

  std::mt19937 rng(spec.seed);  // std::mt19937(seed) is numpy's init_genrand(seed)
  for (double& v : ds.values) v = numpy_random_sample(rng) * 10.0;

  const std::vector<double>& w = churn_weights();
  const auto weight = [&](std::size_t k, std::size_t j) { return w[(j + k) % w.size()]; };
  for (std::size_t i = 0; i < rows; ++i) {
    const double* x = &ds.values[i * cols];
    if (spec.classes == 2) {
      ds.labels[i] = churn_probability(x, cols) > 0.5 ? 1 : 0;
    } else {
      int best = 0;
      double best_score = 0;
      for (int k = 0; k < spec.classes; ++k) {
        double score = 0;
        for (std::size_t j = 0; j < cols; ++j) score += x[j] * weight(static_cast<std::size_t>(k), j);
        if (k == 0 || score > best_score) {
          best = k;
          best_score = score;
        }
      }
      ds.labels[i] = best;
    }
  }
  return ds;
}

}  // namespace mlops::data
