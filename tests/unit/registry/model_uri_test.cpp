#include <doctest/doctest.h>

#include <filesystem>

#include "libmlops/core/fs.hpp"
#include "libmlops/model/training.hpp"
#include "libmlops/registry/model_uri.hpp"
#include "libmlops/registry/tracking.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using namespace mlops::registry;

namespace {
// Trains a small model with a tracked run in `dir` and registers it as "churn".
std::pair<TrackedTraining, RegisterOutcome> train_and_register(const test::TempDir& dir, RegistryStore& store,
                                                               RegisterOptions options) {
  model::TrainingSpec spec;
  spec.synthetic.samples = 300;
  auto tracked = train_tracked(store, dir.file("artifacts"), spec, "Default", dir.file("m.json"));
  options.name = "churn";
  auto outcome = register_artifact(store, dir.file("artifacts"), tracked.trained.artifact, tracked.stored_path, options);
  return {std::move(tracked), std::move(outcome)};
}
}  // namespace

TEST_SUITE("unit/registry/model_uri") {
  TEST_CASE("parses MLflow's URI forms and file paths") {
    CHECK(parse_model_uri("models:/churn/3").kind == ModelUri::Kind::version);
    CHECK(parse_model_uri("models:/churn/3").version == 3);
    CHECK(parse_model_uri("models:/churn/production").stage == Stage::production);
    CHECK(parse_model_uri("models:/churn@champion").alias == "champion");
    CHECK(parse_model_uri("models:/churn/latest").kind == ModelUri::Kind::latest);
    CHECK(parse_model_uri("models/sample_model.json").kind == ModelUri::Kind::file);
    CHECK(parse_model_uri("file:///tmp/m.json").path == "/tmp/m.json");
    for (const char* bad : {"models:/", "models:/churn", "models:/churn/", "models:/@x", "models:/churn@",
                            "models:/churn/latestish", ""}) {
      CAPTURE(bad);
      CHECK(test::error_code_of([&] { parse_model_uri(bad); }) == ErrorCode::invalid_input);
    }
  }
  TEST_CASE("resolves versions, stages and aliases to verified artifacts") {
    test::TempDir dir;
    RegistryStore store(dir.file("r.db"));
    RegisterOptions options;
    options.stage = Stage::production;
    options.alias = "champion";
    const auto [tracked, outcome] = train_and_register(dir, store, options);
    REQUIRE(outcome.version);
    for (const char* uri : {"models:/churn/1", "models:/churn/Production", "models:/churn@champion",
                            "models:/churn@production"}) {
      CAPTURE(uri);
      ResolvedModel resolved;
      const model::ModelArtifact a = load_model(store, uri, &resolved);
      CHECK(resolved.version == 1);
      CHECK(resolved.sha256 == tracked.trained.artifact.sha256);
      CHECK(a.run_id == tracked.run.id);
    }
    CHECK(test::error_code_of([&] { resolve_model_uri(store, "models:/churn/2"); }) == ErrorCode::not_found);
    CHECK(test::error_code_of([&] { resolve_model_uri(store, "models:/other/latest"); }) == ErrorCode::not_found);
    CHECK(test::error_code_of([&] { resolve_model_uri(store, "models:/churn/Staging"); }) == ErrorCode::not_found);
    CHECK(test::error_code_of([&] { resolve_model_uri(store, "models:/other@x"); }) == ErrorCode::not_found);
    CHECK(test::error_code_of([&] { resolve_model_uri(store, dir.file("none.json")); }) == ErrorCode::not_found);
  }
  TEST_CASE("models:/NAME/latest is the highest version, whatever its stage (as in MLflow)") {
    test::TempDir dir;
    RegistryStore store(dir.file("r.db"));
    RegisterOptions production;
    production.stage = Stage::production;
    train_and_register(dir, store, production);
    train_and_register(dir, store, {});  // version 2, stage None
    CHECK(resolve_model_uri(store, "models:/churn/latest").version == 2);
    CHECK(resolve_model_uri(store, "models:/churn/Production").version == 1);
  }
  TEST_CASE("a stored artifact that was altered is refused by its registry hash") {
    test::TempDir dir;
    RegistryStore store(dir.file("r.db"));
    const auto [tracked, outcome] = train_and_register(dir, store, {});
    std::filesystem::permissions(tracked.stored_path, std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::add);
    write_file_atomic(tracked.stored_path, read_file(tracked.stored_path) + " ");  // still valid JSON
    CHECK(test::error_code_of([&] { load_model(store, "models:/churn/1"); }) == ErrorCode::corrupt);
  }
  TEST_CASE("the accuracy gate refuses a model and records why") {
    test::TempDir dir;
    RegistryStore store(dir.file("r.db"));
    RegisterOptions options;
    options.min_accuracy = 0.9999;
    const auto [tracked, outcome] = train_and_register(dir, store, options);
    CHECK_FALSE(outcome.registered);
    CHECK(outcome.gate.find("failed") != std::string::npos);
    CHECK_FALSE(store.find_model("churn"));
    CHECK(store.history("churn").front().action == "refuse");
  }
}
