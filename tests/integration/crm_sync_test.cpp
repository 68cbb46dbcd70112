#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "libmlops/crm/sqlite_crm_store.hpp"
#include "libmlops/crm/sync_job.hpp"
#include "libmlops/sqlite/database.hpp"
#include "tests/support/support.hpp"

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
    const json resumed = p.sync({"--resume", run_id, "--batch-size", "200"});
    CHECK(resumed["run_id"] == run_id);
    CHECK(resumed["read"] == 60001);
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
}
