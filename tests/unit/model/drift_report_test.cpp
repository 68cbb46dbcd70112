#include <doctest/doctest.h>

#include <random>

#include "libmlops/core/error.hpp"
#include "libmlops/model/drift_report.hpp"

using namespace mlops;
using namespace mlops::model;

namespace {

// A model with one feature uniform on [0, 10): decile bins, predicting class 1 above 5.
ModelArtifact uniform_model() {
  ModelArtifact m;
  m.feature_names = {"x"};
  m.classes = {"0", "1"};
  FeatureBaseline b{"x", 5.0, 2.88, {}, std::vector<double>(10, 0.1)};
  for (int e = 0; e <= 10; ++e) b.bin_edges.push_back(e);
  m.baseline = {b};
  Eigen::MatrixXd coef(1, 1);
  coef << 4.0;
  Eigen::VectorXd intercept(1);
  intercept << -20.0;
  m.model.set_parameters(coef, intercept, StandardScaler::identity(1), 2);
  m.metrics.samples = 100;
  m.metrics.confusion = {{45, 5}, {5, 45}};  // the test split predicted 50% / 50%
  return m;
}

data::FeatureTable rows(std::size_t n, double low, double high, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(low, high);
  data::FeatureTable t;
  t.rows = n;
  for (std::size_t i = 0; i < n; ++i) t.values.push_back(u(rng));
  return t;
}

}  // namespace

TEST_SUITE("unit/model/drift_report") {
  TEST_CASE("the tests' tails match their tables") {
    CHECK(ks_p_value(1.3616 / 100.12, 10000) == doctest::Approx(0.049).epsilon(0.03));  // Q_KS(1.36) = 0.05
    CHECK(ks_p_value(0, 100) == 1);
    CHECK(ks_p_value(0.5, 100) < 1e-9);
    CHECK(chi_square_p_value(3.841459, 1) == doctest::Approx(0.05).epsilon(0.001));
    CHECK(chi_square_p_value(18.307038, 10) == doctest::Approx(0.05).epsilon(0.001));
    CHECK(chi_square_p_value(0, 3) == 1);
    CHECK(chi_square_p_value(200, 2) < 1e-40);
  }
  TEST_CASE("data like the training data does not drift (200 samples: false alarms near alpha x PSI gate)") {
    const ModelArtifact m = uniform_model();
    int drifted = 0;
    for (std::uint64_t seed = 0; seed < 200; ++seed) {
      const DriftReport r = drift_report(m, rows(1000, 0, 10, seed), nullptr, "");
      drifted += r.features[0].drifted;
      CHECK(r.features[0].psi < 0.05);
    }
    CHECK(drifted == 0);
  }
  TEST_CASE("shifted data drifts: the feature, the dataset and the predictions") {
    const ModelArtifact m = uniform_model();
    const DriftReport r = drift_report(m, rows(500, 3, 13, 1), nullptr, "");
    CHECK(r.features[0].drifted);
    CHECK(r.features[0].p_value < 1e-6);
    CHECK(r.features[0].psi > 0.2);
    CHECK(r.features[0].current_mean == doctest::Approx(8).epsilon(0.05));
    CHECK(r.dataset_drift);
    CHECK(r.prediction.available);
    CHECK(r.prediction.drifted);  // now ~80% predicted 1 against 50%
    CHECK(r.prediction.current_share[1] > 0.7);
    CHECK(r.reference == "training baseline");
  }
  TEST_CASE("against a reference CSV: two-sample KS; same source no drift, shifted drift") {
    const ModelArtifact m = uniform_model();
    const data::FeatureTable reference = rows(800, 0, 10, 5);
    CHECK_FALSE(drift_report(m, rows(600, 0, 10, 6), &reference, "train.csv").dataset_drift);
    const DriftReport r = drift_report(m, rows(600, 2, 12, 7), &reference, "train.csv");
    CHECK(r.dataset_drift);
    CHECK(r.reference == "train.csv");
    CHECK(r.reference_rows == 800);
    CHECK(r.features[0].ks_statistic == doctest::Approx(0.2).epsilon(0.3));
  }
  TEST_CASE("a tiny sample: a large PSI from noise is not called drift") {
    const ModelArtifact m = uniform_model();
    const DriftReport r = drift_report(m, rows(8, 0, 10, 3), nullptr, "");
    CHECK(r.features[0].psi > 0.2);  // 8 rows in 10 bins
    CHECK_FALSE(r.features[0].drifted);
  }
  TEST_CASE("bad input is refused") {
    const ModelArtifact m = uniform_model();
    data::FeatureTable empty;
    CHECK_THROWS_AS(drift_report(m, empty, nullptr, ""), mlops::Error);
    data::FeatureTable ragged = rows(3, 0, 1, 1);
    ragged.values.pop_back();
    CHECK_THROWS_AS(drift_report(m, ragged, nullptr, ""), mlops::Error);
    ModelArtifact no_baseline = uniform_model();
    no_baseline.baseline.clear();
    CHECK_THROWS_AS(drift_report(no_baseline, rows(3, 0, 1, 1), nullptr, ""), mlops::Error);
  }
}
