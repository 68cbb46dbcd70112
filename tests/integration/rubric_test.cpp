#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "tests/support/support.hpp"

using namespace mlops;
using nlohmann::json;

TEST_SUITE("integration/rubric") {
  TEST_CASE("mlops eval-rubric: exit 0 at the pass mark, 1 below, 2 for a rubric or usage error; JSON report to a file") {
    test::TempDir dir;
    dir.write(".env", "MODEL_VERSION=v1\n");
    dir.write("rubric.yml", R"(
pass_score: 50
modules:
  M1:
    title: {en: Setup, zh-TW: 環境}
    criteria:
      C1: {text: .env, badge: Setup, check: {kind: env_file, keys: [MODEL_VERSION]}}
      C2: {text: Dockerfile, check: {kind: file_exists, path: Dockerfile}}
)");
    const auto run = [&](std::vector<std::string> args) {
      args.insert(args.begin(), {"eval-rubric", "--rubric", dir.file("rubric.yml"), "--workspace", dir.path()});
      return test::run_cli(args, "", dir.path());
    };
    const auto passed = run({"--format", "json", "--out", dir.file("results.json")});
    CHECK(passed.exit_code == 0);
    const json results = json::parse(test::read_text(dir.file("results.json")));
    CHECK(results["schema"] == "mlops.rubric-results/1");
    CHECK(results["score"] == 50);
    CHECK(results["modules"][0]["criteria"][1]["reason"] == "Dockerfile does not exist in the workspace");
    const auto below = run({"--fail-under", "80", "--lang", "zh-TW"});
    CHECK(below.exit_code == 1);
    CHECK(below.out.find("未通過") != std::string::npos);
    CHECK(below.out.find("Dockerfile does not exist") != std::string::npos);
    CHECK(run({"--only", "M7"}).exit_code == 2);
    dir.write("bad.yml", "modules:\n  M1:\n    criteria:\n      C1: {text: a, check: {kind: nope}}\n");
    const auto bad = test::run_cli({"eval-rubric", "--rubric", dir.file("bad.yml")}, "", dir.path());
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("bad.yml:4: unknown check kind 'nope'") != std::string::npos);
  }
}

#include "tests/support/server_process.hpp"

TEST_SUITE("integration/rubric") {
  TEST_CASE("rubric/example.yml grades this repository and a running mlops serve at 100%") {
    test::TempDir dir;
    const std::string home = dir.file("home");
    REQUIRE(test::run_cli({"train", "--n-samples", "300", "--register", "--stage", "Production", "-o", dir.file("m.json")}, home,
                          dir.path()).exit_code == 0);
    test::ServerProcess server(home, {});
    const auto r = test::run_cli({"eval-rubric", "--rubric", std::string(MLOPS_SOURCE_DIR) + "/rubric/example.yml", "--workspace",
                                  MLOPS_SOURCE_DIR, "--server", "http://127.0.0.1:" + std::to_string(server.port()), "--json"},
                                 "", dir.path());
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK(nlohmann::json::parse(r.out)["score"] == 100);

    // The registry check reads the learner's registry.
    const std::string rubric = dir.write("registry.yml", R"(
modules:
  M3:
    criteria:
      C1: {text: production, check: {kind: registry, path: home/mlops.db, model: ChurnPredictionModel, version: 1, stage: Production}}
      C2: {text: alias, check: {kind: registry, path: home/mlops.db, model: ChurnPredictionModel, alias: champion}}
)");
    const auto reg = test::run_cli({"eval-rubric", "--rubric", rubric, "--workspace", dir.path(), "--json"}, "", dir.path());
    const nlohmann::json results = nlohmann::json::parse(reg.out);
    CHECK(results["modules"][0]["criteria"][0]["status"] == "pass");
    CHECK(results["modules"][0]["criteria"][1]["reason"] == "ChurnPredictionModel has no alias @champion");
  }
}
