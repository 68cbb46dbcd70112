#include <doctest/doctest.h>

#include <fmt/format.h>

#include <cstdlib>
#include <thread>

#include "libmlops/core/fs.hpp"
#include "libmlops/core/sha256.hpp"
#include "libmlops/mlflow/client.hpp"
#include "libmlops/mlflow/mirror.hpp"
#include "libmlops/registry/registry_store.hpp"
#include "tests/support/mlflow_double.hpp"
#include "tests/support/support.hpp"

#include <httplib.h>

using namespace mlops;
using nlohmann::json;

namespace {

mlflow::Connection connection(const std::string& url, int retries = 0, double timeout = 5) {
  mlflow::Connection c;
  c.tracking_uri = url;
  c.http.retries = retries;
  c.http.timeout_seconds = timeout;
  c.http.backoff_seconds = 0.01;
  return c;
}

// The MlflowError an action throws (fails the test when it throws none or another type).
mlflow::MlflowError mlflow_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const mlflow::MlflowError& e) {
    return e;
  }
  FAIL("expected an MlflowError");
  throw std::logic_error("unreachable");
}

// A registry with one finished run (its artifact on disk) and version 1 of `name`.
struct LocalRegistry {
  test::TempDir dir;
  registry::RegistryStore store{dir.file("mlops.db")};
  std::string artifact = dir.write("model.json", R"({"model_version":"v1.0.0","weights":[1,2,3]})");

  void add_version(const std::string& name) {
    const registry::Run run = store.create_run({"churn", "train-1", {{"C", "0.1"}}, {{"model_version", "v1.0.0"}}});
    store.finish_run(run.id, {"FINISHED", {{"n_samples", "1000"}}, {{"accuracy", 0.9}}, {}, artifact,
                              sha256_hex(read_file(artifact))});
    store.register_version({name, run.id, artifact, sha256_hex(read_file(artifact)), "v1.0.0", "", {}, "", {}, false, ""});
  }
};

}  // namespace

