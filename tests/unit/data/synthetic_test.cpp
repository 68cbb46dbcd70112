#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <numeric>

#include "libmlops/data/split.hpp"
#include "libmlops/data/synthetic.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using namespace mlops::data;

TEST_SUITE("unit/data/synthetic") {
  TEST_CASE("reproduces numpy's np.random.seed(42); np.random.rand(1000, 10) * 10 exactly") {
    // Fixture made with numpy (tests/data/README.md); exact equality, not a tolerance.
    const auto ref = nlohmann::json::parse(test::read_text(test::test_data("numpy_churn_seed42.json")));
    const Dataset ds = generate_churn({1000, 10, 2, 42});
    const auto first = ref["first_row"].get<std::vector<double>>();
    const auto last = ref["last_row"].get<std::vector<double>>();
    for (int j = 0; j < 10; ++j) {
      CHECK(ds.values[static_cast<std::size_t>(j)] == first[static_cast<std::size_t>(j)]);
      CHECK(ds.values[999 * 10 + static_cast<std::size_t>(j)] == last[static_cast<std::size_t>(j)]);
    }
    const auto sums = ref["column_sums"].get<std::vector<double>>();
    for (int j = 0; j < 10; ++j) {
      double sum = 0;
      for (int i = 0; i < 1000; ++i) sum += ds.values[static_cast<std::size_t>(i * 10 + j)];
      CHECK(sum == doctest::Approx(sums[static_cast<std::size_t>(j)]).epsilon(1e-12));
    }
    int positives = 0;
    for (int label : ds.labels) positives += label;
    CHECK(positives == ref["positives"].get<int>());
    CHECK(ds.feature_names.front() == "feature_1");
  }
  TEST_CASE("the same seed gives the same data, another seed other data") {
    CHECK(generate_churn({100, 10, 2, 7}).values == generate_churn({100, 10, 2, 7}).values);
    CHECK(generate_churn({100, 10, 2, 7}).values != generate_churn({100, 10, 2, 8}).values);
  }
  TEST_CASE("the multiclass variant uses every class") {
    const Dataset ds = generate_churn({2000, 20, 4, 42});
    CHECK(ds.classes.size() == 4);
    for (Eigen::Index c : class_counts(ds.view(), 4)) CHECK(c > 100);
  }
  TEST_CASE("invalid specs are rejected") {
    CHECK(test::error_code_of([] { generate_churn({0, 10, 2, 1}); }) == ErrorCode::invalid_input);
    CHECK(test::error_code_of([] { generate_churn({10, 10, 1, 1}); }) == ErrorCode::invalid_input);
  }
}

TEST_SUITE("unit/data/split") {
  TEST_CASE("holds out ceil(test_size * rows), keeps every row, and is deterministic") {
    Dataset a = generate_churn({1001, 3, 2, 1});
    Dataset b = generate_churn({1001, 3, 2, 1});
    const double total = std::accumulate(a.values.begin(), a.values.end(), 0.0);
    const Split sa = train_test_split(a, 0.2, 5);
    const Split sb = train_test_split(b, 0.2, 5);
    CHECK(sa.test.rows == 201);
    CHECK(sa.train.rows == 800);
    CHECK(a.values == b.values);
    CHECK(std::accumulate(a.values.begin(), a.values.end(), 0.0) == doctest::Approx(total));
    CHECK(sb.test.values == b.values.data() + 800 * 3);
  }
  TEST_CASE("the rows scikit-learn's train_test_split(test_size=0.2, random_state=42) picks, in its order") {
    // Fixtures from numpy 1.24 / scikit-learn 1.2 (Debian 12): RandomState(42).permutation(10),
    // RandomState(7).permutation(5), the first 12 of RandomState(42).permutation(1000), and
    // train_test_split(np.arange(10), test_size=0.2, random_state=42).
    CHECK(numpy_permutation(10, 42) == std::vector<std::int64_t>{8, 1, 5, 0, 7, 2, 9, 4, 3, 6});
    CHECK(numpy_permutation(5, 7) == std::vector<std::int64_t>{0, 3, 2, 1, 4});
    const auto thousand = numpy_permutation(1000, 42);
    CHECK(std::vector<std::int64_t>(thousand.begin(), thousand.begin() + 12) ==
          std::vector<std::int64_t>{521, 737, 740, 660, 411, 678, 626, 513, 859, 136, 811, 76});
    Dataset ds;  // row i holds the value i
    ds.feature_names = {"i"};
    ds.classes = {"0", "1"};
    for (int i = 0; i < 10; ++i) {
      ds.values.push_back(i);
      ds.labels.push_back(i % 2);
    }
    const Split s = train_test_split(ds, 0.2, 42);
    CHECK(std::vector<double>(s.train.values, s.train.values + 8) == std::vector<double>{5, 0, 7, 2, 9, 4, 3, 6});
    CHECK(std::vector<double>(s.test.values, s.test.values + 2) == std::vector<double>{8, 1});
    CHECK(std::vector<int>(s.train.labels, s.train.labels + 8) == std::vector<int>{1, 0, 1, 0, 1, 0, 1, 0});  // labels travel with rows
  }
  TEST_CASE("test_size 0 trains on all rows in order") {
    Dataset a = generate_churn({50, 2, 2, 1});
    const auto before = a.values;
    const Split s = train_test_split(a, 0.0, 5);
    CHECK(s.train.rows == 50);
    CHECK(s.test.rows == 0);
    CHECK(a.values == before);
  }
  TEST_CASE("bad test sizes are rejected") {
    Dataset a = generate_churn({50, 2, 2, 1});
    CHECK(test::error_code_of([&] { train_test_split(a, 1.0, 1); }) == ErrorCode::invalid_input);
    CHECK(test::error_code_of([&] { train_test_split(a, -0.1, 1); }) == ErrorCode::invalid_input);
  }
}
