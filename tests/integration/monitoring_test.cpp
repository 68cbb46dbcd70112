// The monitoring configuration against a real Prometheus (Debian `prometheus`): the
// project's prometheus.yml and alerts.yml, pointed at real `mlops serve`, `mlops crm serve`
// and Pushgateway processes on loopback; every dashboard panel query, every dashboard
// variable and every alert expression must be valid PromQL, and the panels must return data.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "tests/support/mlflow_double.hpp"
#include "tests/support/real_mlflow.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/support.hpp"

#include <httplib.h>  // last: its <resolv.h> defines a macro `_res` that breaks Eigen

using namespace mlops;
using nlohmann::json;

namespace {

using test::free_port;

// A third-party server started for the test, stopped by its PID when the test ends.
class Program {
 public:
  // Runs in `dir` with this process's environment plus `extra_env` (NAME=value).
  Program(const std::string& path, const std::vector<std::string>& args, const std::string& dir,
          const std::vector<std::string>& extra_env = {})
      : log_(dir + "/" + std::to_string(::getpid()) + "-" + path.substr(path.rfind('/') + 1) + "-" + std::to_string(++started_) + ".log") {
    pid_ = test::spawn_program(path, args, test::environment(extra_env), dir, log_, log_);
  }
  ~Program() {
    ::kill(pid_, SIGTERM);
    test::wait_exit_code(pid_);
  }
  std::string log() const { return test::read_text(log_); }

 private:
  static inline int started_ = 0;
  std::string log_;
  int pid_ = -1;
};

template <class Predicate>
bool wait_for(Predicate ready, std::chrono::seconds budget) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

struct Prometheus {
  int port;
  httplib::Client client;
  explicit Prometheus(int p) : port(p), client("127.0.0.1", p) { client.set_read_timeout(10, 0); }
  json query(const std::string& promql) {
    const auto r = client.Get("/api/v1/query", {{"query", promql}}, httplib::Headers{});
    if (!r) return json{{"status", "error"}, {"error", "no answer"}};
    const json body = json::parse(r->body, nullptr, false);  // "Service Unavailable" while starting
    return body.is_discarded() ? json{{"status", "error"}, {"error", r->body}} : body;
  }
  double scalar(const std::string& promql) {
    const json r = query(promql);
    if (r["status"] != "success" || r["data"]["result"].empty()) return -1;
    return std::stod(r["data"]["result"][0]["value"][1].get<std::string>());
  }
};

// A real Prometheus scraping one target every second as job `job`, stopped with the test.
struct ScrapingPrometheus : Prometheus {
  Program server;
  ScrapingPrometheus(const test::TempDir& dir, const std::string& job, int target)
      : Prometheus(free_port()), server(start(dir, job, target, port)) {}

 private:
  static Program start(const test::TempDir& dir, const std::string& job, int target, int port) {
    dir.write("prometheus.yml", fmt::format("global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: {}\n"
                                            "    static_configs: [{{targets: ['127.0.0.1:{}']}}]\n", job, target));
    return Program("/usr/bin/prometheus",
                   {"--config.file=" + dir.file("prometheus.yml"), "--storage.tsdb.path=" + dir.file("tsdb"),
                    "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
                   dir.path());
  }
};

std::string substitute_variables(std::string expr) {
  replace_all(expr, "$__rate_interval", "1m");
  replace_all(expr, "$__range", "5m");
  replace_all(expr, "$__interval", "15s");
  replace_all(expr, "$job", "mlops-api");
  replace_all(expr, "$instance", ".*");
  replace_all(expr, "$model_version", ".*");
  return expr;
}

// The metric names an expression reads: identifiers with a metric suffix of ours, or `up`.
// (Label names and functions never end in these.)
std::set<std::string> metric_names(const std::string& expr) {
  std::set<std::string> names;
  const auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':'; };
  for (std::size_t i = 0; i < expr.size();) {
    if (!ident(expr[i]) || (i > 0 && ident(expr[i - 1]))) {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < expr.size() && ident(expr[end])) ++end;
    const std::string word = expr.substr(i, end - i);
    for (const char* suffix : {"_total", "_bucket", "_psi", "_loaded", "_events"}) {
      const std::string s = suffix;
      if (word.size() > s.size() && word.compare(word.size() - s.size(), s.size(), s) == 0) names.insert(word);
    }
    if (word == "up") names.insert(word);
    i = end;
  }
  return names;
}

// A project with a Production model, a second version for a canary, and an embedded CRM
// of 21 customers.
struct CanaryProject {
  test::TempDir dir;
  std::string home = dir.file("home");
  std::string crm = "sqlite:" + dir.file("crm.db");
  CanaryProject() {
    const auto cli = [&](const std::vector<std::string>& args) { return test::run_cli(args, home, dir.path()); };
    REQUIRE(cli({"train", "--n-samples", "500", "--register", "--stage", "Production", "-o", dir.file("m1.json")}).exit_code == 0);
    REQUIRE(cli({"train", "--n-samples", "400", "--model-version", "v2.0.0-canary", "--register", "-o", dir.file("m2.json")}).exit_code == 0);
    REQUIRE(cli({"crm", "--crm", crm, "init", "--customers", "20"}).exit_code == 0);
  }
};

}  // namespace

