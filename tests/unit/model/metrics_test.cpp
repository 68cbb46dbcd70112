#include <doctest/doctest.h>

#include "libmlops/model/metrics.hpp"

using namespace mlops::model;

TEST_SUITE("unit/model/metrics") {
  TEST_CASE("binary metrics match hand-computed values") {
    Eigen::VectorXi y(6);
    y << 0, 0, 1, 1, 1, 0;
    Eigen::MatrixXd p(6, 2);
    p.col(1) << 0.1, 0.6, 0.8, 0.4, 0.9, 0.2;
    p.col(0) = 1.0 - p.col(1).array();
    const ClassificationMetrics m = evaluate(y, p);
    // predicted: 0 1 1 0 1 0 -> tp 2, fp 1, fn 1, tn 2
    CHECK(m.accuracy == doctest::Approx(4.0 / 6));
    CHECK(m.precision == doctest::Approx(2.0 / 3));
    CHECK(m.recall == doctest::Approx(2.0 / 3));
    CHECK(m.f1 == doctest::Approx(2.0 / 3));
    CHECK(m.confusion == std::vector<std::vector<Eigen::Index>>{{2, 1}, {1, 2}});
    // AUC: pairs (pos, neg) ranked correctly: 8 of 9.
    REQUIRE(m.roc_auc);
    CHECK(*m.roc_auc == doctest::Approx(8.0 / 9));
    const double ll = -(std::log(0.9) + std::log(0.4) + std::log(0.8) + std::log(0.4) + std::log(0.9) + std::log(0.8)) / 6;
    CHECK(m.log_loss == doctest::Approx(ll));
  }
  TEST_CASE("ROC AUC averages ties and is undefined with one class") {
    Eigen::VectorXi y(4);
    y << 0, 1, 0, 1;
    Eigen::VectorXd s(4);
    s << 0.5, 0.5, 0.2, 0.9;
    CHECK(*roc_auc(y, s) == doctest::Approx(0.875));
    Eigen::VectorXi one(2);
    one << 1, 1;
    CHECK_FALSE(roc_auc(one, Eigen::VectorXd::Ones(2)));
  }
  TEST_CASE("multiclass precision, recall and F1 are macro averages") {
    Eigen::VectorXi y(4);
    y << 0, 1, 2, 2;
    Eigen::MatrixXd p = Eigen::MatrixXd::Zero(4, 3);
    p(0, 0) = 1;
    p(1, 2) = 1;  // wrong
    p(2, 2) = 1;
    p(3, 2) = 1;
    const ClassificationMetrics m = evaluate(y, p);
    CHECK(m.accuracy == doctest::Approx(0.75));
    // per class precision: 1, 0 (no predictions), 2/3; recall: 1, 0, 1
    CHECK(m.precision == doctest::Approx((1 + 0 + 2.0 / 3) / 3));
    CHECK(m.recall == doctest::Approx(2.0 / 3));
    CHECK(m.f1 == doctest::Approx((1 + 0 + 0.8) / 3));
    CHECK_FALSE(m.roc_auc);
  }
  TEST_CASE("round-trips through JSON") {
    Eigen::VectorXi y(2);
    y << 0, 1;
    Eigen::MatrixXd p(2, 2);
    p << 0.7, 0.3, 0.2, 0.8;
    const ClassificationMetrics m = evaluate(y, p);
    const ClassificationMetrics back = ClassificationMetrics::from_json(m.to_json());
    CHECK(back.accuracy == m.accuracy);
    CHECK(back.roc_auc == m.roc_auc);
    CHECK(back.confusion == m.confusion);
  }
}
