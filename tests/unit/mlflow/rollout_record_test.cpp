#include <doctest/doctest.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "libmlops/core/fs.hpp"
#include "libmlops/core/sha256.hpp"
#include "libmlops/core/text.hpp"
#include "libmlops/mlflow/mirror.hpp"
#include "libmlops/mlflow/rollout_record.hpp"
#include "libmlops/registry/registry_store.hpp"
#include "tests/support/mlflow_double.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using nlohmann::json;
using registry::RolloutState;

namespace {

mlflow::Connection connection(const std::string& url) {
  mlflow::Connection c;
  c.tracking_uri = url;
  c.http.retries = 0;
  c.http.timeout_seconds = 5;
  return c;
}

mlflow::RolloutRecord sample() {
  mlflow::RolloutRecord record;
  registry::Rollout& r = record.rollout;
  record.origin = "registry-1";
  r.id = 4;
  r.name = "churn";
  r.stable_version = 1;
  r.candidate_version = 2;
  r.plan.steps = {0.25, 0.5, 1};
  r.step = 1;
  r.started_at = 1000;
  r.step_started_at = 2000;
  r.updated_at = 2000;
  r.reason = "healthy: 120 requests";
  r.figures = R"({"candidate":{"requests":120}})";
  return record;
}

// A registry with churn version 1 in Production and versions 2, 3 registered, mirrored to
// the double; a rollout to 2 over `steps`, mirrored too.
struct Mirrored {
  test::MlflowDouble mlflow;
  mlflow::Client client{connection(mlflow.url())};
  test::TempDir dir;
  registry::RegistryStore store{dir.file("mlops.db")};
  explicit Mirrored(const std::vector<double>& steps) {
    const std::string artifact = dir.write("model.json", R"({"model_version":"v1","weights":[1,2,3]})");
    for (int v = 1; v <= 3; ++v) {
      const registry::Run run = store.create_run({"churn", "train", {}, {}});
      store.finish_run(run.id, {"FINISHED", {}, {{"accuracy", 0.9}}, {}, artifact, sha256_hex(read_file(artifact))});
      std::optional<registry::Stage> stage;
      if (v == 1) stage = registry::Stage::production;
      store.register_version({"churn", run.id, artifact, sha256_hex(read_file(artifact)), fmt::format("v{}", v), "", {},
                              "", stage, false, ""});
    }
    registry::RolloutPlan plan;
    plan.steps = steps;
    store.start_rollout("churn", 2, plan);
    drain();
  }
  mlflow::DrainReport drain() {
    const mlflow::DrainReport report = mlflow::drain(store, client, {});
    REQUIRE_MESSAGE(report.pending == 0, report.stopped_by);
    return report;
  }
  registry::Rollout remote() { return mlflow::read_rollout_record(client, "churn").value().rollout; }
};

}  // namespace

