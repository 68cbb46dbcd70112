// cli: `mlops register` — add a model artifact to the registry as the next version.
#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/mlflow_support.hpp"
#include "cli/output.hpp"
#include "libmlops/registry/tracking.hpp"

namespace mlops::cli {
namespace {

struct RegisterCliOptions {
  std::string model_path;
  std::optional<std::string> name;
  std::string version_tag, stage, alias, description, reason;
  bool archive_existing = false;
  std::optional<double> min_accuracy;
};

int run_register(const RegisterCliOptions& opt, Context& ctx) {
  const config::Settings& s = ctx.settings;
  const model::ModelArtifact artifact = model::load_artifact(opt.model_path);  // Error{corrupt} if altered
  registry::RegistryStore store(s.db_path());
  registry::RegisterOptions ro;
  ro.name = opt.name.value_or(s.get("MODEL_NAME"));
  ro.version_tag = opt.version_tag;
  if (!opt.stage.empty()) ro.stage = registry::parse_stage(opt.stage);
  ro.archive_existing = opt.archive_existing;
  ro.alias = opt.alias;
  ro.min_accuracy = opt.min_accuracy;
  ro.description = opt.description;
  ro.change.reason = opt.reason;
  const auto outcome = registry::register_artifact(store, s.artifacts_dir(), artifact, opt.model_path, ro);
  if (ctx.json) {
    nlohmann::json j = {{"registered", outcome.registered}, {"accuracy", outcome.accuracy}};
    if (!outcome.gate.empty()) j["gate"] = outcome.gate;
    if (outcome.version) j["version"] = to_json(*outcome.version);
    print_json(j);
  } else if (outcome.version) {
    const registry::ModelVersion& v = *outcome.version;
    print(fmt::format("Registered {} version {} ({}), stage {}{}\n", v.name, v.version, v.version_tag,
                      registry::to_string(v.stage), outcome.gate.empty() ? "" : " — " + outcome.gate));
  }
  mirror_after_change(ctx);
  if (!outcome.registered) {
    std::fprintf(stderr, "mlops: %s: model not registered\n", outcome.gate.c_str());
    return kExitGateFailed;
  }
  return kExitOk;
}

}  // namespace

Command add_register_command(CLI::App& root, Globals& globals) {
  auto opt = std::make_shared<RegisterCliOptions>();
  CLI::App* app = root.add_subcommand("register", "Register a model artifact as a new model version");
  app->footer("Example: mlops register --model models/sample_model.json --stage Production --min-accuracy 0.85");
  app->add_option("--model,-m", opt->model_path, "Model artifact (JSON) to register")->required();
  app->add_option("--name", opt->name, "Registered model name (default MODEL_NAME)");
  app->add_option("--version-tag", opt->version_tag, "Version tag (default: the artifact's model_version)");
  app->add_option("--stage", opt->stage, "Move the new version to this stage")
      ->check(CLI::IsMember({"None", "Staging", "Production", "Archived"}, CLI::ignore_case));
  app->add_flag("--archive-existing", opt->archive_existing, "With --stage: archive other versions in that stage");
  app->add_option("--alias", opt->alias, "Point this alias (e.g. champion) at the new version");
  app->add_option("--min-accuracy", opt->min_accuracy, "Refuse (exit 3) below this test accuracy")->check(CLI::Range(0.0, 1.0));
  app->add_option("--description", opt->description, "Free text stored with the version");
  app->add_option("--reason", opt->reason, "Why: recorded in `mlops models history`");
  add_json_flag(app, globals);
  return {app, [opt](Context& ctx) { return run_register(*opt, ctx); }};
}

}  // namespace mlops::cli
