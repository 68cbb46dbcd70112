#include "libmlops/rubric/rubric.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <set>

#include "libmlops/core/error.hpp"
#include "libmlops/core/fs.hpp"
#include "libmlops/rubric/yaml_bounds.hpp"

namespace mlops::rubric {
namespace {

[[noreturn]] void bad(const YAML::Node& node, const std::string& file, const std::string& message) {
  throw Error(ErrorCode::invalid_input, fmt::format("{}:{}: {}", file, node.Mark().line + 1, message),
              "see rubric/README.md for the rubric format");
}

// A text is a string (English) or {en, zh-TW}.
Text text_of(const YAML::Node& node, const std::string& file, const std::string& field) {
  if (!node) return {};
  if (node.IsScalar()) return {node.as<std::string>(), ""};
  if (!node.IsMap()) bad(node, file, fmt::format("'{}' is a string or {{en, zh-TW}}", field));
  return {node["en"] ? node["en"].as<std::string>() : "", node["zh-TW"] ? node["zh-TW"].as<std::string>() : ""};
}

double positive(const YAML::Node& node, const std::string& file, const std::string& field, double fallback) {
  if (!node) return fallback;
  double v = 0;
  try {
    v = node.as<double>();
  } catch (const YAML::Exception&) {
    bad(node, file, fmt::format("'{}' is a number, not '{}'", field, node.Scalar()));
  }
  if (!(v > 0)) bad(node, file, fmt::format("'{}' must be above 0", field));
  return v;
}

Criterion criterion_of(const std::string& id, const YAML::Node& node, const std::string& file) {
  if (!node.IsMap()) bad(node, file, fmt::format("criterion {} is a mapping (text, points, badge, check)", id));
  Criterion c;
  c.id = id;
  c.text = text_of(node["text"] ? node["text"] : node["desc"], file, "text");
  if (c.text.en.empty() && c.text.zh_tw.empty()) bad(node, file, fmt::format("criterion {} needs a 'text' (or 'desc')", id));
  c.badge = node["badge"] ? node["badge"].as<std::string>() : "";
  c.points = positive(node["points"], file, "points", 1);
  if (node["check"]) c.check = parse_check(node["check"], file);
  return c;
}

Module module_of(const std::string& id, const YAML::Node& node, const std::string& file) {
  if (!node.IsMap()) bad(node, file, fmt::format("module {} is a mapping (title, weight, criteria)", id));
  Module m;
  m.id = id;
  m.title = text_of(node["title"], file, "title");
  if (m.title.en.empty() && m.title.zh_tw.empty()) m.title.en = id;
  m.weight = positive(node["weight"], file, "weight", 1);
  const YAML::Node criteria = node["criteria"];
  if (!criteria || !criteria.IsMap() || criteria.size() == 0) bad(node, file, fmt::format("module {} needs 'criteria'", id));
  for (const auto& kv : criteria) m.criteria.push_back(criterion_of(kv.first.as<std::string>(), kv.second, file));
  return m;
}

Rubric parse_with_types_checked(const YAML::Node& root, const std::string& path);

}  // namespace

Rubric parse_rubric(const std::string& text, const std::string& path) {
  constexpr std::size_t kMaxRubricBytes = 4u << 20;
  constexpr std::size_t kMaxRubricNodes = 100'000;
  constexpr int kMaxRubricDepth = 64;
  if (text.size() > kMaxRubricBytes) {
    throw Error(ErrorCode::invalid_input, fmt::format("{}: the rubric is larger than {} MB", path, kMaxRubricBytes >> 20),
                "a rubric is a short YAML file (the course's is 10 KB)");
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw Error(ErrorCode::invalid_input, fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg), "the rubric is not valid YAML");
  }
  if (const auto why = yaml_out_of_bounds(root, kMaxRubricNodes, kMaxRubricDepth)) {
    throw Error(ErrorCode::invalid_input, fmt::format("{}: {}", path, *why),
                "a rubric's anchors and aliases may not multiply it past that, nor nest it that deep");
  }
  try {
    return parse_with_types_checked(root, path);
  } catch (const YAML::Exception& e) {  // a field of the wrong type, e.g. `exit_code: zero`
    throw Error(ErrorCode::invalid_input,
                fmt::format("{}:{}:{}: a field has the wrong type ({})", path, e.mark.line + 1, e.mark.column + 1, e.msg),
                "see rubric/README.md for each check's fields and their types");
  }
}

namespace {

Rubric parse_with_types_checked(const YAML::Node& root, const std::string& path) {
  if (!root.IsMap()) throw Error(ErrorCode::invalid_input, fmt::format("{}: a rubric is a mapping with 'modules'", path));
  Rubric r;
  r.path = path;
  // The original course's shape: rubric: {M1_Project_Setup: {title, description, criteria}}.
  const bool course_shape = !root["modules"] && root["rubric"];
  const YAML::Node modules = course_shape ? root["rubric"] : root["modules"];
  if (!modules || !modules.IsMap() || modules.size() == 0) bad(root, path, "the rubric needs 'modules' (or the course's 'rubric')");
  r.title = text_of(root["title"], path, "title");
  if (root["pass_score"]) r.pass_score = positive(root["pass_score"], path, "pass_score", 100);
  if (root["variables"]) {
    if (!root["variables"].IsMap()) bad(root["variables"], path, "'variables' maps names to default values");
    for (const auto& kv : root["variables"]) r.variables[kv.first.as<std::string>()] = kv.second.as<std::string>();
  }
  for (const auto& kv : modules) r.modules.push_back(module_of(kv.first.as<std::string>(), kv.second, path));
  return r;
}

}  // namespace

Rubric load_rubric(const std::string& path) { return parse_rubric(read_file(path), path); }

}  // namespace mlops::rubric
