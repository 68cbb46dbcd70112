// cli: `mlops mirror` — send the registry's pending changes to MLflow; `status`, `retry`,
// `skip`; `--adopt` to share a model name with another registry on purpose.
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <ctime>

#include "cli/command.hpp"
#include "cli/mlflow_support.hpp"
#include "cli/output.hpp"
#include "libmlops/core/clock.hpp"
#include "libmlops/mlflow/mirror.hpp"

namespace mlops::cli {
namespace {

struct MirrorOptions {
  bool watch = false;
  double interval = 2;
  std::vector<std::int64_t> retry_ids;
  bool retry_all = false;
  std::vector<std::int64_t> skip_ids;
  std::string skip_reason;
  std::vector<std::string> adopt;
  bool repair = false;
};

mlflow::Connection required_connection(const config::Settings& s) {
  mlflow::Connection c = mlflow::connection_from(s);
  if (c.tracking_uri.empty()) {
    throw Error(ErrorCode::invalid_input, "MLFLOW_TRACKING_URI is not set, so there is no MLflow to mirror to",
                "set it in .env or the environment, e.g. MLFLOW_TRACKING_URI=http://127.0.0.1:5000");
  }
  return c;
}

// The registry's mirror lock. A command's own mirror holds it for a few seconds, so wait
// for it (until `deadline`, or SIGINT/SIGTERM when `signals` is given) rather than fail.
std::unique_ptr<mlflow::MirrorLock> wait_for_lock(const Context& ctx, double seconds, const sigset_t* signals) {
  const std::string db = ctx.settings.db_path();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  bool said = false;
  while (true) {
    if (auto lock = mlflow::MirrorLock::try_acquire(db)) return lock;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Error(ErrorCode::conflict, fmt::format("another `mlops mirror` has been draining {} for {:g} s", db, seconds),
                  "wait for it to finish, or stop the `mlops mirror --watch` that is running");
    }
    if (!said && !ctx.quiet) {
      std::fprintf(stderr, "mlops mirror: waiting for another mirror of %s to finish\n", db.c_str());
      said = true;
    }
    const timespec pause{0, 100'000'000};
    if (signals) {
      if (sigtimedwait(signals, nullptr, &pause) > 0) return nullptr;
    } else {
      nanosleep(&pause, nullptr);
    }
  }
}

nlohmann::json to_json(const mlflow::EventOutcome& e) {
  return {{"id", e.id}, {"kind", e.kind}, {"result", e.result}, {"detail", e.detail}};
}

void print_outcome(const mlflow::EventOutcome& e) {
  print(fmt::format("  #{:<5} {:<25} {:<7} {}\n", e.id, e.kind, e.result, e.detail));
}

int drain_once(Context& ctx, registry::RegistryStore& store, mlflow::Client& client) {
  const mlflow::DrainReport r =
      mlflow::drain(store, client, mlflow::drain_options(ctx.settings), ctx.json ? nullptr : print_outcome);
  if (ctx.json) {
    nlohmann::json events = nlohmann::json::array();
    for (const auto& e : r.events) events.push_back(to_json(e));
    print_json({{"tracking_uri", client.tracking_uri()}, {"done", r.done}, {"failed", r.failed}, {"blocked", r.blocked},
                {"skipped", r.skipped},
                {"pending", r.pending}, {"stopped_by", r.stopped_by}, {"events", events}});
  } else {
    print(fmt::format("Mirrored {} change(s) to MLflow at {}; {} pending, {} newly failed\n", r.done,
                      client.tracking_uri(), r.pending, r.failed));
    if (!r.stopped_by.empty()) print(fmt::format("Stopped: {}\n", r.stopped_by));
    if (r.failed > 0 || r.blocked > 0) print("See `mlops mirror status`; fix the cause, then `mlops mirror retry ID`.\n");
  }
  return r.stopped_by.empty() && r.failed == 0 && r.blocked == 0 ? kExitOk : kExitFailure;
}

// Drains every `interval` seconds until SIGINT or SIGTERM, printing what it sends.
int watch(const MirrorOptions& opt, Context& ctx, registry::RegistryStore& store, mlflow::Client& client) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  const auto lock = wait_for_lock(ctx, 1e9, &signals);
  if (!lock) return kExitOk;  // stopped while waiting
  if (!ctx.quiet) {
    std::fprintf(stderr, "mlops mirror: watching %s every %gs for changes to send to %s (Ctrl-C stops)\n",
                 ctx.settings.db_path().c_str(), opt.interval, client.tracking_uri().c_str());
  }
  const mlflow::DrainOptions options = mlflow::drain_options(ctx.settings);
  std::string last_stop;
  for (;;) {
    const mlflow::DrainReport r = mlflow::drain(store, client, options, [&](const mlflow::EventOutcome& e) {
      if (e.result == "retry") return;  // said once below, not every interval
      if (ctx.json) {
        print(to_json(e).dump() + "\n");  // JSON Lines: one event per line as it happens
      } else {
        print_outcome(e);
      }
    });
    if (r.stopped_by != last_stop && !r.stopped_by.empty()) {
      std::fprintf(stderr, "mlops mirror: MLflow not reached (%s); %lld pending, trying again\n", r.stopped_by.c_str(),
                   static_cast<long long>(r.pending));
    }
    last_stop = r.stopped_by;
    timespec wait{static_cast<time_t>(opt.interval), static_cast<long>((opt.interval - static_cast<long>(opt.interval)) * 1e9)};
    if (sigtimedwait(&signals, nullptr, &wait) > 0) return kExitOk;
  }
}

