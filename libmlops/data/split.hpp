// data: the train/test split, done in place so that large data is never copied.
#pragma once
#include <cstdint>
#include <vector>

#include "libmlops/data/dataset.hpp"

namespace mlops::data {

struct Split {
  DataView train;
  DataView test;  // rows == 0 when test_size is 0
};

// scikit-learn's train_test_split(test_size, random_state=seed), row for row: the same
// rows in train and test, in the same order — numpy's RandomState(seed).permutation(rows),
// whose first ceil(test_size * rows) rows are the test set and the rest the training set.
// The rows of `ds` are reordered in place (training rows first) so large data is never
// copied. test_size 0 keeps the order and trains on all rows. Throws Error{invalid_input}
// when test_size is outside [0, 1) or leaves the training part with fewer than two classes.
Split train_test_split(Dataset& ds, double test_size, std::uint32_t seed);

// numpy's legacy RandomState(seed).permutation(n), bit for bit (MT19937, Fisher-Yates with
// numpy's masked rejection sampling).
std::vector<std::int64_t> numpy_permutation(std::int64_t n, std::uint32_t seed);

}  // namespace mlops::data
