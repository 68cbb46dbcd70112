#include <doctest/doctest.h>

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "libmlops/registry/registry_store.hpp"
#include "libmlops/sqlite/database.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using namespace mlops::registry;

namespace {
NewVersion version_of(const std::string& name, const std::string& tag = "v1") {
  return {name, "", "/artifacts/x/model.json", "aa", tag, "", {}, "", {}, false, ""};
}
std::vector<std::string> outbox_kinds(RegistryStore& store) {
  std::vector<std::string> kinds;
  for (const auto& e : store.outbox("pending")) kinds.push_back(e.kind);
  return kinds;
}
}  // namespace

TEST_SUITE("unit/registry/RegistryStore") {
  TEST_CASE("versions are numbered per name, starting at 1") {
    RegistryStore store(":memory:");
    CHECK(store.register_version(version_of("churn")).version == 1);
    CHECK(store.register_version(version_of("churn")).version == 2);
    CHECK(store.register_version(version_of("fraud")).version == 1);
    CHECK(store.list_models().size() == 2);
    CHECK(store.find_model("churn")->latest_version == 2);
  }
  TEST_CASE("register with stage and alias is one transaction: a bad alias leaves no version behind") {
    RegistryStore store(":memory:");
    NewVersion v = version_of("churn");
    v.stage = Stage::production;
    v.alias = "v7";  // MLflow reserves v<number>: refused
    CHECK(test::error_code_of([&] { store.register_version(v); }) == ErrorCode::invalid_input);
    CHECK_FALSE(store.find_model("churn"));
    CHECK(store.outbox("pending").empty());
    v.alias = "champion";
    const ModelVersion made = store.register_version(v);
    CHECK(made.stage == Stage::production);
    CHECK(made.aliases == std::vector<std::string>{"champion", "production"});
    CHECK(outbox_kinds(store) ==
          std::vector<std::string>{"registered_model_created", "model_version_created", "stage_transitioned", "alias_set",
                                   "alias_set"});
  }
  TEST_CASE("paths inside the registry's folder are stored relative to it and handed out absolute") {
    test::TempDir dir;
    RegistryStore store(dir.file("mlops.db"));
    NewVersion v = version_of("churn");
    v.source = dir.file("artifacts/r1/model.json");
    store.register_version(v);
    v.source = "/elsewhere/model.json";
    store.register_version(v);
    CHECK(store.get_version("churn", 1).source == dir.file("artifacts/r1/model.json"));
    CHECK(store.get_version("churn", 2).source == "/elsewhere/model.json");
    CHECK(store.stored_path(dir.file("artifacts/r1/model.json")) == "artifacts/r1/model.json");
    CHECK(store.absolute_path("artifacts/r1/model.json") == dir.file("artifacts/r1/model.json"));
  }
  TEST_CASE("read-only opening: no registry is not_found, and nothing is written") {
    test::TempDir dir;
    CHECK(test::error_code_of([&] { RegistryStore(dir.file("mlops.db"), RegistryStore::Mode::read_only); }) ==
          ErrorCode::not_found);
    CHECK_FALSE(std::filesystem::exists(dir.file("mlops.db")));
    { RegistryStore(dir.file("mlops.db")).register_version(version_of("churn")); }
    RegistryStore reader(dir.file("mlops.db"), RegistryStore::Mode::read_only);
    CHECK(reader.get_version("churn", 1).version_tag == "v1");
    CHECK(test::error_code_of([&] { reader.register_version(version_of("churn")); }) == ErrorCode::io);
  }
  TEST_CASE("an older registry (schema 2, absolute paths) is upgraded on first read, paths made relative") {
    test::TempDir dir;
    const std::string db_path = dir.file("mlops.db");
    {
      sqlite::Database old(db_path);
      old.exec(test::read_text(test::test_data("registry_v2.sql")));
      old.exec("INSERT INTO registered_models(name, created_at, updated_at) VALUES ('churn', 1, 1)");
      old.exec(fmt::format("INSERT INTO model_versions(name, version, source, artifact_sha256, created_at, updated_at)"
                           " VALUES ('churn', 1, '{}', 'aa', 1, 1), ('churn', 2, '/elsewhere/model.json', 'bb', 1, 1)",
                           dir.file("artifacts/r1/model.json")));
      old.exec("INSERT INTO outbox(kind, payload, status, created_at, updated_at) VALUES ('alias_set', '{}', 'failed', 1, 1)");
    }
    RegistryStore reader(db_path, RegistryStore::Mode::read_only);
    CHECK(reader.get_version("churn", 1).source == dir.file("artifacts/r1/model.json"));
    CHECK(reader.get_version("churn", 2).source == "/elsewhere/model.json");
    CHECK(reader.outbox_counts().failed == 1);
    sqlite::Database raw(db_path, 30000, sqlite::Access::read_only);
    sqlite::Statement stored(raw, "SELECT source FROM model_versions WHERE version = 1");
    REQUIRE(stored.step());
    CHECK(stored.column_text(0) == "artifacts/r1/model.json");
    RegistryStore writer(db_path);
    writer.skip_outbox(1, "old events can be skipped too");  // the new status fits the upgraded table
    CHECK(writer.outbox_counts().skipped == 1);
  }
  TEST_CASE("a missing version is nullopt for find_ and not_found for get_") {
    RegistryStore store(":memory:");
    CHECK_FALSE(store.find_version("churn", 7));
    CHECK(test::error_code_of([&] { store.get_version("churn", 7); }) == ErrorCode::not_found);
    store.register_version(version_of("churn"));
    CHECK(test::error_code_of([&] { store.get_version("churn", 7); }) == ErrorCode::not_found);
    CHECK(test::error_code_of([&] { store.list_versions("nope"); }) == ErrorCode::not_found);
  }
  TEST_CASE("runs keep params, metrics, tags, status and artifact") {
    RegistryStore store(":memory:");
    const Run run = store.create_run({"exp", "", {{"C", "0.1"}}, {{"model_version", "v1"}}});
    CHECK(run.status == "RUNNING");
    CHECK(run.id.size() == 32);
    store.finish_run(run.id, {"FINISHED", {{"n_samples", "1000"}}, {{"accuracy", 0.95}}, {}, "/a/model.json", "ff"});
    const Run back = store.get_run(run.id.substr(0, 8));  // a unique prefix works
    CHECK(back.status == "FINISHED");
    CHECK(back.end_time);
    CHECK(back.params.at("C") == "0.1");
    CHECK(back.params.at("n_samples") == "1000");
    CHECK(back.metrics.at("accuracy") == 0.95);
    CHECK(back.tags.at("model_version") == "v1");
    CHECK(back.artifact_sha256 == "ff");
    CHECK(store.list_runs("exp").size() == 1);
    CHECK(store.list_runs("other").empty());
    CHECK(test::error_code_of([&] { store.get_run("zzzzzz"); }) == ErrorCode::not_found);
    CHECK(test::error_code_of([&] { store.register_version({"m", "nope", "s", "a", "t", "", {}, "", {}, false, ""}); }) ==
          ErrorCode::not_found);
  }
  TEST_CASE("promoting to Production moves the production alias; archive_existing archives the rest") {
    RegistryStore store(":memory:");
    store.register_version(version_of("churn"));
    store.register_version(version_of("churn"));
    store.set_stage("churn", 1, Stage::production, false);
    CHECK(store.find_by_alias("churn", "production")->version == 1);
    store.set_stage("churn", 2, Stage::production, true);
    CHECK(store.get_version("churn", 1).stage == Stage::archived);
    CHECK(store.get_version("churn", 2).stage == Stage::production);
    CHECK(store.find_by_alias("churn", "production")->version == 2);
    CHECK(store.find_latest_in_stage("churn", Stage::production)->version == 2);
    CHECK(store.find_model("churn")->production_version == 2);
  }
  TEST_CASE("aliases can be set, moved and deleted; v<number> is reserved") {
    RegistryStore store(":memory:");
    store.register_version(version_of("churn"));
    store.register_version(version_of("churn"));
    store.set_alias("churn", "champion", 1);
    store.set_alias("churn", "champion", 2);
    CHECK(store.find_by_alias("churn", "champion")->version == 2);
    CHECK(store.get_version("churn", 2).aliases == std::vector<std::string>{"champion"});
    store.delete_alias("churn", "champion");
    CHECK_FALSE(store.find_by_alias("churn", "champion"));
    CHECK(test::error_code_of([&] { store.delete_alias("churn", "champion"); }) == ErrorCode::not_found);
    CHECK(test::error_code_of([&] { store.set_alias("churn", "v2", 1); }) == ErrorCode::invalid_input);
    CHECK(test::error_code_of([&] { store.set_alias("churn", "x", 9); }) == ErrorCode::not_found);
  }
  TEST_CASE("rollback restores the previous Production version and records it") {
    RegistryStore store(":memory:");
    for (int i = 0; i < 3; ++i) store.register_version(version_of("churn"));
    CHECK(test::error_code_of([&] { store.rollback("churn"); }) == ErrorCode::not_found);  // none in Production
    store.set_stage("churn", 1, Stage::production, true);
    CHECK(test::error_code_of([&] { store.rollback("churn"); }) == ErrorCode::not_found);  // nothing earlier
    store.set_stage("churn", 3, Stage::production, true);
    const ModelVersion restored = store.rollback("churn", {"alice", "p95 too high"});
    CHECK(restored.version == 1);
    CHECK(restored.stage == Stage::production);
    CHECK(store.get_version("churn", 3).stage == Stage::archived);
    CHECK(store.find_by_alias("churn", "production")->version == 1);
    const auto history = store.history("churn");
    const AuditEntry& last = history.back();
    CHECK(last.action == "rollback");
    CHECK(last.from_value == "3");
    CHECK(last.to_value == "Production");
    CHECK(last.user == "alice");
    CHECK(last.reason == "p95 too high");
  }
  TEST_CASE("the history records registrations with their gate, and refusals") {
    RegistryStore store(":memory:");
    NewVersion v = version_of("churn", "v1.2.0-stable");
    v.gate = "accuracy 0.95 >= 0.85 passed";
    store.register_version(v);
    store.record_refusal("churn", "accuracy 0.70 < 0.85 failed");
    const auto h = store.history("churn");
    REQUIRE(h.size() == 2);
    CHECK(h[0].action == "register");
    CHECK(h[0].to_value == "v1.2.0-stable");
    CHECK(h[0].gate == "accuracy 0.95 >= 0.85 passed");
    CHECK_FALSE(h[0].user.empty());
    CHECK(h[1].action == "refuse");
    CHECK_FALSE(h[1].version);
  }
  TEST_CASE("every change writes its outbox event in the same transaction") {
    RegistryStore store(":memory:");
    const Run run = store.create_run({});
    store.finish_run(run.id, {});
    store.register_version({"churn", run.id, "s", "a", "v1", "", {}, "", {}, false, ""});
    store.set_stage("churn", 1, Stage::staging, false);
    store.set_alias("churn", "champion", 1);
    store.delete_alias("churn", "champion");
    CHECK(outbox_kinds(store) ==
          std::vector<std::string>{"experiment_created", "run_created", "run_finished", "registered_model_created",
                                   "model_version_created", "stage_transitioned", "alias_set", "alias_deleted"});
    const auto payload = nlohmann::json::parse(store.outbox("pending")[4].payload);
    CHECK(payload["run_id"] == run.id);
    CHECK(payload["version"] == 1);
  }
  TEST_CASE("a failed change leaves neither the change nor its outbox event") {
    RegistryStore store(":memory:");
    store.register_version(version_of("churn"));
    const auto before = store.outbox("").size();
    CHECK(test::error_code_of([&] { store.set_stage("churn", 5, Stage::production, false); }) == ErrorCode::not_found);
    CHECK(store.outbox("").size() == before);
  }
  TEST_CASE("the audit log is append-only") {
    test::TempDir dir;
    {
      RegistryStore store(dir.file("r.db"));
      store.register_version(version_of("churn"));
    }
    sqlite::Database db(dir.file("r.db"));
    CHECK(test::error_code_of([&] { db.exec("DELETE FROM audit_log"); }) == ErrorCode::conflict);
    CHECK(test::error_code_of([&] { db.exec("UPDATE audit_log SET user = 'x'"); }) == ErrorCode::conflict);
    sqlite::Statement count(db, "SELECT COUNT(*) FROM audit_log");
    count.step();
    CHECK(count.column_int64(0) == 1);
  }
  TEST_CASE("names are validated") {
    RegistryStore store(":memory:");
    CHECK(test::error_code_of([&] { store.register_version(version_of("")); }) == ErrorCode::invalid_input);
    CHECK(test::error_code_of([&] { store.register_version(version_of("a/b")); }) == ErrorCode::invalid_input);
  }
  TEST_CASE("a database from a newer mlops is refused") {
    test::TempDir dir;
    { sqlite::Database db(dir.file("r.db")); db.exec("PRAGMA user_version = 999"); }
    CHECK(test::error_code_of([&] { RegistryStore store(dir.file("r.db")); }) == ErrorCode::corrupt);
  }
}
