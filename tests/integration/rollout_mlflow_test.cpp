// Rollouts on replicas that serve their model from MLflow (`mlflow:models:/NAME@production`,
// as compose and Kubernetes do), against MLflow's own tracking server: the rollout started
// in a learner's registry reaches MLflow through the mirror, two replicas with no registry
// of their own follow it there and record their decisions there, and the registry takes
// those decisions back. A garbage record in MLflow never disturbs the serving.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/mirror_project.hpp"
#include "tests/support/prediction_load.hpp"
#include "tests/support/real_mlflow.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using nlohmann::json;
using test::Answer;
using test::Load;
using test::ServerProcess;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kModel = "ChurnPredictionModel";
constexpr double kReloadInterval = 0.2;

// MLflow's registered model: {tags: {key: value}, aliases: {alias: version}}.
json mlflow_model(const test::RealMlflow& mlflow) {
  const auto a = mlflow.call("GET", "registered-models/get", {{"name", kModel}});
  REQUIRE_MESSAGE(a.status == 200, a.body.dump());
  json out = {{"tags", json::object()}, {"aliases", json::object()}};
  for (const json& t : a.body["registered_model"].value("tags", json::array())) out["tags"][t["key"].get<std::string>()] = t["value"];
  for (const json& x : a.body["registered_model"].value("aliases", json::array())) {
    out["aliases"][x["alias"].get<std::string>()] = x["version"];
  }
  return out;
}

json mlflow_record(const test::RealMlflow& mlflow) {
  const json model = mlflow_model(mlflow);
  if (!model["tags"].contains("mlops.rollout")) return nullptr;
  return json::parse(model["tags"]["mlops.rollout"].get<std::string>());
}

std::string mlflow_stage(const test::RealMlflow& mlflow, int version) {
  const auto a = mlflow.call("GET", "model-versions/get", {{"name", kModel}, {"version", std::to_string(version)}});
  REQUIRE(a.status == 200);
  return a.body["model_version"]["current_stage"];
}

