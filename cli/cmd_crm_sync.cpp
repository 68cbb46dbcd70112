// cli: `mlops crm-sync` — predict every customer's segment and write back the changes.
#include <fmt/format.h>

#include <chrono>
#include <sstream>

#include "cli/command.hpp"
#include "cli/mlflow_support.hpp"
#include "cli/output.hpp"
#include "cli/push_metrics.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/crm/sqlite_crm_store.hpp"
#include "libmlops/crm/sync_job.hpp"
#include "libmlops/registry/model_uri.hpp"

namespace mlops::cli {
namespace {

struct SyncCliOptions {
  std::optional<std::string> crm_url, model_uri, policy;
  crm::SyncOptions sync;
  std::string where, shard, run_id;
  bool force = false;
  int concurrency = 4;
};

void parse_shard(const std::string& text, crm::SyncOptions& o) {
  int index = 0, count = 0;
  char slash = 0;
  std::istringstream in(text);
  if (!(in >> index >> slash >> count) || slash != '/' || count < 1 || index < 0 || index >= count || !in.eof()) {
    throw Error(ErrorCode::invalid_input, fmt::format("--shard '{}' is not i/N with 0 <= i < N", text), "e.g. --shard 0/4");
  }
  o.shard_index = index;
  o.shard_count = count;
}

std::string ledger_path(const Context& ctx) { return ctx.settings.home() + "/crm_sync.db"; }

nlohmann::json report_json(const crm::SyncReport& r) {
  nlohmann::json conflicts = nlohmann::json::array();
  for (const auto& [id, segment] : r.conflicts) conflicts.push_back({{"customer_id", id}, {"segment", segment}});
  return {{"run_id", r.run.id},       {"status", r.run.status},       {"dry_run", r.run.dry_run},
          {"model_version", r.run.model_version}, {"shard", r.run.shard}, {"read", r.run.read},
          {"changed", r.run.changed}, {"unchanged", r.run.unchanged}, {"failed", r.run.failed},
          {"moves", r.moves},         {"seconds", r.seconds},         {"checkpoint", r.run.checkpoint},
          {"conflicts", conflicts}};
}

void print_report(const crm::SyncReport& r, Context& ctx) {
  if (ctx.json) {
    print_json(report_json(r));
    return;
  }
  print(fmt::format("{} {}: read {}, {} {}, unchanged {}{} in {:.2f}s ({:.0f} customers/s), model {}\n",
                    r.run.dry_run ? "Dry run" : "Sync run", r.run.id, r.run.read, r.run.dry_run ? "would change" : "changed",
                    r.run.changed, r.run.unchanged, r.run.failed ? fmt::format(", failed {}", r.run.failed) : "", r.seconds,
                    r.seconds > 0 ? static_cast<double>(r.run.read) / r.seconds : 0.0, r.run.model_version));
  if (!r.moves.empty()) {
    Table t({"from -> to", "customers"});
    for (const auto& [move, n] : r.moves) t.add_row({move, std::to_string(n)});
    print(t.render());
  }
  if (!r.conflicts.empty()) {
    print(fmt::format("Left alone: {} customer(s) whose segment changed after the run:\n", r.conflicts.size()));
    Table t({"customer", "segment now"});
    for (std::size_t i = 0; i < r.conflicts.size() && i < 20; ++i) t.add_row({r.conflicts[i].first, r.conflicts[i].second});
    print(t.render());
    if (r.conflicts.size() > 20) print(fmt::format("... and {} more (--json lists them all)\n", r.conflicts.size() - 20));
    print(fmt::format("To overwrite them with their segment from before the run: mlops crm-sync rollback {} --force\n",
                      r.run.id));
  }
}

int run_crm_sync(SyncCliOptions& opt, Context& ctx) {
  const config::Settings& s = ctx.settings;
  crm::SyncOptions& o = opt.sync;
  o.crm_url = opt.crm_url.value_or(s.get("CRM_URL"));
  if (!opt.shard.empty()) parse_shard(opt.shard, o);
  if (!opt.where.empty()) {
    if (opt.where.rfind("segment=", 0) != 0) {
      throw Error(ErrorCode::invalid_input, fmt::format("--where '{}' is not segment=S", opt.where), "e.g. --where segment=Unassigned");
    }
    o.where_segment = opt.where.substr(8);
  }
  std::string uri = opt.model_uri.value_or(registry::default_model_uri(s));
  if (uri.empty()) {
    throw Error(ErrorCode::not_found, "no model to sync with", "train and register one: mlops train --register --stage Production");
  }
  auto model = std::make_shared<const model::ModelArtifact>(mlflow::load_any_model(uri, model_sources(s)));
  const std::string policy_path = opt.policy.value_or(s.get("SEGMENT_POLICY"));
  const auto policy = policy_path.empty() ? crm::SegmentPolicy::course_default() : crm::SegmentPolicy::load(policy_path);
  o.model_uri = uri;
  o.model_version = model->model_version;
  const double timeout = s.number("CRM_TIMEOUT");
  const crm::CrmOpener open_crm = [&] { return crm::open_crm(o.crm_url, timeout, opt.concurrency, s.crm_api_key()); };
  std::optional<std::int64_t> total;
  {
    auto crm_store = open_crm();
    const std::size_t crm_features = crm_store->feature_names().size();
    if (crm_features != 0 && crm_features != static_cast<std::size_t>(model->model.n_features())) {
      throw Error(ErrorCode::invalid_input,
                  fmt::format("the CRM has {} features, the model {} expects {}", crm_features, o.model_version,
                              model->model.n_features()),
                  "sync with a model trained on the CRM's features (see `mlops crm show ID`)");
    }
    if (auto* embedded = dynamic_cast<crm::SqliteCrmStore*>(crm_store.get())) total = embedded->count();
  }
  Progress progress(!ctx.quiet && !ctx.json, 0.5);
  const auto started = std::chrono::steady_clock::now();
  o.progress = [&](const crm::SyncRun& run) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const double rate = seconds > 0 ? static_cast<double>(run.read) / seconds : 0;
    std::string line = fmt::format("syncing: {} customers read, {} changed, {:.0f}/s", run.read, run.changed, rate);
    if (total && rate > 0) {
      line += fmt::format(", {:.0f}%, ETA {:.0f}s", 100.0 * static_cast<double>(run.read) / static_cast<double>(*total),
                          static_cast<double>(*total - run.read) / rate);
    }
    progress.update(line);
  };
  crm::SyncLedger ledger(ledger_path(ctx));
  const crm::SyncReport report = crm::run_sync(open_crm, ledger, crm::model_decider(model, policy), o);
  progress.finish();
  if (!o.dry_run) {
    const crm::SyncRun& run = report.run;
    push_job_metrics(ctx, "mlops_crm_sync", {{"shard", fmt::format("{}_of_{}", o.shard_index, o.shard_count)}},
                     {{"crm_sync_customers_read", "Customers the last sync read", static_cast<double>(run.read)},
                      {"crm_sync_customers_changed", "Customers whose segment the last sync changed", static_cast<double>(run.changed)},
                      {"crm_sync_customers_unchanged", "Customers the last sync left as they were", static_cast<double>(run.unchanged)},
                      {"crm_sync_customers_failed", "Customers the last sync could not decide", static_cast<double>(run.failed)}},
                     report.seconds);
  }
  print_report(report, ctx);
  return kExitOk;
}

}  // namespace

