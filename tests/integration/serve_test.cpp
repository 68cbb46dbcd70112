#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "libmlops/core/fs.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/support.hpp"

#include <httplib.h>  // last: its <resolv.h> defines a macro `_res` that breaks Eigen

using namespace mlops;
using nlohmann::json;
using test::ServerProcess;

namespace {

const std::string kRow = "[5.2,1.3,7.7,2.0,3.1,4.4,1.0,8.2,2.5,6.0]";

// A home with ChurnPredictionModel version 1 (v1) in Production.
struct Home {
  test::TempDir dir;
  std::string path = dir.file("home");
  Home() { train("v1", "42", {"--stage", "Production"}); }
  json train(const std::string& tag, const std::string& seed, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"train", "--n-samples", "400", "--seed", seed, "--model-version", tag,
                                     "-o", dir.file(tag + ".json"), "--register", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = test::run_cli(args, path);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return json::parse(r.out);
  }
  int cli(const std::vector<std::string>& args) { return test::run_cli(args, path).exit_code; }
};

httplib::Result post(httplib::Client& c, const std::string& path, const std::string& body,
                     const std::string& type = "application/json", httplib::Headers headers = {}) {
  return c.Post(path.c_str(), headers, body, type.c_str());
}

json body_of(const httplib::Result& r) {
  REQUIRE(r);
  return json::parse(r->body);
}

std::string error_code(const httplib::Result& r) { return body_of(r)["error"]["code"].get<std::string>(); }

double metric_value(const std::string& text, const std::string& series) {
  const auto pos = text.find("\n" + series + " ");
  if (pos == std::string::npos) return 0;
  return std::stod(text.substr(pos + series.size() + 2));
}

}  // namespace

