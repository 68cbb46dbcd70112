#include "libmlops/badge/grade_badges.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "libmlops/core/error.hpp"
#include "libmlops/core/fs.hpp"
#include "libmlops/core/sha256.hpp"
#include "libmlops/core/text.hpp"

namespace mlops::badge {

std::string BadgeConfig::color_for(double score) const {
  for (const auto& [min, color] : thresholds) {
    if (score + 1e-9 >= min) return color;
  }
  return thresholds.empty() ? "lightgrey" : thresholds.back().second;
}

BadgeConfig load_badge_config(const std::string& path) {
  BadgeConfig c;
  if (!std::filesystem::exists(path)) return c;  // the defaults
  const auto bad = [&](const YAML::Node& n, const std::string& message) {
    throw Error(ErrorCode::invalid_input, fmt::format("{}:{}: {}", path, n.Mark().line + 1, message), "see rubric/badges.yml");
  };
  // A learner's repository may carry it: a few lines, never megabytes.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec) || std::filesystem::file_size(path, ec) > (256u << 10)) {
    throw Error(ErrorCode::invalid_input, fmt::format("{}: not a badge configuration (a regular file under 256 KB)", path));
  }
  YAML::Node root;
  try {
    root = YAML::Load(read_file(path));
  } catch (const YAML::ParserException& e) {
    throw Error(ErrorCode::invalid_input, fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
  }
  try {
    if (root["thresholds"]) {
      if (!root["thresholds"].IsSequence()) bad(root["thresholds"], "'thresholds' is a list of {min: SCORE, color: COLOUR}");
      c.thresholds.clear();
      for (const auto& t : root["thresholds"]) {
        if (!t.IsMap() || !t["min"] || !t["color"]) bad(t, "a threshold is {min: SCORE, color: COLOUR}");
        color_hex(t["color"].as<std::string>());  // fails now, naming the colour
        c.thresholds.emplace_back(t["min"].as<double>(), t["color"].as<std::string>());
      }
      std::sort(c.thresholds.begin(), c.thresholds.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    }
    if (const YAML::Node l = root["overall_label"]) {
      c.overall_label_en = l.IsScalar() ? l.as<std::string>() : l["en"].as<std::string>(c.overall_label_en);
      c.overall_label_zh = l.IsScalar() ? l.as<std::string>() : l["zh-TW"].as<std::string>(c.overall_label_zh);
    }
    if (root["criterion_color"]) c.criterion_color = root["criterion_color"].as<std::string>();
  } catch (const YAML::Exception& e) {  // a field of the wrong type
    throw Error(ErrorCode::invalid_input, fmt::format("{}:{}: a field has the wrong type ({})", path, e.mark.line + 1, e.msg),
                "see rubric/badges.yml");
  }
  color_hex(c.criterion_color);
  return c;
}

std::vector<NamedBadge> grade_badges(const nlohmann::json& results, const BadgeConfig& config) {
  if (!results.is_object() || results.value("schema", "") != "mlops.rubric-results/1") {
    throw Error(ErrorCode::invalid_input, "not mlops.rubric-results/1", "make it with: mlops eval-rubric --format json --out results.json");
  }
  std::vector<NamedBadge> badges;
  try {
    const bool zh = results.value("lang", "en") == "zh-TW";
    const auto percent = [](double score) { return fmt::format("{:.0f}%", std::floor(score + 1e-9)); };
    const double total = results.at("score").get<double>();
    badges.push_back({"overall", {badge_text(zh ? config.overall_label_zh : config.overall_label_en), percent(total), config.color_for(total)}});
    for (const auto& m : results.at("modules")) {
      const double score = m.at("score").get<double>();
      const std::string id = m.at("id");
      badges.push_back({file_stem(id), {badge_text(fmt::format("{} {}", id, m.value("title", ""))), percent(score), config.color_for(score)}});
      for (const auto& c : m.at("criteria")) {
        const std::string name = c.value("badge", "");
        if (c.value("status", "") == "pass" && !name.empty()) {
          badges.push_back({"badge-" + file_stem(name), {"", badge_text(name), config.criterion_color}});
        }
      }
    }
  } catch (const nlohmann::json::exception& e) {  // a field missing or of the wrong type
    throw Error(ErrorCode::invalid_input, fmt::format("not mlops.rubric-results/1 ({})", e.what()),
                "make it with: mlops eval-rubric --format json --out results.json");
  }
  return badges;
}

std::string file_stem(const std::string& name) {
  std::string out;
  bool changed = false;
  for (unsigned char ch : name) {
    const bool keep = std::isalnum(ch) || ch == '-' || ch == '_' || (ch == '.' && !out.empty());
    out += keep ? static_cast<char>(ch) : '_';
    changed |= !keep;
  }
  if (!changed && out.size() <= 60) return out;
  return out.substr(0, 40) + "-" + sha256_hex(name).substr(0, 10);
}

std::string badge_text(const std::string& text) {
  std::string out;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size() && chars < 80;) {
    const std::size_t n = utf8_sequence_length(std::string_view(text).substr(i));
    if (n == 0) {  // not UTF-8: dropped
      ++i;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const bool c1 = n == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0;  // C1 controls, U+0080–U+009F
    if (!(n == 1 && (c < 0x20 || c == 0x7F)) && !c1) {
      out.append(text, i, n);
      ++chars;
    }
    i += n;
  }
  return out;
}

std::string markdown_text(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (std::string_view("\\[]()<>*_`!&").find(ch) != std::string_view::npos) out += '\\';
    out += ch;
  }
  return out;
}

}  // namespace mlops::badge
