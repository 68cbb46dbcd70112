#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <vector>

#include "libmlops/core/error.hpp"
#include "libmlops/rubric/checks/common.hpp"
#include "libmlops/rubric/checks/kinds.hpp"

namespace mlops::rubric::checks {
namespace {

using nlohmann::json;

// Field assertions on a JSON or YAML file of the workspace.
class DocumentFile : public Check {
 public:
  DocumentFile(const YAML::Node& n, const std::string& file, bool yaml)
      : path_(need(n, "path", file)), yaml_(yaml), fields_(parse_fields(n, file)) {}
  CheckResult run(const CheckContext& c) const override {
    json doc;
    try {
      const std::string text = read_workspace_file(c, path_);
      // yaml-cpp spends a few hundred bytes a node: YAML documents are held to 2 MB.
      if (yaml_ && text.size() > (2u << 20)) return {false, fmt::format("{} is larger than 2 MB: not read as YAML", path_)};
      doc = yaml_ ? yaml_to_json(YAML::Load(text)) : json::parse(text);
    } catch (const std::exception& e) {
      return {false, fmt::format("{} cannot be read as {}: {}", path_, yaml_ ? "YAML" : "JSON", shorten(e.what()))};
    }
    if (auto why = check_fields(doc, fields_)) return {false, fmt::format("{}: {}", path_, *why)};
    return {true, fmt::format("{} has the expected fields", path_)};
  }

 private:
  std::string path_;
  bool yaml_;
  std::vector<FieldAssertion> fields_;
};

// A JUnit XML report: no failures or errors, at least `min_tests` tests.
class Junit : public Check {
 public:
  Junit(const YAML::Node& n, const std::string& file) : path_(need(n, "path", file)) {
    if (n["min_tests"]) min_tests_ = n["min_tests"].as<int>();
  }
  CheckResult run(const CheckContext& c) const override {
    std::string xml;
    try {
      xml = read_workspace_file(c, path_);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::not_found) return {false, e.what()};
      return {false, fmt::format("{} is missing (write a JUnit report, e.g. ctest --output-junit)", path_)};
    }
    // Counts the <testcase> elements and the <failure>/<error> elements inside them.
    const auto count = [&](const std::string& tag) {
      int n = 0;
      for (std::size_t at = xml.find("<" + tag); at != std::string::npos; at = xml.find("<" + tag, at + 1)) {
        const char next = at + tag.size() + 1 < xml.size() ? xml[at + tag.size() + 1] : ' ';
        n += next == ' ' || next == '>' || next == '/' || next == '\n';
      }
      return n;
    };
    if (xml.find("<testsuite") == std::string::npos) return {false, fmt::format("{} is not a JUnit report", path_)};
    const int tests = count("testcase"), failures = count("failure") + count("error");
    if (failures > 0) return {false, fmt::format("{}: {} of {} tests failed", path_, failures, tests)};
    if (tests < min_tests_) return {false, fmt::format("{}: {} tests, expected at least {}", path_, tests, min_tests_)};
    return {true, fmt::format("{}: {} tests passed", path_, tests)};
  }

 private:
  std::string path_;
  int min_tests_ = 1;
};

}  // namespace

CheckPtr document(const YAML::Node& n, const std::string& file, bool yaml) { return std::make_shared<DocumentFile>(n, file, yaml); }
CheckPtr junit(const YAML::Node& n, const std::string& file) { return std::make_shared<Junit>(n, file); }

}  // namespace mlops::rubric::checks
