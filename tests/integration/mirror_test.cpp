// The MLflow mirror end to end: `mlops` processes against the MLflow test double over HTTP.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "libmlops/core/fs.hpp"
#include "libmlops/core/sha256.hpp"
#include "tests/support/mirror_project.hpp"
#include "tests/support/mlflow_double.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/support.hpp"

#include <httplib.h>  // last: its <resolv.h> defines a macro `_res` that breaks Eigen

using namespace mlops;
using nlohmann::json;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A learner's project whose registry mirrors to the double.
struct Project : test::MirrorProject {
  explicit Project(const test::MlflowDouble& mlflow) : MirrorProject(mlflow.url(), 2) {}
};

using test::find_model;

}  // namespace

TEST_SUITE("integration/mirror") {
  TEST_CASE("train --register, promote and alias show up in MLflow as the course expects") {
    test::MlflowDouble mlflow;
    Project p(mlflow);
    auto r = p.train("v1.0.0", {"--stage", "Production", "--alias", "champion"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(contains(r.err, "mirrored"));
    r = p.train("v1.1.0");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    r = p.run({"models", "promote", "ChurnPredictionModel", "2", "--stage", "Production", "--archive-existing"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    r = p.run({"models", "alias", "delete", "ChurnPredictionModel", "champion"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);

    const json state = mlflow.state();
    // One FINISHED run per local run, with params, metrics, the version tag and the model files.
    REQUIRE(state["runs"].size() == 2);
    // The course's experiment, as its train_model.py names it.
    std::string experiment;
    for (const json& e : state["experiments"]) {
      if (e["name"] == "ai_deployment_tutorial_churn_prediction") experiment = e["experiment_id"];
    }
    REQUIRE(!experiment.empty());
    for (const json& run : state["runs"]) {
      CHECK(run["info"]["status"] == "FINISHED");
      CHECK(run["info"]["experiment_id"] == experiment);
      CHECK(run["params"]["C"] == "0.5");
      CHECK(run["params"]["n_samples"] == "300");
      CHECK(run["metrics"]["accuracy"].get<double>() > 0.5);
      CHECK(run["tags"]["mlflow.source.name"] == "mlops");
      const std::string tag = run["tags"]["model_version"];
      CHECK(run["params"]["model_version_tag"] == tag);
      CHECK(run["params"]["random_state"] == "42");
      const std::string prefix = fmt::format("{}/{}/artifacts/model/", experiment, run["info"]["run_id"].get<std::string>());
      CHECK(state["artifacts"][prefix + "model.json"] == read_file(p.dir.file(tag + ".json")));
      CHECK(contains(state["artifacts"][prefix + "MLmodel"], "sha256: " + sha256_file(p.dir.file(tag + ".json"))));
    }
    const json* model = find_model(state, "ChurnPredictionModel");
    REQUIRE(model);
    REQUIRE((*model)["versions"].size() == 2);
    const json& v1 = (*model)["versions"][0];
    const json& v2 = (*model)["versions"][1];
    CHECK(v1["current_stage"] == "Archived");
    CHECK(v2["current_stage"] == "Production");
    CHECK(v1["tags"]["model_version"] == "v1.0.0");
    CHECK(v2["tags"]["model_version"] == "v1.1.0");
    CHECK(v1["tags"]["mlops.sha256"] == sha256_file(p.dir.file("v1.0.0.json")));
    CHECK(contains(v1["source"], "mlflow-artifacts:/" + experiment + "/"));
    CHECK((*model)["aliases"] == json({{"production", "2"}}));  // champion set, then deleted
    const json status = p.status();
    CHECK(status["pending"] == 0);
    CHECK(status["failed"] == 0);
    CHECK(status["done"].get<int>() >= 10);
  }

  TEST_CASE("MLflow down: the local change succeeds, stays pending, and goes over later without duplicates") {
    test::MlflowDouble mlflow;
    Project p(mlflow);
    mlflow.stop();
    auto r = p.train("v1.0.0", {"--stage", "Production"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(contains(r.err, "MLflow not reached"));
    CHECK(contains(r.err, "run `mlops mirror` when it is back"));
    const json pending = p.status();
    CHECK(pending["pending"].get<int>() >= 6);
    CHECK(pending["events"][0]["attempts"] == 1);
    CHECK(contains(pending["events"][0]["last_error"], "cannot reach"));
    r = p.run({"mirror"});
    CHECK(r.exit_code == 1);
    CHECK(contains(r.out, "Stopped:"));

    mlflow.restart();
    r = p.run({"mirror"});
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    r = p.run({"mirror"});  // nothing left: sends nothing
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "Mirrored 0 change(s)"));
    const json state = mlflow.state();
    CHECK(state["runs"].size() == 1);
    REQUIRE(find_model(state, "ChurnPredictionModel"));
    CHECK((*find_model(state, "ChurnPredictionModel"))["versions"].size() == 1);
    CHECK(p.status()["pending"] == 0);
  }

  TEST_CASE("a 500 is retried and then succeeds; MLflow failing for longer leaves the events pending") {
    test::MlflowDouble mlflow;
    Project p(mlflow);
    mlflow.fail_next(1);  // a command's own mirror tries a call twice at most
    auto r = p.train("v1.0.0");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK_MESSAGE(contains(r.err, "mirrored"), r.err);
    CHECK(p.status()["pending"] == 0);

    mlflow.fail_next(1000);
    r = p.train("v1.1.0");
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.err, "INTERNAL_ERROR"));
    CHECK(p.status()["pending"].get<int>() > 0);
    mlflow.clear_faults();
    mlflow.fail_next(2);  // `mlops mirror` tries 1 + MLFLOW_HTTP_REQUEST_MAX_RETRIES times
    r = p.run({"mirror"});
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    const json state = mlflow.state();
    const json* model = find_model(state, "ChurnPredictionModel");
    REQUIRE(model);
    CHECK((*model)["versions"].size() == 2);
    CHECK(state["runs"].size() == 2);
  }

  TEST_CASE("a change MLflow refuses for good is failed, others go on, and retry sends it once fixed") {
    test::MlflowDouble mlflow;
    Project p(mlflow);
    REQUIRE(p.train("v1.0.0").exit_code == 0);
    mlflow.reject("registered-models/alias", "\"alias\":\"champion\"", "Invalid alias name: 'champion' (server policy).");
    auto r = p.run({"models", "alias", "set", "ChurnPredictionModel", "champion", "1"});
    REQUIRE(r.exit_code == 0);  // the local change stands
    CHECK(contains(r.err, "MLflow refused 1 change(s)"));
    r = p.run({"models", "promote", "ChurnPredictionModel", "1", "--stage", "Staging"});
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.err, "wait behind them"));
    r = p.train("v2.0.0", {"--name", "OtherModel"});  // another model is not held up
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.err, "refused 0 change(s) and 1 wait"));
    REQUIRE(find_model(mlflow.state(), "OtherModel"));

    json status = p.status();
    CHECK(status["failed"] == 1);
    CHECK(status["pending"] == 1);
    std::int64_t failed_id = 0;
    for (const json& e : status["events"]) {
      if (e["status"] == "failed") {
        failed_id = e["id"];
        CHECK(e["kind"] == "alias_set");
        CHECK(contains(e["last_error"], "server policy"));
      } else {
        CHECK(e["blocked_by"] == failed_id);
      }
    }
    r = p.run({"mirror", "status"});
    CHECK(contains(r.out, "waits for failed event"));
    CHECK(p.run({"mirror"}).exit_code == 1);  // still blocked

    mlflow.clear_faults();
    r = p.run({"mirror", "retry", std::to_string(failed_id)});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(contains(r.err, "mirrored 2 change(s)"));
    status = p.status();
    CHECK(status["failed"] == 0);
    CHECK(status["pending"] == 0);
    const json state = mlflow.state();
    const json* model = find_model(state, "ChurnPredictionModel");
    REQUIRE(model);
    CHECK((*model)["aliases"]["champion"] == "1");
    CHECK((*model)["versions"][0]["current_stage"] == "Staging");
    CHECK(p.run({"mirror", "retry", std::to_string(failed_id)}).exit_code == 1);  // not failed any more
  }

  TEST_CASE("a mirror killed mid-drain and started again creates nothing twice") {
    test::MlflowDouble mlflow;
    Project p(mlflow);
    mlflow.stop();
    REQUIRE(p.train("v1.0.0", {"--stage", "Production"}).exit_code == 0);
    mlflow.restart();
    mlflow.hold_after("model-versions/create");  // MLflow creates the version; the answer never leaves
    test::TempDir io;
    const int pid = test::spawn_cli({"mirror"}, p.home, io.file("out"), io.file("err"), p.env, p.dir.path());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (mlflow.calls("model-versions/create") == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(mlflow.calls("model-versions/create") == 1);
    ::kill(pid, SIGKILL);
    test::wait_exit_code(pid);
    mlflow.clear_faults();

    const auto r = p.run({"mirror"});
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    const json state = mlflow.state();
    CHECK(state["runs"].size() == 1);
    const json* model = find_model(state, "ChurnPredictionModel");
    REQUIRE(model);
    CHECK((*model)["versions"].size() == 1);
    CHECK((*model)["versions"][0]["current_stage"] == "Production");
    CHECK(mlflow.calls("model-versions/create") == 1);
  }

  TEST_CASE("credentials come from MLFLOW_TRACKING_TOKEN; a wrong one leaves the change pending") {
    test::MlflowDouble mlflow;
    mlflow.require_token("s3cret");
    Project p(mlflow);
    p.env.push_back("MLFLOW_TRACKING_TOKEN=wrong");
    auto r = p.train("v1.0.0");
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.err, "refused the credentials (401)"));
    p.env.back() = "MLFLOW_TRACKING_TOKEN=s3cret";
    r = p.run({"mirror"});
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    CHECK(mlflow.state()["runs"].size() == 1);
  }

  TEST_CASE("mirror without MLFLOW_TRACKING_URI says how to set it; --watch sends changes as they come") {
    test::MlflowDouble mlflow;
    Project p(mlflow);
    const auto unset = test::run_cli({"mirror"}, p.home, p.dir.path());
    CHECK(unset.exit_code == 1);
    CHECK(contains(unset.err, "MLFLOW_TRACKING_URI is not set"));

    test::TempDir io;
    const int pid = test::spawn_cli({"mirror", "--watch", "--interval", "0.1", "--json"}, p.home, io.file("out"),
                                    io.file("err"), p.env, p.dir.path());
    // Registered while the watcher holds the lock: the command leaves the sending to it.
    const auto watching = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!contains(test::read_text(io.file("err")), "watching") && std::chrono::steady_clock::now() < watching) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(contains(test::read_text(io.file("err")), "watching"));
    const auto r = p.train("v1.0.0");
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.err, "another `mlops mirror` is sending"));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!find_model(mlflow.state(), "ChurnPredictionModel") && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    while (p.status()["pending"] != 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid, SIGTERM);
    CHECK(test::wait_exit_code(pid) == 0);
    CHECK(p.status()["pending"] == 0);
    REQUIRE(find_model(mlflow.state(), "ChurnPredictionModel"));
    CHECK(contains(test::read_text(io.file("out")), "\"result\":\"done\""));
  }

  TEST_CASE("serve --model-uri mlflow:models:/NAME@ALIAS pulls from MLflow and follows the alias") {
    test::MlflowDouble mlflow;
    Project p(mlflow);
    REQUIRE(p.train("v1.0.0", {"--alias", "champion"}).exit_code == 0);
    REQUIRE(p.train("v2.0.0").exit_code == 0);
    REQUIRE(p.status()["pending"] == 0);

    // A replica with an empty home of its own: everything comes from MLflow.
    test::TempDir replica;
    test::ServerProcess server(replica.file("home"),
                               {"--model-uri", "mlflow:models:/ChurnPredictionModel@champion", "--reload-interval", "0.2"},
                               {"MLFLOW_TRACKING_URI=" + mlflow.url()});
    httplib::Client c("127.0.0.1", server.port());
    const auto health = [&] { return json::parse(c.Get("/health")->body); };
    json h = health();
    CHECK(h["model_loaded"] == true);
    CHECK(h["model_version"] == "v1.0.0");
    auto predict = c.Post("/predict", R"({"features":[5.2,1.3,7.7,2.0,3.1,4.4,1.0,8.2,2.5,6.0]})", "application/json");
    REQUIRE(predict);
    CHECK(predict->status == 200);

    // predict and crm-sync (a Kubernetes Job's pod) take the same URI.
    const std::vector<std::string> mlflow_env = {"MLFLOW_TRACKING_URI=" + mlflow.url()};
    auto offline = test::run_cli({"predict", "--model", "mlflow:models:/ChurnPredictionModel/2", "--features",
                                  "5.2,1.3,7.7,2.0,3.1,4.4,1.0,8.2,2.5,6.0", "--json"},
                                 replica.file("job"), replica.path(), mlflow_env);
    REQUIRE_MESSAGE(offline.exit_code == 0, offline.err);
    CHECK(json::parse(offline.out)["model_version"] == "v2.0.0");
    const std::string crm = "sqlite:" + replica.file("crm.db");
    REQUIRE(test::run_cli({"crm", "--crm", crm, "init", "--customers", "20"}, replica.file("job"), replica.path()).exit_code == 0);
    auto sync = test::run_cli({"crm-sync", "--crm", crm, "--model-uri", "mlflow:models:/ChurnPredictionModel@champion", "--json"},
                              replica.file("job"), replica.path(), mlflow_env);
    REQUIRE_MESSAGE(sync.exit_code == 0, sync.err);
    CHECK(json::parse(sync.out)["model_version"] == "v1.0.0");
    const auto no_uri = test::run_cli({"predict", "--model", "mlflow:models:/ChurnPredictionModel/2", "--features", "1"},
                                      replica.file("job"), replica.path());
    CHECK(no_uri.exit_code == 1);
    CHECK(contains(no_uri.err, "needs MLFLOW_TRACKING_URI"));

    // A teammate moves the alias in MLflow: the replica follows.
    httplib::Client api("127.0.0.1", mlflow.port());
    auto moved = api.Post("/api/2.0/mlflow/registered-models/alias",
                          R"({"name":"ChurnPredictionModel","alias":"champion","version":"2"})", "application/json");
    REQUIRE(moved);
    REQUIRE(moved->status == 200);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (health()["model_version"] != "v2.0.0" && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(health()["model_version"] == "v2.0.0");
    // A reload poll only asks which version the alias names; files are fetched once per
    // version and home: the replica's v1 and v2, predict's v2, crm-sync's v1.
    CHECK(mlflow.calls("get-download-uri") == 4);

    // An artifact altered in MLflow after registration is refused; the served model stays.
    const json state = mlflow.state();
    const std::string v1_source = (*find_model(state, "ChurnPredictionModel"))["versions"][0]["source"];
    const std::string path = v1_source.substr(std::string("mlflow-artifacts:/").size()) + "/model.json";
    auto tampered = api.Put(("/api/2.0/mlflow-artifacts/artifacts/" + path).c_str(), "{\"tampered\":true}", "application/json");
    REQUIRE(tampered);
    test::TempDir other;
    test::ServerProcess refused(other.file("home"), {"--model-uri", "mlflow:models:/ChurnPredictionModel/1"},
                                {"MLFLOW_TRACKING_URI=" + mlflow.url()});
    httplib::Client rc("127.0.0.1", refused.port());
    const json rh = json::parse(rc.Get("/health")->body);
    CHECK(rh["model_loaded"] == false);
    CHECK(contains(refused.log(), "mlops.sha256 tag says"));
  }

  TEST_CASE("serve from MLflow: an outage is logged once, and /health says when MLflow is back") {
    test::MlflowDouble mlflow;
    Project p(mlflow);
    REQUIRE(p.train("v1.0.0", {"--stage", "Production"}).exit_code == 0);
    test::TempDir replica;
    test::ServerProcess server(replica.file("home"),
                               {"--model-uri", "mlflow:models:/ChurnPredictionModel/Production", "--reload-interval", "0.2"},
                               {"MLFLOW_TRACKING_URI=" + mlflow.url(), "MLFLOW_HTTP_REQUEST_TIMEOUT=1",
                                "MLFLOW_HTTP_REQUEST_MAX_RETRIES=0"});
    httplib::Client c("127.0.0.1", server.port());
    const auto last_reload = [&] { return json::parse(c.Get("/health")->body)["last_reload"]; };
    const auto wait_for = [&](bool ok) {  // polls /health for up to 10 s
      for (int i = 0; i < 400; ++i) {
        if (last_reload()["ok"] == ok) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
      return false;
    };
    mlflow.stop();
    REQUIRE(wait_for(false));
    // Two more failing polls (each rewrites last_reload.at) before MLflow comes back.
    std::string seen = last_reload()["at"];
    int failing_polls = 0;
    for (int i = 0; i < 400 && failing_polls < 2; ++i) {
      const std::string at = last_reload()["at"];
      if (at != seen) ++failing_polls, seen = at;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    REQUIRE(failing_polls == 2);
    mlflow.restart();
    REQUIRE(wait_for(true));
    CHECK(contains(last_reload()["message"].get<std::string>(), "reachable again"));
    CHECK(json::parse(c.Get("/health")->body)["model_version"] == "v1.0.0");  // kept throughout
    const std::string log = server.log();
    std::size_t failures = 0;
    for (auto at = log.find("model reload failed"); at != std::string::npos; at = log.find("model reload failed", at + 1)) {
      ++failures;
    }
    CHECK(failures == 1);  // not once per poll
  }

  TEST_CASE("serve reports the mirror backlog as mlflow_mirror_pending_events") {
    test::MlflowDouble mlflow;
    Project p(mlflow);
    mlflow.stop();
    REQUIRE(p.train("v1.0.0", {"--stage", "Production"}).exit_code == 0);
    const int pending = p.status()["pending"];
    REQUIRE(pending > 0);
    test::ServerProcess server(p.home, {"--reload-interval", "0"}, p.env);
    httplib::Client c("127.0.0.1", server.port());
    const std::string metrics = c.Get("/metrics")->body;
    CHECK(contains(metrics, fmt::format("\nmlflow_mirror_pending_events {}\n", pending)));
  }
}
