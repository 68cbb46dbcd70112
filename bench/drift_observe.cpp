// Cost of the drift window and the rollout analysis per request: DriftMonitor::observe on a
// 10-feature row with decile bins and TrafficWindow::record (a rollout's per-request
// bookkeeping), from one thread and from two threads at once; one snapshot (a scrape) and
// one analyse() of a full step (a rollout poll).
//   g++ -O3 -std=c++20 -I. bench/drift_observe.cpp build/libmlops/libmlops_lib.a -lfmt -lpthread -o /tmp/drift_observe && /tmp/drift_observe
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>
#include "libmlops/observability/canary_analysis.hpp"
#include "libmlops/observability/drift.hpp"
using namespace mlops::observability;
int main() {
  std::vector<FeatureReference> refs;
  for (int j = 0; j < 10; ++j) {
    FeatureReference r{"f" + std::to_string(j), 5, {}, {}};
    for (int b = 0; b <= 10; ++b) r.bin_edges.push_back(b);
    r.fractions.assign(10, 0.1);
    refs.push_back(r);
  }
  DriftMonitor m(refs, {1000, 100});
  double row[10] = {5.2, 1.3, 7.7, 2.0, 3.1, 4.4, 1.0, 8.2, 2.5, 6.0};
  for (int threads : {1, 2}) {
    const int n = 2000000;
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) ts.emplace_back([&] { for (int i = 0; i < n; ++i) m.observe(row); });
    for (auto& t : ts) t.join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%d thread(s): %.1f ns per observe (wall / rows per thread)\n", threads, s / n * 1e9);
  }
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10000; ++i) m.snapshot();
  std::printf("snapshot: %.1f us\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 10000 * 1e6);
  TrafficWindow traffic;
  for (int threads : {1, 2}) {
    const int n = 2000000;
    auto t1 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) ts.emplace_back([&] { for (int i = 0; i < n; ++i) traffic.record(0.0004, i % 100 == 0); });
    for (auto& t : ts) t.join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    std::printf("%d thread(s): %.1f ns per TrafficWindow::record\n", threads, s / n * 1e9);
  }
  const TrafficFigures full = traffic.figures();
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) analyse(full, full, {});
  std::printf("analyse (4,096-sample windows, per poll): %.1f us\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 1000 * 1e6);
}
