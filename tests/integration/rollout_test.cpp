// Progressive rollouts end to end: two real `mlops serve` replicas sharing one registry,
// clients spread over both, the rollout started with the real CLI — a healthy candidate
// promoted on schedule; one failing, one slow and one fed shifted features each rolled back
// at the first step with enough requests, the reason recorded, every replica back on the
// stable version within a reload interval, and no client request failed by the rollback.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "libmlops/registry/registry_store.hpp"
#include "tests/support/prediction_load.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/support.hpp"

#include <httplib.h>  // last: its <resolv.h> defines a macro `_res` that breaks Eigen

using namespace mlops;
using nlohmann::json;
using test::Answer;
using test::Load;
using test::ServerProcess;
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kReloadInterval = 0.2;  // seconds: each replica's registry check

// A home with ChurnPredictionModel version 1 in Production and version 2 registered.
struct Home {
  test::TempDir dir;
  std::string path = dir.file("home");
  Home() {
    train("v1", "42", {"--stage", "Production"});
    train("v2", "7", {});
  }
  void train(const std::string& tag, const std::string& seed, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"train", "--n-samples", "400", "--seed", seed, "--model-version", tag,
                                     "-o", dir.file(tag + ".json"), "--register"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = test::run_cli(args, path);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  }
  json rollout(const std::vector<std::string>& args) {
    std::vector<std::string> full = {"rollout"};
    full.insert(full.end(), args.begin(), args.end());
    full.push_back("--json");
    const auto r = test::run_cli(full, path);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return json::parse(r.out);
  }
};

