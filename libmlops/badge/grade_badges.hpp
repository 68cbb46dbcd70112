// badge: the badges of a grade — one overall, one per module, one per passed criterion's
// badge name — from `mlops eval-rubric --format json` results and a badges.yml of colours
// and labels. Names and labels come from learners' rubrics and workspaces: labels are
// stripped of control characters, file names are safe and unique for any Unicode name.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "libmlops/badge/badge.hpp"

namespace mlops::badge {

struct BadgeConfig {
  std::vector<std::pair<double, std::string>> thresholds = {{100, "brightgreen"}, {80, "green"}, {60, "yellow"}, {0, "red"}};
  std::string overall_label_en = "MLOps course", overall_label_zh = "MLOps 課程";
  std::string criterion_color = "blue";
  std::string color_for(double score) const;  // the first threshold the score reaches
};

// badges.yml (rubric/badges.yml shows the fields); the defaults when the file is missing.
// Throws Error{invalid_input} naming file and line, or the unknown colour.
BadgeConfig load_badge_config(const std::string& path);

struct NamedBadge {
  std::string stem;  // the file name without extension: overall, M1, badge-API-Ready, …
  Badge badge;
};

// Throws Error{invalid_input} when `results` is not mlops.rubric-results/1.
std::vector<NamedBadge> grade_badges(const nlohmann::json& results, const BadgeConfig& config);

// A file name from any name: ASCII letters, digits, '-', '_' and '.' kept; a name that loses
// anything (another script, '/', control bytes) or is long gets a hash of the whole name, so
// two names never share a file ("部署" and "測試" would both be "______" otherwise).
std::string file_stem(const std::string& name);
// Text shown on a badge: valid UTF-8, no control characters, at most 80 characters.
std::string badge_text(const std::string& text);
// Markdown image alt text: nothing in it can close the bracket, start a link or raw HTML.
std::string markdown_text(const std::string& text);

}  // namespace mlops::badge
