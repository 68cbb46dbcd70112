// The MLflow mirror against MLflow's own tracking server (../shared/mlflow-server): what a
// team does to it behind the registry's back — deletes in the UI, a second laptop, outages,
// crashes — and the test double compared with it on the same lifecycle script.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "libmlops/core/fs.hpp"
#include "libmlops/core/sha256.hpp"
#include "tests/support/mirror_project.hpp"
#include "tests/support/mlflow_double.hpp"
#include "tests/support/real_mlflow.hpp"
#include "tests/support/support.hpp"

#include <httplib.h>  // last: its <resolv.h> defines a macro `_res` that breaks Eigen

using namespace mlops;
using nlohmann::json;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const std::string kModel = "ChurnPredictionModel";

// A learner's project (its own MLOPS_HOME) whose registry mirrors to `url`.
struct Project : test::MirrorProject {
  explicit Project(const std::string& url, const std::vector<std::string>& extra = {}) : MirrorProject(url, 1, extra) {}
};

using test::find_model;

// A file of MLflow's artifact store, through its proxy.
std::string artifact(const test::RealMlflow& mlflow, const std::string& uri_and_path) {
  const std::string rest = uri_and_path.substr(std::string("mlflow-artifacts:/").size());
  httplib::Client client(mlflow.url());
  const auto r = client.Get("/api/2.0/mlflow-artifacts/artifacts/" + rest);
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return r->body;
}

}  // namespace