TEST_SUITE("integration/monitoring") {
  TEST_CASE("a real Prometheus scrapes serve, answers every dashboard query and evaluates every alert") {
    CanaryProject p;
    const test::TempDir& dir = p.dir;
    const std::string& home = p.home;
    const std::string& crm = p.crm;

    // The serving fleet: a healthy server with a canary, and one whose CRM is down (5xx).
    // (Its drift PSI is reported from 10 requests, so the drift panel and alert have data.)
    test::ServerProcess healthy(home, {"--canary-uri", "models:/ChurnPredictionModel/2", "--canary-weight", "0.5", "--crm", crm,
                                       "--drift-min-samples", "10"});
    // ... and whose MLflow is down, so its registry changes wait in the mirror's outbox.
    test::ServerProcess crm_down(home, {"--crm", "http://127.0.0.1:" + std::to_string(free_port())},
                                 {"MLFLOW_TRACKING_URI=http://127.0.0.1:" + std::to_string(free_port())});
    test::ServerProcess crm_service(home, {}, {}, {"crm", "--crm", crm, "serve"});
    const int pushgateway_port = free_port();
    Program pushgateway("/usr/bin/prometheus-pushgateway", {"--web.listen-address=127.0.0.1:" + std::to_string(pushgateway_port)},
                        dir.path());

    // The project's Alertmanager (its routes), clustering off so it binds loopback only.
    const int alertmanager_port = free_port();
    Program alertmanager("/usr/bin/prometheus-alertmanager",
                         {"--config.file=" + std::string(MLOPS_SOURCE_DIR) + "/compose/alertmanager/alertmanager.yml",
                          "--storage.path=" + dir.file("alertmanager"), "--cluster.listen-address=",
                          "--web.listen-address=127.0.0.1:" + std::to_string(alertmanager_port), "--log.level=warn"},
                         dir.path());

    // The project's Prometheus configuration, with the compose hosts replaced by loopback
    // ports and intervals shortened to a second.
    std::string config = test::read_text(std::string(MLOPS_SOURCE_DIR) + "/compose/prometheus/prometheus.yml");
    replace_all(config, "alertmanager:9093", "127.0.0.1:" + std::to_string(alertmanager_port));
    const std::string api_targets =
        "127.0.0.1:" + std::to_string(healthy.port()) + "\", \"127.0.0.1:" + std::to_string(crm_down.port());
    replace_all(config, "mlops-api:8000", api_targets);
    replace_all(config, "crm:8001", "127.0.0.1:" + std::to_string(crm_service.port()));
    replace_all(config, "pushgateway:9091", "127.0.0.1:" + std::to_string(pushgateway_port));
    replace_all(config, "scrape_interval: 15s", "scrape_interval: 1s");
    replace_all(config, "evaluation_interval: 15s", "evaluation_interval: 1s");
    dir.write("prometheus.yml", config);
    dir.write("alerts.yml", test::read_text(std::string(MLOPS_SOURCE_DIR) + "/compose/prometheus/alerts.yml"));
    Prometheus prometheus(free_port());
    Program server("/usr/bin/prometheus",
                   {"--config.file=" + dir.file("prometheus.yml"), "--storage.tsdb.path=" + dir.file("tsdb"),
                    "--web.listen-address=127.0.0.1:" + std::to_string(prometheus.port),
                    "--storage.tsdb.retention.time=1h", "--log.level=warn"},
                   dir.path());
    INFO(server.log());
    REQUIRE(wait_for([&] { return prometheus.scalar("count(up == 1)") == 4; }, std::chrono::seconds(30)));

    // Traffic in two waves with a scrape between them, so every rate() sees an increase.
    httplib::Client api("127.0.0.1", healthy.port());
    httplib::Client failing("127.0.0.1", crm_down.port());
    const std::string row = "{\"features\":[5,5,5,5,5,5,5,5,5,5]}";
    int sent = 0;
    const auto wave = [&](int customer) {
      for (int i = 0; i < 40; ++i, ++sent) {
        REQUIRE(api.Post("/predict", {{"X-Request-Key", "caller-" + std::to_string(i)}}, row, "application/json")->status == 200);
      }
      const std::string id = "CUST" + fmt::format("{:03}", customer);
      REQUIRE(api.Post(("/crm_segment_update?customer_id=" + id).c_str(), "", "text/plain")->status == 200);
      REQUIRE(api.Post("/crm_segment_update?customer_id=NOPE", "", "text/plain")->status == 404);
      REQUIRE(failing.Post(("/crm_segment_update?customer_id=" + id).c_str(), "", "text/plain")->status == 503);
      sent += 3;
    };
    // Batch jobs push their run metrics to the Pushgateway, which Prometheus scrapes.
    const std::vector<std::string> push_env = {"PUSHGATEWAY_URL=http://127.0.0.1:" + std::to_string(pushgateway_port)};
    const auto synced = test::run_cli({"crm-sync", "--crm", crm, "--json"}, home, dir.path(), push_env);
    REQUIRE(synced.exit_code == 0);
    CHECK(synced.err.find("warning") == std::string::npos);
    REQUIRE(test::run_cli({"train", "--n-samples", "300", "-o", dir.file("m3.json")}, home, dir.path(), push_env).exit_code == 0);
    REQUIRE(wait_for([&] { return prometheus.scalar("crm_sync_customers_read{job=\"mlops_crm_sync\", shard=\"0_of_1\"}") == 21; },
                     std::chrono::seconds(15)));
    const double accuracy = prometheus.scalar("train_accuracy{job=\"mlops_train\", model=\"ChurnPredictionModel\"}");
    CHECK(accuracy > 0.5);
    CHECK(accuracy <= 1);
    CHECK(prometheus.scalar("train_rows{job=\"mlops_train\"}") == 300);

    wave(1);
    const std::string total = "sum(prediction_requests_total)";
    REQUIRE(wait_for([&] { return prometheus.scalar(total) == sent; }, std::chrono::seconds(15)));
    wave(2);
    REQUIRE(wait_for([&] { return prometheus.scalar(total) == sent; }, std::chrono::seconds(15)));
    // A rate() window needs two samples after the last increase: one more scrape.
    REQUIRE(wait_for([&] { return prometheus.scalar("count(count_over_time(up[3s]) >= 2)") >= 4; }, std::chrono::seconds(10)));

    const json dashboard = json::parse(test::read_text(std::string(MLOPS_SOURCE_DIR) + "/dashboards/mlops-overview.json"));
    int queries = 0;
    for (const json& panel : dashboard["panels"]) {
      for (const json& target : panel.value("targets", json::array())) {  // a row has none
        const std::string expr = substitute_variables(target["expr"]);
        CAPTURE(panel["title"].get<std::string>());
        CAPTURE(expr);
        const json r = prometheus.query(expr);
        CHECK(r["status"] == "success");
        CHECK(!r["data"]["result"].empty());
        ++queries;
      }
    }
    CHECK(queries >= 16);
    // The error-rate panel on the healthy server: 0, not "No data" (it has no 5xx series).
    int error_panels = 0;
    for (const json& panel : dashboard["panels"]) {
      if (panel["title"] != "Error rate / 錯誤率") continue;
      ++error_panels;
      std::string expr = panel["targets"][0]["expr"];
      replace_all(expr, "$instance", "127.0.0.1:" + std::to_string(healthy.port()));
      CAPTURE(expr);
      CHECK(prometheus.scalar(substitute_variables(expr)) == 0);
    }
    CHECK(error_panels == 1);

    // The course's own dashboard (grafana_config/dashboards/ai_service_dashboard.json): its
    // four panel queries and its variable, as written there but for its scrape job's name.
    for (const char* expr : {R"(rate(http_requests_total{job="mlops-api", endpoint="/predict"}[1m]))",
                             R"(histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{job="mlops-api", endpoint="/predict"}[5m])) by (le)))",
                             R"(ai_model_loaded{model_version=~"v1.0.0"})", "sum(ai_prediction_errors_total)",
                             "count by (model_version) (ai_model_loaded)"}) {
      CAPTURE(expr);
      const json r = prometheus.query(expr);
      CHECK(r["status"] == "success");
      CHECK(!r["data"]["result"].empty());
    }
    CHECK(prometheus.scalar(R"(max(ai_model_loaded{model_version="v1.0.0"}))") == 1);
    CHECK(prometheus.scalar("sum(ai_prediction_errors_total)") > 0);  // the server whose CRM is down

    // Variables: label_values(selector, label) must find that label.
    for (const json& variable : dashboard["templating"]["list"]) {
      if (variable["type"] != "query") continue;
      const std::string q = variable["query"]["query"];
      CAPTURE(q);
      const std::size_t comma = q.rfind(',');
      REQUIRE((q.rfind("label_values(", 0) == 0 && comma != std::string::npos && q.back() == ')'));
      const std::string selector = q.substr(13, comma - 13);
      const std::string label = q.substr(comma + 1, q.size() - comma - 2);
      const json r = prometheus.query(substitute_variables("count by (" + label + ") (" + selector + ")"));
      CHECK(r["status"] == "success");
      CHECK(!r["data"]["result"].empty());
    }

    // Alerts: every rule loaded and evaluated without error, every metric it reads exists.
    const YAML::Node rules = YAML::LoadFile(std::string(MLOPS_SOURCE_DIR) + "/compose/prometheus/alerts.yml");
    std::set<std::string> expected;
    for (const auto& group : rules["groups"]) {
      for (const auto& rule : group["rules"]) expected.insert(rule["alert"].as<std::string>());
    }
    json loaded;
    REQUIRE(wait_for([&] {
      loaded = json::parse(prometheus.client.Get("/api/v1/rules")->body);
      int evaluated = 0;
      for (const json& group : loaded["data"]["groups"]) {
        for (const json& rule : group["rules"]) evaluated += rule["health"] == "ok";
      }
      return evaluated == static_cast<int>(expected.size());
    }, std::chrono::seconds(10)));
    for (const json& group : loaded["data"]["groups"]) {
      for (const json& rule : group["rules"]) {
        const std::string expr = rule["query"];
        CAPTURE(expr);
        CHECK(expected.count(rule["name"].get<std::string>()) == 1);
        CHECK(prometheus.query(expr)["status"] == "success");
        for (const std::string& name : metric_names(expr)) {
          CAPTURE(name);
          CHECK(prometheus.scalar("count(" + name + ")") > 0);
        }
      }
    }
    // And live: the server whose CRM is down has its error alerts pending (they fire after `for`).
    const std::string down = "127.0.0.1:" + std::to_string(crm_down.port());
    for (const char* alert : {"PredictionErrorRatioHigh", "CrmUpdateFailures"}) {
      CAPTURE(alert);
      CHECK(wait_for([&] {
        return prometheus.scalar(fmt::format("count(ALERTS{{alertname=\"{}\", instance=\"{}\", alertstate=\"pending\"}})", alert, down)) == 1;
      }, std::chrono::seconds(10)));
    }
    CHECK(prometheus.scalar("count(ALERTS{alertname=\"PredictionErrorRatioHigh\", instance!=\"" + down + "\"})") == -1);
    // Prometheus sends its alerts to the project's Alertmanager.
    CHECK(wait_for([&] {
      const auto r = prometheus.client.Get("/api/v1/alertmanagers");
      const json active = r ? json::parse(r->body, nullptr, false)["data"]["activeAlertmanagers"] : json();
      return active.is_array() && active.size() == 1 &&
             active[0]["url"] == fmt::format("http://127.0.0.1:{}/api/v2/alerts", alertmanager_port);
    }, std::chrono::seconds(10)));
  }
}