// Polls MLflow's record until it leaves `running` (or the deadline).
json wait_until_ended(const test::RealMlflow& mlflow, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  json record;
  while (Clock::now() < deadline) {
    record = mlflow_record(mlflow);
    if (record.is_object() && record["state"] != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return record;
}

// Two replicas serving the Production alias from MLflow, each with a home of its own (no
// registry shared with the project, as in Kubernetes).
struct Replicas {
  test::TempDir homes;
  std::vector<std::unique_ptr<ServerProcess>> servers;
  Replicas(const std::string& url, const std::vector<std::string>& extra = {}) {
    for (int i = 0; i < 2; ++i) {
      std::vector<std::string> args = {"--model-uri", "mlflow:models:/" + kModel + "@production", "--reload-interval",
                                       fmt::format("{}", kReloadInterval), "--threads", "16"};
      args.insert(args.end(), extra.begin(), extra.end());
      servers.push_back(std::make_unique<ServerProcess>(homes.file(fmt::format("replica{}", i)), args,
                                                        std::vector<std::string>{"MLFLOW_TRACKING_URI=" + url}));
    }
  }
  std::vector<int> ports() const { return {servers[0]->port(), servers[1]->port()}; }
  json health(int i) const {
    httplib::Client c("127.0.0.1", servers[i]->port());
    const auto r = c.Get("/health");
    REQUIRE(r);
    return json::parse(r->body);
  }
  std::string metrics(int i) const {
    httplib::Client c("127.0.0.1", servers[i]->port());
    const auto r = c.Get("/metrics");
    REQUIRE(r);
    return r->body;
  }
};

json rollout(test::MirrorProject& project, const std::vector<std::string>& args, std::string* err = nullptr) {
  std::vector<std::string> full = {"rollout"};
  full.insert(full.end(), args.begin(), args.end());
  full.push_back("--json");
  const auto r = project.run(full);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  if (err) *err = r.err;
  return json::parse(r.out);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_SUITE("integration/rollout_mlflow") {
  TEST_CASE("replicas serving from MLflow promote a healthy candidate and roll back a failing one; the registry takes it") {
    test::RealMlflow mlflow;
    test::MirrorProject project(mlflow.url(), 1);
    REQUIRE(project.train("v1", {"--stage", "Production"}).exit_code == 0);
    REQUIRE(project.train("v2", {"--seed", "7"}).exit_code == 0);
    REQUIRE(project.train("v3", {"--seed", "9"}).exit_code == 0);
    REQUIRE(mlflow_model(mlflow)["aliases"]["production"] == "1");
    // Version 3 fails a third of its requests, on every replica.
    Replicas replicas(mlflow.url(), {"--inject-fault", "3:errors=0.3"});
    for (int i = 0; i < 2; ++i) REQUIRE(replicas.health(i)["registry_version"] == 1);

    SUBCASE("healthy: 50% then 100%, promoted in MLflow by a replica, taken by the registry") {
      Load load(replicas.ports(), 2, false);
      const json started = rollout(project, {"start", kModel, "--to", "2", "--steps", "50,100", "--interval", "1s",
                                             "--min-requests", "60"});
      CHECK(started["weight"] == 0.5);
      // The mirror wrote the record and the candidate alias, with MLflow's numbers.
      const json first = mlflow_record(mlflow);
      REQUIRE(first.is_object());
      CHECK(first["origin"] == project.registry_id());
      CHECK(first["candidate_version"] == 2);
      CHECK(first["stable_version"] == 1);
      CHECK(mlflow_model(mlflow)["aliases"]["candidate"] == "2");
      const json record = wait_until_ended(mlflow, 60);
      REQUIRE_MESSAGE(record["state"] == "promoted", record.dump());
      CHECK(contains(record["reason"], "healthy"));
      const json model = mlflow_model(mlflow);
      CHECK(model["aliases"]["production"] == "2");
      CHECK_FALSE(model["aliases"].contains("candidate"));
      CHECK(mlflow_stage(mlflow, 2) == "Production");
      CHECK(mlflow_stage(mlflow, 1) == "Archived");
      // Both replicas reload the new Production and drop the canary.
      const auto deadline = Clock::now() + std::chrono::seconds(10);
      bool both = false;
      while (!both && Clock::now() < deadline) {
        both = replicas.health(0)["registry_version"] == 2 && replicas.health(1)["registry_version"] == 2 &&
               replicas.health(0)["canary"].is_null() && replicas.health(1)["canary"].is_null();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      CHECK(both);
      load.stop();
      int failed = 0, v2 = 0;
      for (const Answer& a : load.answers()) {
        failed += a.status != 200;
        v2 += a.version == "v2";
      }
      CHECK_MESSAGE(failed == 0, fmt::format("{} requests failed during the rollout", failed));
      CHECK(v2 > 50);
      // The registry takes the replicas' decisions: each step, then the promotion.
      std::string err;
      const json status = rollout(project, {"status", kModel}, &err);
      CHECK_MESSAGE(contains(err, "taken from MLflow (a replica decided): step 50% -> 100%"), err);
      CHECK_MESSAGE(contains(err, "taken from MLflow (a replica decided): promoted"), err);
      CHECK(status["rollout"]["state"] == "promoted");
      CHECK(status["decisions"].back()["action"] == "rollout_promoted");
      CHECK(status["decisions"].back()["user"] == "mlops serve (via MLflow)");
      CHECK(status["decisions"].back()["figures"]["candidate"]["requests"].get<int>() >= 60);
      registry::RegistryStore store(project.home + "/mlops.db", registry::RegistryStore::Mode::read_only);
      CHECK(store.find_by_alias(kModel, "production")->version == 2);
      CHECK(store.outbox().empty());  // what the import wrote was mirrored, and undid nothing there
      CHECK(mlflow_record(mlflow)["state"] == "promoted");
      CHECK(mlflow_model(mlflow)["aliases"]["production"] == "2");
    }

    SUBCASE("failing: rolled back at the first step in MLflow; both replicas drop it; Production stays") {
      Load load(replicas.ports(), 2, false);
      rollout(project, {"start", kModel, "--to", "3", "--steps", "25,100", "--interval", "1s", "--min-requests", "60"});
      const json record = wait_until_ended(mlflow, 60);
      REQUIRE_MESSAGE(record["state"] == "rolled_back", record.dump());
      CHECK(record["step"] == 0);
      CHECK_MESSAGE(contains(record["reason"], "error_ratio"), record.dump());
      std::this_thread::sleep_for(std::chrono::duration<double>(kReloadInterval * 2 + 0.3));
      const auto settled = Clock::now();
      std::this_thread::sleep_for(std::chrono::milliseconds(700));
      load.stop();
      int after = 0, candidate_after = 0, unexpected = 0;
      for (const Answer& a : load.answers()) {
        if (a.status != 200 && a.error != "injected_fault") ++unexpected;
        if (a.sent < settled) continue;
        ++after;
        if (a.version != "v1") ++candidate_after;
      }
      CHECK(unexpected == 0);
      CHECK(after > 50);
      // The figure of bench/README.md: from the decision to the last request any replica
      // sent to the candidate.
      const std::int64_t decided = record["updated_at"];
      std::int64_t last_candidate = decided;
      for (const Answer& a : load.answers()) {
        if (a.version == "v3" || a.error == "injected_fault") last_candidate = std::max(last_candidate, a.sent_ms);
      }
      fmt::print(stderr, "rollout figure [MLflow, error_ratio]: rollback in effect on both replicas {} ms after the decision "
                 "(reload interval {:.0f} ms)\n", last_candidate - decided, kReloadInterval * 1000);
      CHECK_MESSAGE(candidate_after == 0, fmt::format("{} answers after the rollback were not v1", candidate_after));
      const json model = mlflow_model(mlflow);
      CHECK(model["aliases"]["production"] == "1");
      CHECK_FALSE(model["aliases"].contains("candidate"));
      CHECK(mlflow_stage(mlflow, 1) == "Production");
      int rollbacks = 0;
      for (int i = 0; i < 2; ++i) {
        CHECK(replicas.health(i)["rollout"]["state"] == "rolled_back");
        CHECK(replicas.health(i)["rollout"]["source"] == "mlflow");
        CHECK(replicas.health(i)["canary"].is_null());
        const std::string m = replicas.metrics(i);
        CHECK(contains(m, "rollout_state{model=\"ChurnPredictionModel\",state=\"rolled_back\"} 1"));
        rollbacks += contains(m, "rollout_decisions_total{decision=\"rollback\",reason=\"error_ratio\"} 1");
      }
      // One replica decided and the other followed — or, judging the same step within the
      // same few milliseconds, both wrote it: MLflow has no conditional write (README).
      CHECK(rollbacks >= 1);
      std::string err;
      const json status = rollout(project, {"status", kModel}, &err);
      CHECK(status["rollout"]["state"] == "rolled_back");
      CHECK(status["rollout"]["reason"] == record["reason"]);
      // A new rollout can start: the registry knows this one ended.
      const json again = rollout(project, {"start", kModel, "--to", "2", "--steps", "100"});
      CHECK(again["state"] == "running");
      CHECK(mlflow_record(mlflow)["id"] == again["id"]);
    }

    SUBCASE("after a replica promoted in MLflow, `gate --rollback` moves Production back there too") {
      {
        Load load(replicas.ports(), 2, false);
        rollout(project, {"start", kModel, "--to", "2", "--steps", "100", "--interval", "1s", "--min-requests", "60"});
        REQUIRE(wait_until_ended(mlflow, 60)["state"] == "promoted");
      }
      // Every request malformed: the gate breaches for sure (its error ratio is 100%).
      const auto gate = project.run({"gate", "--url", "http://127.0.0.1:" + std::to_string(replicas.servers[0]->port()),
                                     "--requests", "10", "--body", R"({"features":[1]})", "--rollback", kModel});
      CHECK_MESSAGE(gate.exit_code == 3, gate.err);
      CHECK_MESSAGE(contains(gate.err, "taken from MLflow (a replica decided): promoted"), gate.err);
      const std::string said = gate.out + gate.err;
      CHECK_MESSAGE(contains(said, "Production is version 1 again"), said);
      CHECK(mlflow_model(mlflow)["aliases"]["production"] == "1");
      CHECK(mlflow_stage(mlflow, 1) == "Production");
      const auto deadline = Clock::now() + std::chrono::seconds(10);
      while (Clock::now() < deadline && !(replicas.health(0)["registry_version"] == 1 && replicas.health(1)["registry_version"] == 1)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      CHECK(replicas.health(0)["registry_version"] == 1);
      CHECK(replicas.health(1)["registry_version"] == 1);
    }

    SUBCASE("an alert from Alertmanager rolls the rollout back in MLflow; the other replica follows") {
      rollout(project, {"start", kModel, "--to", "2", "--steps", "50,100", "--interval", "1h"});
      const auto deadline = Clock::now() + std::chrono::seconds(10);
      while (Clock::now() < deadline && !(replicas.health(0)["canary"].is_object() && replicas.health(1)["canary"].is_object())) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      REQUIRE(replicas.health(1)["rollout"]["source"] == "mlflow");
      const json payload = {{"version", "4"}, {"status", "firing"},
                            {"alerts", {{{"status", "firing"}, {"labels", {{"alertname", "PredictionLatencyP95High"}}}}}}};
      httplib::Client c("127.0.0.1", replicas.servers[0]->port());
      const auto r = c.Post("/admin/alerts", payload.dump(), "application/json");
      REQUIRE(r);
      REQUIRE_MESSAGE(r->status == 200, r->body);
      CHECK(json::parse(r->body)["acted"] == true);
      const json record = mlflow_record(mlflow);
      CHECK(record["state"] == "rolled_back");
      CHECK(contains(record["reason"], "PredictionLatencyP95High"));
      CHECK_FALSE(mlflow_model(mlflow)["aliases"].contains("candidate"));
      std::this_thread::sleep_for(std::chrono::duration<double>(kReloadInterval * 2 + 0.2));
      for (int i = 0; i < 2; ++i) {
        CHECK(replicas.health(i)["rollout"]["state"] == "rolled_back");
        CHECK(replicas.health(i)["canary"].is_null());
      }
      CHECK(rollout(project, {"status", kModel})["rollout"]["state"] == "rolled_back");
    }
  }

  TEST_CASE("a garbage rollout record in MLflow never disturbs replicas serving from it") {
    test::RealMlflow mlflow;
    test::MirrorProject project(mlflow.url(), 1);
    REQUIRE(project.train("v1", {"--stage", "Production"}).exit_code == 0);
    REQUIRE(project.train("v2", {"--seed", "7"}).exit_code == 0);
    Replicas replicas(mlflow.url());
    Load load(replicas.ports(), 1, false);
    json valid = {{"origin", "x"}, {"id", 1}, {"name", kModel}, {"stable_version", 1}, {"candidate_version", 2},
                  {"plan", {{"steps", {0.5, 1.0}}, {"interval_seconds", 1}, {"max_error_ratio", 0.01},
                            {"max_p95_seconds", 0.2}, {"max_psi", 0.2}, {"min_requests", 10}}},
                  {"step", 0}, {"state", "running"}, {"started_at", 0}, {"step_started_at", 0}, {"updated_at", 0},
                  {"reason", "forged"}, {"figures", json::object()}};
    const auto with = [&](const char* key, const json& value) {
      json j = valid;
      j[key] = value;
      return j.dump();
    };
    const std::vector<std::string> garbage = {
        "not json", "[1,2]", "{}", with("step", 7), with("step", -1), with("state", "exploded"),
        with("candidate_version", 0), with("candidate_version", "2"), with("plan", {{"steps", {0.5}}}),
        with("plan", "x"), with("reason", std::string(4500, 'x')), [&] {  // well-formed, of a version MLflow does not have, with a forged log line in its reason
          json j = valid;
          j["candidate_version"] = 999;
          j["reason"] = "x\nFORGED level=error msg=\"model deleted\"";
          return j.dump();
        }(),
        std::string(4000, '[')};
    for (const std::string& value : garbage) {
      const auto a = mlflow.call("POST", "registered-models/set-tag", {{"name", kModel}, {"key", "mlops.rollout"}, {"value", value}});
      REQUIRE_MESSAGE(a.status == 200, a.body.dump());
      std::this_thread::sleep_for(std::chrono::duration<double>(kReloadInterval * 2));
      for (int i = 0; i < 2; ++i) {
        const json h = replicas.health(i);
        CHECK_MESSAGE(h["registry_version"] == 1, value.substr(0, 80));
        CHECK(h["canary"].is_null());
      }
      // The registry's own commands go on.
      const auto r = project.run({"rollout", "status", kModel, "--json"});
      CHECK_MESSAGE(r.exit_code == 0, r.err);
    }
    load.stop();
    int failed = 0, v2 = 0;
    for (const Answer& a : load.answers()) {
      failed += a.status != 200;
      v2 += a.version == "v2";
    }
    CHECK(failed == 0);
    CHECK(v2 == 0);
    for (int i = 0; i < 2; ++i) {
      const std::string log = replicas.servers[i]->log();
      CHECK_MESSAGE(contains(log, "not a rollout record"), log.substr(0, 2000));
      CHECK_FALSE(contains(log, std::string(100, 'x')));  // a forged field is never logged whole
      CHECK(contains(log, "FORGED"));                      // logged, escaped:
      CHECK_FALSE(contains(log, "\nFORGED"));              // it never starts a line of its own
    }
    // A well-formed record of a version MLflow does not have is an error to log, not a crash.
    CHECK(replicas.servers[0]->log().find("cannot follow the rollout") != std::string::npos);
  }
}