Command add_crm_sync_command(CLI::App& root, Globals& globals) {
  auto opt = std::make_shared<SyncCliOptions>();
  CLI::App* app = root.add_subcommand("crm-sync", "Predict every customer's segment and write back the changed ones");
  app->footer("Examples: mlops crm-sync --dry-run   |   mlops crm-sync --shard 0/4   |   mlops crm-sync rollback RUN_ID");
  app->add_option("--crm", opt->crm_url, "CRM URL: sqlite:PATH or http://HOST:PORT (CRM_URL)");
  app->add_option("--model-uri,--model", opt->model_uri, "Model: models:/..., mlflow:models:/... or a file (default: the production alias, else MODEL_PATH)");
  app->add_option("--policy", opt->policy, "Segment policy YAML (SEGMENT_POLICY)");
  app->add_option("--batch-size", opt->sync.batch_size, "Customers per page and write")->capture_default_str()->check(CLI::Range(1, 100000));
  app->add_flag("--dry-run", opt->sync.dry_run, "Write nothing; print how many would move from which segment to which");
  app->add_option("--limit", opt->sync.limit, "Read at most this many customers")->check(CLI::PositiveNumber);
  app->add_option("--where", opt->where, "Only customers with segment=S");
  app->add_option("--shard", opt->shard, "Only shard i of N (stable hash of the customer id), e.g. 0/4");
  app->add_option("--concurrency", opt->concurrency, "Parallel write calls to an HTTP CRM (the embedded CRM has one writer)")
      ->capture_default_str()->check(CLI::Range(1, 64));
  app->add_option("--resume", opt->sync.resume_run_id, "Continue a killed run from its checkpoint");
  add_json_flag(app, globals);
  CLI::App* rollback = app->add_subcommand("rollback", "Restore the segments a sync run changed");
  rollback->add_option("run_id", opt->run_id, "Sync run id")->required();
  rollback->add_flag("--force", opt->force,
                     "Also restore customers whose segment was changed after the run (default: leave them, report them)");
  add_json_flag(rollback, globals);
  CLI::App* list = app->add_subcommand("list", "List sync runs");
  add_json_flag(list, globals);
  return {app, [=](Context& ctx) {
            if (list->parsed()) {
              crm::SyncLedger ledger(ledger_path(ctx));
              nlohmann::json runs = nlohmann::json::array();
              Table t({"run", "status", "started", "model_version", "shard", "read", "changed", "checkpoint"});
              for (const auto& r : ledger.list()) {
                runs.push_back(report_json({r, {}, 0, {}}));
                t.add_row({r.id, r.status + (r.dry_run ? " (dry)" : ""), format_time(r.started_at), r.model_version, r.shard,
                           std::to_string(r.read), std::to_string(r.changed), r.checkpoint});
              }
              ctx.json ? print_json({{"runs", runs}}) : print(t.render());
              return kExitOk;
            }
            if (rollback->parsed()) {
              crm::SyncLedger ledger(ledger_path(ctx));
              auto run = ledger.find(opt->run_id);
              auto store = crm::open_crm(opt->crm_url.value_or(run ? run->crm_url : ctx.settings.get("CRM_URL")),
                                         ctx.settings.number("CRM_TIMEOUT"), 1, ctx.settings.crm_api_key());
              const crm::SyncReport report = crm::rollback_sync(*store, ledger, opt->run_id, opt->force);
              print_report(report, ctx);
              return report.conflicts.empty() ? kExitOk : kExitFailure;
            }
            return run_crm_sync(*opt, ctx);
          }};
}

}  // namespace mlops::cli