TEST_SUITE("integration/monitoring") {
  TEST_CASE("FeatureDrift in a real Prometheus: 1,000 shifted rows after 2,000 normal ones go pending; 15 rows never do") {
    CanaryProject p;
    const test::TempDir& dir = p.dir;
    // Default drift settings: a window of the last 1,000 requests, a PSI from 100 on.
    test::ServerProcess drifting(p.home, {"--crm", p.crm});
    test::ServerProcess quiet(p.home, {"--crm", p.crm});
    const std::string a = "127.0.0.1:" + std::to_string(drifting.port());
    const std::string b = "127.0.0.1:" + std::to_string(quiet.port());
    dir.write("alerts.yml", test::read_text(std::string(MLOPS_SOURCE_DIR) + "/compose/prometheus/alerts.yml"));
    dir.write("prometheus.yml", fmt::format("global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [alerts.yml]\n"
                                            "scrape_configs:\n  - job_name: mlops-api\n"
                                            "    static_configs: [{{targets: ['{}', '{}']}}]\n", a, b));
    Prometheus prometheus(free_port());
    Program server("/usr/bin/prometheus",
                   {"--config.file=" + dir.file("prometheus.yml"), "--storage.tsdb.path=" + dir.file("tsdb"),
                    "--web.listen-address=127.0.0.1:" + std::to_string(prometheus.port), "--log.level=warn"},
                   dir.path());
    INFO(server.log());
    REQUIRE(wait_for([&] { return prometheus.scalar("count(up == 1)") == 2; }, std::chrono::seconds(30)));
    // Rows like the training data (uniform 0..10), or shifted (uniform 8..10).
    std::mt19937_64 rng(5);
    const auto send = [&](test::ServerProcess& to, int n, bool shifted) {
      httplib::Client c("127.0.0.1", to.port());
      std::uniform_real_distribution<double> value(shifted ? 8.0 : 0.0, 10.0);
      int answered = 0;
      for (int i = 0; i < n; ++i) {
        json row = json::array();
        for (int f = 0; f < 10; ++f) row.push_back(value(rng));
        const auto r = c.Post("/predict", json{{"features", row}}.dump(), "application/json");
        answered += r && r->status == 200;
      }
      REQUIRE(answered == n);
    };
    const auto rows_seen = [&](const std::string& instance, int n) {
      return wait_for([&] {
        return prometheus.scalar(fmt::format("max(feature_drift_window_rows{{instance=\"{}\"}})", instance)) == n;
      }, std::chrono::seconds(15));
    };
    const auto pending = [](const std::string& instance) {
      return fmt::format(R"(count(ALERTS{{alertname="FeatureDrift", instance="{}", alertstate="pending"}}))", instance);
    };
    send(drifting, 2000, false);
    send(quiet, 15, true);
    REQUIRE(rows_seen(a, 1000));
    REQUIRE(rows_seen(b, 15));
    std::this_thread::sleep_for(std::chrono::seconds(3));  // three more evaluations
    CHECK(prometheus.scalar(fmt::format("max(feature_drift_psi{{instance=\"{}\"}})", a)) < 0.2);
    CHECK(prometheus.scalar(R"(count(ALERTS{alertname="FeatureDrift"}))") == -1);
    // The shift fills the window: the alert goes pending (it fires after its `for`).
    send(drifting, 1000, true);
    CHECK(wait_for([&] { return prometheus.scalar(pending(a)) > 0; }, std::chrono::seconds(15)));
    CHECK(prometheus.scalar(fmt::format("max(feature_drift_psi{{instance=\"{}\"}})", a)) > 0.2);
    // 15 shifted rows: the window's means show them, but no PSI is reported and no alert.
    CHECK(prometheus.scalar(fmt::format("max(feature_mean{{instance=\"{}\"}})", b)) > 8);
    CHECK(prometheus.scalar(fmt::format("count(feature_drift_psi{{instance=\"{}\"}})", b)) == -1);
    CHECK(prometheus.scalar(pending(b)) == -1);
  }

  TEST_CASE("a Pushgateway that is down does not fail the job: one warning line") {
    test::TempDir dir;
    const auto r = test::run_cli({"train", "--n-samples", "200", "-o", dir.file("m.json")}, dir.file("home"), dir.path(),
                                 {"PUSHGATEWAY_URL=http://127.0.0.1:" + std::to_string(free_port())});
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("warning: run metrics not pushed: cannot reach http://127.0.0.1:") != std::string::npos);
  }

  TEST_CASE("the built-in /dashboard shows live numbers in headless Chromium") {
    CanaryProject p;
    const test::TempDir& dir = p.dir;
    const std::string& home = p.home;
    const std::string& crm = p.crm;
    test::ServerProcess server(home, {"--canary-uri", "models:/ChurnPredictionModel/2", "--canary-weight", "0.5", "--crm", crm});

    // The screenshot is kept as a test artifact: build/tests/artifacts/dashboard.png.
    std::string screenshot;
    const auto page = test::run_page_check("dashboard_page.mjs", {"http://127.0.0.1:" + std::to_string(server.port())},
                                           dir.path(), "dashboard.png", screenshot);
    INFO(page.out);
    INFO(page.err);
    CHECK(page.exit_code == 0);
    CHECK(std::filesystem::file_size(screenshot) > 10000);
  }
}

