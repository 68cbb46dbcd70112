// Chaos: 200 random operations from two registries sharing one real MLflow server — train,
// register, promote, alias, rollback, deletes in MLflow, MLflow stopped and killed,
// `kill -9` of commands and of the mirror — then MLflow and each registry must agree
// exactly, checked by a comparison written here (not by the code under test).
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "libmlops/registry/registry_store.hpp"
#include "tests/support/real_mlflow.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using nlohmann::json;

namespace {

const std::string kModel = "ChurnPredictionModel";

struct Laptop {
  std::string label, prefix;
  test::TempDir dir;
  std::string home = dir.file(".mlops");
  std::vector<std::string> env;
  int trained = 0;
  Laptop(std::string label_, std::string prefix_, const std::string& url)
      : label(std::move(label_)), prefix(std::move(prefix_)),
        env{"MLFLOW_TRACKING_URI=" + url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES=0", "MLFLOW_HTTP_REQUEST_TIMEOUT=5",
            "MLOPS_MLFLOW_MODEL_PREFIX=" + prefix} {}
  test::CliResult run(const std::vector<std::string>& args) { return test::run_cli(args, home, dir.path(), env); }
  int spawn(const std::vector<std::string>& args) {
    return test::spawn_cli(args, home, dir.file("spawned.out"), dir.file("spawned.err"), env, dir.path());
  }
  std::vector<std::string> train_args() {
    return {"train", "--n-samples", "300", "--seed", std::to_string(++trained), "--model-version",
            fmt::format("v{}.0", trained), "-o", dir.file("m.json"), "--register"};
  }
  std::int64_t versions() {
    if (!std::filesystem::exists(home + "/mlops.db")) return 0;
    registry::RegistryStore store(home + "/mlops.db", registry::RegistryStore::Mode::read_only);
    const auto model = store.find_model(kModel);
    return model ? model->latest_version : 0;
  }
};

// The comparison: every local run and version exactly once in MLflow (by origin tag), with
// the same status, stage, bytes and aliases, and nothing of this registry's there besides.
std::vector<std::string> compare(Laptop& laptop, const json& state) {
  std::vector<std::string> out;
  registry::RegistryStore store(laptop.home + "/mlops.db", registry::RegistryStore::Mode::read_only);
  const std::string id = store.registry_id();
  for (const registry::Run& run : store.list_runs("", 1'000'000)) {
    int found = 0;
    for (const json& r : state["runs"]) {
      if (r["tags"].value("mlops.origin", "") != id + "/run/" + run.id) continue;
      ++found;
      if (r["info"]["status"] != run.status) out.push_back(fmt::format("run {}: {} vs {}", run.id, run.status, r["info"]["status"].dump()));
      if (r["info"]["lifecycle_stage"] != "active") out.push_back(fmt::format("run {} deleted in MLflow", run.id));
    }
    if (found != 1) out.push_back(fmt::format("run {} is in MLflow {} times", run.id, found));
  }
  const json* model = nullptr;
  for (const json& m : state["models"]) {
    if (m["name"] == laptop.prefix + kModel) model = &m;
  }
  const auto local_model = store.find_model(kModel);
  if (!local_model) return out;
  if (!model) {
    out.push_back("no model " + laptop.prefix + kModel + " in MLflow");
    return out;
  }
  std::map<std::int64_t, std::string> numbers;
  const auto versions = store.list_versions(kModel);
  for (const registry::ModelVersion& v : versions) {
    int found = 0;
    for (const json& mv : (*model)["versions"]) {
      if (mv["tags"].value("mlops.origin", "") != fmt::format("{}/version/{}/{}", id, kModel, v.version)) continue;
      ++found;
      numbers[v.version] = mv["version"];
      if (mv["current_stage"] != std::string(registry::to_string(v.stage))) {
        out.push_back(fmt::format("version {}: {} vs {}", v.version, registry::to_string(v.stage), mv["current_stage"].dump()));
      }
      if (mv["tags"].value("mlops.sha256", "") != v.artifact_sha256) out.push_back(fmt::format("version {}: other bytes", v.version));
    }
    if (found != 1) out.push_back(fmt::format("version {} is in MLflow {} times", v.version, found));
  }
  if ((*model)["versions"].size() != versions.size()) {
    out.push_back(fmt::format("MLflow has {} versions of {}, the registry {}", (*model)["versions"].size(),
                              laptop.prefix + kModel, versions.size()));
  }
  json want = json::object();
  for (const auto& [alias, version] : local_model->aliases) want[alias] = numbers[version];
  if ((*model)["aliases"] != want) out.push_back(fmt::format("aliases {} vs {}", want.dump(), (*model)["aliases"].dump()));
  return out;
}

}  // namespace

