// cli: `mlops rollout` — start, watch and steer a progressive rollout of a model version.
// The registry holds the rollout; the `serve` replicas carry it out (serving/detail/
// rollout_follower.cpp): traffic at each step's share, analysis, promotion or rollback.
#include <fmt/format.h>


#include "cli/command.hpp"
#include "cli/mlflow_support.hpp"
#include "cli/output.hpp"
#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/text.hpp"
#include "libmlops/registry/registry_store.hpp"

namespace mlops::cli {
namespace {

struct RolloutOptions {
  std::string name;
  std::int64_t to = 0;
  std::string steps = "10,25,50,100";
  std::string interval = "60s";
  double max_error_ratio = 0.01;
  std::string max_p95 = "200ms";
  double max_psi = 0.2;
  std::int64_t min_requests = 200;
  std::string reason;
};

double duration_option(const std::string& flag, const std::string& text) {
  if (auto seconds = parse_duration(text)) return *seconds;
  throw Error(ErrorCode::invalid_input, fmt::format("{} '{}' is not a duration", flag, text),
              "write it like 500ms, 60s, 5m or a number of seconds");
}

registry::RolloutPlan plan_of(const RolloutOptions& opt) {
  registry::RolloutPlan plan;
  plan.steps.clear();
  for (const std::string& part : split_list(opt.steps)) {
    std::size_t used = 0;
    double percent = -1;
    try {
      percent = std::stod(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != part.size()) {
      throw Error(ErrorCode::invalid_input, fmt::format("--steps: '{}' is not a percentage", part),
                  "give the candidate's share at each step in percent, e.g. --steps 10,25,50,100");
    }
    plan.steps.push_back(percent / 100);
  }
  plan.interval_seconds = duration_option("--interval", opt.interval);
  plan.max_error_ratio = opt.max_error_ratio;
  plan.max_p95_seconds = duration_option("--max-p95", opt.max_p95);
  plan.max_psi = opt.max_psi;
  plan.min_requests = opt.min_requests;
  registry::check_plan(plan);
  return plan;
}

nlohmann::json to_json(const registry::Rollout& r) {
  nlohmann::json figures = nlohmann::json::parse(r.figures, nullptr, false);
  return {{"id", r.id},
          {"name", r.name},
          {"state", registry::to_string(r.state)},
          {"stable_version", r.stable_version},
          {"candidate_version", r.candidate_version},
          {"step", r.step + 1},
          {"steps", r.plan.steps},
          {"weight", r.weight()},
          {"interval_seconds", r.plan.interval_seconds},
          {"max_error_ratio", r.plan.max_error_ratio},
          {"max_p95_seconds", r.plan.max_p95_seconds},
          {"max_psi", r.plan.max_psi},
          {"min_requests", r.plan.min_requests},
          {"started_at", r.started_at},
          {"step_started_at", r.step_started_at},
          {"updated_at", r.updated_at},
          {"reason", r.reason},
          {"figures", figures.is_discarded() ? nlohmann::json(nullptr) : figures}};
}

std::string steps_text(const registry::Rollout& r) {
  std::string out;
  for (std::size_t i = 0; i < r.plan.steps.size(); ++i) {
    const std::string step = registry::share_text(r.plan.steps[i]);
    out += (i ? " → " : "") + (i == r.step && registry::is_active(r.state) ? "[" + step + "]" : step);
  }
  return out;
}

void print_rollout(const registry::Rollout& r, const std::string& verb) {
  print(fmt::format("{}rollout {} of {}: version {} → {} is {}, candidate at {}\n", verb, r.id, r.name,
                    r.stable_version, r.candidate_version, registry::to_string(r.state), registry::share_text(r.weight())));
  print(fmt::format("  steps     {} (at least {:g} s each, {} candidate requests)\n", steps_text(r),
                    r.plan.interval_seconds, r.plan.min_requests));
  print(fmt::format("  limits    error ratio ≤ {:g}%, p95 ≤ {:g} ms, feature PSI ≤ {:g}\n", r.plan.max_error_ratio * 100,
                    r.plan.max_p95_seconds * 1000, r.plan.max_psi));
  if (!r.reason.empty()) print(fmt::format("  last      {} ({})\n", r.reason, format_time(r.updated_at)));
}

int status(const RolloutOptions& opt, Context& ctx, registry::RegistryStore& store) {
  const auto rollouts = store.list_rollouts(opt.name);
  if (rollouts.empty()) {
    store.list_versions(opt.name);  // Error{not_found} when there is no such model
    if (ctx.json) {
      print_json({{"name", opt.name}, {"rollout", nullptr}, {"decisions", nlohmann::json::array()}});
    } else {
      print(fmt::format("{} has had no rollout; start one with `mlops rollout start {} --to VERSION`\n", opt.name, opt.name));
    }
    return kExitOk;
  }
  const registry::Rollout& r = rollouts.front();
  std::vector<registry::AuditEntry> decisions;
  for (const auto& e : store.history(opt.name)) {
    if (e.action.rfind("rollout_", 0) == 0 && e.at >= r.started_at && e.version == r.candidate_version) decisions.push_back(e);
  }
  if (ctx.json) {
    nlohmann::json d = nlohmann::json::array();
    for (const auto& e : decisions) {
      nlohmann::json figures = nlohmann::json::parse(e.gate, nullptr, false);
      d.push_back({{"action", e.action}, {"from", e.from_value}, {"to", e.to_value}, {"reason", e.reason}, {"user", e.user},
                   {"at", e.at}, {"figures", figures.is_discarded() ? nlohmann::json(nullptr) : figures}});
    }
    print_json({{"name", opt.name}, {"rollout", to_json(r)}, {"decisions", d}});
    return kExitOk;
  }
  print_rollout(r, "");
  Table t({"when", "by", "decision", "from", "to", "reason"});
  for (const auto& e : decisions) t.add_row({format_time(e.at), e.user, e.action, e.from_value, e.to_value, e.reason});
  if (!t.empty()) print("\n" + t.render());
  return kExitOk;
}

int change(const RolloutOptions& opt, Context& ctx, registry::RegistryStore& store, const std::string& action) {
  const registry::Change change{"", opt.reason};
  registry::Rollout r;
  if (action == "start") {
    r = store.start_rollout(opt.name, opt.to, plan_of(opt), change);
  } else if (action == "pause") {
    r = store.pause_rollout(opt.name, change);
  } else if (action == "resume") {
    r = store.resume_rollout(opt.name, change);
  } else if (action == "promote") {
    r = store.promote_rollout(opt.name, change);
  } else {
    r = store.end_rollout(opt.name, registry::RolloutState::aborted,
                          {0, opt.reason.empty() ? "aborted by hand" : opt.reason, "{}"}, true, change);
  }
  if (ctx.json) {
    print_json(to_json(r));
  } else {
    print_rollout(r, action == "start" ? "Started " : "");
    if (action == "start") {
      print(fmt::format("  The `serve` replicas of {} follow it at their next registry check; watch it with\n"
                        "  `mlops rollout status {}`.\n", opt.name, opt.name));
    }
  }
  return kExitOk;
}

}  // namespace

Command add_rollout_command(CLI::App& root, Globals& globals) {
  auto opt = std::make_shared<RolloutOptions>();
  CLI::App* app = root.add_subcommand("rollout", "Roll a model version out step by step, with automatic analysis and rollback");
  app->require_subcommand(1);
  app->footer(
      "Every `mlops serve` replica whose model is models:/NAME@production (or /Production) follows\n"
      "the rollout from the registry at each check (--reload-interval): it sends the step's share of\n"
      "requests to the candidate (sticky per X-Request-Key), compares candidate and stable on the\n"
      "step's traffic and then moves to the next step, promotes, or rolls back — on every replica.\n"
      "With MLFLOW_TRACKING_URI set, replicas serving mlflow:models:/NAME@production follow it through\n"
      "MLflow (the model's mlops.rollout tag) and record their decisions there; these commands take\n"
      "them into the registry first.");
  CLI::App* start = app->add_subcommand("start", "Start rolling out version --to of NAME");
  start->add_option("name", opt->name, "Registered model name")->required();
  start->add_option("--to", opt->to, "The candidate version")->required()->check(CLI::PositiveNumber);
  start->add_option("--steps", opt->steps, "Candidate share at each step, in percent, ending at 100")->capture_default_str();
  start->add_option("--interval", opt->interval, "Least time at each step (500ms, 60s, 5m)")->capture_default_str();
  start->add_option("--max-error-ratio", opt->max_error_ratio, "Roll back when the candidate's 5xx share is above this")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  start->add_option("--max-p95", opt->max_p95, "Roll back when the candidate's p95 latency is above this")->capture_default_str();
  start->add_option("--max-psi", opt->max_psi, "Roll back when a feature's PSI on the candidate is above this")
      ->capture_default_str()->check(CLI::Range(0.0, 100.0));
  start->add_option("--min-requests", opt->min_requests, "Candidate requests a step needs before any judgment")
      ->capture_default_str()->check(CLI::Range(1, 100000000));
  start->footer("Each check fires only on evidence (a 99.9% confidence bound beyond its limit), never on a\n"
                "handful of requests. Example: mlops rollout start ChurnPredictionModel --to 3 --steps 10,50,100 --interval 30s");
  CLI::App* status_cmd = app->add_subcommand("status", "Where NAME's rollout is, and its decisions with their figures");
  std::vector<std::pair<std::string, CLI::App*>> changes = {{"start", start}};
  for (const auto& [action, help] : std::vector<std::pair<std::string, std::string>>{
           {"pause", "Hold the current step (weight kept, no decisions)"},
           {"resume", "Continue a paused rollout (the step's analysis starts afresh)"},
           {"abort", "Stop: candidate weight 0, Production untouched"},
           {"promote", "Promote the candidate to Production now, skipping the remaining steps"}}) {
    CLI::App* sub = app->add_subcommand(action, help);
    sub->add_option("name", opt->name, "Registered model name")->required();
    changes.emplace_back(action, sub);
  }
  status_cmd->add_option("name", opt->name, "Registered model name")->required();
  add_json_flag(status_cmd, globals);
  for (auto& [action, sub] : changes) {
    sub->add_option("--reason", opt->reason, "Why: recorded in the history");
    add_json_flag(sub, globals);
  }
  return {app, [=](Context& ctx) {
            const bool mlflow_set = !mlflow::connection_from(ctx.settings).tracking_uri.empty();
            if (status_cmd->parsed() && !mlflow_set) {
              const auto reader = registry::open_for_reading(ctx.settings.db_path());
              return status(*opt, ctx, *reader);
            }
            // Replicas serving from MLflow record their decisions there: take them first.
            registry::RegistryStore store(ctx.settings.db_path());
            const bool taken = take_mlflow_rollout_decisions(ctx, store, opt->name);
            int code = kExitOk;
            if (status_cmd->parsed()) code = status(*opt, ctx, store);
            for (const auto& [action, sub] : changes) {
              if (sub->parsed()) code = change(*opt, ctx, store, action);
            }
            if (taken || !status_cmd->parsed()) mirror_after_change(ctx);
            return code;
          }};
}

}  // namespace mlops::cli
