#include <doctest/doctest.h>

#include "libmlops/core/fs.hpp"
#include "libmlops/core/sha256.hpp"
#include "libmlops/model/artifact.hpp"
#include "libmlops/model/training.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using namespace mlops::model;

namespace {
ModelArtifact small_model() {
  TrainingSpec spec;
  spec.synthetic = {400, 10, 2, 42};
  spec.model_version = "v1.2.0-stable";
  return train_model(spec).artifact;
}
}  // namespace

TEST_SUITE("unit/model/ModelArtifact") {
  TEST_CASE("round-trips: the loaded model predicts exactly as the trained one") {
    test::TempDir dir;
    ModelArtifact a = small_model();
    save_artifact(a, dir.file("m.json"));
    const ModelArtifact b = load_artifact(dir.file("m.json"), a.sha256);
    CHECK(b.model_version == "v1.2.0-stable");
    CHECK(b.feature_names == a.feature_names);
    CHECK(b.classes == a.classes);
    CHECK(b.metrics.accuracy == a.metrics.accuracy);
    CHECK(b.baseline.size() == 10);
    CHECK(b.baseline[0].fractions.size() + 1 == b.baseline[0].bin_edges.size());
    CHECK(b.sha256 == sha256_file(dir.file("m.json")));
    const double x[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 0};
    double pa[2], pb[2];
    a.model.predict_proba_row(x, pa);
    b.model.predict_proba_row(x, pb);
    CHECK(pa[1] == pb[1]);
  }
  TEST_CASE("the training metadata the course needs is in the file") {
    const ModelArtifact a = small_model();
    CHECK(a.params["C"] == 1.0);  // FitOptions' default; the CLI passes the course's 0.1
    CHECK(a.data["rows"] == 400);
    CHECK(a.data["hash"].get<std::string>().rfind("fnv1a64:", 0) == 0);
    CHECK(a.metrics_split == "test");
    CHECK(a.metrics.samples == 80);
  }
  TEST_CASE("an edited, truncated or foreign file is refused as corrupt") {
    test::TempDir dir;
    ModelArtifact a = small_model();
    save_artifact(a, dir.file("m.json"));
    std::string text = read_file(dir.file("m.json"));

    std::string edited = text;
    const auto pos = edited.find("\"intercepts\": [\n    ");
    REQUIRE(pos != std::string::npos);
    edited = edited.substr(0, pos + 20) + "1" + edited.substr(pos + 20);  // a new leading digit
    CHECK(test::error_code_of([&] { parse_artifact(edited, "edited"); }) == ErrorCode::corrupt);
    CHECK(test::error_code_of([&] { parse_artifact(text.substr(0, text.size() / 2), "cut"); }) == ErrorCode::corrupt);
    CHECK(test::error_code_of([&] { parse_artifact("{\"format\": \"other/1\"}", "x"); }) == ErrorCode::corrupt);
    CHECK(test::error_code_of([&] { load_artifact(dir.file("m.json"), std::string(64, '0')); }) == ErrorCode::corrupt);
    CHECK(test::error_code_of([&] { load_artifact(dir.file("missing.json")); }) == ErrorCode::not_found);
  }
}
