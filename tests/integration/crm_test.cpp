#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/server_process.hpp"
#include "tests/support/support.hpp"

#include <httplib.h>  // last: its <resolv.h> defines a macro `_res` that breaks Eigen

using namespace mlops;
using nlohmann::json;

namespace {
// A project folder with a registered production model and an embedded CRM of 20 customers.
struct CrmProject {
  test::TempDir dir;
  std::string home = dir.file("home");
  std::string crm = "sqlite:" + dir.file("crm.db");
  CrmProject() {
    REQUIRE(run({"train", "--n-samples", "500", "--register", "--stage", "Production", "-o", dir.file("m.json")}).exit_code == 0);
    REQUIRE(run({"crm", "--crm", crm, "init", "--customers", "20"}).exit_code == 0);
  }
  test::CliResult run(const std::vector<std::string>& args) { return test::run_cli(args, home, dir.path()); }
  json customer(const std::string& id) {
    const auto r = run({"crm", "--crm", crm, "show", id, "--json"});
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
  }
};

httplib::Result update(httplib::Client& c, const std::string& query, httplib::Headers headers = {}) {
  return c.Post(("/crm_segment_update?" + query).c_str(), headers, "", "text/plain");
}
}  // namespace

TEST_SUITE("integration/crm") {
  TEST_CASE("crm init, list, show, export and import through the CLI") {
    CrmProject p;
    const json list = json::parse(p.run({"crm", "--crm", p.crm, "list", "--limit", "5", "--json"}).out);
    CHECK(list["total"] == 21);
    CHECK(list["customers"][0]["user_id"] == "CUST001");
    CHECK(p.customer("CUST_TEST_007")["features"].size() == 10);
    CHECK(p.run({"crm", "--crm", p.crm, "export", p.dir.file("all.csv")}).exit_code == 0);
    const std::string other = "sqlite:" + p.dir.file("other.db");
    const auto imported = p.run({"crm", "--crm", other, "import", p.dir.file("all.csv"), "--json"});
    CHECK(json::parse(imported.out)["customers"] == 21);
    const auto missing = p.run({"crm", "--crm", p.crm, "show", "CUST999"});
    CHECK(missing.exit_code == 1);
    CHECK(missing.err.find("no customer with id 'CUST999'") != std::string::npos);
    CHECK(p.run({"crm", "--crm", p.crm, "show", "x';drop"}).exit_code == 1);
  }

  TEST_CASE("/crm_segment_update: features -> predict -> policy -> segment written, each step logged") {
    CrmProject p;
    test::ServerProcess server(p.home, {"--crm", p.crm});
    httplib::Client c("127.0.0.1", server.port());
    auto r = update(c, "customer_id=CUST_TEST_007");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    const json first = json::parse(r->body);
    CHECK(first["customer_id"] == "CUST_TEST_007");
    CHECK(first["update_status"] == "updated");
    CHECK(first["previous_segment"] == "Unassigned");
    const std::string expected = first["prediction"] == 1 ? "Churn_Risk_AI" : "Normal_Segment_AI";
    CHECK(first["segment"] == expected);
    CHECK(first["model_version"] == "v1.0.0");
    const json customer = p.customer("CUST_TEST_007");
    CHECK(customer["segment"] == expected);
    CHECK(customer["segment_model_version"] == "v1.0.0");
    CHECK(customer["history"][0]["source"] == "request:" + first["request_id"].get<std::string>());
    // As the course calls it: `curl -X POST URL` sends no body and no Content-Length.
    const std::string raw = test::raw_http(server.port(), "POST /crm_segment_update?customer_id=CUST_TEST_007 HTTP/1.1\r\n"
                                                          "Host: localhost\r\nConnection: close\r\n\r\n");
    CHECK(raw.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(raw.find("\"update_status\":\"unchanged\"") != std::string::npos);
    CHECK(json::parse(update(c, "customer_id=CUST_TEST_007&force=true")->body)["update_status"] == "updated");
    const std::string log = server.log();
    for (const char* step : {"crm features fetched", "prediction", "decision", "crm write"}) {
      CAPTURE(step);
      CHECK(log.find(std::string(step) + " customer_id=CUST_TEST_007 request_id=" + first["request_id"].get<std::string>()) !=
            std::string::npos);
    }
    const std::string metrics = c.Get("/metrics")->body;
    CHECK(metrics.find("crm_segment_updates_total{result=\"updated\",segment=\"" + expected + "\"} 2") != std::string::npos);
    CHECK(metrics.find("crm_segment_updates_total{result=\"unchanged\",segment=\"" + expected + "\"} 1") != std::string::npos);
  }

  TEST_CASE("errors leave the CRM untouched: unknown 404, bad id 400, no model 503, key 401") {
    CrmProject p;
    {
      test::ServerProcess server(p.home, {"--crm", p.crm}, {"MLOPS_API_KEY=k"});
      httplib::Client c("127.0.0.1", server.port());
      CHECK(update(c, "customer_id=CUST001")->status == 401);
      CHECK(update(c, "customer_id=CUST999", {{"X-API-Key", "k"}})->status == 404);
      CHECK(update(c, "customer_id=a%27b", {{"X-API-Key", "k"}})->status == 400);
      CHECK(update(c, "", {{"X-API-Key", "k"}})->status == 400);
      CHECK(update(c, "customer_id=CUST001", {{"Authorization", "Bearer k"}})->status == 200);
    }
    CHECK(p.customer("CUST002")["segment"] == "Unassigned");
    CHECK(p.customer("CUST002")["history"].empty());
    test::TempDir empty;
    test::ServerProcess no_model(empty.file("home"), {"--crm", p.crm, "--reload-interval", "0"});
    httplib::Client c("127.0.0.1", no_model.port());
    const auto r = update(c, "customer_id=CUST002");
    CHECK(r->status == 503);
    CHECK(p.customer("CUST002")["segment"] == "Unassigned");
  }

  TEST_CASE("a custom policy decides the segment") {
    CrmProject p;
    const std::string policy = p.dir.write("policy.yml", "default: Keep\nclasses:\n  1: Risky\n  0: Safe\n");
    test::ServerProcess server(p.home, {"--crm", p.crm, "--policy", policy});
    httplib::Client c("127.0.0.1", server.port());
    const json r = json::parse(update(c, "customer_id=CUST003")->body);
    CHECK((r["segment"] == "Risky" || r["segment"] == "Safe"));
    CHECK(p.customer("CUST003")["segment"] == r["segment"]);
  }
}

namespace {
// A CRM that misbehaves on purpose, in the test process: for the error classes a real CRM
// shows (500s, garbage, slowness). Always stopped by its destructor.
struct MisbehavingCrm {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  explicit MisbehavingCrm(const std::string& mode) {
    server.Get(R"(/customer/([^/]+)/features)", [mode](const httplib::Request&, httplib::Response& res) {
      if (mode == "error") {
        res.status = 500;
        res.set_content("{\"error\":{\"message\":\"database down\"}}", "application/json");
      } else if (mode == "garbage") {
        res.set_content("<html>not json</html>", "text/html");
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // slow: past the 0.5 s timeout
        res.set_content("{\"user_id\":\"x\",\"features\":[]}", "application/json");
      }
    });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::yield();
  }
  ~MisbehavingCrm() {
    server.stop();
    thread.join();
  }
};
}  // namespace

TEST_SUITE("integration/crm") {
  TEST_CASE("serve talks to `mlops crm serve` over real HTTP; the connector writes in batches") {
    CrmProject p;
    test::ServerProcess crm_service(p.home, {}, {}, {"crm", "--crm", p.crm, "serve"});
    const std::string crm_url = "http://127.0.0.1:" + std::to_string(crm_service.port());
    test::ServerProcess server(p.home, {"--crm", crm_url});
    httplib::Client c("127.0.0.1", server.port());
    auto r = update(c, "customer_id=CUST005");
    REQUIRE(r->status == 200);
    const json first = json::parse(r->body);
    CHECK(first["update_status"] == "updated");
    CHECK(p.customer("CUST005")["segment"] == first["segment"]);  // written through HTTP into the store
    CHECK(json::parse(update(c, "customer_id=CUST005")->body)["update_status"] == "unchanged");
    CHECK(update(c, "customer_id=CUST999")->status == 404);
    // The course's own API on the CRM service.
    httplib::Client crm("127.0.0.1", crm_service.port());
    const json features = json::parse(crm.Get("/customer/CUST_TEST_007/features")->body);
    CHECK(features["feature_count"] == 10);
    CHECK(crm.Get("/customer/NOPE")->status == 404);
    const json changed = json::parse(crm.Post("/crm_segment_update", "{\"user_id\":\"CUST001\",\"ai_segment\":\"VIP\"}",
                                              "application/json")->body);
    CHECK(changed["old_segment"] == "Unassigned");
    CHECK(changed["new_segment"] == "VIP");
    // Batch: all-or-nothing.
    const auto bad = crm.Post("/customers/segments",
                              "{\"updates\":[{\"user_id\":\"CUST002\",\"ai_segment\":\"A\"},{\"user_id\":\"NOPE\",\"ai_segment\":\"A\"}]}",
                              "application/json");
    CHECK(bad->status == 404);
    CHECK(p.customer("CUST002")["segment"] == "Unassigned");
    const json page = json::parse(crm.Get("/customers?limit=3")->body);
    CHECK(page["customers"].size() == 3);
    CHECK(page["next_after"] == "CUST003");
  }

  TEST_CASE("a CRM that is down, failing, answering garbage or slow: 503/502/502/504, nothing written") {
    CrmProject p;
    for (const auto& [mode, status] : std::vector<std::pair<std::string, int>>{{"error", 502}, {"garbage", 502}, {"slow", 504}}) {
      CAPTURE(mode);
      MisbehavingCrm crm(mode);
      test::ServerProcess server(p.home, {"--crm", "http://127.0.0.1:" + std::to_string(crm.port)}, {"CRM_TIMEOUT=0.5"});
      httplib::Client c("127.0.0.1", server.port());
      c.set_read_timeout(20, 0);
      const auto r = update(c, "customer_id=CUST001");
      REQUIRE(r);
      CHECK(r->status == status);
    }
    int closed_port = 0;
    {
      MisbehavingCrm gone("error");
      closed_port = gone.port;
    }
    test::ServerProcess server(p.home, {"--crm", "http://127.0.0.1:" + std::to_string(closed_port)});
    httplib::Client c("127.0.0.1", server.port());
    const auto r = update(c, "customer_id=CUST001");
    CHECK(r->status == 503);
    CHECK(json::parse(r->body)["error"]["code"] == "crm_unavailable");
    CHECK(p.customer("CUST001")["segment"] == "Unassigned");
  }
}