TEST_SUITE("unit/mlflow/rollout_record") {
  TEST_CASE("the record reads back as written, and fits MLflow's tag limit") {
    const mlflow::RolloutRecord record = sample();
    const mlflow::RolloutRecord back = mlflow::parse_rollout_record(mlflow::rollout_record_text(record));
    CHECK(back.origin == "registry-1");
    CHECK(back.rollout.id == 4);
    CHECK(back.rollout.plan.steps == std::vector<double>{0.25, 0.5, 1});
    CHECK(back.rollout.step == 1);
    CHECK(back.rollout.state == RolloutState::running);
    CHECK(back.rollout.step_started_at == 2000);
    CHECK(back.rollout.reason == "healthy: 120 requests");
    CHECK(json::parse(back.rollout.figures)["candidate"]["requests"] == 120);
    // Large figures are left out, then a long reason is cut on a character boundary.
    mlflow::RolloutRecord big = sample();
    big.rollout.figures = json{{"x", std::string(4500, 'f')}}.dump();
    std::string text = mlflow::rollout_record_text(big);
    CHECK(text.size() <= 4000);
    CHECK(mlflow::parse_rollout_record(text).rollout.figures == "{}");
    std::string reason;
    for (int i = 0; i < 2000; ++i) reason += "é";  // two bytes each
    big.rollout.reason = reason;
    text = mlflow::rollout_record_text(big);
    CHECK(text.size() <= 4000);
    const std::string cut = mlflow::parse_rollout_record(text).rollout.reason;
    CHECK(cut.size() > 2000);
    CHECK(is_valid_utf8(cut));
  }

  TEST_CASE("garbage in the tag is Error{corrupt} naming what is wrong") {
    const json valid = json::parse(mlflow::rollout_record_text(sample()));
    const auto with = [&](const char* key, const json& value) {
      json j = valid;
      j[key] = value;
      return j.dump();
    };
    json without_plan = valid;
    without_plan.erase("plan");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "JSON object"},
        {"[1]", "JSON object"},
        {std::string(100000, '['), "JSON object"},
        {without_plan.dump(), "'plan'"},
        {with("step", 3), "'step'"},
        {with("step", -1), "'step'"},
        {with("step", 1.5), "'step'"},
        {with("state", "exploded"), "'state'"},
        {with("candidate_version", 0), "'candidate_version'"},
        {with("candidate_version", "2"), "'candidate_version'"},
        {with("id", nullptr), "'id'"},
        {with("origin", 7), "'origin'"},
        {with("reason", std::string(4001, 'r')), "'reason'"},
        {[&] {  // not UTF-8: MLflow stores any bytes
           std::string t = valid.dump();
           return t.replace(t.find("healthy"), 7, "\xff\xfe");
         }(),
         "JSON object"},
        {with("plan", {{"steps", {0.5}}}), "rollout"},
        {with("plan", {{"steps", {0.5, 0.2, 1}}, {"interval_seconds", 1}, {"max_error_ratio", 0.01},
                       {"max_p95_seconds", 0.2}, {"max_psi", 0.2}, {"min_requests", 10}}),
         "rise"},
    };
    for (const auto& [text, what] : cases) {
      try {
        mlflow::parse_rollout_record(text);
        FAIL_CHECK("accepted: " << text.substr(0, 100));
      } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::corrupt);
        CHECK_MESSAGE(std::string(e.what()).find(what) != std::string::npos, e.what());
        CHECK(std::string(e.what()).size() < 400);  // the forged text is never repeated whole
      }
    }
  }

  TEST_CASE("a replica's decisions in MLflow: a step, a stale one ignored, then promotion moves Production") {
    Mirrored m({0.5, 1});
    CHECK(m.remote().candidate_version == 2);
    CHECK(m.client.get_registered_model("churn").aliases.at("candidate") == "2");
    registry::Rollout r = mlflow::advance_mlflow_rollout(m.client, "churn", {0, "healthy: a", "{}"});
    CHECK(r.step == 1);
    r = mlflow::advance_mlflow_rollout(m.client, "churn", {0, "healthy: late replica", "{}"});
    CHECK(r.step == 1);
    CHECK(m.remote().reason == "healthy: a");
    r = mlflow::advance_mlflow_rollout(m.client, "churn", {1, "healthy: b", R"({"candidate":{"requests":70}})"});
    CHECK(r.state == RolloutState::promoted);
    const mlflow::RegisteredModel model = m.client.get_registered_model("churn");
    CHECK(model.aliases.at("production") == "2");
    CHECK_FALSE(model.aliases.count("candidate"));
    CHECK(m.client.get_version("churn", "2").current_stage == "Production");
    CHECK(m.client.get_version("churn", "1").current_stage == "Archived");
    // `mirror verify --repair` reports it and leaves it: repairing would undo the promotion.
    const mlflow::VerifyReport verified = mlflow::verify(m.store, m.client, {}, true);
    REQUIRE(verified.differences.size() == 1);
    CHECK(verified.differences[0].find("a replica decided") != std::string::npos);
    CHECK(verified.repaired == 0);
    CHECK(m.client.get_registered_model("churn").aliases.at("production") == "2");
    // The registry takes both decisions, the last with its reason and figures.
    const auto taken = mlflow::take_rollout_decisions(m.store, m.client, "churn", "churn");
    CHECK(taken == std::vector<std::string>{"step 50% -> 100%", "promoted: healthy: b"});
    const registry::Rollout local = *m.store.latest_rollout("churn");
    CHECK(local.state == RolloutState::promoted);
    CHECK(json::parse(local.figures)["candidate"]["requests"] == 70);
    CHECK(m.store.find_by_alias("churn", "production")->version == 2);
    // Mirrored back, nothing in MLflow changes, and there is nothing more to take.
    m.drain();
    CHECK(m.remote().state == RolloutState::promoted);
    CHECK(m.client.get_registered_model("churn").aliases.at("production") == "2");
    CHECK(mlflow::take_rollout_decisions(m.store, m.client, "churn", "churn").empty());
    CHECK(mlflow::verify(m.store, m.client, {}, false).differences.empty());
  }

  TEST_CASE("the mirror never undoes a replica's rollback, and the registry takes it") {
    Mirrored m({0.25, 1});
    const registry::RolloutDecision mine{0, "error_ratio: 30%", "{}", 5000};
    const registry::Rollout r = mlflow::roll_back_mlflow_rollout(m.client, "churn", mine, false);
    CHECK(r.state == RolloutState::rolled_back);
    CHECK(registry::made_by(r, mine));
    // Another replica that judged the same step reads the rollback back: not its own.
    const registry::RolloutDecision late{0, "error_ratio: 31%", "{}", 5001};
    CHECK_FALSE(registry::made_by(mlflow::roll_back_mlflow_rollout(m.client, "churn", late, false), late));
    CHECK_FALSE(m.client.get_registered_model("churn").aliases.count("candidate"));
    CHECK(m.client.get_registered_model("churn").aliases.at("production") == "1");
    // The registry, not yet knowing, pauses the rollout: mirrored, it must not revive it.
    m.store.pause_rollout("churn");
    const mlflow::DrainReport report = m.drain();
    CHECK(report.events.back().detail.find("a replica decided") != std::string::npos);
    CHECK(m.remote().state == RolloutState::rolled_back);
    // A stale rollback (another step) or an advance after the end change nothing.
    CHECK(mlflow::advance_mlflow_rollout(m.client, "churn", {0, "healthy", "{}"}).state == RolloutState::rolled_back);
    const auto taken = mlflow::take_rollout_decisions(m.store, m.client, "churn", "churn");
    CHECK(taken == std::vector<std::string>{"rolled_back: error_ratio: 30%"});
    CHECK(m.store.latest_rollout("churn")->state == RolloutState::rolled_back);
    CHECK(m.store.history("churn").back().user == "mlops serve (via MLflow)");
  }

  TEST_CASE("paused in the registry a step behind the replicas: paused at their step, then resumed and taken") {
    Mirrored m({0.25, 0.5, 1});
    CHECK(mlflow::advance_mlflow_rollout(m.client, "churn", {0, "healthy: a", "{}"}).step == 1);
    m.store.pause_rollout("churn");  // the registry is still at step 0
    m.drain();
    CHECK(m.remote().state == RolloutState::paused);
    CHECK(m.remote().step == 1);  // the replicas' step is kept
    CHECK(mlflow::take_rollout_decisions(m.store, m.client, "churn", "churn").empty());
    // The paused replicas decide nothing; resumed, the step's clock starts again there too.
    CHECK(mlflow::advance_mlflow_rollout(m.client, "churn", {1, "healthy: b", "{}"}).step == 1);
    const registry::Rollout resumed = m.store.resume_rollout("churn");
    m.drain();
    CHECK(m.remote().state == RolloutState::running);
    CHECK(m.remote().step == 1);
    CHECK(m.remote().step_started_at == resumed.step_started_at);
    CHECK(mlflow::take_rollout_decisions(m.store, m.client, "churn", "churn") == std::vector<std::string>{"step 25% -> 50%"});
    CHECK(m.store.latest_rollout("churn")->step == 1);
  }

  TEST_CASE("a record of another registry or another rollout is not taken") {
    Mirrored m({0.5, 1});
    mlflow::RolloutRecord other = *mlflow::read_rollout_record(m.client, "churn");
    other.origin = "someone-else";
    other.rollout.state = RolloutState::rolled_back;
    m.client.set_registered_model_tag("churn", "mlops.rollout", mlflow::rollout_record_text(other));
    CHECK(mlflow::take_rollout_decisions(m.store, m.client, "churn", "churn").empty());
    other.origin = m.store.registry_id();
    other.rollout.id += 1;
    m.client.set_registered_model_tag("churn", "mlops.rollout", mlflow::rollout_record_text(other));
    CHECK(mlflow::take_rollout_decisions(m.store, m.client, "churn", "churn").empty());
    CHECK(m.store.latest_rollout("churn")->state == RolloutState::running);
  }
}
