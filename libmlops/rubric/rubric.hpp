// rubric: a course rubric — modules with weights, criteria with points, badges, texts in
// en and zh-TW, and an automated check each (or none: graded by hand) — loaded from YAML.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "libmlops/rubric/check.hpp"

namespace mlops::rubric {

// A text in English and Traditional Chinese; either may be missing.
struct Text {
  std::string en, zh_tw;
  const std::string& in(const std::string& lang) const { return lang == "zh-TW" && !zh_tw.empty() ? zh_tw : en.empty() ? zh_tw : en; }
};

struct Criterion {
  std::string id;
  Text text;
  std::string badge;             // e.g. API-Ready
  double points = 1;
  std::shared_ptr<const Check> check;  // null: graded by hand (--manual)
};

struct Module {
  std::string id;
  Text title;
  double weight = 1;
  std::vector<Criterion> criteria;
};

struct Rubric {
  std::string path;
  Text title;
  double pass_score = 100;  // the default --fail-under
  std::map<std::string, std::string> variables;  // defaults for {server}, {crm}, ...
  std::vector<Module> modules;
};

// Loads our format (`modules:`) or the original course's (`rubric: {M1_…: {title,
// description, criteria: {C1: {desc, badge}}}}`, whose criteria are manual). Throws
// Error{invalid_input} naming the file, line and field of the first problem.
Rubric load_rubric(const std::string& path);
Rubric parse_rubric(const std::string& yaml, const std::string& path);

}  // namespace mlops::rubric
