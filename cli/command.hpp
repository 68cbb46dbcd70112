// cli: what every subcommand file shares — the context, the command record, exit codes.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "libmlops/config/settings.hpp"

namespace mlops::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitGateFailed = 3;
inline constexpr int kExitDrift = 4;  // mlops drift: dataset drift detected
inline constexpr int kExitInterrupted = 130;

// Flags shared by every command, bound before parsing.
struct Globals {
  std::string home;       // --home (MLOPS_HOME)
  std::string env_file;   // --env-file
  std::string log_level;  // --log-level (MLOPS_LOG)
  bool quiet = false;     // --quiet: no progress output
  bool json = false;      // --json on the chosen subcommand
};

struct Context {
  config::Settings settings;
  bool quiet = false;
  bool json = false;
};

struct Command {
  CLI::App* app;
  std::function<int(Context&)> run;
};

// Adds --json to a subcommand (bound to Globals::json).
inline void add_json_flag(CLI::App* app, Globals& globals) {
  app->add_flag("--json", globals.json, "Print one JSON object (for scripts) instead of tables");
}

// For commands whose bad input is a usage error (exit 2) rather than a failure (exit 1),
// e.g. a malformed rubric: runs `body`, reporting Error{invalid_input} with kExitUsage.
int with_usage_errors(Context& ctx, const std::function<int()>& body);

Command add_train_command(CLI::App& root, Globals& globals);
Command add_register_command(CLI::App& root, Globals& globals);
Command add_models_command(CLI::App& root, Globals& globals);
Command add_rollout_command(CLI::App& root, Globals& globals);
Command add_gate_command(CLI::App& root, Globals& globals);
Command add_drift_command(CLI::App& root, Globals& globals);
Command add_runs_command(CLI::App& root, Globals& globals);
Command add_predict_command(CLI::App& root, Globals& globals);
Command add_serve_command(CLI::App& root, Globals& globals);
Command add_crm_command(CLI::App& root, Globals& globals);
Command add_crm_sync_command(CLI::App& root, Globals& globals);
Command add_eval_rubric_command(CLI::App& root, Globals& globals);
Command add_badge_command(CLI::App& root, Globals& globals);
Command add_mirror_command(CLI::App& root, Globals& globals);
Command add_doctor_command(CLI::App& root, Globals& globals);

}  // namespace mlops::cli
