// data: the train/test split, done in place so that large data is never copied.
#pragma once
#include <cstdint>

#include "libmlops/data/dataset.hpp"

namespace mlops::data {

struct Split {
  DataView train;
  DataView test;  // rows == 0 when test_size is 0
};

// Shuffles the rows of `ds` in place (deterministic for a seed), then returns the first
// rows as the training view and the last round(test_size * rows) as the test view, like
// scikit-learn's train_test_split(shuffle=True). test_size 0 keeps the order and trains on
// all rows. Throws Error{invalid_input} when test_size is outside [0, 1) or leaves the
// training part with fewer than two classes.
Split train_test_split(Dataset& ds, double test_size, std::uint64_t seed);

}  // namespace mlops::data