TEST_SUITE("integration/serve") {
  TEST_CASE("without a model: /health says so, /ready and /predict are 503, /live is 200") {
    test::TempDir dir;
    ServerProcess server(dir.file("home"), {"--reload-interval", "0"});
    httplib::Client c("127.0.0.1", server.port());
    const json health = body_of(c.Get("/health"));
    CHECK(health["model_loaded"] == false);
    CHECK(c.Get("/live")->status == 200);
    CHECK(c.Get("/ready")->status == 503);
    const auto r = post(c, "/predict", "{\"features\":" + kRow + "}");
    CHECK(r->status == 503);
    CHECK(error_code(r) == "model_not_loaded");
    CHECK(c.Get("/v2/health/ready")->status == 400);
  }

  TEST_CASE("predict: one row by position or by name, and a batch") {
    Home home;
    ServerProcess server(home.path, {});
    httplib::Client c("127.0.0.1", server.port());
    const json health = body_of(c.Get("/health"));
    CHECK(health["model_loaded"] == true);
    CHECK(health["model_uri"] == "models:/ChurnPredictionModel@production");
    CHECK(health["registry_version"] == 1);
    CHECK(health["sha256"].get<std::string>().size() == 64);

    auto r = post(c, "/predict", "{\"features\":" + kRow + "}");
    REQUIRE(r->status == 200);
    json one = body_of(r);
    CHECK(one["model_version"] == "v1");
    CHECK((one["prediction"] == 0 || one["prediction"] == 1));
    CHECK(one["probabilities"]["1"].get<double>() + one["probabilities"]["0"].get<double>() == doctest::Approx(1.0));
    CHECK(one["request_id"] == r->get_header_value("X-Request-ID"));

    json by_name = {{"features", json::object()}};
    const auto row = json::parse(kRow);
    for (int j = 0; j < 10; ++j) by_name["features"]["feature_" + std::to_string(j + 1)] = row[j];
    const json named = body_of(post(c, "/predict", by_name.dump()));
    CHECK(named["probability"] == one["probability"]);

    r = post(c, "/predict", "{\"instances\":[" + kRow + "," + kRow + ",[0,9,0,9,0,0,9,0,9,0]]}");
    REQUIRE(r->status == 200);
    const json batch = body_of(r);
    CHECK(batch["predictions"].size() == 3);
    CHECK(batch["predictions"][0]["probability"] == one["probability"]);
    CHECK(batch["predictions"][2]["prediction"] == 0);

    const auto echoed = c.Post("/predict", {{"X-Request-ID", "my-trace-1"}}, "{\"features\":" + kRow + "}", "application/json");
    CHECK(echoed->get_header_value("X-Request-ID") == "my-trace-1");
    CHECK(body_of(echoed)["request_id"] == "my-trace-1");
  }

  TEST_CASE("MLflow's /invocations accepts its four input formats") {
    Home home;
    ServerProcess server(home.path, {});
    httplib::Client c("127.0.0.1", server.port());
    std::string columns = "[";
    for (int j = 1; j <= 10; ++j) columns += (j > 1 ? ",\"feature_" : "\"feature_") + std::to_string(j) + "\"";
    columns += "]";
    json record = json::object();
    const auto row = json::parse(kRow);
    for (int j = 0; j < 10; ++j) record["feature_" + std::to_string(j + 1)] = row[j];
    const json expected = body_of(post(c, "/predict", "{\"features\":" + kRow + "}"))["prediction"];
    for (const std::string& body :
         {"{\"dataframe_split\":{\"columns\":" + columns + ",\"data\":[" + kRow + "]}}",
          "{\"dataframe_records\":[" + record.dump() + "]}", "{\"instances\":[" + kRow + "]}",
          "{\"inputs\":[" + kRow + "]}"}) {
      CAPTURE(body);
      const auto r = post(c, "/invocations", body);
      REQUIRE(r->status == 200);
      CHECK(body_of(r) == json{{"predictions", {expected}}});
    }
    const auto refused = post(c, "/invocations", "{\"nothing\":1}");
    CHECK(refused->status == 400);  // MLflow's one-key rule, in MLflow's error shape
    CHECK(body_of(refused)["error_code"] == "BAD_REQUEST");
    CHECK(body_of(refused)["message"].get<std::string>().find("exactly one of the input fields") != std::string::npos);
  }

  TEST_CASE("Open Inference Protocol v2: health, metadata, readiness and inference") {
    Home home;
    ServerProcess server(home.path, {});
    httplib::Client c("127.0.0.1", server.port());
    CHECK(body_of(c.Get("/v2/health/live"))["live"] == true);
    CHECK(body_of(c.Get("/v2/health/ready"))["ready"] == true);
    const json meta = body_of(c.Get("/v2/models/ChurnPredictionModel"));
    CHECK(meta["inputs"][0]["shape"] == json::array({-1, 10}));
    CHECK(meta["outputs"][0]["name"] == "predict");
    CHECK(body_of(c.Get("/v2/models/ChurnPredictionModel/ready"))["ready"] == true);
    CHECK(c.Get("/v2/models/Other")->status == 404);
    const auto row = json::parse(kRow);
    json flat = json::array();
    for (int i = 0; i < 2; ++i) {
      for (const auto& v : row) flat.push_back(v);
    }
    const json request = {{"id", "req-7"}, {"inputs", {{{"name", "input-0"}, {"shape", {2, 10}}, {"datatype", "FP64"}, {"data", flat}}}}};
    auto r = post(c, "/v2/models/ChurnPredictionModel/infer", request.dump());
    REQUIRE(r->status == 200);
    const json out = body_of(r);
    CHECK(out["id"] == "req-7");
    CHECK(out["model_name"] == "ChurnPredictionModel");
    CHECK(out["outputs"][0]["shape"] == json::array({2}));
    CHECK(out["outputs"][0]["datatype"] == "INT64");
    CHECK(out["outputs"][1]["shape"] == json::array({2, 2}));
    CHECK(out["outputs"][1]["data"].size() == 4);
    const json nested = {{"inputs", {{{"name", "x"}, {"shape", {1, 10}}, {"datatype", "FP32"}, {"data", {row}}}}}};
    CHECK(post(c, "/v2/models/ChurnPredictionModel/infer", nested.dump())->status == 200);
    const json wrong = {{"inputs", {{{"name", "x"}, {"shape", {1, 3}}, {"datatype", "FP64"}, {"data", {1, 2, 3}}}}}};
    r = post(c, "/v2/models/ChurnPredictionModel/infer", wrong.dump());
    CHECK(r->status == 400);  // OIP: bad input is a 400 with {"error": ...}
    CHECK(body_of(r).contains("error"));
    CHECK(body_of(r)["error"].is_string());
  }

  // The Open Inference Protocol's REST examples (kserve/open-inference-protocol, rest.md),
  // with the example's model replaced by ours (one input tensor of 10 features).
  TEST_CASE("Open Inference Protocol v2: the spec's request and response shapes, versions, outputs, errors") {
    Home home;
    home.train("v2", "7");  // registry version 2, served as the canary beside Production's version 1
    ServerProcess server(home.path, {"--canary-uri", "models:/ChurnPredictionModel/2", "--canary-weight", "0.5"});
    httplib::Client c("127.0.0.1", server.port());
    // Server metadata: $metadata_server_response = {name, version, extensions}.
    const json server_meta = body_of(c.Get("/v2"));
    CHECK(server_meta["name"].is_string());
    CHECK(server_meta["version"].is_string());
    CHECK(server_meta["extensions"].is_array());
    // Model metadata: {name, versions, platform, inputs:[$metadata_tensor], outputs:[...]}
    // with $metadata_tensor = {name, datatype, shape}; both loaded versions listed.
    const json meta = body_of(c.Get("/v2/models/ChurnPredictionModel"));
    CHECK(meta["versions"] == json::array({"1", "2"}));
    CHECK(meta["platform"].is_string());
    for (const json& t : meta["inputs"]) {
      CHECK(t["name"].is_string());
      CHECK(t["datatype"].is_string());
      CHECK(t["shape"].is_array());
    }
    CHECK(c.Get("/v2/models/ChurnPredictionModel/versions/2")->status == 200);
    CHECK(body_of(c.Get("/v2/models/ChurnPredictionModel/versions/2/ready"))["ready"] == true);
    // The spec's inference request: id "42", a UINT32 tensor, an outputs filter.
    json data = json::array();
    for (int i = 0; i < 20; ++i) data.push_back(i % 10);
    const json request = {{"id", "42"},
                          {"inputs", {{{"name", "input0"}, {"shape", {2, 10}}, {"datatype", "UINT32"}, {"data", data}}}},
                          {"outputs", {{{"name", "predict"}}}},
                          {"parameters", {{"trace", true}}}};
    for (const std::string version : {"1", "2"}) {
      const auto r = post(c, "/v2/models/ChurnPredictionModel/versions/" + version + "/infer", request.dump());
      REQUIRE(r->status == 200);
      // $inference_response = {model_name, model_version, id, parameters, outputs:[$response_output]}
      // with $response_output = {name, shape, datatype, data}.
      const json out = body_of(r);
      CHECK(out["model_name"] == "ChurnPredictionModel");
      CHECK(out["model_version"] == version);  // the canary, addressed directly
      CHECK(out["id"] == "42");
      CHECK(out["parameters"] == json({{"trace", true}}));
      REQUIRE(out["outputs"].size() == 1);  // only the output asked for
      CHECK(out["outputs"][0]["name"] == "predict");
      CHECK(out["outputs"][0]["shape"] == json::array({2}));
      CHECK(out["outputs"][0]["datatype"] == "INT64");
      CHECK(out["outputs"][0]["data"].size() == 2);
    }
    // $inference_error_response = {"error": $string}, status 400 for a bad request, 404 for no such model.
    auto r = post(c, "/v2/models/ChurnPredictionModel/versions/9/infer", request.dump());
    CHECK(r->status == 404);
    CHECK(body_of(r)["error"].is_string());
    json bad = request;
    bad["outputs"] = {{{"name", "output0"}}};
    r = post(c, "/v2/models/ChurnPredictionModel/infer", bad.dump());
    CHECK(r->status == 400);
    CHECK(body_of(r)["error"].get<std::string>().find("output0") != std::string::npos);
    bad = request;
    bad["inputs"][0]["datatype"] = "BYTES";
    r = post(c, "/v2/models/ChurnPredictionModel/infer", bad.dump());
    CHECK(r->status == 400);
    CHECK(body_of(r).size() == 1);
    CHECK(c.Get("/v2/models/Other/versions/1")->status == 404);
    CHECK(body_of(c.Get("/v2/models/Other/versions/1"))["error"].is_string());
  }

  TEST_CASE("MLflow's scoring routes: /ping, /version, text/csv and the one-key rule") {
    Home home;
    ServerProcess server(home.path, {});
    httplib::Client c("127.0.0.1", server.port());
    CHECK(c.Get("/ping")->status == 200);
    CHECK(c.Get("/version")->body == MLOPS_VERSION_STRING);
    std::string csv = "feature_10,feature_9,feature_8,feature_7,feature_6,feature_5,feature_4,feature_3,feature_2,feature_1\n";
    csv += "6.0,2.5,8.2,1.0,4.4,3.1,2.0,7.7,1.3,5.2\n6.0,2.5,8.2,1.0,4.4,3.1,2.0,7.7,1.3,5.2\n";
    auto r = post(c, "/invocations", csv, "text/csv");
    REQUIRE(r->status == 200);
    const json expected = body_of(post(c, "/predict", "{\"features\":" + kRow + "}"))["prediction"];
    CHECK(body_of(r) == json{{"predictions", {expected, expected}}});
    r = post(c, "/invocations", "feature_1\nnot,a,number\n", "text/csv");
    CHECK(r->status == 400);
    CHECK(body_of(r)["error_code"] == "BAD_REQUEST");
    r = post(c, "/invocations", csv, "text/plain");
    CHECK(r->status == 415);
    CHECK(r->body.find("Got 'text/plain'") != std::string::npos);
  }

  TEST_CASE("client mistakes get 400/413/415/422 with errors that teach, never a 500") {
    Home home;
    ServerProcess server(home.path, {"--max-body-bytes", "2000", "--max-batch", "3"});
    httplib::Client c("127.0.0.1", server.port());
    auto r = post(c, "/predict", "{\"features\": [1, 2,");
    CHECK(r->status == 400);
    CHECK(error_code(r) == "malformed_json");
    r = post(c, "/predict", "{\"features\":" + kRow + "}", "text/plain");
    CHECK(r->status == 415);
    r = post(c, "/predict", "{\"features\":[" + std::string(3000, ' ') + "]}");
    CHECK(r->status == 413);
    CHECK(error_code(r) == "payload_too_large");
    r = post(c, "/predict", "{\"instances\":[" + kRow + "," + kRow + "," + kRow + "," + kRow + "]}");
    CHECK(r->status == 413);
    CHECK(error_code(r) == "batch_too_large");
    r = post(c, "/predict", "{\"features\":[1,2,3]}");
    CHECK(r->status == 422);
    json e = body_of(r)["error"];
    CHECK(e["details"]["expected"] == 10);
    CHECK(e["details"]["got"] == 3);
    CHECK(e["details"]["example"]["features"].size() == 10);  // a valid body to copy
    r = post(c, "/predict", "{\"features\":[1,2,\"x\",4,5,6,7,8,9,10]}");
    CHECK(r->status == 422);
    CHECK(body_of(r)["error"]["message"].get<std::string>().find("features[2]") != std::string::npos);
    r = post(c, "/predict", "{\"features\":[1,2,1e400,4,5,6,7,8,9,10]}");
    CHECK(r->status == 422);
    CHECK(body_of(r)["error"]["message"].get<std::string>().find("finite") != std::string::npos);
    r = post(c, "/predict", "{\"features\":{\"feature_1\":1,\"age\":3}}");
    CHECK(r->status == 422);
    e = body_of(r)["error"]["details"];
    CHECK(e["unknown"] == json::array({"age"}));
    CHECK(e["missing"].size() == 9);
    r = post(c, "/predict", "[]");
    CHECK(r->status == 422);
    r = c.Get("/no/such/route");
    CHECK(r->status == 404);
    CHECK(error_code(r) == "not_found");
    CHECK(body_of(c.Get("/health"))["model_loaded"] == true);  // still serving
  }

  TEST_CASE("/admin/reload needs the API key when one is set, compared in constant time") {
    Home home;
    ServerProcess server(home.path, {"--reload-interval", "0"}, {"MLOPS_API_KEY=s3cret"});
    httplib::Client c("127.0.0.1", server.port());
    auto r = post(c, "/admin/reload", "");
    CHECK(r->status == 401);
    CHECK(error_code(r) == "unauthorized");
    CHECK(post(c, "/admin/reload", "", "application/json", {{"Authorization", "Bearer wrong!"}})->status == 401);
    CHECK(post(c, "/admin/reload", "", "application/json", {{"Authorization", "Bearer s3cret"}})->status == 200);
    CHECK(post(c, "/admin/reload", "", "application/json", {{"X-API-Key", "s3cret"}})->status == 200);
    CHECK(post(c, "/predict", "{\"features\":" + kRow + "}")->status == 200);  // predict stays open
  }

  TEST_CASE("metrics move with traffic and pass promtool check metrics") {
    Home home;
    ServerProcess server(home.path, {});
    httplib::Client c("127.0.0.1", server.port());
    const std::string before = c.Get("/metrics")->body;
    for (int i = 0; i < 5; ++i) post(c, "/predict", "{\"features\":" + kRow + "}");
    post(c, "/predict", "{\"features\":[1]}");
    const std::string after = c.Get("/metrics")->body;
    const std::string ok = "prediction_requests_total{endpoint=\"/predict\",model_version=\"v1\",status=\"200\"}";
    CHECK(metric_value(after, ok) - metric_value(before, ok) == 5);
    CHECK(metric_value(after, "prediction_requests_total{endpoint=\"/predict\",model_version=\"v1\",status=\"422\"}") == 1);
    CHECK(metric_value(after, "prediction_latency_seconds_count{model_version=\"v1\"}") == 6);
    CHECK(metric_value(after, "prediction_latency_seconds_bucket{model_version=\"v1\",le=\"0.2\"}") == 6);
    CHECK(metric_value(after, "model_loaded{model_version=\"v1\"}") == 1);
    // Ours (route, status) and the course's (endpoint, status_code) labels on one series.
    CHECK(metric_value(after, "http_requests_total{endpoint=\"/predict\",method=\"POST\",route=\"/predict\",status=\"200\","
                              "status_code=\"200\"}") == 5);
    CHECK(metric_value(after, "ai_prediction_requests_total") == 6);
    CHECK(after.find("\nai_prediction_errors_total 0\n") != std::string::npos);  // exposed, and no 5xx yet
    CHECK(metric_value(after, "ai_model_loaded{model_version=\"v1\"}") == 1);
    CHECK(metric_value(after, "ai_feature_mean{feature=\"feature_1\",model_version=\"v1\"}") == doctest::Approx(5.2));
    CHECK(after.find("feature_drift_psi") == std::string::npos);  // no PSI from 5 requests
    CHECK(metric_value(after, "feature_drift_window_rows{model_version=\"v1\"}") == 5);
    CHECK(metric_value(after, "feature_training_mean{feature=\"feature_1\",model_version=\"v1\"}") > 0);
    CHECK(metric_value(after, "feature_mean{feature=\"feature_1\",model_version=\"v1\"}") == doctest::Approx(5.2));
    CHECK(after.find("model_info{name=\"ChurnPredictionModel\"") != std::string::npos);
    CHECK(metric_value(after, "process_resident_memory_bytes") > 1e6);
    test::TempDir io;
    const std::string file = io.write("metrics.txt", after);
    CHECK(std::system(("promtool check metrics < " + file + " > " + io.file("out") + " 2>&1").c_str()) == 0);
    INFO(test::read_text(io.file("out")));
  }

  TEST_CASE("drift is windowed: a shift after normal traffic crosses 0.2 within one window; a handful never reports") {
    Home home;
    ServerProcess server(home.path, {"--drift-window", "200", "--drift-min-samples", "50"});
    httplib::Client c("127.0.0.1", server.port());
    const std::string drifted = "{\"features\":[9.9,9.9,9.9,9.9,9.9,9.9,9.9,9.9,9.9,9.9]}";
    for (int i = 0; i < 15; ++i) post(c, "/predict", drifted);
    std::string text = c.Get("/metrics")->body;
    CHECK(text.find("feature_drift_psi{") == std::string::npos);  // 15 requests: no PSI, no alert
    CHECK(metric_value(text, "feature_drift_window_rows{model_version=\"v1\"}") == 15);
    // 400 requests like the training data (the course's generator: uniform on [0, 10)), then
    // 200 shifted ones: the window holds only the shifted requests.
    for (int i = 0; i < 400; ++i) {
      std::string row = "{\"features\":[";
      for (int j = 0; j < 10; ++j) row += fmt::format("{}{}", j ? "," : "", ((i * 7 + j * 3) % 100) / 10.0 + 0.05);
      post(c, "/predict", row + "]}");
    }
    text = c.Get("/metrics")->body;
    CHECK(metric_value(text, "feature_drift_psi{feature=\"feature_3\",model_version=\"v1\"}") < 0.2);
    for (int i = 0; i < 200; ++i) post(c, "/predict", drifted);
    text = c.Get("/metrics")->body;
    CHECK(metric_value(text, "feature_drift_psi{feature=\"feature_3\",model_version=\"v1\"}") > 0.2);
    CHECK(metric_value(text, "ai_feature_mean{feature=\"feature_3\",model_version=\"v1\"}") == doctest::Approx(9.9));
    CHECK(metric_value(text, "feature_drift_window_rows{model_version=\"v1\"}") <= 200);
  }

  TEST_CASE("canary: its share of traffic within tolerance, sticky per request key, named in every answer") {
    Home home;
    home.train("v2", "7");
    ServerProcess server(home.path, {"--canary-uri", "models:/ChurnPredictionModel/2", "--canary-weight", "0.3"});
    httplib::Client c("127.0.0.1", server.port());
    CHECK(body_of(c.Get("/health"))["canary"]["model_version"] == "v2");
    int canary = 0;
    const int total = 2000;
    for (int i = 0; i < total; ++i) {
      const auto r = post(c, "/predict", "{\"features\":" + kRow + "}");
      REQUIRE(r->status == 200);
      const std::string version = body_of(r)["model_version"];
      CHECK(version == r->get_header_value("X-Model-Version"));
      canary += version == "v2";
    }
    // Binomial(2000, 0.3): sd ~ 20.5; 5 sd either side.
    CHECK(canary > 600 - 103);
    CHECK(canary < 600 + 103);
    for (const char* key : {"CUST001", "CUST002", "CUST003", "CUST004"}) {
      std::set<std::string> seen;
      for (int i = 0; i < 30; ++i) {
        seen.insert(body_of(c.Post("/predict", {{"X-Request-Key", key}}, "{\"features\":" + kRow + "}", "application/json"))["model_version"]);
      }
      CHECK(seen.size() == 1);
    }
    const std::string metrics = c.Get("/metrics")->body;
    CHECK(metric_value(metrics, "model_loaded{model_version=\"v2\"}") == 1);
    CHECK(metric_value(metrics, "prediction_requests_total{endpoint=\"/predict\",model_version=\"v2\",status=\"200\"}") >= canary);
    // Drift per version: each counts the rows it answered (its own window and baseline).
    const double v1_rows = metric_value(metrics, "feature_drift_window_rows{model_version=\"v1\"}");
    const double v2_rows = metric_value(metrics, "feature_drift_window_rows{model_version=\"v2\"}");
    CHECK(v2_rows > 0);
    CHECK(v1_rows > v2_rows);
    CHECK(metric_value(metrics, "feature_training_mean{feature=\"feature_1\",model_version=\"v2\"}") > 0);
  }

  TEST_CASE("reload under concurrent load: zero failed requests, the new version takes over") {
    Home home;
    ServerProcess server(home.path, {"--reload-interval", "0", "--threads", "16"});
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0}, answered{0};
    std::atomic<int> v2_answers{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
      clients.emplace_back([&] {
        httplib::Client c("127.0.0.1", server.port());
        while (!stop) {
          const auto r = post(c, "/predict", "{\"features\":" + kRow + "}");
          if (!r || r->status != 200) {
            ++failures;
          } else {
            ++answered;
            v2_answers += json::parse(r->body)["model_version"] == "v2";
          }
        }
      });
    }
    home.train("v2", "7");
    CHECK(home.cli({"models", "promote", "ChurnPredictionModel", "2", "--stage", "Production"}) == 0);
    httplib::Client admin("127.0.0.1", server.port());
    for (int i = 0; i < 5; ++i) {
      const auto r = post(admin, "/admin/reload", "");
      CHECK(r->status == 200);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (v2_answers < 200 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    stop = true;
    for (auto& t : clients) t.join();
    CHECK(failures == 0);
    CHECK(answered > 200);
    CHECK(v2_answers >= 200);
    CHECK(body_of(admin.Get("/health"))["registry_version"] == 2);
  }

  TEST_CASE("the registry poll follows the production alias; a broken target keeps the old model") {
    Home home;
    ServerProcess server(home.path, {"--reload-interval", "0.1"});
    httplib::Client c("127.0.0.1", server.port());
    const json v2 = home.train("v2", "7");
    CHECK(home.cli({"models", "promote", "ChurnPredictionModel", "2", "--stage", "Production"}) == 0);
    const auto wait_for = [&](const std::function<bool(const json&)>& done) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (std::chrono::steady_clock::now() < deadline) {
        const json h = body_of(c.Get("/health"));
        if (done(h)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      return false;
    };
    CHECK(wait_for([](const json& h) { return h["registry_version"] == 2; }));
    // Version 3's stored artifact is damaged after registration: the reload must refuse it.
    const json v3 = home.train("v3", "9");
    const std::string stored = v3["registered_version"]["source"];
    std::filesystem::permissions(stored, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
    write_file_atomic(stored, "{\"truncated\":");
    CHECK(home.cli({"models", "promote", "ChurnPredictionModel", "3", "--stage", "Production"}) == 0);
    CHECK(wait_for([](const json& h) { return h["last_reload"]["ok"] == false; }));
    const json h = body_of(c.Get("/health"));
    CHECK(h["registry_version"] == 2);
    CHECK(h["last_reload"]["message"].get<std::string>().find("kept the old model") != std::string::npos);
    CHECK(post(c, "/predict", "{\"features\":" + kRow + "}")->status == 200);
    CHECK(server.log().find("model reload failed") != std::string::npos);
  }

  TEST_CASE("/openapi.json is a valid OpenAPI 3 document listing every route") {
    Home home;
    ServerProcess server(home.path, {});
    httplib::Client c("127.0.0.1", server.port());
    const json doc = body_of(c.Get("/openapi.json"));
    for (const char* path : {"/predict", "/invocations", "/health", "/live", "/ready", "/metrics", "/admin/reload",
                             "/v2/health/live", "/v2/health/ready", "/v2/models/{name}", "/v2/models/{name}/infer",
                             "/crm_segment_update", "/dashboard", "/dashboard/stats", "/ping", "/version", "/v2",
                             "/v2/models/{name}/versions/{version}/infer"}) {
      CAPTURE(path);
      CHECK(doc["paths"].contains(path));
    }
    CHECK(body_of(c.Get("/"))["routes"].size() == 22);
    test::TempDir io;
    const std::string file = io.write("openapi.json", doc.dump(2));
    const std::string redocly = std::string(MLOPS_SOURCE_DIR) + "/.tools/node_modules/.bin/redocly";
    REQUIRE_MESSAGE(std::filesystem::exists(redocly), "run `make deps` to install @redocly/cli");
    const std::string cmd = "REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true " + redocly +
                            " lint --extends=minimal " + file + " > " + io.file("out") + " 2>&1";
    const int rc = std::system(cmd.c_str());
    INFO(test::read_text(io.file("out")));
    CHECK(rc == 0);
  }
}