namespace {

// A copy of this project as a learner hands it in: its files without .git or build trees;
// .tools (the npm tools) is linked, so that `make deps` finds them installed.
std::string copy_project(const std::string& to, const std::string& build) {
  const std::filesystem::path source(MLOPS_SOURCE_DIR);
  std::filesystem::create_directories(to);
  for (const auto& entry : std::filesystem::directory_iterator(source)) {
    const std::string name = entry.path().filename().string();
    if (name == ".git" || name == ".tools" || name.rfind("build", 0) == 0 || entry.path() == std::filesystem::path(build)) continue;
    std::filesystem::copy(entry.path(), std::filesystem::path(to) / name,
                          std::filesystem::copy_options::recursive | std::filesystem::copy_options::copy_symlinks);
  }
  std::filesystem::create_directory_symlink(source / ".tools", std::filesystem::path(to) / ".tools");
  return to;
}

}  // namespace

TEST_SUITE("integration/monitoring") {
  TEST_CASE("the project grades itself with the course rubric at 100% (serve, CRM, Prometheus running)") {
    test::TempDir dir;
    const std::string home = dir.file("home");
    test::MlflowDouble mlflow;  // M3: the registry mirrors to MLflow
    const auto cli = [&](const std::vector<std::string>& args) {
      return test::run_cli(args, home, dir.path(), {"MLFLOW_TRACKING_URI=" + mlflow.url()});
    };
    REQUIRE(cli({"train", "--n-samples", "1000", "--register", "--stage", "Production", "-o", dir.file("model.json")}).exit_code == 0);
    const std::string crm_db = dir.file("crm.db");
    REQUIRE(cli({"crm", "--crm", "sqlite:" + crm_db, "init", "--customers", "50"}).exit_code == 0);
    dir.write(".env", test::read_text(std::string(MLOPS_SOURCE_DIR) + "/.env.example"));  // M1: cp .env.example .env
    test::ServerProcess server(home, {"--crm", "sqlite:" + crm_db}, {"MLOPS_LOG=info"});
    const std::string server_url = "http://127.0.0.1:" + std::to_string(server.port());

    ScrapingPrometheus prometheus(dir, "mlops-api", server.port());
    httplib::Client api("127.0.0.1", server.port());
    REQUIRE(api.Post("/predict", "{\"features\":[5,5,5,5,5,5,5,5,5,5]}", "application/json")->status == 200);
    REQUIRE(wait_for([&] { return prometheus.scalar("sum(prediction_requests_total)") >= 1; }, std::chrono::seconds(30)));

    const std::string build = std::filesystem::path(MLOPS_BINARY).parent_path().parent_path().string();
    // The grader writes only into the copy it grades and this scratch folder, never the source tree.
    const std::string workspace = copy_project(dir.file("workspace"), build);
    std::filesystem::create_directories(dir.file("scratch"));
    const auto r = test::run_cli(
        {"eval-rubric", "--rubric", std::string(MLOPS_SOURCE_DIR) + "/rubric/rubric.yml", "--workspace", workspace,
         "--server", server_url, "--prometheus", "http://127.0.0.1:" + std::to_string(prometheus.port),
         "--mlflow", mlflow.url(), "--var", "env_file=" + dir.file(".env"), "--var", "registry=" + home + "/mlops.db", "--var", "crm_db=" + crm_db,
         "--var", "server_log=" + server.log_path(), "--var", "artifact=" + dir.file("model.json"),
         // `make test` would run this very test again: the unit tests stand in for it (run
         // directly, not through a second ctest writing into the running one's files).
         "--var", "test_command=" + build + "/tests/mlops_tests --test-suite='unit/*' --no-intro",
         // `make train` as the rubric runs it, with the binary already built, its registry and model in scratch/.
         "--var", "train_command=MLOPS_HOME=" + dir.file("scratch/home") + " MODEL_PATH=" + dir.file("scratch/model.json") +
                      " make train MLOPS=" + MLOPS_BINARY,
         "--writable", dir.file("scratch"),
         // The sandbox's /tmp is its own: a source or build tree there must be named to be seen.
         "--readable", MLOPS_SOURCE_DIR, "--readable", build,
         "--format", "json", "--out", dir.file("results.json")},
        "", dir.path());
    INFO(test::read_text(dir.file("results.json")));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const nlohmann::json results = nlohmann::json::parse(test::read_text(dir.file("results.json")));
    CHECK(results["score"] == 100);
    int criteria = 0;
    for (const auto& m : results["modules"]) criteria += static_cast<int>(m["criteria"].size());
    CHECK(criteria == 17);
    const auto badges = test::run_cli({"badge", "--results", dir.file("results.json"), "--config",
                                       std::string(MLOPS_SOURCE_DIR) + "/rubric/badges.yml", "--out", dir.file("badges")}, "", dir.path());
    CHECK(badges.exit_code == 0);
    CHECK(test::read_text(dir.file("badges/overall.json")).find("\"brightgreen\"") != std::string::npos);
  }
}

