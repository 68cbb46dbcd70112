// cli: `mlops badge` — shields-style badges from `mlops eval-rubric --format json` results.
#include <fmt/format.h>

#include <filesystem>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "libmlops/badge/grade_badges.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/fs.hpp"

namespace mlops::cli {
namespace {

struct BadgeOptions {
  std::string results, config = "rubric/badges.yml", out = "badges";
};

int run(const BadgeOptions& opt, Context& ctx) {
  nlohmann::json results;
  try {
    results = nlohmann::json::parse(read_file(opt.results));
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::invalid_input, fmt::format("{} is not JSON ({})", opt.results, e.what()),
                "make it with: mlops eval-rubric --format json --out results.json");
  }
  const badge::BadgeConfig config = badge::load_badge_config(opt.config);
  std::vector<badge::NamedBadge> badges;
  try {
    badges = badge::grade_badges(results, config);
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("{} is {}", opt.results, e.what()), e.hint());  // "… is not mlops.rubric-results/1"
  }
  std::filesystem::create_directories(opt.out);
  std::string markdown;
  nlohmann::json written = nlohmann::json::array();
  for (const auto& [stem, b] : badges) {
    write_file_atomic(opt.out + "/" + stem + ".svg", badge::render_svg(b));
    write_file_atomic(opt.out + "/" + stem + ".json", badge::endpoint_json(b).dump() + "\n");
    markdown += fmt::format("![{}](<{}/{}.svg>) ", badge::markdown_text(b.label.empty() ? b.message : b.label + ": " + b.message),
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
