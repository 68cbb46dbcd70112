// cli: `mlops models` — list, show, promote, alias, rollback and the history of versions.
#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/mlflow_support.hpp"
#include "cli/output.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/registry/registry_store.hpp"

namespace mlops::cli {
namespace {

struct ModelsOptions {
  std::string name;  // NAME or NAME/VERSION for show
  std::int64_t version = 0;
  std::string alias;
  std::string stage;
  bool archive_existing = false;
  std::string reason;
};

std::string join_aliases(const std::vector<std::string>& aliases) { return fmt::format("{}", fmt::join(aliases, ",")); }

std::string versions_table(const std::vector<registry::ModelVersion>& versions) {
  Table t({"version", "tag", "stage", "aliases", "run", "created"});
  for (const auto& v : versions) {
    t.add_row({std::to_string(v.version), v.version_tag, std::string(registry::to_string(v.stage)),
               join_aliases(v.aliases), v.run_id.substr(0, 8), format_time(v.created_at)});
  }
  return t.render();
}

int list(Context& ctx, registry::RegistryStore& store) {
  const auto models = store.list_models();
  if (ctx.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& m : models) j.push_back(to_json(m));
    print_json({{"models", j}});
    return kExitOk;
  }
  if (models.empty()) {
    print("No registered models yet. Try: mlops train --register\n");
    return kExitOk;
  }
  Table t({"name", "latest", "production", "aliases", "updated"});
  for (const auto& m : models) {
    std::vector<std::string> aliases;
    for (const auto& [alias, version] : m.aliases) aliases.push_back(fmt::format("{}={}", alias, version));
    t.add_row({m.name, std::to_string(m.latest_version),
               m.production_version ? std::to_string(*m.production_version) : "-", join_aliases(aliases),
               format_time(m.updated_at)});
  }
  print(t.render());
  return kExitOk;
}

int show(const ModelsOptions& opt, Context& ctx, registry::RegistryStore& store) {
  const auto slash = opt.name.rfind('/');
  if (slash != std::string::npos) {
    const std::string name = opt.name.substr(0, slash);
    std::int64_t version = 0;
    try {
      version = std::stoll(opt.name.substr(slash + 1));
    } catch (const std::exception&) {
      throw Error(ErrorCode::invalid_input, fmt::format("'{}' is not NAME/VERSION", opt.name),
                  "e.g. mlops models show ChurnPredictionModel/2");
    }
    const auto v = store.get_version(name, version);
    if (ctx.json) {
      print_json(to_json(v));
      return kExitOk;
    }
    Table t({"field", "value"});
    t.add_row({"name", v.name});
    t.add_row({"version", std::to_string(v.version)});
    t.add_row({"tag", v.version_tag});
    t.add_row({"stage", std::string(registry::to_string(v.stage))});
    t.add_row({"aliases", join_aliases(v.aliases)});
    t.add_row({"run", v.run_id});
    t.add_row({"artifact", v.source});
    t.add_row({"sha256", v.artifact_sha256});
    t.add_row({"description", v.description});
    t.add_row({"created", format_time(v.created_at)});
    t.add_row({"updated", format_time(v.updated_at)});
    for (const auto& [key, value] : v.tags) t.add_row({"tag." + key, value});
    print(t.render());
    return kExitOk;
  }
  const auto versions = store.list_versions(opt.name);
  if (ctx.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& v : versions) j.push_back(to_json(v));
    print_json({{"name", opt.name}, {"versions", j}});
    return kExitOk;
  }
  print(fmt::format("{}\n{}", opt.name, versions_table(versions)));
  return kExitOk;
}

int print_version_result(Context& ctx, const registry::ModelVersion& v, const std::string& what) {
  if (ctx.json) {
    print_json(to_json(v));
  } else {
    print(fmt::format("{}: {} version {} ({}) is now {}{}\n", what, v.name, v.version, v.version_tag,
                      registry::to_string(v.stage), v.aliases.empty() ? "" : " [" + join_aliases(v.aliases) + "]"));
  }
  return kExitOk;
}

// promote, rollback, alias set or alias delete: one registry change.
int change(const ModelsOptions& opt, Context& ctx, registry::RegistryStore& store, bool promote, bool rollback,
           bool alias_set) {
  const registry::Change change{"", opt.reason};
  if (promote) {
    const auto v = store.set_stage(opt.name, opt.version, *registry::parse_stage(opt.stage), opt.archive_existing, change);
    return print_version_result(ctx, v, "Promoted");
  }
  if (rollback) return print_version_result(ctx, store.rollback(opt.name, change), "Rolled back");
  if (alias_set) {
    store.set_alias(opt.name, opt.alias, opt.version, change);
    return print_version_result(ctx, store.get_version(opt.name, opt.version), "Alias set");
  }
  store.delete_alias(opt.name, opt.alias, change);
  if (ctx.json) {
    print_json({{"name", opt.name}, {"alias", opt.alias}, {"deleted", true}});
  } else {
    print(fmt::format("Deleted alias {} of {}\n", opt.alias, opt.name));
  }
  return kExitOk;
}