TEST_SUITE("integration/mirror_real") {
  TEST_CASE("train, promote and alias arrive in MLflow's own server as the course expects") {
    test::RealMlflow mlflow;
    Project p(mlflow.url());
    auto r = p.train("v1.0.0", {"--stage", "Production", "--alias", "champion"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(contains(r.err, "mirrored"));
    r = p.train("v1.1.0");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    r = p.run({"models", "promote", kModel, "2", "--stage", "Production", "--archive-existing"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    r = p.run({"models", "alias", "delete", kModel, "champion"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);

    const json state = mlflow.state();
    REQUIRE(state["runs"].size() == 2);
    for (const json& run : state["runs"]) {
      CHECK(run["info"]["status"] == "FINISHED");
      CHECK(run["params"]["C"] == "0.5");
      CHECK(run["metrics"]["accuracy"].get<double>() > 0.5);
      CHECK(run["tags"]["mlops.origin"].get<std::string>().rfind(p.registry_id() + "/run/", 0) == 0);
      const std::string tag = run["tags"]["model_version"];
      const std::string files = run["info"]["artifact_uri"].get<std::string>() + "/model/";
      CHECK(artifact(mlflow, files + "model.json") == read_file(p.dir.file(tag + ".json")));
      CHECK(contains(artifact(mlflow, files + "MLmodel"), "sha256: " + sha256_file(p.dir.file(tag + ".json"))));
    }
    const json* model = find_model(state, kModel);
    REQUIRE(model);
    REQUIRE((*model)["versions"].size() == 2);
    CHECK((*model)["versions"][0]["current_stage"] == "Archived");
    CHECK((*model)["versions"][1]["current_stage"] == "Production");
    CHECK((*model)["versions"][1]["tags"]["model_version"] == "v1.1.0");
    CHECK((*model)["versions"][1]["tags"]["mlops.registry"] == p.registry_id());
    CHECK((*model)["aliases"] == json({{"production", "2"}}));
    CHECK((*model)["tags"]["mlops.origin"] == p.registry_id());
    const json status = p.status();
    CHECK(status["pending"] == 0);
    CHECK(status["failed"] == 0);
  }

  TEST_CASE("MLflow down, then restarted: the change waits and arrives once") {
    test::RealMlflow mlflow;
    Project p(mlflow.url());
    mlflow.stop();
    auto r = p.train("v1.0.0", {"--stage", "Production"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(contains(r.err, "MLflow not reached"));
    CHECK(p.status()["pending"].get<int>() >= 6);
    mlflow.restart();
    r = p.run({"mirror"});
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    r = p.run({"mirror"});
    CHECK(contains(r.out, "Mirrored 0 change(s)"));
    const json state = mlflow.state();
    CHECK(state["runs"].size() == 1);
    REQUIRE(find_model(state, kModel));
    CHECK((*find_model(state, kModel))["versions"].size() == 1);
    CHECK((*find_model(state, kModel))["versions"][0]["current_stage"] == "Production");
  }

  TEST_CASE("a version or a whole model deleted in MLflow is made again from the registry") {
    test::RealMlflow mlflow;
    Project p(mlflow.url());
    auto r = p.train("v1.0.0");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    REQUIRE(mlflow.call("DELETE", "model-versions/delete", {{"name", kModel}, {"version", "1"}}).status == 200);

    // The next change of version 1 finds it gone: MLflow gets it again (as version 2, since
    // MLflow never reuses numbers), with the change applied, and nothing waits or fails.
    r = p.run({"models", "promote", kModel, "1", "--stage", "Production"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK_MESSAGE(contains(r.err, "mirrored"), r.err);
    json state = mlflow.state();
    const json* model = find_model(state, kModel);
    REQUIRE(model);
    REQUIRE((*model)["versions"].size() == 1);
    CHECK((*model)["versions"][0]["version"] == "2");
    CHECK((*model)["versions"][0]["current_stage"] == "Production");
    CHECK((*model)["versions"][0]["tags"]["mlops.version"] == "1");
    CHECK((*model)["aliases"]["production"] == "2");
    CHECK(p.status()["failed"] == 0);
    CHECK(p.status()["pending"] == 0);

    // The whole registered model deleted: the next change brings model, version, stage and aliases back.
    REQUIRE(mlflow.call("DELETE", "registered-models/delete", {{"name", kModel}}).status == 200);
    r = p.run({"models", "alias", "set", kModel, "champion", "1"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    state = mlflow.state();
    model = find_model(state, kModel);
    REQUIRE(model);
    REQUIRE((*model)["versions"].size() == 1);
    CHECK((*model)["versions"][0]["current_stage"] == "Production");
    CHECK((*model)["aliases"] == json({{"champion", "1"}, {"production", "1"}}));
    CHECK((*model)["tags"]["mlops.origin"] == p.registry_id());
    const json status = p.status();
    CHECK(status["failed"] == 0);
    CHECK(status["pending"] == 0);
    // `mlops serve` from MLflow resolves the alias to the right bytes again.
    r = p.run({"predict", "--model", "mlflow:models:/" + kModel + "@champion", "--features", "5,1,7,2,3,4,1,8,2,6"});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
  }

  TEST_CASE("MLOPS_MIRROR_DELETED=skip leaves deleted versions deleted, and `mirror skip` gives up on an event") {
    test::RealMlflow mlflow;
    Project p(mlflow.url(), {"MLOPS_MIRROR_DELETED=skip"});
    auto r = p.train("v1.0.0");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    REQUIRE(mlflow.call("DELETE", "model-versions/delete", {{"name", kModel}, {"version", "1"}}).status == 200);
    r = p.run({"models", "promote", kModel, "1", "--stage", "Staging"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    json status = p.status();
    CHECK(status["skipped"] == 1);
    CHECK(status["pending"] == 0);
    CHECK(status["failed"] == 0);
    bool explained = false;
    for (const json& e : status["events"]) {
      if (e["status"] == "skipped") explained = contains(e["last_error"], "was deleted");
    }
    CHECK(explained);
    CHECK((*find_model(mlflow.state(), kModel))["versions"].empty());
    r = p.run({"mirror", "status"});
    CHECK(contains(r.out, "1 skipped"));

    // Events MLflow refuses for good (here: a second registry's, for a name the first owns)
    // can be given up on by hand; they stop blocking and are listed as skipped.
    Project q(mlflow.url());
    r = q.train("v2.0.0");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    status = q.status();
    REQUIRE(status["failed"].get<int>() >= 1);
    std::vector<std::string> stuck = {"mirror", "skip"};
    for (const json& e : status["events"]) {
      if (e["status"] != "skipped") stuck.push_back(std::to_string(e["id"].get<int>()));
    }
    stuck.insert(stuck.end(), {"--reason", "this laptop's models stay local"});
    r = q.run(stuck);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    status = q.status();
    CHECK(status["failed"] == 0);
    CHECK(status["pending"] == 0);
    CHECK(status["skipped"].get<int>() == static_cast<int>(stuck.size()) - 4);
    r = q.run({"mirror"});
    CHECK(r.exit_code == 0);
    r = p.run({"mirror", "skip", "99999"});
    CHECK(r.exit_code != 0);
    CHECK(contains(r.err, "no mirror event 99999"));
    r = p.run({"mirror", "skip", "1", "--reason", "test"});
    CHECK(r.exit_code != 0);
    CHECK(contains(r.err, "is done: there is nothing to skip"));
    r = p.run({"mirror", "skip", "--help"});
    CHECK(contains(r.out, "--reason"));
  }

  TEST_CASE("a deleted experiment or run is restored, not duplicated") {
    test::RealMlflow mlflow;
    Project p(mlflow.url());
    auto r = p.run({"train", "--n-samples", "300", "--experiment", "churn-exp", "-o", p.dir.file("a.json")});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const auto experiment = mlflow.call("GET", "experiments/get-by-name", {{"experiment_name", "churn-exp"}});
    REQUIRE(experiment.status == 200);
    const std::string id = experiment.body["experiment"]["experiment_id"];
    REQUIRE(mlflow.call("POST", "experiments/delete", {{"experiment_id", id}}).status == 200);
    r = p.run({"train", "--n-samples", "300", "--experiment", "churn-exp", "-o", p.dir.file("b.json")});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK_MESSAGE(contains(r.err, "mirrored"), r.err);
    json state = mlflow.state();
    for (const json& e : state["experiments"]) {
      if (e["name"] == "churn-exp") CHECK(e["lifecycle_stage"] == "active");
    }
    int runs = 0;
    for (const json& run : state["runs"]) {
      if (run["info"]["experiment_id"] == id) {
        ++runs;
        CHECK(run["info"]["lifecycle_stage"] == "active");
        CHECK(run["info"]["status"] == "FINISHED");
      }
    }
    CHECK(runs == 2);
    CHECK(p.status()["failed"] == 0);
  }

  TEST_CASE("a second registry cannot take over a model name; a prefix or --adopt are the ways out") {
    test::RealMlflow mlflow;
    Project a(mlflow.url());
    Project b(mlflow.url());
    auto r = a.train("v1.0.0", {"--stage", "Production"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    r = b.train("v9.0.0", {"--stage", "Production"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);  // the local registry has it; MLflow refuses
    CHECK(contains(r.err, "MLflow refused"));
    json status = b.status();
    CHECK(status["failed"].get<int>() >= 1);
    bool explained = false;
    for (const json& e : status["events"]) {
      if (e["status"] == "failed") {
        explained = contains(e["last_error"], "belongs to another registry") &&
                    contains(e["last_error"], "MLOPS_MLFLOW_MODEL_PREFIX") && contains(e["last_error"], "--adopt");
      }
    }
    CHECK_MESSAGE(explained, status.dump(1));
    json state = mlflow.state();
    const json* model = find_model(state, kModel);
    REQUIRE(model);
    CHECK((*model)["versions"].size() == 1);  // only A's
    CHECK((*model)["versions"][0]["tags"]["mlops.registry"] == a.registry_id());
    CHECK((*model)["aliases"]["production"] == "1");

    // The course's M3 check looks for this workspace's version, not any Production version.
    const std::string rubric = a.dir.write(
        "r.yml", fmt::format("title: t\npass_score: 100\nmodules:\n  M3:\n    title: t\n    weight: 100\n    criteria:\n"
                             "      C4:\n        text: t\n        check: {{kind: registry, path: .mlops/mlops.db, model: {}, "
                             "stage: Production, mlflow: \"{}\"}}\n",
                             kModel, mlflow.url()));
    r = a.run({"eval-rubric", "--rubric", rubric, "--workspace", a.dir.path(), "--json"});
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
    r = b.run({"eval-rubric", "--rubric", rubric, "--workspace", b.dir.path(), "--json"});
    CHECK(r.exit_code != 0);
    CHECK(contains(r.out, "not in MLflow"));

    // B mirrors under its own prefix instead: retry sends everything that waited.
    r = b.run({"mirror", "retry", "--all-failed"}, {"MLOPS_MLFLOW_MODEL_PREFIX=laptop-b-"});
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    status = b.status();
    CHECK(status["failed"] == 0);
    CHECK(status["pending"] == 0);
    state = mlflow.state();
    REQUIRE(find_model(state, "laptop-b-" + kModel));
    CHECK((*find_model(state, "laptop-b-" + kModel))["versions"][0]["current_stage"] == "Production");
    CHECK((*find_model(state, kModel))["versions"].size() == 1);
    r = b.run({"eval-rubric", "--rubric", rubric, "--workspace", b.dir.path(), "--json"});
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));  // found by origin, under the prefixed name

    // A third registry joins A's model on purpose.
    Project c(mlflow.url());
    r = c.train("v2.0.0");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(c.status()["failed"].get<int>() >= 1);
    r = c.run({"mirror", "--adopt", kModel});
    CHECK(r.exit_code != 0);  // adopting does not requeue what failed
    r = c.run({"mirror", "retry", "--all-failed"});
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    state = mlflow.state();
    REQUIRE((*find_model(state, kModel))["versions"].size() == 2);
    CHECK((*find_model(state, kModel))["versions"][1]["tags"]["mlops.registry"] == c.registry_id());
    CHECK((*find_model(state, kModel))["aliases"]["production"] == "1");  // A's, untouched
  }

  TEST_CASE("credentials in MLFLOW_TRACKING_URI are never printed or stored") {
    test::RealMlflow mlflow;
    const std::string url = mlflow.url();
    Project p("http://learner:s3cr3t-pw@" + url.substr(std::string("http://").size()));
    auto r = p.train("v1.0.0");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    mlflow.stop();
    r = p.run({"models", "promote", kModel, "1", "--stage", "Staging"});
    CHECK(!contains(r.out + r.err, "s3cr3t"));
    r = p.run({"mirror"});
    CHECK(!contains(r.out + r.err, "s3cr3t"));
    r = p.run({"mirror", "status", "--json"});
    CHECK(!contains(r.out + r.err, "s3cr3t"));
    CHECK(contains(r.out, "cannot reach"));
  }
}

TEST_SUITE("integration/mirror_real") {
  // The same REST script against the test double and the real server: the double must answer
  // each step with the real server's status, error_code and message (ids put back as names).
  TEST_CASE("the test double follows the real server's lifecycle answers") {
    test::RealMlflow real;
    test::MlflowDouble fake;
    struct Step {
      std::string method, route;
      json body;
      std::vector<std::string> compare;  // JSON pointers whose values must agree
      std::map<std::string, std::string> capture = {};  // name -> JSON pointer
    };
    const std::vector<Step> script = {
        {"POST", "experiments/create", {{"name", "lc"}}, {}, {{"E", "/experiment_id"}}},
        {"POST", "runs/create", {{"experiment_id", "$E"}, {"start_time", 1}}, {"/run/info/lifecycle_stage", "/run/info/status"},
         {{"R", "/run/info/run_id"}}},
        {"POST", "runs/log-batch", {{"run_id", "$R"}, {"params", {{{"key", "a"}, {"value", "1"}}}}}, {}},
        {"POST", "experiments/delete", {{"experiment_id", "$E"}}, {}},
        {"GET", "experiments/get", {{"experiment_id", "$E"}}, {"/experiment/lifecycle_stage", "/experiment/name"}},
        {"GET", "experiments/get-by-name", {{"experiment_name", "lc"}}, {"/experiment/lifecycle_stage"}},
        {"POST", "runs/create", {{"experiment_id", "$E"}}, {}},
        {"POST", "runs/log-batch", {{"run_id", "$R"}, {"params", {{{"key", "b"}, {"value", "1"}}}}}, {}},
        {"POST", "runs/update", {{"run_id", "$R"}, {"status", "FINISHED"}}, {}},
        {"GET", "runs/get", {{"run_id", "$R"}}, {"/run/info/lifecycle_stage"}},
        {"POST", "runs/search", {{"experiment_ids", {"$E"}}}, {"/runs"}},
        {"POST", "runs/search", {{"experiment_ids", {"$E"}}, {"run_view_type", "ALL"}}, {"/runs/0/info/lifecycle_stage"}},
        {"POST", "experiments/restore", {{"experiment_id", "$E"}}, {}},
        {"POST", "experiments/restore", {{"experiment_id", "$E"}}, {}},
        {"GET", "runs/get", {{"run_id", "$R"}}, {"/run/info/lifecycle_stage"}},
        {"POST", "runs/delete", {{"run_id", "$R"}}, {}},
        {"POST", "runs/update", {{"run_id", "$R"}, {"status", "FINISHED"}}, {}},
        {"POST", "runs/restore", {{"run_id", "$R"}}, {}},
        {"POST", "runs/update", {{"run_id", "$R"}, {"status", "FINISHED"}}, {"/run_info/status"}},
        {"POST", "registered-models/create", {{"name", "lcm"}}, {"/registered_model/name"}},
        {"POST", "registered-models/set-tag", {{"name", "lcm"}, {"key", "mlops.origin"}, {"value", "abc"}}, {}},
        {"GET", "registered-models/get", {{"name", "lcm"}}, {"/registered_model/tags"}},
        {"POST", "model-versions/create",
         {{"name", "lcm"}, {"source", "mlflow-artifacts:/$E/$R/artifacts/model"}, {"run_id", "$R"},
          {"tags", {{{"key", "mlops.origin"}, {"value", "reg/version/lcm/1"}}}}},
         {"/model_version/version", "/model_version/current_stage"}},
        {"POST", "registered-models/alias", {{"name", "lcm"}, {"alias", "champ"}, {"version", "1"}}, {}},
        {"GET", "registered-models/alias", {{"name", "lcm"}, {"alias", "nope"}}, {}},
        {"GET", "model-versions/search", {{"filter", "tags.`mlops.origin`='reg/version/lcm/1'"}},
         {"/model_versions/0/version", "/model_versions/0/name"}},
        {"DELETE", "model-versions/delete", {{"name", "lcm"}, {"version", "1"}}, {}},
        {"DELETE", "model-versions/delete", {{"name", "lcm"}, {"version", "1"}}, {}},
        {"GET", "registered-models/alias", {{"name", "lcm"}, {"alias", "champ"}}, {}},
        {"POST", "model-versions/transition-stage", {{"name", "lcm"}, {"version", "1"}, {"stage", "Production"}}, {}},
        {"POST", "model-versions/set-tag", {{"name", "lcm"}, {"version", "1"}, {"key", "k"}, {"value", "v"}}, {}},
        {"POST", "registered-models/alias", {{"name", "lcm"}, {"alias", "champ"}, {"version", "1"}}, {}},
        {"GET", "model-versions/search", {{"filter", "name='lcm'"}}, {"/model_versions"}},
        {"POST", "model-versions/create", {{"name", "lcm"}, {"source", "mlflow-artifacts:/$E/$R/artifacts/model"}, {"run_id", "$R"}},
         {"/model_version/version"}},
        {"DELETE", "registered-models/delete", {{"name", "lcm"}}, {}},
        {"GET", "registered-models/get", {{"name", "lcm"}}, {}},
        {"DELETE", "registered-models/alias", {{"name", "lcm"}, {"alias", "champ"}}, {}},
        {"POST", "registered-models/set-tag", {{"name", "lcm"}, {"key", "k"}, {"value", "v"}}, {}},
        {"DELETE", "model-versions/delete", {{"name", "lcm"}, {"version", "2"}}, {}},
    };
    std::map<std::string, std::string> real_ids, fake_ids;
    // Puts captured ids into a body, and turns them back into names in a message.
    const auto fill = [](json j, const std::map<std::string, std::string>& ids) {
      std::string text = j.dump();
      for (const auto& [name, value] : ids) text = std::regex_replace(text, std::regex("\\$" + name), value);
      return json::parse(text);
    };
    const auto unfill = [](std::string text, const std::map<std::string, std::string>& ids) {
      std::vector<std::pair<std::string, std::string>> longest_first(ids.begin(), ids.end());
      std::sort(longest_first.begin(), longest_first.end(),
                [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
      for (const auto& [name, value] : longest_first) {
        for (std::size_t at = text.find(value); !value.empty() && at != std::string::npos; at = text.find(value)) {
          text.replace(at, value.size(), "$" + name);
        }
      }
      return text;
    };
    const auto call_fake = [&](const Step& s, const json& body) {
      httplib::Client client(fake.url());
      const std::string path = "/api/2.0/mlflow/" + s.route;
      const auto send = [&]() -> httplib::Result {
        if (s.method == "GET") {
          httplib::Params params;
          for (const auto& [k, v] : body.items()) params.emplace(k, v.is_string() ? v.get<std::string>() : v.dump());
          return client.Get(path, params, httplib::Headers{});
        }
        if (s.method == "DELETE") return client.Delete(path, body.dump(), "application/json");
        return client.Post(path, body.dump(), "application/json");
      };
      const httplib::Result r = send();
      REQUIRE(r);
      return test::RealMlflow::Answer{r->status, json::parse(r->body, nullptr, false)};
    };
    for (std::size_t i = 0; i < script.size(); ++i) {
      const Step& s = script[i];
      const auto want = real.call(s.method, s.route, fill(s.body, real_ids));
      const auto got = call_fake(s, fill(s.body, fake_ids));
      INFO("step ", i, ": ", s.method, " ", s.route, " ", s.body.dump(), "\nreal: ", want.body.dump(),
           "\ndouble: ", got.body.dump());
      CHECK(got.status == want.status);
      if (want.status != 200) {
        CHECK(got.body.value("error_code", "") == want.body.value("error_code", ""));
        CHECK(unfill(got.body.value("message", ""), fake_ids) == unfill(want.body.value("message", ""), real_ids));
      }
      for (const std::string& pointer : s.compare) {
        const json::json_pointer ptr(pointer);
        const json a = want.body.contains(ptr) ? want.body.at(ptr) : json();
        const json b = got.body.is_object() && got.body.contains(ptr) ? got.body.at(ptr) : json();
        CHECK_MESSAGE(unfill(b.dump(), fake_ids) == unfill(a.dump(), real_ids), pointer);
      }
      for (const auto& [name, pointer] : s.capture) {
        real_ids[name] = want.body.at(json::json_pointer(pointer)).get<std::string>();
        fake_ids[name] = got.body.at(json::json_pointer(pointer)).get<std::string>();
      }
    }
  }
}
