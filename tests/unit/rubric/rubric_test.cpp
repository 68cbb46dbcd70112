#include <doctest/doctest.h>
#include <fmt/format.h>
#include <stdlib.h>

#include <chrono>
#include <thread>

#include "libmlops/rubric/runner.hpp"
#include "libmlops/sqlite/database.hpp"
#include "tests/support/support.hpp"

#include <httplib.h>  // last: its <resolv.h> defines a macro `_res` that breaks Eigen

using namespace mlops;
using namespace mlops::rubric;

namespace {

// A tiny in-process server for the http and metrics checks, stopped by its destructor.
struct FakeServer {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  FakeServer() {
    server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok","model_loaded":true,"uptime_seconds":12.5,"model_version":"v1.2.0-stable","tags":["a"]})", "application/json");
    });
    server.Post("/predict", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.body.find("features") != std::string::npos ? R"({"prediction":1})" : R"({"error":"no"})", "application/json");
    });
    server.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("# HELP x\nprediction_requests_total{model_version=\"v1\",status=\"200\"} 7\n"
                      "prediction_requests_total{model_version=\"v2\",status=\"200\"} 3\nmodel_loaded{model_version=\"v1\"} 1\n",
                      "text/plain");
    });
    server.Get("/api/v1/query", [](const httplib::Request& req, httplib::Response& res) {
      const std::string q = req.get_param_value("query");
      if (q == "sum(up)") {
        res.set_content(R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"3"]}]}})", "application/json");
      } else if (q == "absent_metric") {
        res.set_content(R"({"status":"success","data":{"resultType":"vector","result":[]}})", "application/json");
      } else {
        res.status = 400;
        res.set_content(nlohmann::json{{"status", "error"}, {"errorType", "bad_data"}, {"error", "parse error: " + q}}.dump(),
                        "application/json");
      }
    });
    // MLflow's REST API as MLflow 2.9 answers it (../shared/MLFLOW-REST.md), and garbage.
    server.Get("/api/2.0/mlflow/experiments/get-by-name", [](const httplib::Request& req, httplib::Response& res) {
      const std::string name = req.get_param_value("experiment_name");
      if (name != "course" && name != "garbage" && name != "empty") {
        res.status = 404;
        res.set_content(R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Could not find experiment with name ')" + name + "'\"}",
                        "application/json");
        return;
      }
      const std::string id = name == "course" ? "1" : name == "garbage" ? "2" : "3";
      res.set_content(R"({"experiment":{"experiment_id":")" + id + R"(","name":")" + name + R"(","lifecycle_stage":"active"}})",
                      "application/json");
    });
    server.Post("/api/2.0/mlflow/runs/search", [](const httplib::Request& req, httplib::Response& res) {
      const std::string id = nlohmann::json::parse(req.body)["experiment_ids"][0];
      if (id == "1") {
        res.set_content(R"({"runs":[{"info":{"run_id":"r1","experiment_id":"1","status":"FINISHED"},"data":{)"
                        R"("params":[{"key":"C","value":"0.1"},{"key":"n_samples","value":"1000"}],)"
                        R"("metrics":[{"key":"accuracy","value":0.99,"timestamp":1,"step":0}]}}]})", "application/json");
      } else if (id == "2") {
        res.set_content(R"({"runs":[{"info":{"run_id":"r2"},"data":{"params":[{"key":5}],"metrics":"x"}}]})", "application/json");
      } else {
        res.set_content("{}", "application/json");  // MLflow's answer when there is no run
      }
    });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::yield();
  }
  ~FakeServer() {
    server.stop();
    thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

// Runs one check (YAML) in `dir` and returns its result.
CheckResult check(const std::string& yaml, const test::TempDir& dir, std::map<std::string, std::string> vars = {},
                  double timeout = 5) {
  const Rubric r = parse_rubric("modules:\n  M1:\n    criteria:\n      C1:\n        text: t\n        check: " + yaml + "\n", "r.yml");
  CheckContext c;
  c.workspace = dir.path();
  c.variables = std::move(vars);
  c.timeout_seconds = timeout;
  return r.modules[0].criteria[0].check->run(c);
}

std::string error_of(const std::string& yaml) {
  try {
    parse_rubric(yaml, "r.yml");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_input);
    return e.what();
  }
  FAIL("expected an error");
  return {};
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_SUITE("unit/rubric") {
  TEST_CASE("files: exists, contains, .env keys, JSON and YAML fields — each passing and failing with its reason") {
    test::TempDir dir;
    dir.write(".env", "MODEL_VERSION=v1.2.0-stable\nexport MLOPS_PORT=8000\nEMPTY=\n");
    dir.write("README.md", "Run make test.\n");
    dir.write("report.json", R"({"tests": 12, "failures": 0, "name": "suite", "items": [{"ok": true}]})");
    dir.write("ci.yml", "name: ci\njobs:\n  build:\n    runs-on: ubuntu-22.04\n");
    CHECK(check("{kind: file_exists, path: README.md}", dir).passed);
    CHECK(has(check("{kind: file_exists, path: Dockerfile}", dir).reason, "Dockerfile does not exist"));
    CHECK(check("{kind: file_contains, path: README.md, regex: 'make (demo|test)'}", dir).passed);
    CHECK(has(check("{kind: file_contains, path: README.md, regex: 'docker'}", dir).reason, "no match for /docker/"));
    CHECK(check("{kind: env_file, keys: [MODEL_VERSION, MLOPS_PORT]}", dir).passed);
    CHECK(has(check("{kind: env_file, keys: [MODEL_VERSION, EMPTY, CRM_URL]}", dir).reason, "does not set EMPTY, CRM_URL"));
    CHECK(has(check("{kind: env_file, path: nope.env, keys: [A]}", dir).reason, "nope.env is missing"));
    CHECK(check("{kind: json, path: report.json, fields: [{path: tests, '>=': 10}, {path: failures, equals: 0}, "
                "{path: 'items[0].ok', equals: true}, {path: name, type: string}, {path: skipped, exists: false}]}", dir).passed);
    CHECK(has(check("{kind: json, path: report.json, fields: [{path: tests, '>=': 20}]}", dir).reason, "tests: expected >= 20, got 12"));
    CHECK(check("{kind: yaml, path: ci.yml, fields: [{path: jobs.build.runs-on, regex: '^ubuntu'}]}", dir).passed);
    CHECK(has(check("{kind: yaml, path: ci.yml, fields: [{path: jobs.test, exists: true}]}", dir).reason, "jobs.test: expected present"));
  }

  TEST_CASE("commands: exit code and output, in the workspace, without the grader's secrets, killed after the timeout") {
    test::TempDir dir;
    dir.write("marker.txt", "here");
    ::setenv("MLOPS_GRADER_SECRET", "s3cret", 1);
    CHECK(check("{kind: command, run: 'cat marker.txt', stdout: '^here$'}", dir).passed);
    CHECK(check("{kind: command, run: 'test -z \"$MLOPS_GRADER_SECRET\"'}", dir).passed);  // scrubbed
    CHECK(check("{kind: command, run: 'echo $RUBRIC_SERVER', stdout: 'http://x'}", dir, {{"server", "http://x"}}).passed);
    CHECK(check("{kind: command, run: 'exit 3', exit_code: 3}", dir).passed);
    const CheckResult failed = check("{kind: command, run: 'echo oops >&2; exit 1'}", dir);
    CHECK(has(failed.reason, "exited 1, expected 0: oops"));
    const auto start = std::chrono::steady_clock::now();
    const CheckResult slow = check("{kind: command, run: 'sleep 30', timeout: 0.3}", dir);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    CHECK(has(slow.reason, "did not finish within 0.3 s"));
    ::unsetenv("MLOPS_GRADER_SECRET");
  }

  TEST_CASE("mlflow_run: the newest run's params and metrics; a missing experiment, no run or garbage fail with why") {
    test::TempDir dir;
    FakeServer s;
    const std::map<std::string, std::string> vars = {{"mlflow", s.url()}};
    CHECK(check("{kind: mlflow_run, experiment: course, params: [C, n_samples], metrics: [accuracy]}", dir, vars).passed);
    CHECK(has(check("{kind: mlflow_run, experiment: course, params: [model_version_tag]}", dir, vars).reason,
              "does not log param model_version_tag"));
    CHECK(has(check("{kind: mlflow_run, experiment: nope, params: [C]}", dir, vars).reason, "has no experiment 'nope'"));
    CHECK(has(check("{kind: mlflow_run, experiment: empty, params: [C]}", dir, vars).reason, "has no run"));
    const CheckResult garbage = check("{kind: mlflow_run, experiment: garbage, params: [C]}", dir, vars);
    CHECK(!garbage.passed);
    CHECK(has(garbage.reason, "not MLflow's"));
    CHECK(has(check("{kind: mlflow_run, experiment: course, params: [C]}", dir).reason, "no MLflow URL"));
    CHECK(test::error_code_of([] { parse_rubric("modules:\n  M1:\n    criteria:\n      C1: {text: t, check: {kind: mlflow_run, experiment: e}}\n", "r.yml"); }) ==
          ErrorCode::invalid_input);
  }

  TEST_CASE("http and metrics: status, JSON fields, labels and values; an unreachable server fails fast") {
    test::TempDir dir;
    FakeServer s;
    const std::map<std::string, std::string> vars = {{"server", s.url()}};
    CHECK(check("{kind: http, url: '{server}/health', fields: [{path: status, equals: ok}, {path: uptime_seconds, '>': 0}, "
                "{path: model_version, regex: 'stable$'}, {path: tags, type: array}]}", dir, vars).passed);
    CHECK(has(check("{kind: http, url: '{server}/health', fields: [{path: status, equals: degraded}]}", dir, vars).reason,
              "status: expected \"degraded\", got \"ok\""));
    CHECK(has(check("{kind: http, url: '{server}/missing'}", dir, vars).reason, "expected HTTP 200, got 404"));
    CHECK(check("{kind: http, method: POST, url: '{server}/predict', body: {features: [1, 2]}, fields: [{path: prediction, exists: true}]}",
                dir, vars).passed);
    CHECK(check("{kind: metrics, url: '{server}/metrics', metric: prediction_requests_total, '>=': 10}", dir, vars).passed);
    CHECK(check("{kind: metrics, url: '{server}/metrics', metric: prediction_requests_total, labels: {model_version: v2}, '==': 3}", dir, vars).passed);
    CHECK(has(check("{kind: metrics, url: '{server}/metrics', metric: crm_segment_updates_total}", dir, vars).reason, "has no crm_segment_updates_total"));
    CHECK(has(check("{kind: metrics, url: '{server}/metrics', metric: model_loaded, '>': 1}", dir, vars).reason, "expected > 1, got 1"));
    const auto start = std::chrono::steady_clock::now();
    const CheckResult down = check("{kind: http, url: 'http://127.0.0.1:1/health'}", dir, {}, 1);
    CHECK(!down.passed);
    CHECK(has(down.reason, "cannot reach http://127.0.0.1:1/health"));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  }

  TEST_CASE("prometheus, sqlite and junit checks") {
    test::TempDir dir;
    FakeServer s;
    const std::map<std::string, std::string> vars = {{"prometheus", s.url()}};
    CHECK(check("{kind: prometheus, query: 'sum(up)', '>=': 2}", dir, vars).passed);
    CHECK(has(check("{kind: prometheus, query: 'sum(up)', '>': 5}", dir, vars).reason, "expected > 5, got 3"));
    CHECK(has(check("{kind: prometheus, query: absent_metric}", dir, vars).reason, "returned no data"));
    CHECK(has(check("{kind: prometheus, query: 'rate(x[5m]'}", dir, vars).reason, "parse error"));
    CHECK(has(check("{kind: prometheus, query: 'sum(up)'}", dir).reason, "pass --prometheus URL"));
    {
      sqlite::Database db(dir.file("crm.db"));
      db.exec("CREATE TABLE customers(id TEXT, segment TEXT); INSERT INTO customers VALUES ('a','Churn_Risk_AI'),('b','Normal');");
    }
    CHECK(check("{kind: sqlite, path: crm.db, query: \"SELECT segment FROM customers WHERE id = 'a'\", equals: Churn_Risk_AI}", dir).passed);
    CHECK(check("{kind: sqlite, path: crm.db, query: 'SELECT COUNT(*) FROM customers', '>=': 2}", dir).passed);
    CHECK(has(check("{kind: sqlite, path: crm.db, query: 'SELECT COUNT(*) FROM customers', '>=': 5}", dir).reason, "expected >= 5, got 2"));
    CHECK(has(check("{kind: sqlite, path: none.db, query: 'SELECT 1'}", dir).reason, "none.db does not exist"));
    dir.write("ok.xml", R"(<?xml version="1.0"?><testsuites><testsuite name="s" tests="2"><testcase name="a"/><testcase name="b"></testcase></testsuite></testsuites>)");
    dir.write("bad.xml", R"(<testsuite tests="2"><testcase name="a"><failure message="x"/></testcase><testcase name="b"/></testsuite>)");
    CHECK(check("{kind: junit, path: ok.xml, min_tests: 2}", dir).passed);
    CHECK(has(check("{kind: junit, path: ok.xml, min_tests: 3}", dir).reason, "2 tests, expected at least 3"));
    CHECK(has(check("{kind: junit, path: bad.xml}", dir).reason, "1 of 2 tests failed"));
  }

  TEST_CASE("all_of and any_of combine checks") {
    test::TempDir dir;
    dir.write("a", "");
    CHECK(check("{kind: all_of, checks: [{kind: file_exists, path: a}, {kind: file_exists, path: a}]}", dir).passed);
    CHECK(has(check("{kind: all_of, checks: [{kind: file_exists, path: a}, {kind: file_exists, path: b}]}", dir).reason, "b does not exist"));
    CHECK(check("{kind: any_of, checks: [{kind: file_exists, path: b}, {kind: file_exists, path: a}]}", dir).passed);
    CHECK(has(check("{kind: any_of, checks: [{kind: file_exists, path: b}, {kind: file_exists, path: c}]}", dir).reason, "none passes"));
  }

  TEST_CASE("scores: points per module, weighted total, pass mark, manual points, --only") {
    test::TempDir dir;
    dir.write("a", "");
    const Rubric r = parse_rubric(R"(
pass_score: 70
modules:
  M1:
    weight: 30
    criteria:
      C1: {text: a, points: 3, check: {kind: file_exists, path: a}}
      C2: {text: b, points: 1, check: {kind: file_exists, path: b}}
  M2:
    title: {en: Hand, zh-TW: 人工}
    weight: 70
    criteria:
      C1: {text: {en: review, zh-TW: 審查}, points: 4}
)", "r.yml");
    RunOptions o;
    o.workspace = dir.path();
    Results res = run_rubric(r, o);
    CHECK(res.modules[0].score == doctest::Approx(75));
    CHECK(res.modules[1].criteria[0].status == "manual");
    CHECK(res.score == doctest::Approx(22.5));  // 0.3 * 75 + 0.7 * 0
    CHECK(!res.passed);
    o.manual = {{"M2.C1", 4}};
    o.lang = "zh-TW";
    res = run_rubric(r, o);
    CHECK(res.score == doctest::Approx(92.5));
    CHECK(res.passed);
    CHECK(res.modules[1].title == "人工");
    CHECK(to_json(res)["schema"] == "mlops.rubric-results/1");
    o.only = {"M1"};
    CHECK(run_rubric(r, o).modules.size() == 1);
    o.only = {"M9"};
    CHECK(test::error_code_of([&] { run_rubric(r, o); }) == ErrorCode::invalid_input);
    o.only = {};
    o.manual = {{"M2.C9", 1}};
    CHECK(test::error_code_of([&] { run_rubric(r, o); }) == ErrorCode::invalid_input);
  }

  TEST_CASE("the original course's docs/rubric.yml loads as it is; its criteria are graded by hand") {
    const Rubric r = parse_rubric(R"(
rubric:
  M1_Project_Setup:
    title: "專案初始化"
    description: "建立專案結構與環境設定"
    criteria:
      C1: {desc: "建立 .env 並設定 MODEL_VERSION", badge: "Setup"}
      C2: {desc: "安裝依賴", badge: "Env-Ready"}
  M2_FastAPI_Service:
    title: "API 服務"
    criteria:
      C1: {desc: "/predict 正常回應", badge: "API-Ready"}
)", "docs/rubric.yml");
    REQUIRE(r.modules.size() == 2);
    CHECK(r.modules[0].id == "M1_Project_Setup");
    CHECK(r.modules[0].title.in("en") == "專案初始化");
    CHECK(r.modules[0].criteria[1].badge == "Env-Ready");
    CHECK(!r.modules[0].criteria[0].check);
  }

  TEST_CASE("a malformed rubric is rejected with file, line and field") {
    CHECK(has(error_of("modules:\n  M1:\n    criteria:\n      C1: {text: a, check: {kind: telepathy}}\n"), "r.yml:4: unknown check kind 'telepathy'"));
    CHECK(has(error_of("modules:\n  M1:\n    weight: heavy\n    criteria:\n      C1: {text: a}\n"), "r.yml:3: 'weight' is a number, not 'heavy'"));
    CHECK(has(error_of("modules:\n  M1:\n    criteria:\n      C1: {points: 2}\n"), "r.yml:4: criterion C1 needs a 'text'"));
    CHECK(has(error_of("modules:\n  M1:\n    criteria:\n      C1: {text: a, check: {kind: http}}\n"), "this check needs 'url'"));
    CHECK(has(error_of("modules:\n  M1:\n    criteria:\n      C1: {text: a, check: {kind: file_contains, path: x, regex: '(('}}\n"), "not a valid regex"));
    CHECK(has(error_of("modules: [\n"), "r.yml:2:"));
    CHECK(has(error_of("title: x\n"), "needs 'modules'"));
  }
}
