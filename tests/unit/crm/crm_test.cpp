#include <doctest/doctest.h>

#include "libmlops/crm/segment_policy.hpp"
#include "libmlops/crm/sqlite_crm_store.hpp"
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
    dir.write("bad.csv", "id,name,feature_1\nC1,n,1\nC2,n,abc\n");
    SqliteCrmStore c(dir.file("c.db"));
    try {
      c.import_csv(dir.file("bad.csv"));
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(contains(e.what(), "bad.csv:3"));
    }
    CHECK(c.count() == 0);  // one transaction: nothing half-imported
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
