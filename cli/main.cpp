// cli: the command table, parsing, dispatch, and the only place errors become exit codes.
#include <csignal>
#include <cstdio>
#include <map>
#include <vector>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/log.hpp"

namespace mlops::cli {
namespace {

constexpr const char* kDescription =
    "mlops — train, register, serve and grade models, from a laptop to a cluster.\n"
    "Settings come from flags, then the environment, then .env, then defaults\n"
    "(see .env.example). Run 'mlops COMMAND --help' for a command's flags.";

constexpr const char* kFooter =
    "Examples:\n"
    "  mlops train --n-samples 1000 --c-param 0.1 --model-version v1.2.0-stable --register\n"
    "  mlops models list\n"
    "  mlops predict --model models:/ChurnPredictionModel/1 --features 1,2,3,4,5,6,7,8,9,10\n"
    "Exit codes: 0 ok, 1 failure, 2 usage error, 3 a quality gate was not met, 4 data drift (mlops drift), 130 interrupted.\n";

Context make_context(const Globals& g) {
  std::map<std::string, std::string> flags;
  if (!g.home.empty()) flags["MLOPS_HOME"] = g.home;
  if (!g.log_level.empty()) flags["MLOPS_LOG"] = g.log_level;
  Context ctx{config::load_settings(flags, g.env_file.empty() ? std::nullopt : std::optional(g.env_file)),
              g.quiet, g.json};
  logging::set_level(logging::parse_level(ctx.settings.get("MLOPS_LOG")));
  return ctx;
}

std::string subcommand_path(const CLI::App& root) {
  std::string path;
  const CLI::App* app = &root;
  while (true) {
    const auto chosen = app->get_subcommands();
    if (chosen.empty()) break;
    app = chosen.front();
    path += (path.empty() ? "" : " ") + app->get_name();
  }
  return path;
}

int real_main(int argc, char** argv) {
  CLI::App root(kDescription, "mlops");
  root.footer(kFooter);
  root.set_version_flag("--version", "mlops " MLOPS_VERSION_STRING);
  root.require_subcommand(1);
  Globals globals;
  root.add_option("--home", globals.home, "Home directory for the registry and artifacts (MLOPS_HOME)");
  root.add_option("--env-file", globals.env_file, "Read settings from this file instead of ./.env");
  root.add_option("--log-level", globals.log_level, "debug, info, warn, error or off (MLOPS_LOG)");
  root.add_flag("-q,--quiet", globals.quiet, "No progress output");

  const std::vector<Command> commands = {
      add_train_command(root, globals),  add_register_command(root, globals),
      add_models_command(root, globals), add_rollout_command(root, globals),
      add_gate_command(root, globals), add_drift_command(root, globals),
      add_runs_command(root, globals),
      add_predict_command(root, globals), add_serve_command(root, globals),
      add_crm_command(root, globals), add_crm_sync_command(root, globals),
      add_eval_rubric_command(root, globals), add_badge_command(root, globals),
      add_mirror_command(root, globals), add_doctor_command(root, globals),
  };

  try {
    root.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return root.exit(e);  // --help, --version
    print_usage_error(e.what(), subcommand_path(root));
    return kExitUsage;
  }

  bool json = globals.json;
  try {
    Context ctx = make_context(globals);
    for (const Command& c : commands) {
      if (c.app->parsed()) return c.run(ctx);
    }
    return kExitUsage;
  } catch (const Error& e) {
    print_error(e, json);
    return kExitFailure;
  } catch (const std::exception& e) {
    logging::debug("unexpected exception: {}", e.what());
    print_error(Error(ErrorCode::internal, "internal error", "rerun with --log-level debug and report it"), json);
    return kExitFailure;
  }
}

}  // namespace
}  // namespace mlops::cli

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  return mlops::cli::real_main(argc, argv);
}
