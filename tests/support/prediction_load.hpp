// Test helper: clients on every replica of a service (threads_per_replica each), each
// /predict with its own request key (so a canary split is by weight), rows like the
// training data (uniform 0..10) or shifted (uniform 8..10); every answer kept with its
// time, status and version.
#pragma once
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>  // last: its <resolv.h> defines a macro `_res` that breaks Eigen

namespace mlops::test {

struct Answer {
  std::chrono::steady_clock::time_point sent;
  std::int64_t sent_ms = 0;  // wall clock, to compare with the registry's decision time
  int status = 0;  // 0: no answer (connection failed)
  std::string version;
  std::string error;
};

class Load {
 public:
  Load(const std::vector<int>& ports, int threads_per_replica, bool shifted) {
    for (int port : ports) {
      for (int t = 0; t < threads_per_replica; ++t) {
        threads_.emplace_back([this, port, t, shifted] {
          httplib::Client c("127.0.0.1", port);
          c.set_read_timeout(10);
          std::mt19937_64 rng(static_cast<std::uint64_t>(port * 100 + t));
          std::uniform_real_distribution<double> value(shifted ? 8.0 : 0.0, 10.0);
          for (std::uint64_t i = 0; !stop_; ++i) {
            nlohmann::json row = nlohmann::json::array();
            for (int f = 0; f < 10; ++f) row.push_back(value(rng));
            Answer a;
            a.sent = std::chrono::steady_clock::now();
            a.sent_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
            const auto r = c.Post("/predict", {{"X-Request-Key", fmt::format("{}-{}-{}", port, t, i)}},
                                  nlohmann::json{{"features", row}}.dump(), "application/json");
            if (r) {
              a.status = r->status;
              const nlohmann::json body = nlohmann::json::parse(r->body, nullptr, false);
              if (r->status == 200) a.version = body.value("model_version", "");
              else if (body.is_object() && body.contains("error")) a.error = body["error"].value("code", "");
            }
            {
              std::lock_guard lock(mutex_);
              answers_.push_back(std::move(a));
            }
            // Paced (at most ~200 requests a second per thread): enough for a step's minimum
            // in about a second, without taking both cores from the suites ctest runs beside it.
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
        });
      }
    }
  }
  ~Load() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  std::vector<Answer> answers() {
    std::lock_guard lock(mutex_);
    return answers_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<Answer> answers_;
  std::vector<std::thread> threads_;
};

}  // namespace mlops::test
