// rubric: grading one workspace against a rubric — the checks run in parallel, each with
// its timeout — and the results as JSON (schema "mlops.rubric-results/1", the input of
// `mlops badge`; documented in rubric/README.md).
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "libmlops/rubric/rubric.hpp"

namespace mlops::rubric {

struct RunOptions {
  std::string workspace = ".";
  std::map<std::string, std::string> variables;  // override the rubric's defaults
  std::set<std::string> only;                    // module ids; empty = all
  std::string lang = "en";                       // en or zh-TW
  double timeout_seconds = 10;                   // per check
  int jobs = 4;                                  // checks in flight
  Sandbox sandbox;                               // --no-sandbox, --writable, --readable, --memory-limit
  std::map<std::string, double> manual;          // "M1.C2" -> points given by hand
  double fail_under = -1;                        // < 0: the rubric's pass_score
};

struct CriterionResult {
  std::string id, text, badge;
  double points = 0, earned = 0;
  std::string status;  // pass, fail, manual
  std::string reason;
  double seconds = 0;
};

struct ModuleResult {
  std::string id, title;
  double weight = 0, points = 0, earned = 0, score = 0;  // score in percent
  std::vector<CriterionResult> criteria;
};

struct Results {
  std::string rubric, workspace, lang;
  double score = 0, threshold = 0;  // weighted percent; the pass mark
  bool passed = false;
  std::vector<ModuleResult> modules;
};

// Throws Error{invalid_input} for an --only module the rubric lacks, or a manual score
// for a criterion it lacks.
Results run_rubric(const Rubric& rubric, const RunOptions& options);
nlohmann::json to_json(const Results& results);

// Manual scores from YAML: {M1: {C2: 3, …}, …}. Error{invalid_input} naming file and line.
std::map<std::string, double> load_manual_scores(const std::string& path);

}  // namespace mlops::rubric
