// The course's own API contract (its tests/test_api.py), each assertion written anew against
// a real `mlops serve` talking to a real `mlops crm serve` over HTTP — what a learner who
// points the course's tests at this server sees.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "tests/support/server_process.hpp"
#include "tests/support/support.hpp"

#include <httplib.h>  // last: its <resolv.h> defines a macro `_res` that breaks Eigen

using namespace mlops;
using nlohmann::json;

namespace {

const char* const kValidFeatures = R"({"features": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]})";
const char* const kTestCustomer = "CUST_TEST_007";

// A project with a production model and a CRM of 20 customers (CUST_TEST_007 among them),
// served by `mlops crm serve`, and `mlops serve` reading it over HTTP.
struct CourseStack {
  test::TempDir dir;
  std::string home = dir.file("home");
  std::unique_ptr<test::ServerProcess> crm, server;
  CourseStack(bool with_model = true) {
    if (with_model) REQUIRE(cli({"train", "--register", "--stage", "Production", "-o", dir.file("m.json")}).exit_code == 0);
    REQUIRE(cli({"crm", "--crm", "sqlite:" + dir.file("crm.db"), "init", "--customers", "20"}).exit_code == 0);
    crm = std::make_unique<test::ServerProcess>(home, std::vector<std::string>{}, std::vector<std::string>{},
                                                std::vector<std::string>{"crm", "--crm", "sqlite:" + dir.file("crm.db"), "serve"});
    server = std::make_unique<test::ServerProcess>(home, std::vector<std::string>{"--crm", crm_url()});
  }
  test::CliResult cli(const std::vector<std::string>& args) { return test::run_cli(args, home, dir.path()); }
  std::string crm_url() const { return "http://127.0.0.1:" + std::to_string(crm->port()); }
  httplib::Client api() const { return httplib::Client("127.0.0.1", server->port()); }
  httplib::Client crm_api() const { return httplib::Client("127.0.0.1", crm->port()); }
};

}  // namespace

TEST_SUITE("integration/course_contract") {
  TEST_CASE("the course's API tests pass against mlops serve and mlops crm serve") {
    CourseStack stack;
    auto api = stack.api();

    SUBCASE("health check: GET / is 200 with status ok (M2C4)") {
      const auto r = api.Get("/");
      REQUIRE(r);
      CHECK(r->status == 200);
      const json body = json::parse(r->body);
      CHECK(body["status"] == "ok");
      CHECK(body["model_loaded"] == true);
      CHECK(body["model_version"].is_string());
      CHECK(body["service"].is_string());
    }
    SUBCASE("metrics: http_requests_total, ai_model_loaded and ai_prediction_requests_total exposed (M5C1)") {
      REQUIRE(api.Get("/"));
      const auto r = api.Get("/metrics");
      REQUIRE(r);
      CHECK(r->status == 200);
      for (const char* name : {"http_requests_total", "ai_model_loaded", "ai_prediction_requests_total"}) {
        CHECK_MESSAGE(r->body.find(name) != std::string::npos, name);
      }
    }
    SUBCASE("a valid prediction: 200 with an integer prediction (M2C1)") {
      REQUIRE(json::parse(api.Get("/")->body)["model_loaded"] == true);
      const auto r = api.Post("/predict", kValidFeatures, "application/json");
      REQUIRE(r);
      CHECK(r->status == 200);
      const json body = json::parse(r->body);
      REQUIRE(body.contains("prediction"));
      CHECK(body["prediction"].is_number_integer());
    }
    SUBCASE("the wrong number of features: 422") {
      const auto r = api.Post("/predict", R"({"features": [1.0, 2.0]})", "application/json");
      REQUIRE(r);
      CHECK(r->status == 422);
    }
    SUBCASE("the CRM flow: /crm_segment_update writes segment_ai_decision into the CRM (M4C1, M4C2, M6)") {
      auto crm = stack.crm_api();
      const auto health = crm.Get("/health");
      REQUIRE(health);
      REQUIRE(health->status == 200);
      const auto r = api.Post((std::string("/crm_segment_update?customer_id=") + kTestCustomer).c_str(), "", "text/plain");
      REQUIRE(r);
      REQUIRE(r->status == 200);
      const json body = json::parse(r->body);
      const std::string decision = body["segment_ai_decision"];
      CHECK((decision == "Churn_Risk_AI" || decision == "Normal_Segment_AI"));
      CHECK(body["status"] == "Success");
      CHECK(body["customer_id"] == kTestCustomer);
      CHECK(body["crm_mock_response"]["new_segment"] == decision);
      const auto customer = crm.Get((std::string("/customer/") + kTestCustomer).c_str());
      REQUIRE(customer);
      REQUIRE(customer->status == 200);
      const json crm_data = json::parse(customer->body);
      CHECK(crm_data["user_id"] == kTestCustomer);
      CHECK(crm_data["segment"] == decision);
    }
    SUBCASE("mlops crm serve answers the course mock's customer shape; an unknown id is 404 and creates nothing") {
      auto crm = stack.crm_api();
      const json customer = json::parse(crm.Get((std::string("/customer/") + kTestCustomer).c_str())->body);
      for (const char* key : {"user_id", "name", "segment", "risk_score"}) CHECK_MESSAGE(customer.contains(key), key);
      REQUIRE(customer["risk_score"].is_number());
      CHECK(customer["risk_score"].get<double>() > 0);
      CHECK(customer["risk_score"].get<double>() < 1);
      const auto features = json::parse(crm.Get((std::string("/customer/") + kTestCustomer + "/features").c_str())->body);
      CHECK(features["feature_count"] == 10);
      CHECK(features["features"].size() == 10);
      const auto update = crm.Post("/crm_segment_update", R"({"user_id": "CUST_TYPO_1", "ai_segment": "Churn_Risk_AI"})",
                                   "application/json");
      REQUIRE(update);
      CHECK(update->status == 404);
      CHECK(crm.Get("/customer/CUST_TYPO_1")->status == 404);
    }
  }

  TEST_CASE("without a model: GET / says model_loaded false, /predict answers 503, the course's error counter counts it") {
    CourseStack stack(false);
    auto api = stack.api();
    const json health = json::parse(api.Get("/")->body);
    CHECK(health["status"] == "ok");
    CHECK(health["model_loaded"] == false);
    const auto r = api.Post("/predict", kValidFeatures, "application/json");
    REQUIRE(r);
    CHECK(r->status == 503);
    const std::string metrics = api.Get("/metrics")->body;
    CHECK(metrics.find("ai_prediction_errors_total 1") != std::string::npos);
    CHECK(metrics.find("ai_prediction_requests_total 1") != std::string::npos);
  }
}
