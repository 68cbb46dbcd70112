#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "libmlops/observability/drift.hpp"
#include "libmlops/observability/metrics.hpp"

using namespace mlops::observability;

TEST_SUITE("unit/observability/DriftMonitor") {
  TEST_CASE("PSI is ~0 for data like the training data and large for shifted data") {
    // Four equal bins over [0, 4).
    FeatureReference ref{"x", 2.0, {0, 1, 2, 3, 4}, {0.25, 0.25, 0.25, 0.25}};
    DriftMonitor same({ref}), shifted({ref});
    for (int i = 0; i < 400; ++i) {
      const double v = (i % 4) + 0.5;
      same.observe(&v);
      const double w = 3.5;
      shifted.observe(&w);
    }
    const auto a = same.snapshot().front();
    CHECK(a.psi == doctest::Approx(0.0).epsilon(1e-12));
    CHECK(a.live_mean == doctest::Approx(2.0));
    CHECK(a.count == 400);
    const auto b = shifted.snapshot().front();
    // live shares (1e-4, 1e-4, 1e-4, 1): sum of (live - 0.25) ln(live / 0.25)
    const double expected = 3 * (1e-4 - 0.25) * std::log(1e-4 / 0.25) + (1 - 0.25) * std::log(1 / 0.25);
    CHECK(b.psi == doctest::Approx(expected));
    CHECK(b.psi > 0.2);
  }
  TEST_CASE("the window: 1,000 shifted rows after 2,000 normal ones cross 0.2; 15 rows report nothing") {
    FeatureReference ref{"x", 2.0, {0, 1, 2, 3, 4}, {0.25, 0.25, 0.25, 0.25}};
    DriftMonitor m({ref}, {1000, 100});
    const double shifted = 3.5;
    for (int i = 0; i < 15; ++i) m.observe(&shifted);
    CHECK(m.snapshot().front().count == 15);
    CHECK_FALSE(m.snapshot().front().reported);  // a PSI from 15 rows would be noise
    DriftMonitor w({ref}, {1000, 100});
    for (int i = 0; i < 2000; ++i) {
      const double v = (i % 4) + 0.5;
      w.observe(&v);
    }
    CHECK(w.snapshot().front().psi == doctest::Approx(0.0).epsilon(1e-12));
    for (int i = 0; i < 1000; ++i) w.observe(&shifted);
    const FeatureDrift d = w.snapshot().front();
    CHECK(d.reported);
    CHECK(d.count == 1000);          // the last 1,000 rows: the normal ones are forgotten
    CHECK(d.live_mean == doctest::Approx(3.5));
    CHECK(d.psi > 0.2);
    // Since process start it would have been the mixture: (2000 normal + 1000 shifted).
    DriftMonitor cumulative({ref}, {3000, 100});
    for (int i = 0; i < 2000; ++i) {
      const double v = (i % 4) + 0.5;
      cumulative.observe(&v);
    }
    for (int i = 0; i < 1000; ++i) cumulative.observe(&shifted);
    CHECK(cumulative.snapshot().front().psi < d.psi);
  }
  TEST_CASE("the window keeps between 90% and 100% of its rows; too small a window is refused") {
    FeatureReference ref{"x", 0, {0, 1, 2}, {0.5, 0.5}};
    DriftMonitor m({ref}, {100, 1});
    const double v = 0.5;
    for (int i = 1; i <= 1000; ++i) {
      m.observe(&v);
      const auto count = m.snapshot().front().count;
      CHECK(count == static_cast<std::uint64_t>(std::min(i, 90 + (i % 10 == 0 ? 10 : i % 10))));
    }
    CHECK_THROWS(DriftMonitor({ref}, {9, 1}));
  }
  TEST_CASE("values outside the training range count in the edge bins") {
    DriftMonitor m({{"x", 0, {0, 1, 2}, {0.5, 0.5}}});
    const double low = -10, high = 10;
    m.observe(&low);
    m.observe(&high);
    CHECK(m.snapshot().front().psi == doctest::Approx(0.0));
  }
}

TEST_SUITE("unit/observability/ServingMetrics") {
  TEST_CASE("renders the families with their labels, and model_loaded drops to 0 for a replaced version") {
    ServingMetrics m;
    m.set_models({{"churn", "v1", "models:/churn@production", "abc", {}}});
    m.record_prediction("v1", "/predict", 200, 0.0001);
    m.record_class("v1", "1", 3);
    m.record_http("POST", "/predict", 200, 0.0002);
    m.record_crm_update("Churn_Risk_AI", "updated");
    m.set_models({{"churn", "v2", "models:/churn@production", "def", {}}});
    const std::string text = m.scrape();
    CHECK(text.find("prediction_requests_total{endpoint=\"/predict\",model_version=\"v1\",status=\"200\"} 1") != std::string::npos);
    CHECK(text.find("prediction_class_total{class=\"1\",model_version=\"v1\"} 3") != std::string::npos);
    CHECK(text.find("prediction_latency_seconds_bucket{model_version=\"v1\",le=\"0.2\"} 1") != std::string::npos);
    CHECK(text.find("model_loaded{model_version=\"v1\"} 0") != std::string::npos);
    CHECK(text.find("model_loaded{model_version=\"v2\"} 1") != std::string::npos);
    CHECK(text.find("sha256=\"abc\"") == std::string::npos);  // model_info only for loaded models
    CHECK(text.find("crm_segment_updates_total{result=\"updated\",segment=\"Churn_Risk_AI\"} 1") != std::string::npos);
    CHECK(text.find("process_cpu_seconds_total") != std::string::npos);
  }
  TEST_CASE("latency buckets run from 50 us to 1 s with an edge at 0.2 s") {
    const auto& b = latency_buckets();
    CHECK(b.front() == 0.00005);
    CHECK(b.back() == 1.0);
    CHECK(std::find(b.begin(), b.end(), 0.2) != b.end());
  }
  TEST_CASE("a time window forgets rows older than its seconds, however few requests came since") {
    FeatureReference ref{"x", 2.0, {0, 1, 2, 3, 4}, {0.25, 0.25, 0.25, 0.25}};
    DriftMonitor m({ref}, {1000, 10, 0.3});
    const double shifted = 3.5;
    for (int i = 0; i < 200; ++i) m.observe(&shifted);
    CHECK(m.snapshot().front().count == 200);
    CHECK(m.snapshot().front().psi > 0.2);
    std::this_thread::sleep_for(std::chrono::milliseconds(350));  // the window's age, not a wait for readiness
    CHECK(m.snapshot().front().count == 0);  // all older than 0.3 s
    for (int i = 0; i < 40; ++i) {
      const double v = (i % 4) + 0.5;
      m.observe(&v);
    }
    const auto d = m.snapshot().front();
    CHECK(d.count == 40);
    CHECK(d.reported);
    CHECK(d.psi == doctest::Approx(0.0).epsilon(1e-12));
  }
}