TEST_SUITE("integration/mirror_chaos") {
  TEST_CASE("200 random operations from two registries, then MLflow and each registry agree exactly") {
    const char* given = std::getenv("MLOPS_CHAOS_SEED");
    const unsigned seed = given ? static_cast<unsigned>(std::strtoul(given, nullptr, 10)) : 20261202u;
    MESSAGE("seed ", seed, " (MLOPS_CHAOS_SEED replays a run)");
    std::mt19937 rng(seed);
    const auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
    const auto pick = [&](std::int64_t n) { return std::uniform_int_distribution<std::int64_t>(1, n)(rng); };
    test::RealMlflow mlflow;
    Laptop a("A", "", mlflow.url());
    Laptop b("B", "laptop-b-", mlflow.url());
    bool up = true;
    int outages = 0;
    std::string log;
    const auto note = [&](const Laptop& l, const std::string& what, int code) {
      log += fmt::format("{} {} -> {}\n", l.label, what, code);
    };
    const auto kill_after = [&](Laptop& l, const std::vector<std::string>& args, int max_ms) {
      const int pid = l.spawn(args);
      std::this_thread::sleep_for(std::chrono::milliseconds(pick(max_ms)));
      ::kill(pid, SIGKILL);
      test::wait_exit_code(pid);
      note(l, "kill -9 " + args[0], -9);
    };
    const std::vector<std::string> stages = {"None", "Staging", "Production", "Archived"};
    for (int op = 0; op < 200; ++op) {
      Laptop& l = chance(0.5) ? a : b;
      const std::int64_t versions = l.versions();
      const double roll = std::uniform_real_distribution<double>(0, 1)(rng);
      if (!up && (chance(0.25) || op == 199)) {
        mlflow.restart();
        up = true;
        log += "MLflow up\n";
        continue;
      }
      if (roll < 0.25 || versions == 0) {
        std::vector<std::string> args = l.train_args();
        if (chance(0.3)) args.insert(args.end(), {"--stage", "Production", "--archive-existing"});
        if (chance(0.2)) args.insert(args.end(), {"--alias", "champion"});
        const auto r = l.run(args);
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        note(l, "train --register", r.exit_code);
      } else if (roll < 0.40) {
        const std::string stage = stages[static_cast<std::size_t>(pick(4) - 1)];
        std::vector<std::string> args = {"models", "promote", kModel, std::to_string(pick(versions)), "--stage", stage};
        if (chance(0.5)) args.push_back("--archive-existing");
        const auto r = l.run(args);
        CHECK_MESSAGE(r.exit_code == 0, r.err);
        note(l, "promote " + stage, r.exit_code);
      } else if (roll < 0.50) {
        const auto r = l.run({"models", "alias", "set", kModel, chance(0.5) ? "champion" : "challenger", std::to_string(pick(versions))});
        CHECK_MESSAGE(r.exit_code == 0, r.err);
        note(l, "alias set", r.exit_code);
      } else if (roll < 0.55) {
        const auto r = l.run({"models", "alias", "delete", kModel, chance(0.5) ? "champion" : "challenger"});
        CHECK((r.exit_code == 0 || r.err.find("has no alias") != std::string::npos));
        note(l, "alias delete", r.exit_code);
      } else if (roll < 0.58) {
        const auto r = l.run({"models", "rollback", kModel});
        CHECK((r.exit_code == 0 || r.err.find("roll back to") != std::string::npos || r.err.find("no version in Production") != std::string::npos));
        note(l, "rollback", r.exit_code);
      } else if (roll < 0.68 && up) {
        // Someone deletes in MLflow's UI: a version of this laptop's model, now and then all of it.
        const std::string name = l.prefix + kModel;
        if (chance(0.15)) {
          const int status = mlflow.call("DELETE", "registered-models/delete", {{"name", name}}).status;
          log += fmt::format("MLflow: delete model {} -> {}\n", name, status);
        } else {
          const auto found = mlflow.call("GET", "model-versions/search", {{"filter", "name='" + name + "'"}});
          const json list = found.body.value("model_versions", json::array());
          if (!list.empty()) {
            const json& v = list[static_cast<std::size_t>(pick(static_cast<std::int64_t>(list.size())) - 1)];
            const int status = mlflow.call("DELETE", "model-versions/delete", {{"name", name}, {"version", v["version"]}}).status;
            log += fmt::format("MLflow: delete {} version {} -> {}\n", name, v["version"].get<std::string>(), status);
          }
        }
      } else if (roll < 0.76) {
        kill_after(l, {"mirror"}, 300);
      } else if (roll < 0.84) {
        kill_after(l, l.train_args(), 400);
      } else if (roll < 0.92) {
        note(l, "mirror", l.run({"mirror"}).exit_code);
      } else if (up && outages < 4) {
        ++outages;
        if (chance(0.5)) {
          mlflow.kill();
          log += "MLflow kill -9\n";
        } else {
          mlflow.stop();
          log += "MLflow stopped\n";
        }
        up = false;
      } else {
        const auto r = l.run({"models", "list", "--json"});
        CHECK(r.exit_code == 0);
      }
    }
    if (!up) mlflow.restart();
    INFO(log);
    for (Laptop* l : {&a, &b}) {
      // Send what waits, then let the registry put back what MLflow lost behind its back.
      test::CliResult r;
      for (int i = 0; i < 3; ++i) {
        r = l->run({"mirror"});
        if (r.exit_code == 0) break;
      }
      REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
      r = l->run({"mirror", "verify", "--repair"});
      MESSAGE(l->label, ": ", r.out);
      r = l->run({"mirror", "verify", "--json"});
      CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
    }
    const json state = mlflow.state();
    for (Laptop* l : {&a, &b}) {
      const std::vector<std::string> differences = compare(*l, state);
      CHECK_MESSAGE(differences.empty(), l->label, ": ", fmt::format("{}", fmt::join(differences, "\n")));
    }
  }
}