TEST_SUITE("unit/mlflow") {
  TEST_CASE("MLflow's error bodies become typed errors; only a request's own 4xx is permanent") {
    test::MlflowDouble double_;
    mlflow::Client client(connection(double_.url()));
    CHECK_FALSE(client.find_experiment_id("nope").has_value());
    const std::string id = client.ensure_experiment("churn");
    CHECK(client.ensure_experiment("churn") == id);  // RESOURCE_ALREADY_EXISTS is not an error here
    CHECK(client.find_experiment_id("Default") == "0");
    CHECK(client.ensure_registered_model("m", "", {}));
    CHECK_FALSE(client.ensure_registered_model("m", "", {}));

    auto missing = mlflow_error_of([&] { client.get_version("m", "7"); });
    CHECK(missing.code() == ErrorCode::not_found);
    CHECK(missing.error_code() == "RESOURCE_DOES_NOT_EXIST");
    CHECK(missing.http_status() == 404);
    CHECK(missing.permanent());
    CHECK(std::string(missing.what()).find("Model Version (name=m, version=7) not found") != std::string::npos);

    // models:/m/latest: the highest version in any stage.
    CHECK_FALSE(client.latest_version("m").has_value());
    client.create_model_version("m", "mlflow-artifacts:/1/a/artifacts/model", "", "", {});
    client.create_model_version("m", "mlflow-artifacts:/1/b/artifacts/model", "", "", {});
    client.transition_stage("m", "1", "Production", false);
    REQUIRE(client.latest_version("m").has_value());
    CHECK(client.latest_version("m")->version == "2");

    auto bad_alias = mlflow_error_of([&] { client.get_version_by_alias("m", "champion"); });
    CHECK(bad_alias.http_status() == 400);  // MLflow answers an unknown alias with 400, not 404
    CHECK(bad_alias.code() == ErrorCode::invalid_input);

    double_.fail_next(1, 500);
    auto server_error = mlflow_error_of([&] { client.find_experiment_id("churn"); });
    CHECK(server_error.code() == ErrorCode::unavailable);
    CHECK_FALSE(server_error.permanent());

    // A URL that is not MLflow's API: an HTML 404, not MLflow's JSON — a setup problem.
    mlflow::Client wrong(connection(double_.url() + "/not-mlflow"));
    auto html = mlflow_error_of([&] { wrong.find_experiment_id("churn"); });
    CHECK(html.http_status() == 404);
    CHECK(html.error_code().empty());
    CHECK_FALSE(html.permanent());
    CHECK(std::string(html.what()).find("without MLflow's error JSON") != std::string::npos);
  }

  TEST_CASE("idempotent calls are retried on 5xx; creating a run is not") {
    test::MlflowDouble double_;
    mlflow::Client client(connection(double_.url(), 3));
    double_.fail_next(2);
    CHECK(client.ensure_experiment("churn") == "1");
    CHECK(double_.calls("get-by-name") == 3);
    double_.fail_next(1);
    CHECK_THROWS_AS(client.create_run("1", "r", 1, {}), mlflow::MlflowError);
    CHECK(double_.state()["runs"].empty());
    CHECK(double_.calls("runs/create") == 1);
  }

  TEST_CASE("credentials: a bearer token, and a clear error without it") {
    test::MlflowDouble double_;
    double_.require_token("s3cret");
    auto without = mlflow_error_of([&] { mlflow::Client(connection(double_.url())).ensure_experiment("x"); });
    CHECK(without.http_status() == 401);
    CHECK_FALSE(without.permanent());
    CHECK(std::string(without.what()).find("refused the credentials") != std::string::npos);
    CHECK(without.hint().find("MLFLOW_TRACKING_TOKEN") != std::string::npos);
    auto with = connection(double_.url());
    with.http.bearer_token = "s3cret";
    CHECK(mlflow::Client(with).ensure_experiment("x") == "1");
  }

  TEST_CASE("log-batch is split at MLflow's limits; params may not change") {
    test::MlflowDouble double_;
    mlflow::Client client(connection(double_.url()));
    const auto run = client.create_run("0", "r", 1700000000000, {{"mlflow.user", "ana"}});
    CHECK(run.artifact_uri == fmt::format("mlflow-artifacts:/0/{}/artifacts", run.run_id));
    mlflow::Tags params;
    for (int i = 0; i < 250; ++i) params[fmt::format("p{:03}", i)] = std::to_string(i);
    std::vector<mlflow::Metric> metrics;
    for (int i = 0; i < 1700; ++i) metrics.push_back({"loss", 1.0 / (i + 1), 1700000000000 + i, i});
    client.log_batch(run.run_id, params, metrics, {{"t", "1"}});
    CHECK(double_.calls("runs/log-batch") == 3);
    const json r = double_.state()["runs"][0];
    CHECK(r["params"].size() == 250);
    CHECK(r["metric_points"] == 1700);
    client.log_batch(run.run_id, {{"p000", "0"}}, {}, {});  // the same value again is fine
    auto changed = mlflow_error_of([&] { client.log_batch(run.run_id, {{"p000", "9"}}, {}, {}); });
    CHECK(changed.permanent());
    CHECK(std::string(changed.what()).find("Changing param values is not allowed") != std::string::npos);
  }

  TEST_CASE("artifacts go through the proxy and come back byte for byte") {
    test::MlflowDouble double_;
    mlflow::Client client(connection(double_.url()));
    const auto run = client.create_run("0", "r", 1, {});
    const std::string bytes = std::string("{\"a\": 1}\n") + std::string(1, '\0') + "tail";
    client.upload_artifact(run.artifact_uri, "model/model.json", bytes);
    CHECK(double_.state()["artifacts"].contains(fmt::format("0/{}/artifacts/model/model.json", run.run_id)));
    CHECK(client.download_artifact(run.artifact_uri, "model/model.json") == bytes);
    auto missing = mlflow_error_of([&] { client.download_artifact(run.artifact_uri, "model/nope.json"); });
    CHECK(missing.code() == ErrorCode::not_found);  // MLflow's 500 "No such file" is read as missing
    CHECK(test::error_code_of([&] { client.upload_artifact("/local/path", "x", "y"); }) == ErrorCode::invalid_input);
  }

  TEST_CASE("a drain whose version create timed out after MLflow made it finds it, not a second one") {
    test::MlflowDouble double_;
    LocalRegistry local;
    local.add_version("churn-model");
    local.store.set_alias("churn-model", "champion", 1);
    double_.hold_after("model-versions/create");  // MLflow creates the version, the answer never comes
    mlflow::Client slow(connection(double_.url(), 0, 0.5));
    const mlflow::DrainReport first = mlflow::drain(local.store, slow, {});
    CHECK(first.stopped_by.find("did not answer") != std::string::npos);
    CHECK(first.pending == 2);  // the version and its alias
    double_.clear_faults();
    mlflow::Client client(connection(double_.url()));
    const mlflow::DrainReport second = mlflow::drain(local.store, client, {});
    CHECK(second.stopped_by.empty());
    CHECK(second.pending == 0);
    const json models = double_.state()["models"];
    REQUIRE(models.size() == 1);
    CHECK(models[0]["versions"].size() == 1);
    CHECK(models[0]["aliases"]["champion"] == "1");
    CHECK(double_.calls("model-versions/create") == 1);
    // Draining again sends nothing.
    CHECK(mlflow::drain(local.store, client, {}).events.empty());
  }

  TEST_CASE("a permanently refused event blocks its model's later events, not other models'") {
    test::MlflowDouble double_;
    LocalRegistry local;
    local.add_version("a");
    local.add_version("b");
    double_.reject("registered-models/alias", "\"name\":\"a\"", "Invalid alias name: policy says no.");
    local.store.set_alias("a", "champion", 1);
    local.store.set_version_tag("a", 1, "owner", "ana");
    local.store.set_alias("b", "champion", 1);
    mlflow::Client client(connection(double_.url()));
    const mlflow::DrainReport r = mlflow::drain(local.store, client, {});
    CHECK(r.failed == 1);
    CHECK(r.blocked == 1);  // a's tag waits behind a's alias
    CHECK(r.stopped_by.empty());
    const auto failed = local.store.outbox("failed");
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].kind == "alias_set");
    CHECK(failed[0].last_error.find("policy says no") != std::string::npos);
    CHECK(mlflow::blocked_events(failed, local.store.outbox("pending")).size() == 1);
    json state = double_.state();
    CHECK(state["models"][1]["aliases"]["champion"] == "1");  // b went on
    CHECK(state["models"][0]["versions"][0]["tags"].count("owner") == 0);

    double_.clear_faults();
    local.store.retry_outbox(failed[0].id);
    CHECK(test::error_code_of([&] { local.store.retry_outbox(failed[0].id); }) == ErrorCode::not_found);  // pending now
    const mlflow::DrainReport again = mlflow::drain(local.store, client, {});
    CHECK(again.done == 2);
    CHECK(again.pending == 0);
    state = double_.state();
    CHECK(state["models"][0]["aliases"]["champion"] == "1");
    CHECK(state["models"][0]["versions"][0]["tags"]["owner"] == "ana");
  }

  TEST_CASE("one mirror at a time per registry") {
    test::TempDir dir;
    auto first = mlflow::MirrorLock::try_acquire(dir.file("mlops.db"));
    REQUIRE(first);
    CHECK_FALSE(mlflow::MirrorLock::try_acquire(dir.file("mlops.db")));
    first.reset();
    CHECK(mlflow::MirrorLock::try_acquire(dir.file("mlops.db")));
  }

  TEST_CASE("https: verified against a CA bundle, refused without it, or skipped on request") {
    test::TempDir dir;
    const std::string cmd = fmt::format(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
        "-keyout {0}/key.pem -out {0}/cert.pem 2>/dev/null",
        dir.path());
    REQUIRE(std::system(cmd.c_str()) == 0);
    httplib::SSLServer server(dir.file("cert.pem").c_str(), dir.file("key.pem").c_str());
    REQUIRE(server.is_valid());
    server.Get("/api/2.0/mlflow/experiments/get-by-name", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"experiment": {"experiment_id": "4", "name": "tls"}})", "application/json");
    });
    const int port = server.bind_to_any_port("127.0.0.1");
    std::thread thread([&] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::yield();
    const std::string url = fmt::format("https://127.0.0.1:{}", port);
    auto trusted = connection(url);
    trusted.http.ca_cert_path = dir.file("cert.pem");
    CHECK(mlflow::Client(trusted).find_experiment_id("tls") == "4");
    const ErrorCode untrusted = test::error_code_of([&] { mlflow::Client(connection(url)).find_experiment_id("tls"); });
    CHECK(untrusted == ErrorCode::unavailable);
    auto insecure = connection(url);
    insecure.http.verify_tls = false;
    CHECK(mlflow::Client(insecure).find_experiment_id("tls") == "4");
    server.stop();
    thread.join();
  }
}