int status(Context& ctx, registry::RegistryStore& store) {
  const registry::OutboxCounts counts = store.outbox_counts();
  const auto failed = store.outbox("failed", 1'000'000);
  const auto pending = store.outbox("pending", 1'000'000);
  const auto skipped = store.outbox("skipped", 1'000'000);
  const auto blocked = mlflow::blocked_events(failed, pending);
  const std::string uri = http::take_credentials(ctx.settings.get("MLFLOW_TRACKING_URI")).url;
  if (ctx.json) {
    nlohmann::json events = nlohmann::json::array();
    for (const auto* list : {&failed, &pending, &skipped}) {
      for (const auto& e : *list) {
        nlohmann::json j = {{"id", e.id},           {"kind", e.kind},         {"status", e.status},
                            {"attempts", e.attempts}, {"last_error", e.last_error}, {"created_at", e.created_at},
                            {"payload", nlohmann::json::parse(e.payload, nullptr, false)}};
        if (auto it = blocked.find(e.id); it != blocked.end()) j["blocked_by"] = it->second;
        events.push_back(j);
      }
    }
    print_json({{"tracking_uri", uri}, {"pending", counts.pending}, {"failed", counts.failed}, {"done", counts.done},
                {"skipped", counts.skipped}, {"events", events}});
    return kExitOk;
  }
  print(fmt::format("MLflow: {}\nOutbox: {} pending, {} failed, {} done, {} skipped\n",
                    uri.empty() ? "(MLFLOW_TRACKING_URI not set)" : uri, counts.pending, counts.failed, counts.done,
                    counts.skipped));
  if (failed.empty() && pending.empty() && skipped.empty()) return kExitOk;
  Table t({"id", "kind", "status", "attempts", "created", "last error"});
  for (const auto* list : {&failed, &pending, &skipped}) {
    for (const auto& e : *list) {
      std::string why = e.last_error;
      if (auto it = blocked.find(e.id); it != blocked.end()) why = fmt::format("waits for failed event {}", it->second);
      if (why.size() > 120) why = why.substr(0, 117) + "...";
      t.add_row({std::to_string(e.id), e.kind, e.status, std::to_string(e.attempts), format_time(e.created_at), why});
    }
  }
  print(t.render());
  if (!failed.empty()) {
    print("Requeue a failed event with `mlops mirror retry ID` (or --all-failed) once its cause is fixed,\n"
          "or give up on it with `mlops mirror skip ID --reason TEXT`.\n");
  }
  return kExitOk;
}

int retry(const MirrorOptions& opt, Context& ctx, registry::RegistryStore& store) {
  std::vector<std::int64_t> ids = opt.retry_ids;
  if (opt.retry_all) {
    for (const auto& e : store.outbox("failed", 1'000'000)) ids.push_back(e.id);
  }
  if (ids.empty() && !opt.retry_all) {
    throw Error(ErrorCode::invalid_input, "name the failed events to retry, or pass --all-failed",
                "see `mlops mirror status` for their ids");
  }
  for (std::int64_t id : ids) store.retry_outbox(id);
  if (ctx.json) {
    print_json({{"requeued", ids}});
  } else {
    print(fmt::format("Requeued {} event(s): {}\n", ids.size(), fmt::join(ids, ", ")));
  }
  mirror_after_change(ctx);
  return kExitOk;
}

int skip(const MirrorOptions& opt, Context& ctx, registry::RegistryStore& store) {
  const std::string reason = opt.skip_reason.empty() ? "skipped by " + current_user() : opt.skip_reason;
  for (std::int64_t id : opt.skip_ids) store.skip_outbox(id, reason);
  if (ctx.json) {
    print_json({{"skipped", opt.skip_ids}, {"reason", reason}});
  } else {
    print(fmt::format("Skipped {} event(s): {} ({}); events they held back go on with the next `mlops mirror`\n",
                      opt.skip_ids.size(), fmt::join(opt.skip_ids, ", "), reason));
  }
  return kExitOk;
}

