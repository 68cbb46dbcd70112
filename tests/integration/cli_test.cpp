#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <thread>
#include <nlohmann/json.hpp>

#include "libmlops/core/fs.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using nlohmann::json;
using test::free_port;
using test::run_cli;

namespace {
bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A working directory with its own MLOPS_HOME, as a learner's project folder.
struct Project {
  test::TempDir dir;
  std::string home = dir.file(".mlops");
  test::CliResult run(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    return run_cli(args, home, dir.path(), env);
  }
  json run_json(const std::vector<std::string>& args) {
    auto r = run(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
  }
};
}  // namespace

TEST_SUITE("integration/cli") {
  TEST_CASE("--help lists every subcommand and --version answers") {
    const auto help = run_cli({"--help"}, "");
    CHECK(help.exit_code == 0);
    for (const char* cmd : {"train", "register", "models", "runs", "predict"}) CHECK(contains(help.out, cmd));
    const auto version = run_cli({"--version"}, "");
    CHECK(version.exit_code == 0);
    CHECK(contains(version.out, "mlops "));
  }
  TEST_CASE("usage errors exit 2 with a one-line hint") {
    Project p;
    for (const auto& args : std::vector<std::vector<std::string>>{
             {}, {"train", "--bogus"}, {"register"}, {"train", "--data", "x.csv"}, {"train", "--n-samples", "-5"},
             {"models", "promote", "m", "1", "--stage", "Live"}, {"predict"}, {"train", "--min-accuracy", "0.8"}}) {
      const auto r = p.run(args);
      CAPTURE(fmt::format("{}", fmt::join(args, " ")));
      CHECK(r.exit_code == 2);
      CHECK(contains(r.err, "mlops: error:"));
      CHECK(contains(r.err, "--help"));
    }
  }
  TEST_CASE("the course's train command writes the model and registers version 1") {
    Project p;
    const json j = p.run_json({"train", "--n_samples", "1000", "--c_param", "0.1", "--model_version",
                               "v1.2.0-stable", "--register", "--min-accuracy", "0.85", "--json"});
    CHECK(std::filesystem::exists(p.dir.file("models/sample_model.json")));
    CHECK(j["registered_version"]["version"] == 1);
    CHECK(j["registered_version"]["version_tag"] == "v1.2.0-stable");
    CHECK(j["params"]["C"] == 0.1);
    CHECK(j["params"]["n_samples"] == 1000);
    CHECK(j["metrics"]["accuracy"].get<double>() > 0.85);
    CHECK(j["converged"] == true);
    CHECK(j["n_iter"].get<int>() > 0);
    const json models = p.run_json({"models", "list", "--json"});
    CHECK(models["models"][0]["name"] == "ChurnPredictionModel");
    CHECK(models["models"][0]["latest_version"] == 1);
    const json run = p.run_json({"runs", "show", j["run_id"].get<std::string>(), "--json"});
    CHECK(run["status"] == "FINISHED");
    CHECK(run["tags"]["model_version"] == "v1.2.0-stable");
    CHECK(run["metrics"]["accuracy"] == j["metrics"]["accuracy"]);
    const auto table = p.run({"train", "--n-samples", "300"});
    CHECK(table.exit_code == 0);
    CHECK(contains(table.out, "Confusion matrix"));
    CHECK(contains(table.out, "accuracy"));
  }
  TEST_CASE("a registry made with the default relative MLOPS_HOME works from any directory") {
    test::TempDir project, elsewhere;
    REQUIRE(run_cli({"train", "--n-samples", "200", "--register"}, ".mlops", project.path()).exit_code == 0);
    const auto r = run_cli({"predict", "--model", "models:/ChurnPredictionModel/1", "--features", "1,2,3,4,5,6,7,8,9,10"},
                           project.file(".mlops"), elsewhere.path());
    INFO(r.err);
    CHECK(r.exit_code == 0);
  }
  TEST_CASE("a model below the accuracy gate is not registered: exit 3 naming accuracy and gate") {
    Project p;
    const auto r = p.run({"train", "--n-samples", "300", "--register", "--min-accuracy", "0.999"});
    CHECK(r.exit_code == 3);
    CHECK(contains(r.err, "< 0.999"));
    CHECK(contains(r.err, "not registered"));
    CHECK(p.run_json({"models", "list", "--json"})["models"].empty());
    const json h = p.run_json({"models", "history", "ChurnPredictionModel", "--json"});
    CHECK(h["history"][0]["action"] == "refuse");
    const auto reg = p.run({"register", "--model", "models/sample_model.json", "--min-accuracy", "0.999"});
    CHECK(reg.exit_code == 3);
  }
  TEST_CASE("settings: flag > environment > .env > default") {
    Project p;
    p.dir.write(".env", "MODEL_NAME=FromDotenv\nMODEL_VERSION=v-dotenv\n");
    json j = p.run_json({"train", "--n-samples", "200", "--register", "--json"});
    CHECK(j["registered_version"]["name"] == "FromDotenv");
    CHECK(j["model_version"] == "v-dotenv");
    auto r = p.run({"train", "--n-samples", "200", "--register", "--json"}, {"MODEL_NAME=FromEnv"});
    CHECK(json::parse(r.out)["registered_version"]["name"] == "FromEnv");
    j = p.run_json({"train", "--n-samples", "200", "--register", "--name", "FromFlag", "--json"});
    CHECK(j["registered_version"]["name"] == "FromFlag");
    p.dir.write("other.env", "MODEL_VERSION=v-other\n");
    j = p.run_json({"--env-file", "other.env", "train", "--n-samples", "200", "--json"});
    CHECK(j["model_version"] == "v-other");
    p.dir.write(".env", "this is not a setting\n");
    r = p.run({"models", "list"});
    CHECK(r.exit_code == 1);
    CHECK(contains(r.err, ".env:1"));
  }
  TEST_CASE("serve refuses numeric settings out of range before it binds, naming the setting and its range") {
    Project p;
    for (const char* bad : {"MLOPS_DRIFT_WINDOW=5", "MLOPS_DRIFT_WINDOW=-1", "MLOPS_DRIFT_WINDOW=1e300",
                            "MLOPS_DRIFT_MIN_SAMPLES=0", "MLOPS_PORT=70000", "CANARY_WEIGHT=2"}) {
      CAPTURE(bad);
      const auto r = p.run({"serve", "--port", "0"}, {bad});
      CHECK(r.exit_code == 1);
      const std::string key = std::string(bad).substr(0, std::string(bad).find('='));
      CHECK(contains(r.err, "setting " + key + "="));
      CHECK(contains(r.err, "is outside"));
    }
  }
  TEST_CASE("training on a CSV, with every data error reported by file and line") {
    Project p;
    const auto ok = p.run({"train", "--data", test::test_data("iris.csv"), "--target", "target", "--json"});
    REQUIRE(ok.exit_code == 0);
    const json j = json::parse(ok.out);
    CHECK(j["classes"].size() == 3);
    CHECK(j["metrics_split"] == "test");
    p.dir.write("bad.csv", "a,b,y\n1,2,0\n3,x,1\n");
    const auto bad = p.run({"train", "--data", "bad.csv", "--target", "y"});
    CHECK(bad.exit_code == 1);
    CHECK(contains(bad.err, "bad.csv:3: column 'b' (2): 'x' is not a number"));
    const auto missing = p.run({"train", "--data", "none.csv", "--target", "y", "--json"});
    CHECK(missing.exit_code == 1);
    CHECK(json::parse(missing.out)["error"]["code"] == "not_found");
  }
  TEST_CASE("promote, alias, rollback and history through the CLI") {
    Project p;
    for (int i = 0; i < 3; ++i) p.run_json({"train", "--n-samples", "200", "--seed", std::to_string(i), "--register", "--json"});
    CHECK(p.run({"models", "promote", "ChurnPredictionModel", "1", "--stage", "production"}).exit_code == 0);
    CHECK(p.run({"models", "promote", "ChurnPredictionModel", "3", "--stage", "Production", "--archive-existing",
                 "--reason", "better recall"}).exit_code == 0);
    CHECK(p.run({"models", "alias", "set", "ChurnPredictionModel", "champion", "2"}).exit_code == 0);
    json show = p.run_json({"models", "show", "ChurnPredictionModel", "--json"});
    CHECK(show["versions"][2]["stage"] == "Production");
    CHECK(show["versions"][1]["aliases"][0] == "champion");
    const json rolled = p.run_json({"models", "rollback", "ChurnPredictionModel", "--reason", "p95", "--json"});
    CHECK(rolled["version"] == 1);
    CHECK(rolled["stage"] == "Production");
    const json v3 = p.run_json({"models", "show", "ChurnPredictionModel/3", "--json"});
    CHECK(v3["stage"] == "Archived");
    const json h = p.run_json({"models", "history", "ChurnPredictionModel", "--json"});
    CHECK(h["history"].back()["action"] == "rollback");
    CHECK(h["history"].back()["reason"] == "p95");
    const auto text = p.run({"models", "history", "ChurnPredictionModel"});
    CHECK(contains(text.out, "better recall"));
    CHECK(p.run({"models", "alias", "delete", "ChurnPredictionModel", "champion"}).exit_code == 0);
    const auto gone = p.run({"models", "alias", "delete", "ChurnPredictionModel", "champion"});
    CHECK(gone.exit_code == 1);
    CHECK(contains(gone.err, "no alias 'champion'"));
    CHECK(p.run({"models", "show", "Nope"}).exit_code == 1);
  }
  TEST_CASE("predict: one row, a CSV batch, the production default, and clear errors") {
    Project p;
    p.run_json({"train", "--n-samples", "500", "--register", "--stage", "Production", "--json"});
    const json one = p.run_json({"predict", "--features", "1,2,3,4,5,6,7,8,9,10", "--json"});
    CHECK(one["model_uri"] == "models:/ChurnPredictionModel@production");
    CHECK((one["prediction"] == 0 || one["prediction"] == 1));
    CHECK(one["probability"].get<double>() >= 0.5);
    const json by_file = p.run_json({"predict", "--model", "models/sample_model.json", "--features",
                                     "1,2,3,4,5,6,7,8,9,10", "--json"});
    CHECK(by_file["probability"] == one["probability"]);
    p.dir.write("rows.csv", "feature_1,feature_2,feature_3,feature_4,feature_5,feature_6,feature_7,feature_8,"
                            "feature_9,feature_10\n1,2,3,4,5,6,7,8,9,10\n0,9,0,9,0,0,9,0,9,0\n");
    const json batch = p.run_json({"predict", "--data", "rows.csv", "--output", "preds.csv", "--json"});
    CHECK(batch["rows"] == 2);
    const std::string preds = test::read_text(p.dir.file("preds.csv"));
    CHECK(contains(preds, "row,prediction,probability,p_0,p_1"));
    CHECK(std::count(preds.begin(), preds.end(), '\n') == 3);
    const auto wrong = p.run({"predict", "--features", "1,2"});
    CHECK(wrong.exit_code == 1);
    CHECK(contains(wrong.err, "expects 10 features"));
    const auto nan = p.run({"predict", "--features", "1,2,x,4,5,6,7,8,9,10"});
    CHECK(nan.exit_code == 1);
    CHECK(contains(nan.err, "value 3 ('x')"));
    // MODEL_URI is the default model for predict as for serve and crm-sync.
    const auto named = p.run({"predict", "--features", "1,2,3,4,5,6,7,8,9,10"}, {"MODEL_URI=/nonexistent.json"});
    CHECK(named.exit_code == 1);
    CHECK(contains(named.err, "/nonexistent.json"));
    const json latest = p.run_json({"predict", "--model", "models:/ChurnPredictionModel/latest", "--features",
                                    "1,2,3,4,5,6,7,8,9,10", "--json"});
    CHECK(latest["probability"] == one["probability"]);
  }
  TEST_CASE("a tampered artifact is refused by register and predict") {
    Project p;
    p.run_json({"train", "--n-samples", "200", "--json"});
    std::string text = read_file(p.dir.file("models/sample_model.json"));
    // One digit of the intercept changed: still valid JSON, no longer the checksummed bytes.
    const auto digit = text.find_first_of("0123456789", text.find("\"intercepts\": ["));
    text[digit] = text[digit] == '9' ? '8' : '9';
    write_file_atomic(p.dir.file("models/sample_model.json"), text);
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"register", "--model", "models/sample_model.json"},
             {"predict", "--model", "models/sample_model.json", "--features", "1,2,3,4,5,6,7,8,9,10"}}) {
      const auto r = p.run(args);
      CHECK(r.exit_code == 1);
      CHECK(contains(r.err, "checksum mismatch"));
    }
    write_file_atomic(p.dir.file("models/sample_model.json"), text.substr(0, 100));
    CHECK(contains(p.run({"register", "--model", "models/sample_model.json"}).err, "invalid JSON"));
  }
  TEST_CASE("runs list and compare show params and metrics side by side") {
    Project p;
    const json a = p.run_json({"train", "--n-samples", "200", "-C", "0.1", "--json"});
    const json b = p.run_json({"train", "--n-samples", "200", "-C", "1", "--experiment", "tuning", "--json"});
    CHECK(p.run_json({"runs", "list", "--json"})["runs"].size() == 2);
    CHECK(p.run_json({"runs", "list", "--experiment", "tuning", "--json"})["runs"].size() == 1);
    const auto cmp = p.run({"runs", "compare", a["run_id"].get<std::string>(), b["run_id"].get<std::string>()});
    CHECK(cmp.exit_code == 0);
    CHECK(contains(cmp.out, "param.C"));
    CHECK(contains(cmp.out, "metric.accuracy"));
  }
  TEST_CASE("doctor says what to fix: a missing .env, a missing key, a busy port") {
    Project p;
    auto r = p.run({"doctor"});
    CHECK(r.exit_code == 1);
    CHECK(contains(r.out, "missing   .env"));
    CHECK(contains(r.out, "fix: cp .env.example .env"));
    CHECK_FALSE(std::filesystem::exists(p.home));  // a check creates nothing

    p.dir.write(".env", "MODEL_NAME=ChurnPredictionModel\nMODEL_VERSION=v1\n");
    r = p.run({"doctor"});
    CHECK(r.exit_code == 1);
    CHECK(contains(r.out, "does not set CRM_URL"));

    p.dir.write(".env", test::read_text(std::string(MLOPS_SOURCE_DIR) + "/.env.example"));
    REQUIRE(p.run({"train", "--n-samples", "200", "--register"}).exit_code == 0);
    test::ServerProcess busy(p.home, {});
    const json j = p.run_json({"--env-file", ".env", "doctor", "--json"});
    CHECK(j["ok"] == true);
    std::map<std::string, json> by_name;
    for (const json& c : j["checks"]) by_name[c["name"]] = c;
    CHECK(by_name[".env"]["status"] == "ok");
    CHECK(by_name["registry"]["status"] == "ok");
    CHECK(contains(by_name["registry"]["detail"], "1 model(s)"));
    for (const char* part : {"prometheus", "promtool", "pushgateway", "chromium", "docker-compose", "mlflow"}) {
      CAPTURE(part);
      CHECK(by_name.count(part) == 1);
    }
    // The port serve would use is taken by the one running: a warning, not a failure.
    r = p.run({"doctor"}, {"MLOPS_PORT=" + std::to_string(busy.port())});
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, fmt::format("warn      port            127.0.0.1:{} is in use", busy.port())));
  }
  TEST_CASE("doctor tells a docker client without a daemon apart from a ready engine") {
    Project p;
    // A docker client on the PATH (doctor only looks it up) and DOCKER_HOST at nothing.
    p.dir.write("bin/docker", "#!/bin/sh\nexit 0\n");
    std::filesystem::permissions(p.dir.file("bin/docker"), std::filesystem::perms::owner_all);
    const std::string path = "PATH=" + p.dir.file("bin") + ":/usr/bin:/bin";
    const auto docker_check = [&](const std::string& docker_host) {
      const auto r = p.run({"doctor", "--json"}, {path, "DOCKER_HOST=" + docker_host});
      const json report = json::parse(r.out);
      for (const json& c : report["checks"]) {
        if (c["name"] == "docker") return c;
      }
      FAIL("no docker check in " << r.out);
      return json();
    };
    json c = docker_check("unix://" + p.dir.file("nothing.sock"));
    CHECK(c["status"] == "warn");
    CHECK(contains(c["detail"], "is installed but no daemon answers at unix://"));
    CHECK(contains(c["fix"], "podman system service"));
    c = docker_check("tcp://127.0.0.1:" + std::to_string(free_port()));
    CHECK(c["status"] == "warn");
    c = docker_check("ssh://somewhere");
    CHECK(c["status"] == "warn");
    CHECK(contains(c["detail"], "DOCKER_HOST must be unix://PATH or tcp://HOST:PORT"));
    // Something that is not a Docker engine listening there: still no daemon.
    test::ServerProcess mlops_api(p.home, {});
    c = docker_check("tcp://127.0.0.1:" + std::to_string(mlops_api.port()));
    CHECK(c["status"] == "warn");
    CHECK(contains(c["detail"], "GET /_ping answered 404"));
    // A unix socket answering a few bytes of garbage (the reader must not run past them).
    for (const std::string& garbage : {std::string("HTTP/1."), std::string("\x1b[31mSSH-2.0\n", 12)}) {
      const std::string sock = p.dir.file("garbage.sock");
      std::filesystem::remove(sock);
      const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
      REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
      REQUIRE(::listen(listener, 4) == 0);
      std::thread peer([&] {
        const int fd = ::accept(listener, nullptr, nullptr);
        char request[256];
        if (::read(fd, request, sizeof request) > 0) {
          const ssize_t sent = ::write(fd, garbage.data(), garbage.size());
          CHECK(sent == static_cast<ssize_t>(garbage.size()));
        }
        ::close(fd);
      });
      c = docker_check("unix://" + sock);
      peer.join();
      ::close(listener);
      CHECK(c["status"] == "warn");
      CHECK(contains(c["detail"], "GET /_ping answered"));
      CHECK(c["detail"].get<std::string>().find('\x1b') == std::string::npos);
    }
    // (A ready engine — podman's Docker API — is checked by make container-test.)
  }
}
