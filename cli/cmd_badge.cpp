// cli: `mlops badge` — shields-style badges from `mlops eval-rubric --format json` results.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "libmlops/badge/badge.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/fs.hpp"
#include "libmlops/core/sha256.hpp"
#include "libmlops/core/text.hpp"

namespace mlops::cli {
namespace {

struct BadgeOptions {
  std::string results, config = "rubric/badges.yml", out = "badges";
};

struct BadgeConfig {
  std::vector<std::pair<double, std::string>> thresholds = {{100, "brightgreen"}, {80, "green"}, {60, "yellow"}, {0, "red"}};
  std::string overall_label_en = "MLOps course", overall_label_zh = "MLOps 課程";
  std::string criterion_color = "blue";

  std::string color_for(double score) const {
    for (const auto& [min, color] : thresholds) {
      if (score + 1e-9 >= min) return color;
    }
    return thresholds.empty() ? "lightgrey" : thresholds.back().second;
  }
};

BadgeConfig load_config(const std::string& path) {
  BadgeConfig c;
  if (!std::filesystem::exists(path)) return c;  // the defaults above
  const auto bad = [&](const YAML::Node& n, const std::string& message) {
    throw Error(ErrorCode::invalid_input, fmt::format("{}:{}: {}", path, n.Mark().line + 1, message), "see rubric/badges.yml");
  };
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::ParserException& e) {
    throw Error(ErrorCode::invalid_input, fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
  }
  if (root["thresholds"]) {
    c.thresholds.clear();
    for (const auto& t : root["thresholds"]) {
      if (!t["min"] || !t["color"]) bad(t, "a threshold is {min: SCORE, color: COLOUR}");
      badge::color_hex(t["color"].as<std::string>());  // fails now, naming the colour
      c.thresholds.emplace_back(t["min"].as<double>(), t["color"].as<std::string>());
    }
    std::sort(c.thresholds.begin(), c.thresholds.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  }
  if (const YAML::Node l = root["overall_label"]) {
    c.overall_label_en = l.IsScalar() ? l.as<std::string>() : l["en"].as<std::string>(c.overall_label_en);
    c.overall_label_zh = l.IsScalar() ? l.as<std::string>() : l["zh-TW"].as<std::string>(c.overall_label_zh);
  }
  if (root["criterion_color"]) c.criterion_color = root["criterion_color"].as<std::string>();
  badge::color_hex(c.criterion_color);
  return c;
}

// A file name from a badge or module name: ASCII letters, digits, '-', '_' and '.' kept.
// A name that loses anything (any other script, '/', control bytes) or is long gets a
// short hash of the whole name, so two names never share a file ("部署" and "測試" would
// both be "______" otherwise).
std::string file_name(const std::string& name) {
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

// Text shown on a badge: valid UTF-8, no control characters, at most 80 characters.
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
    const bool c1 = n == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0;
    if (!(n == 1 && (c < 0x20 || c == 0x7F)) && !c1) {
      out.append(text, i, n);
      ++chars;
    }
    i += n;
  }
  return out;
}

// Markdown image alt text: nothing in it can close the bracket, start a link or raw HTML.
std::string markdown_text(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (std::string_view("\\[]()<>*_`!&").find(ch) != std::string_view::npos) out += '\\';
    out += ch;
  }
  return out;
}

int run(const BadgeOptions& opt, Context& ctx) {
  nlohmann::json results;
  try {
    results = nlohmann::json::parse(read_file(opt.results));
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::invalid_input, fmt::format("{} is not JSON ({})", opt.results, e.what()),
                "make it with: mlops eval-rubric --format json --out results.json");
  }
  if (!results.is_object() || results.value("schema", "") != "mlops.rubric-results/1") {
    throw Error(ErrorCode::invalid_input, fmt::format("{} is not mlops.rubric-results/1", opt.results),
                "make it with: mlops eval-rubric --format json --out results.json");
  }
  const BadgeConfig config = load_config(opt.config);
  const bool zh = results.value("lang", "en") == "zh-TW";
  std::vector<std::pair<std::string, badge::Badge>> badges;  // file stem, badge
  const auto percent = [](double score) { return fmt::format("{:.0f}%", std::floor(score + 1e-9)); };
  const double total = results.at("score").get<double>();
  badges.push_back({"overall", {badge_text(zh ? config.overall_label_zh : config.overall_label_en), percent(total), config.color_for(total)}});
  for (const auto& m : results.at("modules")) {
    const double score = m.at("score").get<double>();
    const std::string id = m.at("id");
    badges.push_back({file_name(id), {badge_text(fmt::format("{} {}", id, m.value("title", ""))), percent(score), config.color_for(score)}});
    for (const auto& c : m.at("criteria")) {
      const std::string name = c.value("badge", "");
      if (c.value("status", "") == "pass" && !name.empty()) {
        badges.push_back({"badge-" + file_name(name), {"", badge_text(name), config.criterion_color}});
      }
    }
  }
  std::filesystem::create_directories(opt.out);
  std::string markdown;
  nlohmann::json written = nlohmann::json::array();
  for (const auto& [stem, b] : badges) {
    write_file_atomic(opt.out + "/" + stem + ".svg", badge::render_svg(b));
    write_file_atomic(opt.out + "/" + stem + ".json", badge::endpoint_json(b).dump() + "\n");
    markdown += fmt::format("![{}](<{}/{}.svg>) ", markdown_text(b.label.empty() ? b.message : b.label + ": " + b.message),
                            opt.out, stem);
    written.push_back({{"file", opt.out + "/" + stem + ".svg"}, {"label", b.label}, {"message", b.message}, {"color", b.color}});
  }
  markdown += "\n";
  write_file_atomic(opt.out + "/README.md", markdown);
  if (ctx.json) {
    print_json({{"badges", written}, {"markdown", markdown}});
  } else {
    print(fmt::format("{} badges in {}/ (SVG, shields.io endpoint JSON); for a README ({}/README.md):\n{}", badges.size(), opt.out,
                      opt.out, markdown));
  }
  return kExitOk;
}

}  // namespace

Command add_badge_command(CLI::App& root, Globals& globals) {
  auto opt = std::make_shared<BadgeOptions>();
  CLI::App* app = root.add_subcommand("badge", "Draw badges from eval-rubric results (M6)");
  app->footer("Example: mlops eval-rubric --format json --out results.json && mlops badge --results results.json");
  app->add_option("--results", opt->results, "Results of `mlops eval-rubric --format json`")->required();
  app->add_option("--config", opt->config, "Badge colours and labels (defaults when the file is missing)")->capture_default_str();
  app->add_option("--out", opt->out, "Folder for the SVGs, the endpoint JSON and README.md")->capture_default_str();
  add_json_flag(app, globals);
  return {app, [opt](Context& ctx) { return with_usage_errors(ctx, [&] { return run(*opt, ctx); }); }};
}

}  // namespace mlops::cli
