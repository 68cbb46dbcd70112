// `mlops drift` end to end: the real binary on CSVs like the training data and shifted
// ones (table, JSON, HTML, exit codes), its HTML in headless Chromium, and bad input.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "libmlops/data/synthetic.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using nlohmann::json;

namespace {

// The course's synthetic rows (uniform 0..10), the first `shifted` features moved by +4.
std::string write_csv(const test::TempDir& dir, const std::string& name, std::uint32_t seed, int shifted,
                      std::int64_t rows = 1500) {
  const data::Dataset ds = data::generate_churn({rows, 10, 2, seed});
  std::string text = "id";
  for (int j = 1; j <= 10; ++j) text += fmt::format(",feature_{}", j);
  text += "\n";
  for (Eigen::Index i = 0; i < ds.rows(); ++i) {
    text += fmt::format("R{}", i);
    for (Eigen::Index j = 0; j < 10; ++j) text += fmt::format(",{}", ds.values[static_cast<std::size_t>(i * 10 + j)] + (j < shifted ? 4.0 : 0.0));
    text += "\n";
  }
  return dir.write(name, text);
}

}  // namespace

TEST_SUITE("integration/drift") {
  TEST_CASE("mlops drift: detects the shifted CSV and not the unshifted one; JSON, table, HTML in Chromium") {
    test::TempDir dir;
    const std::string home = dir.file("home");
    REQUIRE(test::run_cli({"train", "--n-samples", "2000", "--register", "--stage", "Production"}, home, dir.path()).exit_code == 0);
    const std::string same = write_csv(dir, "same.csv", 7, 0);
    const std::string shifted = write_csv(dir, "shifted.csv", 8, 6);

    const auto calm = test::run_cli({"drift", "--data", same, "--json"}, home, dir.path());
    REQUIRE_MESSAGE(calm.exit_code == 0, calm.err);
    const json c = json::parse(calm.out);
    CHECK(c["dataset_drift"] == false);
    CHECK(c["drifted_features"] == 0);
    CHECK(c["current_rows"] == 1500);
    CHECK(c["reference"] == "training baseline");
    CHECK(c["prediction_drift"]["drifted"] == false);
    for (const json& f : c["features"]) CHECK(f["psi"].get<double>() < 0.05);

    const auto moved = test::run_cli({"drift", "--data", shifted, "--json"}, home, dir.path());
    CHECK(moved.exit_code == 4);
    const json m = json::parse(moved.out);
    CHECK(m["dataset_drift"] == true);
    CHECK(m["drifted_features"] == 6);
    for (int j = 0; j < 10; ++j) {
      CAPTURE(j);
      CHECK(m["features"][j]["drifted"] == (j < 6));
    }
    CHECK(m["prediction_drift"]["drifted"] == true);  // the course's weights: more churn predicted

    // Against a reference CSV instead of the baseline (two-sample KS).
    CHECK(test::run_cli({"drift", "--data", same, "--reference", write_csv(dir, "ref.csv", 9, 0)}, home, dir.path()).exit_code == 0);
    const auto table = test::run_cli({"drift", "--data", shifted, "--reference", dir.file("ref.csv")}, home, dir.path());
    CHECK(table.exit_code == 4);
    CHECK(table.out.find("6 of 10 features drifted") != std::string::npos);
    CHECK(table.out.find("DATASET DRIFT") != std::string::npos);

    // HTML with every byte escaped, rendered in headless Chromium; the screenshot is kept.
    const std::string odd = write_csv(dir, "<b>odd</b>&.csv", 8, 6);
    const auto page = test::run_cli({"drift", "--data", odd, "--format", "html", "-o", dir.file("drift.html")}, home, dir.path());
    CHECK(page.exit_code == 4);
    const std::string html = test::read_text(dir.file("drift.html"));
    CHECK(html.find("<b>odd</b>") == std::string::npos);
    CHECK(html.find("&lt;b&gt;odd&lt;/b&gt;&amp;.csv") != std::string::npos);
    std::string screenshot;
    const auto browser = test::run_page_check("drift_page.mjs", {dir.file("drift.html"), "10"}, dir.path(), "drift.png", screenshot);
    INFO(browser.out);
    INFO(browser.err);
    CHECK(browser.exit_code == 0);
    CHECK(std::filesystem::file_size(screenshot) > 10000);
  }

  TEST_CASE("mlops drift: bad input is a clear error, never a report") {
    test::TempDir dir;
    const std::string home = dir.file("home");
    REQUIRE(test::run_cli({"train", "--n-samples", "500", "--register", "--stage", "Production"}, home, dir.path()).exit_code == 0);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {dir.file("missing.csv"), "no such file"},
        {dir.write("text.csv", "feature_1,feature_2,feature_3,feature_4,feature_5,feature_6,feature_7,feature_8,feature_9,feature_10\n"
                               "1,2,3,4,5,six,7,8,9,10\n"), "text.csv:2"},
        {dir.write("narrow.csv", "a,b\n1,2\n"), "narrow.csv"},
        {dir.write("empty.csv", ""), "empty.csv"},
        {dir.write("header.csv", "feature_1,feature_2,feature_3,feature_4,feature_5,feature_6,feature_7,feature_8,feature_9,feature_10\n"),
         "no rows"},
        {dir.write("inf.csv", "feature_1,feature_2,feature_3,feature_4,feature_5,feature_6,feature_7,feature_8,feature_9,feature_10\n"
                              "1,2,3,4,5,1e999,7,8,9,10\n"), "inf.csv:2"}};
    for (const auto& [path, message] : cases) {
      CAPTURE(path);
      const auto r = test::run_cli({"drift", "--data", path}, home, dir.path());
      CHECK(r.exit_code == 1);
      CHECK_MESSAGE(r.err.find(message) != std::string::npos, r.err);
      CHECK(r.out.empty());
    }
    CHECK(test::run_cli({"drift", "--data", dir.file("x.csv"), "--format", "pdf"}, home, dir.path()).exit_code == 2);
    CHECK(test::run_cli({"drift", "--data", dir.file("x.csv"), "--model-uri", "models:/Nope@production"}, home, dir.path()).exit_code == 1);
  }
}
