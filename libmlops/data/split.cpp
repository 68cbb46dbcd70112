#include "libmlops/data/split.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "libmlops/core/error.hpp"

namespace mlops::data {

Split train_test_split(Dataset& ds, double test_size, std::uint64_t seed) {
  if (!(test_size >= 0.0 && test_size < 1.0)) {
    throw Error(ErrorCode::invalid_input, fmt::format("--test-size {} is outside [0, 1)", test_size),
                "use e.g. 0.2 to hold out 20% of the rows, or 0 to train on all of them");
  }
  const Eigen::Index rows = ds.rows();
  const auto test_rows = static_cast<Eigen::Index>(std::ceil(test_size * static_cast<double>(rows)));
  if (test_size > 0 && test_rows >= rows) {
    throw Error(ErrorCode::invalid_input,
                fmt::format("--test-size {} leaves no training rows out of {}", test_size, rows),
                "use a smaller --test-size or more data");
  }
  if (test_size > 0) {
    // Fisher-Yates on whole rows; swapping in place keeps peak memory at one copy.
    std::mt19937_64 rng(seed);
    const Eigen::Index cols = ds.cols();
    for (Eigen::Index i = rows - 1; i > 0; --i) {
      const auto j = static_cast<Eigen::Index>(rng() % static_cast<std::uint64_t>(i + 1));
      if (j == i) continue;
      std::swap_ranges(ds.values.begin() + i * cols, ds.values.begin() + (i + 1) * cols,
                       ds.values.begin() + j * cols);
      std::swap(ds.labels[static_cast<std::size_t>(i)], ds.labels[static_cast<std::size_t>(j)]);
    }
  }
  Split split{ds.slice(0, rows - test_rows), ds.slice(rows - test_rows, test_rows)};
  const auto counts = class_counts(split.train, ds.classes.size());
  const auto present = std::count_if(counts.begin(), counts.end(), [](Eigen::Index c) { return c > 0; });
  if (present < 2) {
    throw Error(ErrorCode::invalid_input,
                fmt::format("the training split has a single class out of {}", ds.classes.size()),
                "use more rows or a smaller --test-size");
  }
  return split;
}

}  // namespace mlops::data
