// cli: `mlops gate` — the course's deployment gate: measure a running service and exit 3
// when its p95 latency or error ratio breaches the limit, rolling the model back if asked.
#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/mlflow_support.hpp"
#include "cli/output.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/text.hpp"
#include "libmlops/registry/registry_store.hpp"
#include "libmlops/serving/gate.hpp"

namespace mlops::cli {
namespace {

struct GateFlags {
  std::string url;
  std::string p95 = "200ms";
  std::int64_t requests = 100;
  int concurrency = 4;
  double max_error_ratio = 0.01;
  std::string body;
  std::string data;
  std::string rollback;
  std::string reason;
};

// Rolls NAME back: its active rollout ends (candidate weight 0), else Production moves back
// to the version before it. Returns what was done, for the report.
std::string roll_back(Context& ctx, const std::string& name, const serving::GateReport& report, const std::string& reason) {
  registry::RegistryStore store(ctx.settings.db_path());
  const std::string why = fmt::format("gate: {}", fmt::join(report.breaches, "; "));
  const registry::Change change{"mlops gate", reason.empty() ? why : reason};
  // A replica serving from MLflow may have ended the rollout there (promoted it, say): then
  // it is Production that moves back, not a rollout that ends.
  take_mlflow_rollout_decisions(ctx, store, name);
  std::string done;
  if (auto r = store.latest_rollout(name); r && registry::is_active(r->state)) {
    const nlohmann::json figures = {{"requests", report.requests}, {"errors", report.errors}, {"p95_ms", report.p95 * 1000}};
    store.end_rollout(name, registry::RolloutState::rolled_back, {r->step, change.reason, figures.dump()}, true, change);
    done = fmt::format("rolled back rollout {} of {} (candidate version {} at 0%)", r->id, name, r->candidate_version);
  } else {
    const registry::ModelVersion restored = store.rollback(name, change);
    done = fmt::format("rolled {} back: Production is version {} again", name, restored.version);
  }
  mirror_after_change(ctx);
  return done;
}

int run_gate(const GateFlags& flags, Context& ctx) {
  serving::GateOptions o;
  o.url = flags.url.empty() ? fmt::format("http://127.0.0.1:{:.0f}", ctx.settings.number("MLOPS_PORT", 1, 65535)) : flags.url;
  const auto p95 = parse_duration(flags.p95);
  if (!p95) throw Error(ErrorCode::invalid_input, fmt::format("--p95 '{}' is not a duration", flags.p95), "e.g. --p95 200ms");
  o.max_p95_seconds = *p95;
  o.requests = flags.requests;
  o.concurrency = flags.concurrency;
  o.max_error_ratio = flags.max_error_ratio;
  o.data_path = flags.data;
  if (!flags.body.empty()) {
    o.body = nlohmann::json::parse(flags.body, nullptr, false);
    if (o.body.is_discarded() || !o.body.is_object()) {
      throw Error(ErrorCode::invalid_input, "--body is not a JSON object", "e.g. --body '{\"features\": [5.2, 1.3, 7.7, 2.0, 3.1, 4.4, 1.0, 8.2, 2.5, 6.0]}'");
    }
  }
  Progress progress(!ctx.quiet);
  const serving::GateReport report = serving::run_gate(o, [&](std::int64_t done) {
    progress.update(fmt::format("gate: {}/{} requests", done, o.requests));
  });
  progress.finish();
  std::string action;
  if (!report.passed() && !flags.rollback.empty()) action = roll_back(ctx, flags.rollback, report, flags.reason);
  if (ctx.json) {
    print_json({{"url", o.url},
                {"model_name", report.model_name},
                {"model_version", report.model_version},
                {"requests", report.requests},
                {"errors", report.errors},
                {"p50_ms", report.p50 * 1000},
                {"p95_ms", report.p95 * 1000},
                {"p99_ms", report.p99 * 1000},
                {"max_ms", report.max * 1000},
                {"max_p95_ms", o.max_p95_seconds * 1000},
                {"max_error_ratio", o.max_error_ratio},
                {"passed", report.passed()},
                {"breaches", report.breaches},
                {"rollback", action.empty() ? nlohmann::json(nullptr) : nlohmann::json(action)}});
  } else {
    print(fmt::format("{} ({} {}): {} requests, {} failed; p50 {:.1f} ms, p95 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms\n", o.url,
                      report.model_name, report.model_version, report.requests, report.errors, report.p50 * 1000,
                      report.p95 * 1000, report.p99 * 1000, report.max * 1000));
    print(report.passed() ? fmt::format("PASS: p95 ≤ {:g} ms and error ratio ≤ {:g}%\n", o.max_p95_seconds * 1000, o.max_error_ratio * 100)
                          : fmt::format("FAIL: {}\n", fmt::join(report.breaches, "; ")));
    if (!action.empty()) print(fmt::format("Rollback: {}\n", action));
  }
  return report.passed() ? kExitOk : kExitGateFailed;
}

}  // namespace

Command add_gate_command(CLI::App& root, Globals& globals) {
  auto flags = std::make_shared<GateFlags>();
  CLI::App* app = root.add_subcommand("gate", "Measure a running service's p95 latency and errors; exit 3 on a breach");
  app->add_option("--url", flags->url, "The service (default http://127.0.0.1:MLOPS_PORT)");
  app->add_option("--p95", flags->p95, "Largest p95 latency that passes (500ms, 0.2s)")->capture_default_str();
  app->add_option("--requests", flags->requests, "Prediction requests to send")->capture_default_str()->check(CLI::Range(1, 10000000));
  app->add_option("--concurrency", flags->concurrency, "Requests at once")->capture_default_str()->check(CLI::Range(1, 256));
  app->add_option("--max-error-ratio", flags->max_error_ratio, "Largest share of failed requests that passes")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app->add_option("--body", flags->body, "The /predict body (default: one row of the model's training means, from /metrics)");
  app->add_option("--data", flags->data, "Send the rows of this CSV in turn (columns named as the model's features,\n"
                  "e.g. `mlops crm export`'s); realistic traffic for a rollout's analysis")->excludes("--body");
  app->add_option("--rollback", flags->rollback, "On a breach, roll this registered model back: its active rollout ends,\n"
                  "else Production moves back to the previous version (serve follows at its next registry check)");
  app->add_option("--reason", flags->reason, "With --rollback: why, recorded in the history (default: the breach)");
  app->footer("The course's CI gate: after a deploy, `mlops gate --url http://127.0.0.1:8000 --p95 200ms --requests 200\n"
              "--rollback ChurnPredictionModel` fails the job (exit 3) and restores the last stable version.\n"
              "Latencies are measured by the client, connection included; failed connections count as errors.");
  add_json_flag(app, globals);
  return {app, [flags](Context& ctx) { return run_gate(*flags, ctx); }};
}

}  // namespace mlops::cli
