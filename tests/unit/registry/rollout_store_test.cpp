#include <doctest/doctest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "libmlops/registry/registry_store.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using namespace mlops::registry;

namespace {

// churn: version 1 in Production, versions 2 and 3 registered.
void seed(RegistryStore& store) {
  NewVersion v{"churn", "", "/artifacts/x/model.json", "aa", "v1", "", {}, "", Stage::production, false, ""};
  store.register_version(v);
  v.stage.reset();
  v.version_tag = "v2";
  store.register_version(v);
  v.version_tag = "v3";
  store.register_version(v);
}

RolloutPlan plan(std::vector<double> steps) {
  RolloutPlan p;
  p.steps = std::move(steps);
  p.min_requests = 50;
  return p;
}

std::vector<std::string> actions(RegistryStore& store) {
  std::vector<std::string> out;
  for (const auto& e : store.history("churn")) out.push_back(e.action);
  return out;
}

}  // namespace

TEST_SUITE("unit/registry/rollouts") {
  TEST_CASE("a replica tells its own decision from another replica's it reads back") {
    RegistryStore store(":memory:");
    seed(store);
    store.start_rollout("churn", 2, plan({0.25, 0.5, 1}));
    const RolloutDecision a{0, "healthy: replica A", "{}", 1000};
    const RolloutDecision b{0, "healthy: replica B", "{}", 1001};  // judged the same step
    const Rollout after_a = store.advance_rollout("churn", a);
    CHECK(made_by(after_a, a));
    const Rollout after_b = store.advance_rollout("churn", b);
    CHECK(after_b.step == 1);          // moved on, but by A:
    CHECK_FALSE(made_by(after_b, b));  // B neither logs nor counts it
    const RolloutDecision c{1, "error_ratio: replica B", "{}", 1002};
    CHECK(made_by(store.end_rollout("churn", RolloutState::rolled_back, c, false), c));
  }

  TEST_CASE("a rollout steps up and promotes: Production, the production alias and the mirror follow") {
    RegistryStore store(":memory:");
    seed(store);
    const Rollout r = store.start_rollout("churn", 2, plan({0.1, 0.5, 1}));
    CHECK(r.stable_version == 1);
    CHECK(r.candidate_version == 2);
    CHECK(r.state == RolloutState::running);
    CHECK(r.weight() == doctest::Approx(0.1));
    CHECK(store.find_by_alias("churn", "candidate")->version == 2);
    Rollout now = store.advance_rollout("churn", {0, "healthy", R"({"candidate":{"requests":60}})"});
    CHECK(now.step == 1);
    CHECK(now.weight() == doctest::Approx(0.5));
    // A second replica that judged step 0 too: nothing more happens.
    now = store.advance_rollout("churn", {0, "healthy", "{}"});
    CHECK(now.step == 1);
    now = store.advance_rollout("churn", {1, "healthy", "{}"});
    CHECK(now.weight() == doctest::Approx(1.0));
    now = store.advance_rollout("churn", {2, "healthy", "{}"});
    CHECK(now.state == RolloutState::promoted);
    CHECK(now.weight() == 0);
    CHECK(store.find_by_alias("churn", "production")->version == 2);
    CHECK(store.get_version("churn", 1).stage == Stage::archived);
    CHECK_FALSE(store.find_by_alias("churn", "candidate"));
    const auto a = actions(store);
    CHECK(std::count(a.begin(), a.end(), "rollout_step") == 2);
    CHECK(std::count(a.begin(), a.end(), "rollout_promoted") == 1);
    std::vector<std::string> kinds;
    for (const auto& e : store.outbox("pending")) kinds.push_back(e.kind);
    CHECK(std::count(kinds.begin(), kinds.end(), "alias_deleted") == 1);  // `candidate`, in MLflow too
    // The step's figures are kept in the audit for `rollout status`.
    bool figures_kept = false;
    for (const auto& e : store.history("churn")) {
      if (e.action == "rollout_step" && e.gate.find("\"requests\":60") != std::string::npos) figures_kept = true;
    }
    CHECK(figures_kept);
  }
  TEST_CASE("a rollback leaves Production where it was and records why; only the step judged can be rolled back") {
    RegistryStore store(":memory:");
    seed(store);
    store.start_rollout("churn", 3, plan({0.25, 1}));
    store.advance_rollout("churn", {0, "healthy", "{}"});
    // A replica still judging step 0 is too late.
    CHECK(store.end_rollout("churn", RolloutState::rolled_back, {0, "error_ratio: late", "{}"}, false).state ==
          RolloutState::running);
    const Rollout r = store.end_rollout("churn", RolloutState::rolled_back, {1, "p95_latency: 312 ms > 200 ms", "{}"}, false);
    CHECK(r.state == RolloutState::rolled_back);
    CHECK(r.reason == "p95_latency: 312 ms > 200 ms");
    CHECK(r.weight() == 0);
    CHECK(store.find_by_alias("churn", "production")->version == 1);
    CHECK(store.get_version("churn", 1).stage == Stage::production);
    CHECK_FALSE(store.find_by_alias("churn", "candidate"));
    CHECK(store.history("churn").back().reason == "p95_latency: 312 ms > 200 ms");
    // Ended: a new rollout may start; pause/abort/promote of none is not_found.
    CHECK(test::error_code_of([&] { store.pause_rollout("churn"); }) == ErrorCode::not_found);
    CHECK(store.start_rollout("churn", 2, plan({1})).state == RolloutState::running);
  }
  TEST_CASE("one active rollout per model; pause keeps the weight, resume restarts the step's clock; abort and promote") {
    RegistryStore store(":memory:");
    seed(store);
    const Rollout started = store.start_rollout("churn", 2, plan({0.1, 1}));
    CHECK(test::error_code_of([&] { store.start_rollout("churn", 3, plan({1})); }) == ErrorCode::conflict);
    const Rollout paused = store.pause_rollout("churn");
    CHECK(paused.step_started_at == started.step_started_at);  // pausing keeps the step's clock
    CHECK(store.pause_rollout("churn").updated_at == paused.updated_at);  // twice: nothing more
    CHECK(paused.state == RolloutState::paused);
    CHECK(paused.weight() == doctest::Approx(0.1));
    CHECK(store.advance_rollout("churn", {0, "healthy", "{}"}).step == 0);  // no decisions while paused
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // so that "restarted" shows in ms timestamps
    const Rollout resumed = store.resume_rollout("churn");
    CHECK(resumed.state == RolloutState::running);
    CHECK(resumed.step_started_at > started.step_started_at);  // resuming restarts it, at its own moment
    CHECK(resumed.step_started_at == resumed.updated_at);
    CHECK(store.history("churn").back().action == "rollout_resumed");
    CHECK(store.end_rollout("churn", RolloutState::aborted, {0, "by hand", "{}"}, true).state == RolloutState::aborted);
    CHECK(store.find_by_alias("churn", "production")->version == 1);
    store.start_rollout("churn", 3, plan({0.1, 0.5, 1}));
    const Rollout promoted = store.promote_rollout("churn", {"ann", "looks good"});
    CHECK(promoted.state == RolloutState::promoted);
    CHECK(store.find_by_alias("churn", "production")->version == 3);
    CHECK(store.list_rollouts("churn").size() == 2);
  }
  TEST_CASE("bad starts are refused with what to do") {
    RegistryStore store(":memory:");
    CHECK(test::error_code_of([&] { store.start_rollout("churn", 2, plan({1})); }) == ErrorCode::not_found);
    seed(store);
    CHECK(test::error_code_of([&] { store.start_rollout("churn", 9, plan({1})); }) == ErrorCode::not_found);
    CHECK(test::error_code_of([&] { store.start_rollout("churn", 1, plan({1})); }) == ErrorCode::invalid_input);
    for (const auto& steps : std::vector<std::vector<double>>{{}, {0.5}, {0.5, 0.2, 1}, {0, 1}, {0.5, 1.5}, {0.5, 0.5, 1}}) {
      CAPTURE(steps.size());
      CHECK(test::error_code_of([&] { store.start_rollout("churn", 2, plan(steps)); }) == ErrorCode::invalid_input);
    }
    RolloutPlan p = plan({1});
    p.max_error_ratio = 2;
    CHECK(test::error_code_of([&] { store.start_rollout("churn", 2, p); }) == ErrorCode::invalid_input);
    p = plan({1});
    p.min_requests = 0;
    CHECK(test::error_code_of([&] { store.start_rollout("churn", 2, p); }) == ErrorCode::invalid_input);
    p = plan({1});
    p.interval_seconds = -1;
    CHECK(test::error_code_of([&] { store.start_rollout("churn", 2, p); }) == ErrorCode::invalid_input);
    // Without a Production version there is nothing to roll out from.
    RegistryStore empty(":memory:");
    empty.register_version({"m", "", "/a.json", "aa", "v1", "", {}, "", {}, false, ""});
    empty.register_version({"m", "", "/a.json", "aa", "v2", "", {}, "", {}, false, ""});
    CHECK(test::error_code_of([&] { empty.start_rollout("m", 2, plan({1})); }) == ErrorCode::not_found);
    CHECK(store.list_rollouts("churn").empty());  // nothing half-written
  }
}
