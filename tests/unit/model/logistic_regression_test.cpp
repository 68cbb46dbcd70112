#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "libmlops/data/csv.hpp"
#include "libmlops/data/synthetic.hpp"
#include "libmlops/model/logistic_regression.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using namespace mlops::model;

TEST_SUITE("unit/model/LogisticRegression") {
  TEST_CASE("reaches scikit-learn's true minimum on real datasets, raw and standardised") {
    // reference.json: scikit-learn's answer polished by Newton steps (tests/data/README.md).
    const auto reference = nlohmann::json::parse(test::read_text(test::test_data("reference.json")));
    for (const auto& r : reference) {
      const std::string name = r["dataset"].get<std::string>();
      const data::Dataset ds = data::read_training_csv(test::test_data(name + ".csv"), "target");
      FitOptions options;
      options.C = r["C"].get<double>();
      options.standardize = r["mode"] == "standardized";
      LogisticRegression lr;
      const FitResult fit = lr.fit(ds.view(), static_cast<int>(ds.classes.size()), options);
      const double minimum = r["minimum"].get<double>();
      CAPTURE(name);
      CAPTURE(r["mode"].get<std::string>());
      CAPTURE(options.C);
      CHECK(fit.converged);
      CHECK((fit.objective - minimum) / minimum < 1e-7);
      CHECK((fit.objective - minimum) / minimum > -1e-9);  // nobody goes below the minimum
      // Never worse than scikit-learn's own default fit.
      CHECK(fit.objective <= r["sklearn_default_objective"].get<double>() * (1 + 1e-6));
      CHECK(lr.objective(ds.view(), options.C) == doctest::Approx(fit.objective).epsilon(1e-10));
    }
  }
  TEST_CASE("binary models have one coefficient row, multinomial one per class") {
    const data::Dataset binary = data::generate_churn({500, 4, 2, 1});
    const data::Dataset multi = data::generate_churn({500, 4, 3, 1});
    LogisticRegression a, b;
    a.fit(binary.view(), 2, {});
    b.fit(multi.view(), 3, {});
    CHECK(a.coefficients().rows() == 1);
    CHECK(b.coefficients().rows() == 3);
    const Eigen::MatrixXd p = b.predict_proba(multi.view().features());
    CHECK(p.rows() == 500);
    CHECK(p.cols() == 3);
    CHECK((p.rowwise().sum().array() - 1.0).abs().maxCoeff() < 1e-12);
  }
  TEST_CASE("single-row prediction equals batch prediction") {
    const data::Dataset ds = data::generate_churn({300, 10, 2, 3});
    LogisticRegression lr;
    lr.fit(ds.view(), 2, {});
    const Eigen::MatrixXd batch = lr.predict_proba(ds.view().features());
    double row[2];
    lr.predict_proba_row(ds.values.data() + 17 * 10, row);
    CHECK(row[1] == doctest::Approx(batch(17, 1)).epsilon(1e-14));
  }
  TEST_CASE("large data is fit with several threads to the same minimum") {
    const data::Dataset ds = data::generate_churn({120000, 5, 2, 9});
    FitOptions one, many;
    one.threads = 1;
    many.threads = 2;
    LogisticRegression a, b;
    const double fa = a.fit(ds.view(), 2, one).objective;
    const double fb = b.fit(ds.view(), 2, many).objective;
    CHECK(fa == doctest::Approx(fb).epsilon(1e-9));
  }
  TEST_CASE("invalid options are rejected") {
    const data::Dataset ds = data::generate_churn({50, 2, 2, 1});
    LogisticRegression lr;
    FitOptions bad_c;
    bad_c.C = 0;
    CHECK(test::error_code_of([&] { lr.fit(ds.view(), 2, bad_c); }) == ErrorCode::invalid_input);
    FitOptions bad_iter;
    bad_iter.max_iter = 0;
    CHECK(test::error_code_of([&] { lr.fit(ds.view(), 2, bad_iter); }) == ErrorCode::invalid_input);
  }
  TEST_CASE("max_iter stops the solver and says it did not converge") {
    const data::Dataset ds = data::read_training_csv(test::test_data("digits.csv"), "target");
    FitOptions options;
    options.max_iter = 3;
    options.standardize = false;
    LogisticRegression lr;
    const FitResult fit = lr.fit(ds.view(), 10, options);
    CHECK_FALSE(fit.converged);
    CHECK(fit.iterations <= 3);
  }
}
