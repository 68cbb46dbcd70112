#include "libmlops/data/split.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "libmlops/core/error.hpp"

namespace mlops::data {

namespace {

// numpy's random_interval(): a uniform integer in [0, max] by masked rejection sampling.
std::uint32_t random_interval(std::mt19937& rng, std::uint32_t max) {
  if (max == 0) return 0;
  std::uint32_t mask = max;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  std::uint32_t value = 0;
  while ((value = static_cast<std::uint32_t>(rng()) & mask) > max) {
  }
  return value;
}

}  // namespace

std::vector<std::int64_t> numpy_permutation(std::int64_t n, std::uint32_t seed) {
  if (n > 0xffffffffLL) throw Error(ErrorCode::invalid_input, fmt::format("{} rows are too many to shuffle", n));
  std::vector<std::int64_t> order(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(seed);  // numpy's legacy seeding of an integer seed is init_genrand
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = random_interval(rng, static_cast<std::uint32_t>(i));
    std::swap(order[static_cast<std::size_t>(i)], order[j]);
  }
  return order;
}

Split train_test_split(Dataset& ds, double test_size, std::uint32_t seed) {
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
    // Row k of the result is row source(k) of the input: the training rows
    // (permutation[test_rows:]), then the test rows (permutation[:test_rows]).
    const std::vector<std::int64_t> permutation = numpy_permutation(rows, seed);
    const auto train_rows = static_cast<std::size_t>(rows - test_rows);
    const auto source = [&](std::size_t k) {
      return static_cast<std::size_t>(permutation[k < train_rows ? k + static_cast<std::size_t>(test_rows) : k - train_rows]);
    };
    // Applied cycle by cycle with one spare row: peak memory stays at one copy of the data.
    const auto cols = static_cast<std::size_t>(ds.cols());
    std::vector<bool> placed(permutation.size(), false);
    std::vector<double> spare(cols);
    for (std::size_t start = 0; start < permutation.size(); ++start) {
      if (placed[start] || source(start) == start) continue;
      std::copy_n(ds.values.begin() + static_cast<std::ptrdiff_t>(start * cols), cols, spare.begin());
      const int spare_label = ds.labels[start];
      std::size_t at = start;
      while (true) {
        placed[at] = true;
        const std::size_t from = source(at);
        if (from == start) {
          std::copy(spare.begin(), spare.end(), ds.values.begin() + static_cast<std::ptrdiff_t>(at * cols));
          ds.labels[at] = spare_label;
          break;
        }
        std::copy_n(ds.values.begin() + static_cast<std::ptrdiff_t>(from * cols), cols,
                    ds.values.begin() + static_cast<std::ptrdiff_t>(at * cols));
        ds.labels[at] = ds.labels[from];
        at = from;
      }
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
