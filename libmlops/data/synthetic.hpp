// data: the course's synthetic churn data, reproduced exactly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "libmlops/data/dataset.hpp"

namespace mlops::data {

// The course's true model: weights of its 10 features and the bias.
const std::vector<double>& churn_weights();
constexpr double kChurnBias = -2.0;

// The course's true churn probability of one row: sigmoid(x·w + b), weights cycled when
// there are more than 10 features.
double churn_probability(const double* x, std::size_t features);

struct SyntheticSpec {
  std::int64_t samples = 1000;
  int features = 10;
  int classes = 2;
  std::uint32_t seed = 42;
};

// The original course's generator, bit for bit: numpy's `np.random.seed(seed);
// X = np.random.rand(samples, features) * 10` (MT19937 and numpy's 53-bit doubles), then
// label = sigmoid(X·w + b) > 0.5 with the course's weights (cycled when features > 10).
// With classes = K > 2: label = argmax_k X·w_k, where w_k is the course's weight vector
// rotated by k places (a deterministic multiclass variant). Features are named feature_1…
// Throws Error{invalid_input} for samples < 1, features < 1 or classes < 2.
Dataset generate_churn(const SyntheticSpec& spec);

}  // namespace mlops::data
