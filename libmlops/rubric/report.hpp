// rubric: the grading results in the formats graders and CI read — JUnit XML, Markdown for
// a pull request, CSV for a class, Gradescope's results.json — beside runner.hpp's JSON.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "libmlops/rubric/runner.hpp"

namespace mlops::rubric {

// A <testsuite> per module, a <testcase> per criterion (failure with the reason; a
// criterion graded by hand is <skipped>).
std::string to_junit(const Results& results);
// A heading with the total and verdict, then one table per module.
std::string to_markdown(const Results& results);
// One row per workspace: workspace, score, passed, then each module's score.
std::string to_csv(const std::vector<Results>& class_results);
// Gradescope's autograder results.json: a test per criterion whose scores add up to the
// weighted total out of 100.
nlohmann::json to_gradescope(const Results& results);

}  // namespace mlops::rubric