int verify(const MirrorOptions& opt, Context& ctx, registry::RegistryStore& store, mlflow::Client& client) {
  const registry::OutboxCounts counts = store.outbox_counts();
  if (counts.pending > 0 || counts.failed > 0) {
    throw Error(ErrorCode::conflict,
                fmt::format("{} change(s) are pending and {} failed: MLflow is expected to differ until they are sent",
                            counts.pending, counts.failed),
                "run `mlops mirror` first (and see `mlops mirror status` for failed ones)");
  }
  const mlflow::VerifyReport r = mlflow::verify(store, client, mlflow::drain_options(ctx.settings), opt.repair);
  const std::size_t left = r.differences.size() - static_cast<std::size_t>(r.repaired);
  if (ctx.json) {
    print_json({{"tracking_uri", client.tracking_uri()}, {"differences", r.differences}, {"repaired", r.repaired},
                {"in_sync", left == 0}});
  } else {
    for (const std::string& d : r.differences) print("  " + d + "\n");
    if (r.differences.empty()) {
      print(fmt::format("MLflow at {} matches the registry\n", client.tracking_uri()));
    } else if (opt.repair) {
      print(fmt::format("{} difference(s), {} repaired\n", r.differences.size(), r.repaired));
    } else {
      print(fmt::format("{} difference(s); `mlops mirror verify --repair` makes MLflow match the registry\n",
                        r.differences.size()));
    }
  }
  return left == 0 ? kExitOk : kExitFailure;
}

}  // namespace

Command add_mirror_command(CLI::App& root, Globals& globals) {
  auto opt = std::make_shared<MirrorOptions>();
  CLI::App* app = root.add_subcommand("mirror", "Send the registry's changes to MLflow (MLFLOW_TRACKING_URI)");
  app->footer(
      "Every registry change (runs, versions, stages, aliases, tags) waits in an outbox until MLflow has it.\n"
      "train --register, register and models promote|alias|rollback send it at once when MLflow answers;\n"
      "`mlops mirror` sends what is left, in order, and never creates a run or version twice.\n"
      "The registry is the source of truth: a version or model deleted in MLflow is made again, a deleted\n"
      "run or experiment restored (MLOPS_MIRROR_DELETED=skip records such changes as skipped instead).\n"
      "A model name another registry owns in MLflow is refused: set MLOPS_MLFLOW_MODEL_PREFIX, or --adopt it.\n"
      "Examples: mlops mirror            mlops mirror --watch\n"
      "          mlops mirror status     mlops mirror retry 42     mlops mirror skip 42 --reason 'deleted on purpose'\n"
      "          mlops mirror --adopt ChurnPredictionModel     mlops mirror verify --repair");
  app->require_subcommand(0, 1);
  app->add_flag("--watch", opt->watch, "Keep sending new changes until Ctrl-C (with --json: one JSON line per event)");
  app->add_option("--interval", opt->interval, "With --watch: seconds between checks")->capture_default_str()->check(CLI::Range(0.05, 3600.0));
  app->add_option("--adopt", opt->adopt,
                  "Share this MLflow model (NAME, before any prefix) with the registry that created it, then send")
      ->type_name("NAME");
  add_json_flag(app, globals);
  CLI::App* status_cmd = app->add_subcommand("status", "List pending and failed changes with their last error");
  add_json_flag(status_cmd, globals);
  CLI::App* retry_cmd = app->add_subcommand("retry", "Requeue failed changes (then send them)");
  retry_cmd->add_option("ID", opt->retry_ids, "Event ids from `mlops mirror status`");
  retry_cmd->add_flag("--all-failed", opt->retry_all, "Requeue every failed change");
  add_json_flag(retry_cmd, globals);
  CLI::App* skip_cmd = app->add_subcommand("skip", "Give up on pending or failed changes for good (recorded as skipped)");
  skip_cmd->add_option("ID", opt->skip_ids, "Event ids from `mlops mirror status`")->required();
  skip_cmd->add_option("--reason", opt->skip_reason, "Why: shown by `mlops mirror status`");
  add_json_flag(skip_cmd, globals);
  CLI::App* verify_cmd = app->add_subcommand("verify", "Compare MLflow with the registry: runs, versions, stages, aliases");
  verify_cmd->add_flag("--repair", opt->repair, "Make MLflow match: recreate deleted versions, set stages and aliases");
  add_json_flag(verify_cmd, globals);
  return {app, [=](Context& ctx) {
            if (status_cmd->parsed()) {
              return status(ctx, *registry::open_for_reading(ctx.settings.db_path()));
            }
            registry::RegistryStore store(ctx.settings.db_path());
            if (retry_cmd->parsed()) return retry(*opt, ctx, store);
            if (skip_cmd->parsed()) return skip(*opt, ctx, store);
            const std::string prefix = ctx.settings.get("MLOPS_MLFLOW_MODEL_PREFIX");
            for (const std::string& name : opt->adopt) store.set_mirror_id("adopted_model", prefix + name, "adopted");
            mlflow::Client client(required_connection(ctx.settings));
            if (verify_cmd->parsed()) {
              const auto lock = wait_for_lock(ctx, 60, nullptr);
              return verify(*opt, ctx, store, client);
            }
            if (opt->watch) return watch(*opt, ctx, store, client);
            const auto lock = wait_for_lock(ctx, 60, nullptr);
            return drain_once(ctx, store, client);
          }};
}

}  // namespace mlops::cli
