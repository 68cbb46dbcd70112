// cli: `mlops serve` — the prediction service.
#include <fmt/format.h>


#include "cli/command.hpp"
#include "cli/mlflow_support.hpp"
#include "cli/output.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/log.hpp"
#include "libmlops/core/text.hpp"
#include "libmlops/mlflow/remote_model.hpp"
#include "libmlops/registry/model_uri.hpp"
#include "libmlops/serving/server.hpp"

namespace mlops::cli {
namespace {

struct ServeOptions {
  std::optional<std::string> model_uri, host, api_key, canary_uri, log_format, crm_url, policy, fault, rollback_alerts;
  std::optional<int> port;
  std::optional<double> canary_weight, reload_interval, drift_window_seconds;
  std::optional<std::size_t> drift_window, drift_min_samples;
  int threads = 16;
  std::size_t max_body_bytes = 1 << 20;
  double shutdown_timeout = 10;
  double request_timeout = 10;
  std::size_t max_batch = 1000;
};

int run_serve(const ServeOptions& opt, Context& ctx) {
  const config::Settings& s = ctx.settings;
  serving::ServerOptions o;
  o.model_uri = opt.model_uri.value_or(registry::default_model_uri(s));
  const mlflow::ModelSources sources = model_sources(s);
  o.mlflow = sources.mlflow;
  o.mlflow_cache_dir = sources.mlflow_cache_dir;
  for (const std::string& uri : {o.model_uri, opt.canary_uri.value_or(s.get("CANARY_URI"))}) {
    if (!uri.empty()) mlflow::check_model_uri(uri, &o.mlflow);  // an error now, not at the first reload
  }
  o.service.host = opt.host.value_or(s.get("MLOPS_HOST"));
  o.service.port = opt.port.value_or(static_cast<int>(s.number("MLOPS_PORT", 0, 65535)));
  o.service.workers = opt.threads;
  o.service.api_key = opt.api_key.value_or(s.get("MLOPS_API_KEY"));
  o.canary_uri = opt.canary_uri.value_or(s.get("CANARY_URI"));
  o.canary_weight = opt.canary_weight.value_or(s.number("CANARY_WEIGHT", 0, 1));
  o.reload_interval = opt.reload_interval.value_or(s.number("MLOPS_RELOAD_INTERVAL", 0, 86400));
  // The flags' ranges, for the settings too.
  o.drift_window.rows = opt.drift_window.value_or(static_cast<std::size_t>(s.number("MLOPS_DRIFT_WINDOW", 10, 1e7)));
  o.drift_window.min_rows = opt.drift_min_samples.value_or(static_cast<std::size_t>(s.number("MLOPS_DRIFT_MIN_SAMPLES", 1, 1e7)));
  o.drift_window.seconds = opt.drift_window_seconds.value_or(s.number("MLOPS_DRIFT_WINDOW_SECONDS", 0, 86400 * 30));
  o.service.max_body_bytes = opt.max_body_bytes;
  o.shutdown_timeout = opt.shutdown_timeout;
  o.service.request_timeout = opt.request_timeout;
  o.max_batch = opt.max_batch;
  o.db_path = s.db_path();
  o.crm_url = opt.crm_url.value_or(s.get("CRM_URL"));
  o.crm_timeout = s.number("CRM_TIMEOUT");
  o.crm_api_key = s.crm_api_key();
  o.policy_path = opt.policy.value_or(s.get("SEGMENT_POLICY"));
  o.rollback_alerts.clear();
  for (std::string& name : split_list(opt.rollback_alerts.value_or(s.get("MLOPS_ROLLBACK_ALERTS")))) {
    if (!name.empty()) o.rollback_alerts.push_back(std::move(name));
  }
  if (opt.fault) {
    o.fault = serving::parse_fault_injection(*opt.fault);
    logging::event(logging::Level::warn, "fault injection is on: not for production",
                   {{"version", std::to_string(o.fault.version)}, {"errors", fmt::format("{:g}", o.fault.error_ratio)},
                    {"delay_ms", fmt::format("{:g}", o.fault.delay_seconds * 1000)}});
  }
  const std::string format = opt.log_format.value_or(s.get("MLOPS_LOG_FORMAT"));
  if (format != "text" && format != "json") {
    throw Error(ErrorCode::invalid_input, fmt::format("log format '{}' is neither text nor json", format));
  }
  logging::set_format(format == "json" ? logging::Format::json : logging::Format::text);
  // The request log is the point of a service's stderr: info unless the user chose a level.
  if (s.source("MLOPS_LOG") == config::Source::default_value) logging::set_level(logging::Level::info);
  if (!(o.canary_weight >= 0 && o.canary_weight <= 1)) {
    throw Error(ErrorCode::invalid_input, fmt::format("canary weight {} is outside [0, 1]", o.canary_weight));
  }
  serving::serve_until_signal(o, [&](int port) {
    print(fmt::format("mlops serve: listening on http://{}:{} (model: {}{})\n", o.service.host, port,
                      o.model_uri.empty() ? "none yet" : o.model_uri,
                      o.canary_uri.empty() ? "" : fmt::format(", canary {} at {:.0f}%", o.canary_uri, o.canary_weight * 100)));
  });
  return kExitOk;
}

}  // namespace

Command add_serve_command(CLI::App& root, Globals&) {
  auto opt = std::make_shared<ServeOptions>();
  CLI::App* app = root.add_subcommand("serve", "Serve predictions over HTTP (/predict, /health, /metrics, ...)");
  app->footer(
      "Routes: POST /predict, POST /invocations (MLflow), /v2/... (Open Inference Protocol), GET /health,\n"
      "/live, /ready, /metrics, /openapi.json, POST /admin/reload, POST /crm_segment_update?customer_id=ID.\n"
      "SIGTERM or Ctrl-C drains requests in flight (--shutdown-timeout) and exits 0; SIGHUP reloads the model.\n"
      "Example: mlops serve --port 8000   then   curl -s localhost:8000/predict -H 'Content-Type: application/json' \\\n"
      "           -d '{\"features\":[5.2,1.3,7.7,2.0,3.1,4.4,1.0,8.2,2.5,6.0]}'");
  app->add_option("--model-uri,--model", opt->model_uri,
                  "models:/NAME@ALIAS, models:/NAME/VERSION|STAGE|latest, mlflow:models:/... (from MLflow) or a file\n"
                  "(MODEL_URI; default: the production alias, else MODEL_PATH)");
  app->add_option("--host", opt->host, "Listen address (MLOPS_HOST, default 127.0.0.1)");
  app->add_option("--port,-p", opt->port, "Port, 0 = any free port (MLOPS_PORT, default 8000)")->check(CLI::Range(0, 65535));
  app->add_option("--threads", opt->threads, "Worker threads for routes that wait on others (CRM, reload); connections\n"
                  "and predictions are served by event loops and hold none")->capture_default_str()->check(CLI::Range(1, 1024));
  app->add_option("--request-timeout", opt->request_timeout, "Seconds a request's headers and body may take to arrive (408 after)")->capture_default_str()->check(CLI::Range(0.1, 3600.0));
  app->add_option("--shutdown-timeout", opt->shutdown_timeout, "Seconds SIGTERM waits for requests in flight")->capture_default_str()->check(CLI::Range(0.0, 3600.0));
  app->add_option("--api-key", opt->api_key, "Require this key on mutating routes (MLOPS_API_KEY)");
  app->add_option("--canary-uri", opt->canary_uri, "A second model for canary traffic (CANARY_URI)");
  app->add_option("--canary-weight", opt->canary_weight, "Canary share of traffic, 0 to 1 (CANARY_WEIGHT, default 0.1)")->check(CLI::Range(0.0, 1.0));
  app->add_option("--reload-interval", opt->reload_interval, "Seconds between registry checks, 0 = off (default 10)")->check(CLI::Range(0.0, 86400.0));
  app->add_option("--drift-window", opt->drift_window, "Measure drift over this many most recent requests\n"
                  "(MLOPS_DRIFT_WINDOW, default 1000): a shift shows within one window")->check(CLI::Range(10, 10000000));
  app->add_option("--drift-window-seconds", opt->drift_window_seconds, "...and only over the requests of the last this many\n"
                  "seconds (MLOPS_DRIFT_WINDOW_SECONDS, default 0 = requests only)")->check(CLI::Range(0.0, 86400.0 * 30));
  app->add_option("--drift-min-samples", opt->drift_min_samples, "Report a drift PSI only once the window holds this many\n"
                  "requests (MLOPS_DRIFT_MIN_SAMPLES, default 100): fewer give large PSIs from noise")->check(CLI::Range(1, 10000000));
  app->add_option("--max-body-bytes", opt->max_body_bytes, "Largest request body (413 above)")->capture_default_str()->check(CLI::Range(64, 1 << 30));
  app->add_option("--max-batch", opt->max_batch, "Most rows in one request")->capture_default_str()->check(CLI::Range(1, 1000000));
  app->add_option("--crm", opt->crm_url, "CRM for /crm_segment_update: sqlite:PATH or http://HOST:PORT (CRM_URL, default sqlite:crm.db)");
  app->add_option("--policy", opt->policy, "Segment policy YAML (SEGMENT_POLICY; default: class 1 -> Churn_Risk_AI)");
  app->add_option("--rollback-alerts", opt->rollback_alerts, "Alerts whose firing (Alertmanager's webhook to POST /admin/alerts)\n"
                  "rolls back the active rollout, comma-separated (MLOPS_ROLLBACK_ALERTS)");
  app->add_option("--inject-fault", opt->fault, "For lessons and tests of rollouts: make registry version V fail or slow,\n"
                  "e.g. 3:errors=0.1 (10% answered 500), 3:delay=300ms, 3:errors=0.05,delay=1s")->type_name("V:SPEC");
  app->add_option("--log-format", opt->log_format, "text or json (MLOPS_LOG_FORMAT)")->check(CLI::IsMember({"text", "json"}));
  return {app, [opt](Context& ctx) { return run_serve(*opt, ctx); }};
}

}  // namespace mlops::cli