// Polls the rollout until it leaves `running` (or the deadline); returns it.
json wait_until_ended(Home& home, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  json status;
  while (Clock::now() < deadline) {
    status = home.rollout({"status", "ChurnPredictionModel"});
    if (status["rollout"]["state"] != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return status;
}

std::vector<ServerProcess*> raw(std::vector<std::unique_ptr<ServerProcess>>& replicas) {
  std::vector<ServerProcess*> out;
  for (auto& r : replicas) out.push_back(r.get());
  return out;
}

std::vector<std::unique_ptr<ServerProcess>> start_replicas(Home& home, const std::vector<std::string>& extra = {}) {
  std::vector<std::unique_ptr<ServerProcess>> replicas;
  for (int i = 0; i < 2; ++i) {
    std::vector<std::string> args = {"--reload-interval", fmt::format("{}", kReloadInterval), "--threads", "16"};
    args.insert(args.end(), extra.begin(), extra.end());
    replicas.push_back(std::make_unique<ServerProcess>(home.path, args));
  }
  return replicas;
}

std::string metrics_of(ServerProcess& s) {
  httplib::Client c("127.0.0.1", s.port());
  const auto r = c.Get("/metrics");
  REQUIRE(r);
  return r->body;
}

// A candidate that breaches is rolled back at its first step: the reason recorded, the
// registry untouched, and after one reload interval (plus the poll's own tick) no replica
// answers with it; no request failed but those the fault itself failed.
void check_rolled_back(Home& home, std::vector<std::unique_ptr<ServerProcess>>& replicas, Load& load,
                       const std::string& reason, const std::string& fault_error) {
  const json status = wait_until_ended(home, 60);
  REQUIRE_MESSAGE(status["rollout"]["state"] == "rolled_back", status.dump());
  CHECK(status["rollout"]["step"] == 1);  // at the first step
  const std::string recorded = status["rollout"]["reason"];
  CHECK_MESSAGE(recorded.rfind(reason + ":", 0) == 0, recorded);
  CHECK(status["rollout"]["figures"]["candidate"]["requests"].get<int>() >= 100);
  CHECK(status["decisions"].back()["action"] == "rollout_rolled_back");
  CHECK(status["decisions"].back()["user"] == "mlops serve");
  // Let every replica pass one more reload interval, then keep the load on for a while.
  std::this_thread::sleep_for(std::chrono::duration<double>(kReloadInterval * 2 + 0.3));
  const auto settled = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  load.stop();
  int after = 0, candidate_after = 0, failed = 0, unexpected = 0;
  for (const Answer& a : load.answers()) {
    if (a.status != 200) {
      ++failed;
      if (a.error != fault_error || fault_error.empty()) ++unexpected;
    }
    if (a.sent < settled) continue;
    ++after;
    if (a.version != "v1") ++candidate_after;
  }
  CHECK_MESSAGE(unexpected == 0, fmt::format("{} failed requests not caused by the injected fault", unexpected));
  CHECK(after > 50);
  CHECK_MESSAGE(candidate_after == 0, fmt::format("{} answers after the rollback were not the stable v1", candidate_after));
  // The figures of bench/README.md: from the decision to the last request any replica sent
  // to the candidate, and the requests that failed after the decision.
  const std::int64_t decided = status["rollout"]["updated_at"];
  std::int64_t last_candidate = decided;
  int failed_after = 0;
  for (const Answer& a : load.answers()) {
    const bool candidate = a.version == "v2" || (!fault_error.empty() && a.error == fault_error);
    if (candidate) last_candidate = std::max(last_candidate, a.sent_ms);
    if (a.status != 200 && a.sent_ms > decided) ++failed_after;
  }
  fmt::print(stderr, "rollout figure [{}]: candidate requests {}, rollback in effect on both replicas {} ms after the decision "
             "(reload interval {:.0f} ms); requests failed after the decision: {}; failed in all: {}\n",
             reason, status["rollout"]["figures"]["candidate"]["requests"].get<int>(), last_candidate - decided,
             kReloadInterval * 1000, failed_after, failed);
  registry::RegistryStore store(home.path + "/mlops.db", registry::RegistryStore::Mode::read_only);
  CHECK(store.find_by_alias("ChurnPredictionModel", "production")->version == 1);
  CHECK_FALSE(store.find_by_alias("ChurnPredictionModel", "candidate"));
  int rollbacks = 0;
  for (ServerProcess* s : raw(replicas)) {
    const std::string m = metrics_of(*s);
    CHECK(m.find("rollout_state{model=\"ChurnPredictionModel\",state=\"rolled_back\"} 1") != std::string::npos);
    CHECK(m.find("rollout_step_weight{model=\"ChurnPredictionModel\"} 0") != std::string::npos);
    if (m.find(fmt::format("rollout_decisions_total{{decision=\"rollback\",reason=\"{}\"}} 1", reason)) != std::string::npos) ++rollbacks;
    httplib::Client c("127.0.0.1", s->port());
    const json health = json::parse(c.Get("/health")->body);
    CHECK(health["rollout"]["state"] == "rolled_back");
    CHECK(health["canary"].is_null());
  }
  CHECK(rollbacks == 1);  // one replica decided; the other followed
}

// Version 2 made bad by serve's flags (an injected fault) or by shifted client rows, rolled
// out on two replicas with `threads` clients each: check_rolled_back at the first step.
void roll_out_bad_candidate(const std::vector<std::string>& serve_flags, int threads, bool shifted, const std::string& steps,
                            const std::string& reason, const std::string& fault_error) {
  Home home;
  auto replicas = start_replicas(home, serve_flags);
  Load load({replicas[0]->port(), replicas[1]->port()}, threads, shifted);
  home.rollout({"start", "ChurnPredictionModel", "--to", "2", "--steps", steps, "--interval", "1s", "--min-requests", "100"});
  check_rolled_back(home, replicas, load, reason, fault_error);
}

}  // namespace

TEST_SUITE("integration/rollout") {
  TEST_CASE("a healthy candidate steps through 25/50/100% on two replicas and is promoted with no failed request") {
    Home home;
    auto replicas = start_replicas(home);
    Load load({replicas[0]->port(), replicas[1]->port()}, 2, false);
    const json started = home.rollout({"start", "ChurnPredictionModel", "--to", "2", "--steps", "25,50,100", "--interval",
                                       "1s", "--min-requests", "100"});
    CHECK(started["state"] == "running");
    CHECK(started["weight"] == 0.25);
    const json status = wait_until_ended(home, 60);
    REQUIRE_MESSAGE(status["rollout"]["state"] == "promoted", status.dump());
    std::vector<std::string> decisions;
    for (const json& d : status["decisions"]) decisions.push_back(d["action"].get<std::string>() + " " + d["to"].get<std::string>());
    CHECK(decisions == std::vector<std::string>{"rollout_start 25%", "rollout_step 50%", "rollout_step 100%", "rollout_promoted 100%"});
    // Each step lasted its interval at least.
    const json& d = status["decisions"];
    CHECK(d[2]["at"].get<std::int64_t>() - d[1]["at"].get<std::int64_t>() >= 1000);
    // Every replica serves version 2 as its primary within a reload interval or two.
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    bool both = false;
    while (!both && Clock::now() < deadline) {
      both = true;
      for (ServerProcess* s : raw(replicas)) {
        httplib::Client c("127.0.0.1", s->port());
        const json h = json::parse(c.Get("/health")->body);
        both = both && h["registry_version"] == 2 && h["canary"].is_null();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(both);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    load.stop();
    int failed = 0, v1 = 0, v2 = 0;
    for (const Answer& a : load.answers()) {
      if (a.status != 200) ++failed;
      (a.version == "v2" ? v2 : v1) += a.status == 200;
    }
    CHECK(failed == 0);
    CHECK(v1 > 100);
    CHECK(v2 > 300);
    registry::RegistryStore store(home.path + "/mlops.db", registry::RegistryStore::Mode::read_only);
    CHECK(store.find_by_alias("ChurnPredictionModel", "production")->version == 2);
    CHECK(store.get_version("ChurnPredictionModel", 1).stage == registry::Stage::archived);
    for (ServerProcess* s : raw(replicas)) {
      CHECK(metrics_of(*s).find("rollout_state{model=\"ChurnPredictionModel\",state=\"promoted\"} 1") != std::string::npos);
    }
  }

  TEST_CASE("a candidate failing 10% of requests is rolled back at the first step") {
    roll_out_bad_candidate({"--inject-fault", "2:errors=0.1"}, 2, false, "25,100", "error_ratio", "injected_fault");
  }

  TEST_CASE("a candidate 300 ms slower is rolled back at the first step") {
    roll_out_bad_candidate({"--inject-fault", "2:delay=300ms"}, 8, false, "50,100", "p95_latency", "");
  }

  TEST_CASE("a candidate fed shifted features is rolled back at the first step") {
    roll_out_bad_candidate({}, 2, true, "25,100", "feature_drift", "");
  }

  TEST_CASE("Alertmanager firing -> webhook -> rollback; the webhook refuses strangers and garbage") {
    Home home;
    const std::string key = "alert-key-123";
    auto replicas = start_replicas(home, {"--api-key", key});
    home.rollout({"start", "ChurnPredictionModel", "--to", "2", "--steps", "50,100", "--interval", "1h", "--min-requests", "100000"});
    // The project's Alertmanager configuration, its webhook pointed at replica 0 with the key.
    std::string config = test::read_text(std::string(MLOPS_SOURCE_DIR) + "/compose/alertmanager/alertmanager.yml");
    const std::string url = "http://mlops-api:8000/admin/alerts";
    REQUIRE(config.find(url) != std::string::npos);
    config.replace(config.find(url), url.size(), fmt::format("http://127.0.0.1:{}/admin/alerts", replicas[0]->port()));
    const std::string resolved = "send_resolved: false";
    config.replace(config.find(resolved), resolved.size(),
                   resolved + "\n        http_config:\n          authorization:\n            credentials: " + key);
    test::TempDir dir;
    dir.write("alertmanager.yml", config);
    const int am_port = test::free_port();
    const int am = test::spawn_program("/usr/bin/prometheus-alertmanager",
                                       {"--config.file=" + dir.file("alertmanager.yml"), "--storage.path=" + dir.file("data"),
                                        "--cluster.listen-address=", "--web.listen-address=127.0.0.1:" + std::to_string(am_port),
                                        "--log.level=warn"},
                                       test::environment(), dir.path(), dir.file("am.log"), dir.file("am.log"));
    struct Stop {
      int pid;
      ~Stop() {
        ::kill(pid, SIGTERM);
        test::wait_exit_code(pid);
      }
    } stop_am{am};
    httplib::Client alertmanager("127.0.0.1", am_port);
    const auto ready_by = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < ready_by) {
      if (auto r = alertmanager.Get("/-/ready"); r && r->status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    Load load({replicas[0]->port(), replicas[1]->port()}, 1, false);
    // An alert that does not roll back, then the one that does, as Prometheus posts them.
    const auto fire = [&](const std::string& name) {
      const json alerts = json::array({{{"labels", {{"alertname", name}, {"severity", "warning"}, {"instance", "mlops-api:8000"}}},
                                        {"annotations", {{"summary", "\x1b[31mforged\nline"}}}}});
      const auto r = alertmanager.Post("/api/v2/alerts", alerts.dump(), "application/json");
      REQUIRE(r);
      CHECK(r->status == 200);
    };
    fire("PredictionsStopped");  // routed to `team`: not a rollback alert
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    CHECK(home.rollout({"status", "ChurnPredictionModel"})["rollout"]["state"] == "running");
    fire("PredictionLatencyP95High");
    const json status = wait_until_ended(home, 30);
    INFO(test::read_text(dir.file("am.log")));
    std::string service_log;  // without the request lines of the load
    std::istringstream log_lines(replicas[0]->log());
    for (std::string line; std::getline(log_lines, line);) {
      if (line.find("/predict") == std::string::npos) service_log += line + "\n";
    }
    INFO(service_log);
    REQUIRE(status["rollout"]["state"] == "rolled_back");
    CHECK(status["rollout"]["reason"] == "alert: PredictionLatencyP95High fired (Alertmanager)");
    CHECK(status["decisions"].back()["figures"]["alerts"] == json::array({"PredictionLatencyP95High"}));
    // Both replicas drop the candidate within a reload interval; no client request failed.
    std::this_thread::sleep_for(std::chrono::duration<double>(kReloadInterval * 2 + 0.3));
    const auto settled = Clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    load.stop();
    int failed = 0, candidate_after = 0;
    for (const Answer& a : load.answers()) {
      failed += a.status != 200;
      candidate_after += a.sent >= settled && a.version != "v1";
    }
    CHECK(failed == 0);
    CHECK(candidate_after == 0);
    CHECK(metrics_of(*replicas[0]).find("rollout_decisions_total{decision=\"rollback\",reason=\"alert:PredictionLatencyP95High\"} 1") !=
          std::string::npos);
    // The log names the alert, never the annotation's bytes.
    CHECK(replicas[0]->log().find("forged") == std::string::npos);

    // The webhook itself: the key, the payload's shape, nothing to do.
    httplib::Client c("127.0.0.1", replicas[1]->port());
    const httplib::Headers auth = {{"Authorization", "Bearer " + key}};
    CHECK(c.Post("/admin/alerts", R"({"alerts":[]})", "application/json")->status == 401);
    for (const std::string& body : std::vector<std::string>{"", "[]", "{}", R"({"alerts":{}})", R"({"alerts":[1]})", R"({"alerts":[{"labels":[]}]})",
                                   R"({"alerts":[{"labels":{"alertname":7}}]})", "{\"alerts\":[" + std::string(200000, '[')}) {
      CAPTURE(body.substr(0, 40));
      const auto r = c.Post("/admin/alerts", auth, body, "application/json");
      REQUIRE(r);
      CHECK(r->status >= 400);
      CHECK(r->status < 500);
    }
    const auto none = c.Post("/admin/alerts", auth,
                             R"({"status":"firing","alerts":[{"status":"firing","labels":{"alertname":"FeatureDrift"}}]})",
                             "application/json");
    REQUIRE(none);
    CHECK(none->status == 200);
    CHECK(json::parse(none->body)["acted"] == false);
    CHECK(json::parse(none->body)["reason"] == "model ChurnPredictionModel has no active rollout");
    const auto resolved_only = c.Post("/admin/alerts", auth,
                                      R"({"alerts":[{"status":"resolved","labels":{"alertname":"FeatureDrift"}}]})", "application/json");
    CHECK(json::parse(resolved_only->body)["alerts"].empty());
  }

  TEST_CASE("gate: a slow Production version fails the gate (exit 3) and is rolled back; the restored one passes") {
    Home home;
    const auto promote = test::run_cli({"models", "promote", "ChurnPredictionModel", "2", "--stage", "Production", "--archive-existing"}, home.path);
    REQUIRE(promote.exit_code == 0);
    ServerProcess server(home.path, {"--reload-interval", fmt::format("{}", kReloadInterval), "--inject-fault", "2:delay=300ms"});
    httplib::Client c("127.0.0.1", server.port());
    const auto serving = [&](int version) {
      const auto deadline = Clock::now() + std::chrono::seconds(5);
      while (Clock::now() < deadline) {
        if (json::parse(c.Get("/health")->body)["registry_version"] == version) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      return false;
    };
    REQUIRE(serving(2));
    const std::string url = fmt::format("http://127.0.0.1:{}", server.port());
    const auto failed = test::run_cli({"gate", "--url", url, "--p95", "200ms", "--requests", "20", "--concurrency", "4",
                                       "--rollback", "ChurnPredictionModel", "--json"}, home.path);
    REQUIRE_MESSAGE(failed.exit_code == 3, failed.err);
    const json report = json::parse(failed.out);
    CHECK(report["passed"] == false);
    CHECK(report["requests"] == 20);
    CHECK(report["errors"] == 0);
    CHECK(report["p95_ms"].get<double>() >= 300);
    CHECK(report["model_version"] == "v2");
    CHECK(report["breaches"][0].get<std::string>().rfind("p95 latency", 0) == 0);
    CHECK(report["rollback"] == "rolled ChurnPredictionModel back: Production is version 1 again");
    CHECK(serving(1));  // the service follows within its reload interval
    const auto history = json::parse(test::run_cli({"models", "history", "ChurnPredictionModel", "--json"}, home.path).out);
    CHECK(history["history"].back()["action"] == "rollback");
    CHECK(history["history"].back()["user"] == "mlops gate");
    CHECK(history["history"].back()["reason"].get<std::string>().rfind("gate: p95 latency", 0) == 0);
    const auto passed = test::run_cli({"gate", "--url", url, "--p95", "200ms", "--requests", "50"}, home.path);
    CHECK_MESSAGE(passed.exit_code == 0, passed.err);
    CHECK(passed.out.find("PASS") != std::string::npos);
    // Mistakes, each a clear error (exit 1) before any load.
    const auto unreachable = test::run_cli({"gate", "--url", fmt::format("http://127.0.0.1:{}", test::free_port())}, home.path);
    CHECK(unreachable.exit_code == 1);
    CHECK(unreachable.err.find("127.0.0.1") != std::string::npos);
    CHECK(test::run_cli({"gate", "--url", url, "--p95", "soon"}, home.path).err.find("--p95 'soon' is not a duration") != std::string::npos);
    CHECK(test::run_cli({"gate", "--url", url, "--body", "[1,2]"}, home.path).err.find("--body is not a JSON object") != std::string::npos);
    // A body the model refuses: every request fails, the gate says so.
    const auto refused = test::run_cli({"gate", "--url", url, "--body", R"({"features":[1]})", "--requests", "5", "--json"}, home.path);
    CHECK(refused.exit_code == 3);
    CHECK(json::parse(refused.out)["errors"] == 5);
  }

  TEST_CASE("rollout commands refuse bad input with what to do, and pause holds a step") {
    Home home;
    for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"start", "ChurnPredictionModel", "--to", "2", "--steps", "50,20,100"}, "must rise"},
             {{"start", "ChurnPredictionModel", "--to", "2", "--steps", "ten,100"}, "'ten' is not a percentage"},
             {{"start", "ChurnPredictionModel", "--to", "2", "--steps", "10,,100"}, "'' is not a percentage"},
             {{"start", "ChurnPredictionModel", "--to", "2", "--steps", "50"}, "last rollout step must be 100%"},
             {{"start", "ChurnPredictionModel", "--to", "2", "--interval", "soon"}, "--interval 'soon' is not a duration"},
             {{"start", "ChurnPredictionModel", "--to", "2", "--max-p95", "-5ms"}, "--max-p95 '-5ms' is not a duration"},
             {{"start", "ChurnPredictionModel", "--to", "9"}, "has no version 9"},
             {{"start", "ChurnPredictionModel", "--to", "1"}, "already the Production version"},
             {{"start", "NoSuchModel", "--to", "2"}, "no registered model named 'NoSuchModel'"},
             {{"pause", "ChurnPredictionModel"}, "has no active rollout"},
             {{"status", "NoSuchModel"}, "no registered model"}}) {
      const auto r = test::run_cli([&] {
        std::vector<std::string> full = {"rollout"};
        full.insert(full.end(), args.begin(), args.end());
        return full;
      }(), home.path);
      CHECK_MESSAGE(r.exit_code == 1, r.err);
      CHECK_MESSAGE(r.err.find(message) != std::string::npos, r.err);
    }
    const auto serve = test::run_cli({"serve", "--port", "0", "--inject-fault", "2:errors=2"}, home.path);
    CHECK(serve.exit_code == 1);
    CHECK(serve.err.find("errors '2' is not a ratio from 0 to 1") != std::string::npos);
    for (const std::string spec : {"2", "x:errors=0.1", "2:delay=5x", "2:delay=11s", "2:speed=3", "2:errors=0", "0:errors=0.5"}) {
      CAPTURE(spec);
      CHECK(test::run_cli({"serve", "--port", "0", "--inject-fault", spec}, home.path).exit_code == 1);
    }
    // Paused: the replicas hold the weight and decide nothing, however many requests.
    auto replicas = start_replicas(home);
    home.rollout({"start", "ChurnPredictionModel", "--to", "2", "--steps", "50,100", "--interval", "0s", "--min-requests", "10"});
    CHECK(home.rollout({"pause", "ChurnPredictionModel", "--reason", "lunch"})["state"] == "paused");
    {
      Load load({replicas[0]->port(), replicas[1]->port()}, 1, false);
      std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    }
    const json paused = home.rollout({"status", "ChurnPredictionModel"});
    CHECK(paused["rollout"]["state"] == "paused");
    CHECK(paused["rollout"]["step"] == 1);
    CHECK(paused["decisions"].back()["reason"] == "lunch");
    const json aborted = home.rollout({"abort", "ChurnPredictionModel"});
    CHECK(aborted["state"] == "aborted");
    CHECK(aborted["weight"] == 0);
  }
}