int history(const ModelsOptions& opt, Context& ctx, registry::RegistryStore& store) {
  const auto entries = store.history(opt.name);
  if (ctx.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& e : entries) {
      j.push_back({{"id", e.id}, {"version", e.version ? nlohmann::json(*e.version) : nlohmann::json(nullptr)},
                   {"action", e.action}, {"from", e.from_value}, {"to", e.to_value}, {"gate", e.gate},
                   {"reason", e.reason}, {"user", e.user}, {"at", e.at}});
    }
    print_json({{"name", opt.name}, {"history", j}});
    return kExitOk;
  }
  Table t({"when", "user", "action", "version", "from", "to", "gate", "reason"});
  for (const auto& e : entries) {
    t.add_row({format_time(e.at), e.user, e.action, e.version ? std::to_string(*e.version) : "-", e.from_value,
               e.to_value, e.gate, e.reason});
  }
  print(t.render());
  return kExitOk;
}

}  // namespace

Command add_models_command(CLI::App& root, Globals& globals) {
  auto opt = std::make_shared<ModelsOptions>();
  CLI::App* app = root.add_subcommand("models", "List, inspect, promote, alias and roll back registered models");
  app->require_subcommand(1);
  CLI::App* list_cmd = app->add_subcommand("list", "List registered models");
  CLI::App* show_cmd = app->add_subcommand("show", "Show a model's versions, or one version (NAME/VERSION)");
  show_cmd->add_option("name", opt->name, "NAME or NAME/VERSION")->required();
  CLI::App* promote = app->add_subcommand("promote", "Move a version to a stage");
  promote->add_option("name", opt->name, "Registered model name")->required();
  promote->add_option("version", opt->version, "Version number")->required()->check(CLI::PositiveNumber);
  promote->add_option("--stage", opt->stage, "None, Staging, Production or Archived")
      ->required()
      ->check(CLI::IsMember({"None", "Staging", "Production", "Archived"}, CLI::ignore_case));
  promote->add_flag("--archive-existing", opt->archive_existing, "Archive the other versions in that stage");
  promote->footer("Moving a version to Production also points the `production` alias at it.");
  CLI::App* alias = app->add_subcommand("alias", "Set or delete an alias (e.g. champion)");
  alias->require_subcommand(1);
  CLI::App* alias_set = alias->add_subcommand("set", "Point ALIAS at VERSION");
  alias_set->add_option("name", opt->name, "Registered model name")->required();
  alias_set->add_option("alias", opt->alias, "Alias name")->required();
  alias_set->add_option("version", opt->version, "Version number")->required()->check(CLI::PositiveNumber);
  CLI::App* alias_delete = alias->add_subcommand("delete", "Remove ALIAS");
  alias_delete->add_option("name", opt->name, "Registered model name")->required();
  alias_delete->add_option("alias", opt->alias, "Alias name")->required();
  CLI::App* rollback = app->add_subcommand("rollback", "Move Production back to the previous Production version");
  rollback->add_option("name", opt->name, "Registered model name")->required();
  CLI::App* history_cmd = app->add_subcommand("history", "The audit of every version, stage and alias change");
  history_cmd->add_option("name", opt->name, "Registered model name")->required();
  for (CLI::App* sub : {promote, alias_set, alias_delete, rollback}) {
    sub->add_option("--reason", opt->reason, "Why: recorded in the history");
  }
  for (CLI::App* sub : {list_cmd, show_cmd, promote, alias_set, alias_delete, rollback, history_cmd}) {
    add_json_flag(sub, globals);
  }
  return {app, [=](Context& ctx) {
            if (list_cmd->parsed() || show_cmd->parsed() || history_cmd->parsed()) {
              const auto reader = registry::open_for_reading(ctx.settings.db_path());
              if (list_cmd->parsed()) return list(ctx, *reader);
              if (show_cmd->parsed()) return show(*opt, ctx, *reader);
              return history(*opt, ctx, *reader);
            }
            registry::RegistryStore store(ctx.settings.db_path());
            // A rollout that replicas serving from MLflow promoted or rolled back there moved
            // (or kept) Production: the change starts from where it really is.
            take_mlflow_rollout_decisions(ctx, store, opt->name);
            const int code = change(*opt, ctx, store, promote->parsed(), rollback->parsed(), alias_set->parsed());
            mirror_after_change(ctx);
            return code;
          }};
}

}  // namespace mlops::cli
