#include <doctest/doctest.h>

#include <signal.h>

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "libmlops/crm/sqlite_crm_store.hpp"
#include "libmlops/crm/sync_job.hpp"
#include "libmlops/sqlite/database.hpp"
#include "tests/support/support.hpp"

#include <httplib.h>  // last: its <resolv.h> defines a macro `_res` that breaks Eigen

using namespace mlops;
using nlohmann::json;

namespace {
struct SyncProject {
  test::TempDir dir;
  std::string home = dir.file("home");
  std::string db = dir.file("crm.db");
  std::string crm = "sqlite:" + db;
  explicit SyncProject(int customers) {
    REQUIRE(run({"train", "--n-samples", "500", "--register", "--stage", "Production", "-o", dir.file("m.json")}).exit_code == 0);
    REQUIRE(run({"crm", "--crm", crm, "init", "--customers", std::to_string(customers)}).exit_code == 0);
  }
  test::CliResult run(const std::vector<std::string>& args) { return test::run_cli(args, home, dir.path()); }
  json sync(std::vector<std::string> args) {
    args.insert(args.begin(), {"crm-sync", "--crm", crm, "--json"});
    const auto r = run(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
  }
  std::int64_t scalar(const std::string& sql) {
    sqlite::Database d(db);
    sqlite::Statement s(d, sql);
    s.step();
    return s.column_int64(0);
  }
};
}  // namespace

TEST_SUITE("integration/crm_sync") {
  TEST_CASE("a dry run writes nothing and reports the moves; the real run writes them once") {
    SyncProject p(300);
    const json dry = p.sync({"--dry-run"});
    CHECK(dry["read"] == 301);
    CHECK(dry["changed"] == 301);
    CHECK(p.scalar("SELECT COUNT(*) FROM customers WHERE segment != 'Unassigned'") == 0);
    std::int64_t moved = 0;
    for (const auto& [move, n] : dry["moves"].items()) moved += n.get<std::int64_t>();
    CHECK(moved == 301);
    const json real = p.sync({"--batch-size", "64"});
    CHECK(real["changed"] == 301);
    CHECK(real["moves"] == dry["moves"]);
    CHECK(p.scalar("SELECT COUNT(*) FROM customers WHERE segment = 'Unassigned'") == 0);
    CHECK(p.scalar("SELECT COUNT(*) FROM segment_history") == 301);
    const json again = p.sync({});
    CHECK(again["changed"] == 0);
    CHECK(again["unchanged"] == 301);
  }

  TEST_CASE("--where and --limit narrow the run") {
    SyncProject p(100);
    CHECK(p.sync({"--limit", "10"})["read"] == 10);
    CHECK(p.sync({"--where", "segment=Unassigned"})["read"] == 91);
  }

  TEST_CASE("shards are disjoint and together complete") {
    SyncProject p(500);
    std::int64_t total = 0;
    for (int i = 0; i < 4; ++i) total += p.sync({"--shard", std::to_string(i) + "/4"})["changed"].get<std::int64_t>();
    CHECK(total == 501);
    CHECK(p.scalar("SELECT COUNT(*) FROM segment_history") == 501);  // no customer written twice
    std::set<int> owners;
    for (const char* id : {"CUST001", "CUST002", "CUST_TEST_007"}) {
      int shards = 0;
      for (int i = 0; i < 4; ++i) shards += crm::in_shard(id, i, 4);
      CHECK(shards == 1);
    }
    CHECK(p.run({"crm-sync", "--crm", p.crm, "--shard", "4/4"}).exit_code == 1);
  }

  TEST_CASE("rollback restores the segments a run changed") {
    SyncProject p(200);
    const json run = p.sync({});
    CHECK(p.scalar("SELECT COUNT(*) FROM customers WHERE segment = 'Unassigned'") == 0);
    const auto r = p.run({"crm-sync", "--crm", p.crm, "rollback", run["run_id"].get<std::string>(), "--json"});
    REQUIRE(r.exit_code == 0);
    CHECK(p.scalar("SELECT COUNT(*) FROM customers WHERE segment = 'Unassigned'") == 201);
    CHECK(json::parse(r.out)["status"] == "ROLLED_BACK");
    CHECK(p.run({"crm-sync", "--crm", p.crm, "rollback", run["run_id"].get<std::string>()}).exit_code == 1);
  }

  TEST_CASE("a sync killed with SIGKILL resumes from its checkpoint and writes no customer twice") {
    SyncProject p(60000);
    const int pid = test::spawn_cli({"crm-sync", "--crm", p.crm, "--batch-size", "200", "--json"}, p.home,
                                    p.dir.file("out"), p.dir.file("err"), {}, p.dir.path());
    crm::SyncLedger ledger(p.home + "/crm_sync.db");
    std::string run_id;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      const auto runs = ledger.list(1);
      if (!runs.empty() && runs[0].read >= 2000) {
        run_id = runs[0].id;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ::kill(pid, SIGKILL);
    test::wait_exit_code(pid);
    REQUIRE(!run_id.empty());
    const auto killed = *ledger.find(run_id);
    CHECK(killed.status == "RUNNING");
    CHECK(killed.read < 60001);
    const auto refused = p.run({"crm-sync", "--crm", p.crm, "rollback", run_id});
    CHECK(refused.exit_code == 1);
    CHECK(refused.err.find("--resume " + run_id) != std::string::npos);  // tells what to do instead
    const json resumed = p.sync({"--resume", run_id, "--batch-size", "200"});
    CHECK(resumed["run_id"] == run_id);
    CHECK(resumed["read"] == 60001);
    CHECK(resumed["changed"] == 60001);  // including those the killed attempt wrote
    CHECK(resumed["unchanged"] == 0);
    CHECK(p.scalar("SELECT COUNT(*) FROM customers WHERE segment = 'Unassigned'") == 0);
    CHECK(p.scalar("SELECT COUNT(*) FROM (SELECT customer_id FROM segment_history GROUP BY customer_id HAVING COUNT(*) > 1)") == 0);
    CHECK(p.scalar("SELECT COUNT(*) FROM segment_history") == 60001);
  }
}

#include "tests/support/server_process.hpp"

TEST_SUITE("integration/crm_sync") {
  TEST_CASE("sync through the HTTP connector against `mlops crm serve`, in batches") {
    SyncProject p(1000);
    test::ServerProcess crm_service(p.home, {}, {}, {"crm", "--crm", p.crm, "serve"});
    const std::string url = "http://127.0.0.1:" + std::to_string(crm_service.port());
    const auto r = p.run({"crm-sync", "--crm", url, "--batch-size", "250", "--json"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const json report = json::parse(r.out);
    CHECK(report["read"] == 1001);
    CHECK(report["changed"] == 1001);
    CHECK(p.scalar("SELECT COUNT(*) FROM customers WHERE segment = 'Unassigned'") == 0);
    CHECK(p.scalar("SELECT COUNT(*) FROM segment_history") == 1001);
  }

  TEST_CASE("rollback leaves a customer changed by hand since the run (a conflict) unless --force") {
    SyncProject p(300);
    test::ServerProcess crm_service(p.home, {}, {}, {"crm", "--crm", p.crm, "serve"});
    const std::string url = "http://127.0.0.1:" + std::to_string(crm_service.port());
    const json run = p.sync({});
    const std::string run_id = run["run_id"];
    CHECK(p.scalar("SELECT COUNT(*) FROM customers WHERE segment_model_version = ''") == 0);
    // Someone moves one customer by hand through the CRM's API after the run.
    httplib::Client client("127.0.0.1", crm_service.port());
    const auto manual = client.Post("/crm_segment_update", R"({"user_id":"CUST001","ai_segment":"VIP_Manual"})",
                                    "application/json");
    REQUIRE(manual);
    REQUIRE(manual->status == 200);

    auto r = p.run({"crm-sync", "--crm", url, "rollback", run_id, "--json"});
    CHECK(r.exit_code == 1);
    json report = json::parse(r.out);
    CHECK(report["status"] == "ROLLBACK_CONFLICTS");
    REQUIRE(report["conflicts"].size() == 1);
    CHECK(report["conflicts"][0] == json({{"customer_id", "CUST001"}, {"segment", "VIP_Manual"}}));
    CHECK(report["changed"] == 300);
    CHECK(p.scalar("SELECT COUNT(*) FROM customers WHERE segment = 'VIP_Manual'") == 1);
    CHECK(p.scalar("SELECT COUNT(*) FROM customers WHERE segment = 'Unassigned'") == 300);
    // The stamp goes back with the segment: no restored customer names the rolled-back model.
    CHECK(p.scalar("SELECT COUNT(*) FROM customers WHERE segment = 'Unassigned' AND segment_model_version != ''") == 0);
    r = p.run({"crm-sync", "--crm", url, "rollback", run_id});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("rollback " + run_id + " --force") != std::string::npos);

    r = p.run({"crm-sync", "--crm", url, "rollback", run_id, "--force", "--json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    report = json::parse(r.out);
    CHECK(report["status"] == "ROLLED_BACK");
    CHECK(report["conflicts"].empty());
    CHECK(p.scalar("SELECT COUNT(*) FROM customers WHERE segment = 'Unassigned'") == 301);
    CHECK(p.run({"crm-sync", "--crm", url, "rollback", run_id}).exit_code == 1);  // nothing left to roll back
  }
}

namespace {
// A batch CRM in the test process that fails on purpose: "flaky" answers 500 to every
// first attempt of a write and then applies it; "error" always 500; "garbage" answers
// HTML; "slow" answers after the client's timeout. Pages are served normally. Records
// what it applied and the most write calls it saw in flight at once.
struct FlakyBatchCrm {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::mutex mutex;
  std::map<std::string, std::string> segments;  // customer -> segment
  std::map<std::string, int> applied;           // customer -> times written
  std::set<std::string> failed_once;
  int in_flight = 0, max_in_flight = 0;

  FlakyBatchCrm(const std::string& mode, int customers) {
    for (int i = 0; i < customers; ++i) segments[fmt::format("C{:05}", i)] = "Unassigned";
    server.Get("/customers", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string after = req.get_param_value("after");
      const std::size_t limit = std::stoul(req.get_param_value("limit"));
      json page = json::array();
      std::lock_guard lock(mutex);
      for (auto it = segments.upper_bound(after); it != segments.end() && page.size() < limit; ++it) {
        page.push_back({{"user_id", it->first}, {"name", it->first}, {"segment", it->second},
                        {"features", std::vector<double>(10, 5.0 + static_cast<double>(it->first.back() - '0'))}});
      }
      res.set_content(json{{"customers", page}}.dump(), "application/json");
    });
    server.Post("/customers/segments", [this, mode](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mutex);
        max_in_flight = std::max(max_in_flight, ++in_flight);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // long enough for calls to overlap
      const json updates = json::parse(req.body).at("updates");
      std::lock_guard lock(mutex);
      --in_flight;
      const std::string key = updates.front().at("user_id");
      if (mode == "error" || (mode == "flaky" && failed_once.insert(key).second)) {
        res.status = 500;
        res.set_content(R"({"error":{"message":"deadlock detected"}})", "application/json");
        return;
      }
      if (mode == "garbage") return res.set_content("<html>maintenance</html>", "text/html");
      if (mode == "slow") std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      json results = json::array();
      for (const json& u : updates) {
        const std::string id = u.at("user_id");
        const std::string old = segments.at(id);
        segments[id] = u.at("ai_segment");
        ++applied[id];
        results.push_back({{"user_id", id}, {"status", old == segments[id] ? "unchanged" : "updated"},
                           {"old_segment", old}, {"new_segment", segments[id]}});
      }
      res.set_content(json{{"results", results}}.dump(), "application/json");
    });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::yield();
  }
  ~FlakyBatchCrm() {
    server.stop();
    thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
  int total_applied() {
    std::lock_guard lock(mutex);
    int n = 0;
    for (const auto& [id, times] : applied) n += times;
    return n;
  }
};
}  // namespace

TEST_SUITE("integration/crm_sync") {
  TEST_CASE("over HTTP: 500s are retried with backoff, calls run --concurrency at a time, each customer written once") {
    SyncProject p(10);
    FlakyBatchCrm crm("flaky", 2000);
    const auto r = p.run({"crm-sync", "--crm", crm.url(), "--batch-size", "1000", "--concurrency", "4", "--json"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const json report = json::parse(r.out);
    CHECK(report["read"] == 2000);
    CHECK(report["changed"].get<int>() + report["unchanged"].get<int>() == 2000);
    CHECK(crm.total_applied() == static_cast<int>(report["changed"].get<int>()));
    for (const auto& [id, times] : crm.applied) CHECK(times == 1);
    CHECK(crm.max_in_flight > 1);
    CHECK(crm.max_in_flight <= 4);
  }

  TEST_CASE("over HTTP: a CRM answering 500, garbage, slowly or not at all fails the run clearly, nothing half-written") {
    SyncProject p(10);
    for (const auto& [mode, message] : std::vector<std::pair<std::string, std::string>>{
             {"error", "answered 500"}, {"garbage", "not JSON"}, {"slow", "did not answer"}}) {
      CAPTURE(mode);
      FlakyBatchCrm crm(mode, 300);
      const auto r = test::run_cli({"crm-sync", "--crm", crm.url(), "--concurrency", "2"}, p.home, p.dir.path(),
                                   {"CRM_TIMEOUT=0.5"});
      CHECK(r.exit_code == 1);
      CHECK(r.err.find(message) != std::string::npos);
      if (mode != "slow") CHECK(crm.total_applied() == 0);
      const auto runs = crm::SyncLedger(p.home + "/crm_sync.db").list(1);
      REQUIRE(runs.size() == 1);
      CHECK(runs[0].status == "FAILED");
      CHECK(runs[0].changed == 0);
    }
    int closed_port = 0;
    {
      FlakyBatchCrm gone("error", 1);
      closed_port = gone.port;
    }
    const auto r = p.run({"crm-sync", "--crm", "http://127.0.0.1:" + std::to_string(closed_port)});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("cannot reach") != std::string::npos);
  }
}