// The original course's rubric (rubric/course.yml) on this project, against what the course
// checks: the services over HTTP, Prometheus, MLflow's own tracking server and the files.
TEST_SUITE("integration/course_rubric") {
  TEST_CASE("rubric/course.yml grades an mlops workspace at 100%: every automated criterion passes") {
    test::RealMlflow mlflow;
    test::TempDir dir;
    const std::string home = dir.file("home");
    const auto cli = [&](const std::vector<std::string>& args) {
      return test::run_cli(args, home, dir.path(), {"MLFLOW_TRACKING_URI=" + mlflow.url()});
    };
    // M3 as the course runs it: train with its command, register, mirror to MLflow.
    REQUIRE(cli({"train", "--n_samples", "1000", "--c_param", "0.1", "--model_version", "v1.2.0-stable", "--register", "--stage",
                 "Production", "-o", dir.file("sample_model.json")}).exit_code == 0);
    REQUIRE(cli({"mirror"}).exit_code == 0);
    REQUIRE(cli({"crm", "--crm", "sqlite:" + dir.file("crm.db"), "init", "--customers", "20"}).exit_code == 0);
    test::ServerProcess crm(home, {}, {}, {"crm", "--crm", "sqlite:" + dir.file("crm.db"), "serve"});
    test::ServerProcess server(home, {"--crm", "http://127.0.0.1:" + std::to_string(crm.port())});
    ScrapingPrometheus prometheus(dir, "fastapi_app", server.port());
    REQUIRE(wait_for([&] { return prometheus.scalar("count(ai_model_loaded)") >= 1; }, std::chrono::seconds(30)));

    const std::string build = std::filesystem::path(MLOPS_BINARY).parent_path().parent_path().string();
    const std::string workspace = copy_project(dir.file("workspace"), build);
    dir.write("manual.yml", "M1: {C2: 1}\nM6: {C2: 1}\n");  // the two criteria a person grades
    const std::string tests = build + "/tests/mlops_tests --no-intro --test-suite=";
    const auto r = test::run_cli(
        {"eval-rubric", "--rubric", std::string(MLOPS_SOURCE_DIR) + "/rubric/course.yml", "--workspace", workspace,
         "--server", "http://127.0.0.1:" + std::to_string(server.port()), "--crm", "http://127.0.0.1:" + std::to_string(crm.port()),
         "--prometheus", "http://127.0.0.1:" + std::to_string(prometheus.port), "--mlflow", mlflow.url(),
         "--var", "grafana=http://127.0.0.1:" + std::to_string(free_port()),  // Grafana cannot run here: its dashboard file counts
         "--var", "unit_test_command=" + tests + "unit/serving/*",
         "--var", "e2e_test_command=" + tests + "integration/course_contract",
         "--readable", MLOPS_SOURCE_DIR, "--readable", build,
         "--manual", dir.file("manual.yml"), "--timeout", "30", "--format", "json"},
        "", dir.path());
    INFO(r.out);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const json results = json::parse(r.out);
    int criteria = 0;
    for (const json& m : results["modules"]) {
      for (const json& c : m["criteria"]) {
        ++criteria;
        CAPTURE(c["badge"].get<std::string>());
        CHECK_MESSAGE(c["earned"] == c["points"], c["reason"].get<std::string>());
      }
    }
    CHECK(criteria == 23);
    CHECK(results["score"] == 100);
  }

  TEST_CASE("rubric/course.yml grades a FastAPI implementation of the course by the same rules, criterion by criterion") {
    test::RealMlflow mlflow;
    test::TempDir dir;
    const std::string project = dir.file("fastapi");
    std::filesystem::copy(std::string(MLOPS_SOURCE_DIR) + "/tests/course/fastapi_project", project, std::filesystem::copy_options::recursive);
    const std::string python = "/usr/bin/python3";
    const std::vector<std::string> env = test::environment({"MLFLOW_TRACKING_URI=" + mlflow.url()});
    // M3 as that project runs it: its training script logs and registers over MLflow's REST API.
    REQUIRE(test::wait_exit_code(test::spawn_program(python, {"mlops/train_model.py", "--n_samples", "1000", "--c_param", "0.1",
                                                               "--model_version", "v1.2.0-stable"},
                                                     env, project, dir.file("train.out"), dir.file("train.err"))) == 0);
    const int crm_port = free_port(), api_port = free_port();
    const std::string crm = "http://127.0.0.1:" + std::to_string(crm_port), api = "http://127.0.0.1:" + std::to_string(api_port);
    Program crm_mock(python, {"-m", "uvicorn", "crm_mock.main:app", "--host", "127.0.0.1", "--port", std::to_string(crm_port)}, project);
    Program service(python, {"-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", std::to_string(api_port)}, project,
                    {"CRM_HOST=" + crm, "MODEL_VERSION=v1.2.0-stable"});
    httplib::Client client("127.0.0.1", api_port);
    REQUIRE(wait_for([&] { return client.Get("/") && client.Get("/")->status == 200; }, std::chrono::seconds(30)));
    REQUIRE(client.Post("/predict", R"({"features":[5,5,5,5,5,5,5,5,5,5]})", "application/json")->status == 200);
    ScrapingPrometheus prometheus(dir, "fastapi_app", api_port);
    REQUIRE(wait_for([&] { return prometheus.scalar("count(ai_model_loaded)") >= 1; }, std::chrono::seconds(30)));

    dir.write("manual.yml", "M1: {C2: 1}\nM6: {C2: 1}\n");
    const auto r = test::run_cli(
        {"eval-rubric", "--rubric", std::string(MLOPS_SOURCE_DIR) + "/rubric/course.yml", "--workspace", project,
         "--server", api, "--crm", crm, "--prometheus", "http://127.0.0.1:" + std::to_string(prometheus.port), "--mlflow", mlflow.url(),
         "--var", "grafana=http://127.0.0.1:" + std::to_string(free_port()),
         "--var", "unit_test_command=" + python + " -m pytest -q -p no:cacheprovider -m 'not external' tests/",
         "--var", "e2e_test_command=CRM_MOCK_URL=" + crm + " CRM_HOST=" + crm + " " + python + " -m pytest -q -p no:cacheprovider -m external tests/",
         "--manual", dir.file("manual.yml"), "--timeout", "60", "--format", "json"},
        "", dir.path());
    INFO(r.out);
    INFO(r.err);
    INFO(service.log());
    REQUIRE(r.exit_code == 0);  // 92.5% against the pass mark of 80
    const json results = json::parse(r.out);
    std::map<std::string, std::string> failed;
    int criteria = 0;
    for (const json& m : results["modules"]) {
      for (const json& c : m["criteria"]) {
        ++criteria;
        if (c["earned"] != c["points"]) failed[c["badge"].get<std::string>()] = c["reason"];
      }
    }
    CHECK(criteria == 23);
    // What that project truly lacks, and nothing else: a non-root Dockerfile and a CI workflow.
    CHECK(failed.size() == 2);
    CHECK(failed["Containerized"].find("Dockerfile has no match") != std::string::npos);
    CHECK(failed["CI-Flow"].find(".github/workflows") != std::string::npos);
    CHECK(results["score"].get<double>() == doctest::Approx(92.5));

    // And `mlops serve` in front of that project's CRM mock: a learner can swap the service
    // and keep the course's CRM.
    const std::string home = dir.file("home");
    REQUIRE(test::run_cli({"train", "--register", "--stage", "Production", "-o", dir.file("m.json")}, home, dir.path()).exit_code == 0);
    test::ServerProcess ours(home, {"--crm", crm});
    httplib::Client ours_client("127.0.0.1", ours.port());
    const auto updated = ours_client.Post("/crm_segment_update?customer_id=CUST001", "", "text/plain");
    REQUIRE(updated);
    CHECK(updated->status == 200);
    const json decision = json::parse(updated->body);
    CHECK(decision["crm_mock_response"]["user_id"] == "CUST001");
    httplib::Client mock("127.0.0.1", crm_port);
    CHECK(json::parse(mock.Get("/customer/CUST001")->body)["segment"] == decision["segment_ai_decision"]);
  }
}
