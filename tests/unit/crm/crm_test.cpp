#include <doctest/doctest.h>

#include <cmath>

#include "libmlops/crm/segment_policy.hpp"
#include "libmlops/crm/sqlite_crm_store.hpp"
#include "libmlops/crm/sync_job.hpp"
#include "libmlops/data/synthetic.hpp"
#include "libmlops/sqlite/database.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using namespace mlops::crm;

namespace {
std::string policy_error(const std::string& yaml) {
  try {
    SegmentPolicy::parse(yaml, "p.yml");
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("expected an error for " << yaml);
  return {};
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST_SUITE("unit/crm/SqliteCrmStore") {
  TEST_CASE("seeds CUST001... plus CUST_TEST_007 with ten features") {
    SqliteCrmStore store(":memory:");
    CHECK(store.seed(12, 42) == 13);
    CHECK(store.count() == 13);
    CHECK(store.feature_names().size() == 10);
    const auto first = store.find_customer("CUST001");
    REQUIRE(first);
    CHECK(first->features.size() == 10);
    CHECK(first->features[0] == doctest::Approx(3.745401188473625));  // numpy's first draw for seed 42
    CHECK(first->segment == "Unassigned");
    CHECK(store.find_customer("CUST_TEST_007"));
    CHECK(store.find_customer("CUST012"));
    CHECK_FALSE(store.find_customer("CUST013"));
    CHECK(store.page("", 5).size() == 5);
    CHECK(store.page("CUST012", 100).front().id == "CUST_TEST_007");
    // risk_score is the course's true churn probability of the customer's features
    double z = data::kChurnBias;  // written out here, not through data::churn_probability
    for (std::size_t j = 0; j < 10; ++j) z += data::churn_weights()[j] * first->features[j];
    CHECK(first->risk_score == doctest::Approx(1 / (1 + std::exp(-z))));
    CHECK(first->risk_score > 0);
  }
  TEST_CASE("a CRM file made before risk_score gains the column, customers kept") {
    test::TempDir dir;
    {
      sqlite::Database old(dir.file("old.db"));
      old.exec("CREATE TABLE crm_features (position INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
               "CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT NOT NULL, features BLOB NOT NULL,"
               " segment TEXT NOT NULL DEFAULT 'Unassigned', segment_model_version TEXT NOT NULL DEFAULT '',"
               " segment_updated_at INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
               "INSERT INTO customers(id, name, features, segment) VALUES ('C1', 'n', x'', 'Gold');");
    }
    SqliteCrmStore store(dir.file("old.db"));
    const auto c = store.find_customer("C1");
    REQUIRE(c);
    CHECK(c->segment == "Gold");
    CHECK(c->risk_score == 0);
    SqliteCrmStore again(dir.file("old.db"));  // the second open finds the column there
    CHECK(again.count() == 1);
  }
  TEST_CASE("segment writes are all-or-nothing and audited; unchanged writes are not") {
    SqliteCrmStore store(":memory:");
    store.seed(3, 1);
    auto changes = store.write_segments({{"CUST001", "Churn_Risk_AI", "v1", "run:1"}, {"CUST002", "Unassigned", "v1", "run:1"}});
    CHECK(changes[0].changed);
    CHECK(changes[0].old_segment == "Unassigned");
    CHECK_FALSE(changes[1].changed);
    CHECK(store.find_customer("CUST001")->segment_model_version == "v1");
    CHECK(store.history("CUST001").size() == 1);
    CHECK(store.history("CUST002").empty());
    CHECK(test::error_code_of([&] {
            store.write_segments({{"CUST003", "Churn_Risk_AI", "v2", "run:2"}, {"NOPE", "x", "v2", "run:2"}});
          }) == ErrorCode::not_found);
    CHECK(store.find_customer("CUST003")->segment == "Unassigned");  // rolled back with the batch
    store.write_segments({{"CUST002", "Unassigned", "v3", "req:9", true}});
    CHECK(store.history("CUST002").size() == 1);  // forced writes are recorded
  }
  TEST_CASE("customer ids never carry SQL or URL syntax") {
    for (const char* bad : {"", "a b", "x'--", "../etc", "a/b", "%27"}) {
      CAPTURE(bad);
      CHECK(test::error_code_of([&] { check_customer_id(bad); }) == ErrorCode::invalid_input);
    }
    CHECK(test::error_code_of([&] { check_customer_id(std::string(65, 'a')); }) == ErrorCode::invalid_input);
    check_customer_id("CUST_TEST_007");
  }
  TEST_CASE("export then import round-trips; bad CSVs are rejected by line") {
    test::TempDir dir;
    SqliteCrmStore a(dir.file("a.db"));
    a.seed(5, 3);
    a.write_segments({{"CUST002", "Churn_Risk_AI", "v1", "x"}});
    CHECK(a.export_csv(dir.file("out.csv")) == 6);
    SqliteCrmStore b(dir.file("b.db"));
    CHECK(b.import_csv(dir.file("out.csv")) == 6);
    CHECK(b.find_customer("CUST002")->segment == "Churn_Risk_AI");
    CHECK(b.find_customer("CUST004")->features == a.find_customer("CUST004")->features);
    CHECK(b.find_customer("CUST004")->risk_score == a.find_customer("CUST004")->risk_score);
    CHECK(b.feature_names().size() == 10);  // risk_score is not read as a feature
    dir.write("bad.csv", "id,name,feature_1\nC1,n,1\nC2,n,abc\n");
    SqliteCrmStore c(dir.file("c.db"));
    try {
      c.import_csv(dir.file("bad.csv"));
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(contains(e.what(), "bad.csv:3"));
    }
    CHECK(c.count() == 0);  // one transaction: nothing half-imported
    for (const char* risk : {"1.5", "-0.1", "nan", "high"}) {
      CAPTURE(risk);
      dir.write("risk.csv", std::string("id,name,feature_1,risk_score\nC1,n,1,0.2\nC2,n,2,") + risk + "\n");
      try {
        c.import_csv(dir.file("risk.csv"));
        FAIL("expected an error");
      } catch (const Error& e) {
        CHECK(contains(e.what(), "risk.csv:3"));
      }
      CHECK(c.count() == 0);
    }
    dir.write("risk.csv", "id,name,feature_1,risk_score\nC1,n,1,0.25\n");
    CHECK(c.import_csv(dir.file("risk.csv")) == 1);
    CHECK(c.find_customer("C1")->risk_score == 0.25);
    dir.write("other.csv", "id,name,x\nC1,n,1\n");
    CHECK(test::error_code_of([&] { b.import_csv(dir.file("other.csv")); }) == ErrorCode::invalid_input);
  }
}

TEST_SUITE("unit/crm/SegmentPolicy") {
  TEST_CASE("the course's default: class 1 -> Churn_Risk_AI, else Normal_Segment_AI") {
    const SegmentPolicy p = SegmentPolicy::course_default();
    const std::vector<std::string> classes = {"0", "1"};
    const double churn[] = {0.2, 0.8}, normal[] = {0.9, 0.1};
    CHECK(p.decide(1, classes, churn) == "Churn_Risk_AI");
    CHECK(p.decide(0, classes, normal) == "Normal_Segment_AI");
  }
  TEST_CASE("bands grade by probability; classes map multiclass labels") {
    const SegmentPolicy p = SegmentPolicy::parse(
        "default: Other\nclasses:\n  b: Bee\nbands:\n  class: a\n  ranges:\n    - {from: 0.9, to: 1.0, segment: SureA}\n"
        "    - {from: 0.6, to: 0.9, segment: LikelyA}\n",
        "p.yml");
    const std::vector<std::string> classes = {"a", "b", "c"};
    const double sure[] = {0.95, 0.05, 0}, likely[] = {0.7, 0.3, 0}, bee[] = {0.2, 0.7, 0.1}, cee[] = {0.1, 0.2, 0.7};
    CHECK(p.decide(0, classes, sure) == "SureA");
    CHECK(p.decide(0, classes, likely) == "LikelyA");
    CHECK(p.decide(1, classes, bee) == "Bee");
    CHECK(p.decide(2, classes, cee) == "Other");
    const double one[] = {1.0, 0, 0};
    CHECK(p.decide(0, classes, one) == "SureA");
  }
  TEST_CASE("the shipped example policy loads and fits the course's model") {
    const SegmentPolicy p = SegmentPolicy::load(std::string(MLOPS_SOURCE_DIR) + "/examples/segment_policy.yml");
    p.check_classes({"0", "1"});
  }
  TEST_CASE("invalid policies are rejected naming the line") {
    CHECK(contains(policy_error("default: ''\n"), "p.yml:1"));
    CHECK(contains(policy_error("classes:\n  1: ''\n"), "p.yml:2"));
    CHECK(contains(policy_error("colour: red\n"), "unknown key 'colour'"));
    CHECK(contains(policy_error("bands:\n  class: 1\n  ranges:\n    - {from: 0.5, to: 0.9, segment: A}\n    - {from: 0.8, to: 1.0, segment: B}\n"),
                   "overlaps"));
    CHECK(contains(policy_error("bands:\n  class: 1\n  ranges:\n    - {from: 0.5, to: 1.5, segment: A}\n"), "p.yml:4"));
    CHECK(contains(policy_error("a: [1,\n"), "not valid YAML"));
    const SegmentPolicy p = SegmentPolicy::parse("classes:\n  yes_churn: X\n", "p.yml");
    try {
      p.check_classes({"0", "1"});
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(contains(e.what(), "p.yml:2: class 'yes_churn' is not one of the model's classes (0, 1)"));
    }
  }
}

TEST_SUITE("unit/crm/SyncLedger") {
  TEST_CASE("a version-1 ledger (changes keyed by run id) is migrated with every run and change kept") {
    test::TempDir dir;
    const std::string path = dir.file("crm_sync.db");
    {
      sqlite::Database db(path);
      db.exec(R"sql(
        CREATE TABLE sync_runs (id TEXT PRIMARY KEY, crm_url TEXT NOT NULL, model_uri TEXT NOT NULL,
          model_version TEXT NOT NULL, shard TEXT NOT NULL, status TEXT NOT NULL, dry_run INTEGER NOT NULL,
          started_at INTEGER NOT NULL, ended_at INTEGER NOT NULL DEFAULT 0, checkpoint TEXT NOT NULL DEFAULT '',
          read INTEGER NOT NULL DEFAULT 0, changed INTEGER NOT NULL DEFAULT 0, unchanged INTEGER NOT NULL DEFAULT 0,
          failed INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE sync_changes (run_id TEXT NOT NULL, customer_id TEXT NOT NULL, old_segment TEXT NOT NULL,
          new_segment TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (run_id, customer_id)) WITHOUT ROWID;
        INSERT INTO sync_runs(id, crm_url, model_uri, model_version, shard, status, dry_run, started_at, read, changed)
          VALUES ('old1', 'sqlite:crm.db', 'models:/M/1', 'v1', '0/1', 'FINISHED', 0, 100, 3, 2);
        INSERT INTO sync_changes VALUES ('old1', 'CUST001', 'Unassigned', 'A', 100), ('old1', 'CUST002', 'Unassigned', 'B', 100);
      )sql");
    }
    for (int open = 0; open < 2; ++open) {  // the second open finds version 2 and changes nothing
      SyncLedger ledger(path);
      const auto run = ledger.find("old1");
      REQUIRE(run);
      CHECK(run->read == 3);
      CHECK(run->changed == 2);
      const auto changes = ledger.changes("old1");
      REQUIRE(changes.size() == 2);
      CHECK(changes[1].customer_id == "CUST002");
      CHECK(changes[1].new_segment == "B");
    }
    SyncLedger ledger(path);
    SyncRun next;
    next.id = "new1";
    next.started_at = 200;
    ledger.create(next);
    ledger.checkpoint(*ledger.find("new1"), {{"CUST003", "Unassigned", "A", true}});
    CHECK(ledger.changes("new1").size() == 1);
    CHECK(ledger.changes("old1").size() == 2);
    CHECK(ledger.list().front().id == "new1");
  }
}
