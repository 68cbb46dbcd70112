#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <thread>

#include "libmlops/observability/canary_analysis.hpp"
#include "libmlops/observability/drift.hpp"

using namespace mlops::observability;

namespace {

// `n` answers: latencies around `ms` (exponential jitter), errors at `error_ratio`.
TrafficFigures traffic(std::int64_t n, double ms, double error_ratio, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> jitter(1.0 / (ms * 0.2));
  std::uniform_real_distribution<double> u(0, 1);
  TrafficWindow w;
  for (std::int64_t i = 0; i < n; ++i) w.record((ms + jitter(rng)) / 1000, u(rng) < error_ratio);
  return w.figures();
}

const AnalysisThresholds kLimits{0.01, 0.2, 0.2, 200};

}  // namespace

TEST_SUITE("unit/observability/canary_analysis") {
  TEST_CASE("the statistics: Wilson's lower bound and the quantile bound") {
    CHECK(wilson_lower_bound(0, 200) == 0);
    CHECK(wilson_lower_bound(20, 200, 2.326) == doctest::Approx(0.0604).epsilon(0.01));  // 10% of 200 (z 2.326): at least ~6%
    CHECK(wilson_lower_bound(20, 200) > 0.04);  // the default 99.9%: still well above a 1% limit
    CHECK(wilson_lower_bound(2, 200) < 0.01);  // 1% observed is no evidence of more than 1%
    CHECK(wilson_lower_bound(5, 0) == 0);
    std::vector<double> sorted;
    for (int i = 1; i <= 1000; ++i) sorted.push_back(i);
    CHECK(quantile(sorted, 0.95) == 950);
    const double bound = quantile_lower_bound(sorted, 0.95);
    CHECK(bound < 950);
    CHECK(bound == 928);  // floor(950 - 3.09 * sqrt(1000 * 0.95 * 0.05)) = 928
    CHECK(std::isnan(quantile({}, 0.5)));
    CHECK(quantile_lower_bound({7.0}, 0.95) == 7.0);
  }
  TEST_CASE("a healthy candidate like the stable one is healthy, and noise never breaches (1,000 trials)") {
    int breaches = 0;
    for (std::uint64_t seed = 0; seed < 1000; ++seed) {
      // Both sides at 0.5% errors and ~2 ms, below every limit: only noise differs.
      const Verdict v = analyse(traffic(2000, 2, 0.005, seed), traffic(220, 2, 0.005, seed + 7919), kLimits);
      if (v.outcome == Verdict::Outcome::breach) ++breaches;
    }
    CHECK(breaches == 0);
  }
  TEST_CASE("errors at the limit do not fire on noise; 10% errors do") {
    int breaches = 0;
    for (std::uint64_t seed = 0; seed < 500; ++seed) {
      if (analyse({}, traffic(200, 2, 0.01, seed), kLimits).outcome == Verdict::Outcome::breach) ++breaches;
    }
    CHECK(breaches <= 3);  // a 99.9% bound: about 0.1% false alarms at exactly the limit
    const Verdict v = analyse(traffic(2000, 2, 0.0, 1), traffic(200, 2, 0.10, 2), kLimits);
    CHECK(v.outcome == Verdict::Outcome::breach);
    CHECK(v.reason == "error_ratio");
    CHECK(v.figures["candidate"]["requests"] == 200);
    CHECK(v.detail.find("> 1.00%") != std::string::npos);
  }
  TEST_CASE("300 ms slower breaches p95; slow on both sides (a busy machine) does not count against the candidate") {
    const Verdict slow = analyse(traffic(2000, 2, 0, 1), traffic(200, 302, 0, 2), kLimits);
    CHECK(slow.outcome == Verdict::Outcome::breach);
    CHECK(slow.reason == "p95_latency");
    CHECK(slow.figures["candidate"]["p95_ms"].get<double>() > 300);
    const Verdict both = analyse(traffic(2000, 302, 0, 1), traffic(200, 302, 0, 2), kLimits);
    CHECK(both.outcome == Verdict::Outcome::healthy);
  }
  TEST_CASE("drift: a PSI over the limit breaches; a pending drift window waits; too few requests wait") {
    TrafficFigures drifted = traffic(200, 2, 0, 3);
    drifted.max_psi = 1.7;
    drifted.psi_noise = psi_noise_floor(200, 10);
    drifted.psi_feature = "feature_3";
    const Verdict v = analyse({}, drifted, kLimits);
    CHECK(v.reason == "feature_drift");
    CHECK(v.detail.find("feature_3") != std::string::npos);
    // A PSI over the limit that noise alone reaches at this sample size is not a breach.
    TrafficFigures noisy = traffic(121, 2, 0, 3);
    noisy.max_psi = 0.27;
    noisy.psi_noise = psi_noise_floor(121, 10);
    CHECK(analyse({}, noisy, {0.01, 0.2, 0.2, 100}).outcome == Verdict::Outcome::healthy);
    TrafficFigures pending = traffic(200, 2, 0, 3);
    pending.psi_pending = true;
    CHECK(analyse({}, pending, kLimits).outcome == Verdict::Outcome::waiting);
    // 15 requests at 100% errors: no judgment yet.
    const Verdict few = analyse({}, traffic(15, 2, 1.0, 4), kLimits);
    CHECK(few.outcome == Verdict::Outcome::waiting);
    CHECK(few.detail == "15 of 200 candidate requests");
  }
  TEST_CASE("the PSI noise floor holds for rows drawn from the training distribution (500 windows of 121 rows)") {
    CHECK(psi_noise_floor(121, 10) == doctest::Approx(0.28).epsilon(0.05));
    CHECK(psi_noise_floor(1000, 10) == doctest::Approx(0.034).epsilon(0.05));
    CHECK(psi_noise_floor(0, 10) == 0);
    FeatureReference ref{"x", 5.0, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, std::vector<double>(10, 0.1)};
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> value(0, 10);
    int above = 0;
    double largest = 0;
    for (int w = 0; w < 500; ++w) {
      DriftMonitor m({ref}, {1000, 100});
      for (int i = 0; i < 121; ++i) {
        const double v = value(rng);
        m.observe(&v);
      }
      const FeatureDrift d = m.snapshot().front();
      largest = std::max(largest, d.psi);
      if (d.psi > psi_noise_floor(d.count, d.bins)) ++above;
    }
    CHECK(largest > 0.1);  // raw PSIs from noise do reach far (0.2 is not safe at this size)
    CHECK(above <= 1);
  }
  TEST_CASE("TrafficWindow: counts every answer, keeps a bounded sample, is safe across threads, resets") {
    TrafficWindow w;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&w] {
        for (int i = 0; i < 5000; ++i) w.record(0.001, i % 100 == 0);
      });
    }
    for (auto& t : threads) t.join();
    const TrafficFigures f = w.figures();
    CHECK(f.requests == 20000);
    CHECK(f.errors == 200);
    CHECK(f.latencies.size() == TrafficWindow::kLatencySample);
    w.reset();
    CHECK(w.figures().requests == 0);
    CHECK(w.figures().latencies.empty());
  }
}
