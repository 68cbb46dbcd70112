// cli: `mlops runs` — list, show and compare tracked training runs.
#include <fmt/format.h>

#include <set>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "libmlops/registry/registry_store.hpp"

namespace mlops::cli {
namespace {

struct RunsOptions {
  std::string experiment;
  int limit = 20;
  std::vector<std::string> ids;
};

std::string metric_or_dash(const registry::Run& r, const std::string& key) {
  const auto it = r.metrics.find(key);
  return it == r.metrics.end() ? "-" : format_number(it->second);
}

int list(const RunsOptions& opt, Context& ctx, registry::RegistryStore& store) {
  const auto runs = store.list_runs(opt.experiment, opt.limit);
  if (ctx.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : runs) j.push_back(to_json(r));
    print_json({{"runs", j}});
    return kExitOk;
  }
  if (runs.empty()) {
    print("No runs yet. Try: mlops train\n");
    return kExitOk;
  }
  Table t({"run", "experiment", "status", "started", "accuracy", "C", "model_version"});
  for (const auto& r : runs) {
    const auto c = r.params.find("C");
    const auto tag = r.tags.find("model_version");
    t.add_row({r.id.substr(0, 12), r.experiment, r.status, format_time(r.start_time), metric_or_dash(r, "accuracy"),
               c == r.params.end() ? "-" : c->second, tag == r.tags.end() ? "-" : tag->second});
  }
  print(t.render());
  return kExitOk;
}

int show(const RunsOptions& opt, Context& ctx, registry::RegistryStore& store) {
  const registry::Run r = store.get_run(opt.ids.front());
  if (ctx.json) {
    print_json(to_json(r));
    return kExitOk;
  }
  Table t({"field", "value"});
  t.add_row({"run", r.id});
  t.add_row({"experiment", r.experiment});
  t.add_row({"name", r.name});
  t.add_row({"status", r.status});
  t.add_row({"user", r.user});
  t.add_row({"started", format_time(r.start_time)});
  t.add_row({"ended", r.end_time ? format_time(*r.end_time) : "-"});
  t.add_row({"artifact", r.artifact_path});
  t.add_row({"sha256", r.artifact_sha256});
  for (const auto& [key, value] : r.params) t.add_row({"param." + key, value});
  for (const auto& [key, value] : r.metrics) t.add_row({"metric." + key, fmt::format("{:.6g}", value)});
  for (const auto& [key, value] : r.tags) t.add_row({"tag." + key, value});
  print(t.render());
  return kExitOk;
}

int compare(const RunsOptions& opt, Context& ctx, registry::RegistryStore& store) {
  std::vector<registry::Run> runs;
  for (const std::string& id : opt.ids) runs.push_back(store.get_run(id));
  if (ctx.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : runs) j.push_back(to_json(r));
    print_json({{"runs", j}});
    return kExitOk;
  }
  std::vector<std::string> header = {"key"};
  for (const auto& r : runs) header.push_back(r.id.substr(0, 12));
  Table t(header);
  std::set<std::string> params, metrics;
  for (const auto& r : runs) {
    for (const auto& [key, value] : r.params) params.insert(key);
    for (const auto& [key, value] : r.metrics) metrics.insert(key);
  }
  for (const std::string& key : params) {
    std::vector<std::string> row = {"param." + key};
    for (const auto& r : runs) row.push_back(r.params.count(key) ? r.params.at(key) : "-");
    t.add_row(row);
  }
  for (const std::string& key : metrics) {
    std::vector<std::string> row = {"metric." + key};
    for (const auto& r : runs) row.push_back(r.metrics.count(key) ? fmt::format("{:.6g}", r.metrics.at(key)) : "-");
    t.add_row(row);
  }
  print(t.render());
  return kExitOk;
}

}  // namespace

Command add_runs_command(CLI::App& root, Globals& globals) {
  auto opt = std::make_shared<RunsOptions>();
  CLI::App* app = root.add_subcommand("runs", "List, show and compare tracked training runs");
  app->require_subcommand(1);
  CLI::App* list_cmd = app->add_subcommand("list", "List runs, newest first");
  list_cmd->add_option("--experiment", opt->experiment, "Only this experiment");
  list_cmd->add_option("--limit", opt->limit, "At most this many runs")->capture_default_str()->check(CLI::PositiveNumber);
  CLI::App* show_cmd = app->add_subcommand("show", "Show one run's params, metrics and artifact");
  show_cmd->add_option("id", opt->ids, "Run id (or a unique prefix of at least 4 characters)")->required()->expected(1);
  CLI::App* compare_cmd = app->add_subcommand("compare", "Compare the params and metrics of runs side by side");
  compare_cmd->add_option("ids", opt->ids, "Two or more run ids")->required()->expected(2, 16);
  for (CLI::App* sub : {list_cmd, show_cmd, compare_cmd}) add_json_flag(sub, globals);
  return {app, [=](Context& ctx) {
            const auto reader = registry::open_for_reading(ctx.settings.db_path());
            registry::RegistryStore& store = *reader;
            if (list_cmd->parsed()) return list(*opt, ctx, store);
            if (show_cmd->parsed()) return show(*opt, ctx, store);
            return compare(*opt, ctx, store);
          }};
}

}  // namespace mlops::cli
