#include "libmlops/mlflow/mirror.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

#include "libmlops/config/settings.hpp"
#include "libmlops/core/clock.hpp"
#include "libmlops/core/fs.hpp"
#include "libmlops/mlflow/rollout_record.hpp"
#include "libmlops/model/artifact.hpp"

namespace mlops::mlflow {
namespace {

using nlohmann::json;

// Every object the mirror creates carries this tag, so it can be found again.
const std::string kOriginTag = "mlops.origin";

Tags string_map(const json& j) {
  Tags out;
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) out[key] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  return out;
}

// The models and runs an event touches: a failed event blocks later events that share one.
std::vector<std::string> subjects_of(const registry::OutboxEvent& e) {
  const json p = json::parse(e.payload, nullptr, false);
  if (p.is_discarded()) return {};
  std::vector<std::string> out;
  if (p.contains("experiment") && p["experiment"].is_string()) out.push_back("experiment:" + p["experiment"].get<std::string>());
  if (e.kind == "experiment_created") out.push_back("experiment:" + p.value("name", ""));
  if (p.contains("run_id") && p["run_id"].is_string() && !p["run_id"].get<std::string>().empty()) {
    out.push_back("run:" + p["run_id"].get<std::string>());
  }
  if (e.kind != "experiment_created" && p.contains("name") && p["name"].is_string()) {
    out.push_back("model:" + p["name"].get<std::string>());
  }
  return out;
}

// The event's object was deleted in MLflow and the registry is told to leave it deleted.
struct DeletedInMlflow {
  std::string what;
};

bool is_deleted(const MlflowError& e) { return e.error_code() == "RESOURCE_DOES_NOT_EXIST"; }

// runs/create in a deleted experiment, log-batch on a deleted run: 400 "... must be in the
// 'active' state. Current state is deleted."
bool is_inactive(const MlflowError& e) {
  return e.error_code() == "INVALID_PARAMETER_VALUE" && std::string_view(e.what()).find("'active' state") != std::string_view::npos;
}

// A failure of this event's own request, as opposed to MLflow (or the way to it) failing.
bool is_permanent(const Error& e) {
  if (const auto* m = dynamic_cast<const MlflowError*>(&e)) return m->permanent();
  return e.code() != ErrorCode::unavailable && e.code() != ErrorCode::timeout && e.code() != ErrorCode::corrupt;
}

class Mirror {
 public:
  Mirror(registry::RegistryStore& store, Client& client, const DrainOptions& options)
      : store_(store), client_(client), options_(options), registry_id_(store.registry_id()) {}

  // Sends one event; returns what it became in MLflow. Throws on failure.
  std::string send(const registry::OutboxEvent& e) {
    const json p = json::parse(e.payload);
    if (e.kind == "experiment_created") return "experiment " + experiment_id(p.at("name"));
    if (e.kind == "run_created") return "run " + create_run(p);
    if (e.kind == "run_finished") return "run " + finish_run(p);
    if (e.kind == "registered_model_created") {
      claim_model(p.at("name"));
      return "registered model " + remote_name(p.at("name"));
    }
    if (e.kind == "model_version_created") return create_version(p);
    const std::string name = remote_name(p.at("name"));
    if (e.kind == "rollout_changed") return send_rollout(p.at("name"), name);
    if (e.kind == "stage_transitioned") {
      const std::string stage = p.at("stage");
      // MLflow answers 500 to archive_existing_versions with a stage that is not active.
      const bool archive = p.value("archive_existing_versions", false) && (stage == "Staging" || stage == "Production");
      return on_version(p, [&](const std::string& version) {
        client_.transition_stage(name, version, stage, archive);
        return fmt::format("{} version {} -> {}", name, version, stage);
      });
    }
    if (e.kind == "alias_set") {
      return on_version(p, [&](const std::string& version) {
        client_.set_alias(name, p.at("alias"), version);
        return fmt::format("{}@{} -> version {}", name, p.at("alias").get<std::string>(), version);
      });
    }
    if (e.kind == "alias_deleted") {
      try {
        client_.delete_alias(name, p.at("alias"));
      } catch (const MlflowError& error) {
        if (!is_deleted(error)) throw;  // the whole model is gone from MLflow: so is the alias
      }
      return fmt::format("{}@{} deleted", name, p.at("alias").get<std::string>());
    }
    if (e.kind == "version_tag_set") {
      return on_version(p, [&](const std::string& version) {
        client_.set_version_tag(name, version, p.at("key"), p.at("value"));
        return fmt::format("{} version {} tag {}", name, version, p.at("key").get<std::string>());
      });
    }
    throw Error(ErrorCode::invalid_input, fmt::format("unknown outbox event kind '{}'", e.kind),
                "this registry was written by a newer mlops; upgrade mlops to mirror it");
  }

  // Compares every mirrored run, version, stage and alias with MLflow; with `repair`, makes
  // MLflow match (versions made again, stages and aliases set, runs restored and finished).
  void verify(VerifyReport& report, bool repair) {
    const auto differ = [&](std::string what, bool repaired) {
      report.differences.push_back(std::move(what));
      if (repaired) ++report.repaired;
    };
    for (const registry::Run& run : store_.list_runs("", 1'000'000)) {
      const auto id = store_.mirror_id("run", run.id);
      if (!id) {
        differ(fmt::format("run {} is not in MLflow", run.id), false);
        continue;
      }
      const RunInfo remote = client_.get_run(*id);
      if (remote.lifecycle_stage == "deleted") {
        if (repair) {
          reactivate_experiment(remote.experiment_id, "its run " + *id);
          if (client_.get_run(*id).lifecycle_stage == "deleted") client_.restore_run(*id);
        }
        differ(fmt::format("run {} (MLflow {}) is deleted in MLflow", run.id, *id), repair);
      }
      if (remote.status != run.status) {
        if (repair && run.end_time) client_.update_run(*id, run.status, *run.end_time);
        differ(fmt::format("run {} is {} here but {} in MLflow", run.id, run.status, remote.status), repair && run.end_time);
      }
    }
    for (const registry::RegisteredModel& model : store_.list_models()) {
      const std::string name = remote_name(model.name);
      if (const std::string ahead = replica_decision(model.name, name); !ahead.empty()) {
        differ(ahead, false);  // repairing would undo what a replica decided
        continue;
      }
      std::map<std::int64_t, std::string> numbers;  // local version -> MLflow's
      for (const registry::ModelVersion& local : store_.list_versions(model.name)) {
        const std::string key = version_key(model.name, local.version);
        const std::string origin = fmt::format("{}/version/{}/{}", registry_id_, model.name, local.version);
        const auto recorded = store_.mirror_id("version", key);
        std::optional<ModelVersion> remote;
        if (recorded) {
          try {
            remote = client_.get_version(name, *recorded);
          } catch (const MlflowError& e) {
            if (!is_deleted(e)) throw;
          }
          // The recorded number may name another version now (the model was made again).
          if (remote && (!remote->tags.count(kOriginTag) || remote->tags.at(kOriginTag) != origin)) remote.reset();
        }
        if (!remote) remote = client_.find_version_by_tag(name, kOriginTag, origin);
        if (remote && remote->version != recorded.value_or("")) {
          if (repair) store_.set_mirror_id("version", key, remote->version);
          differ(fmt::format("{} version {} is MLflow's {} version {}, recorded as {}", model.name, local.version, name,
                             remote->version, recorded.value_or("nothing")),
                 repair);
        }
        if (!remote) {
          std::string made;
          if (repair) made = recreate_version(model.name, local.version);
          differ(fmt::format("{} version {} is not in MLflow{}", model.name, local.version,
                             made.empty() ? "" : ", made again as version " + made),
                 repair);
          numbers[local.version] = made;
          continue;
        }
        const std::string id = remote->version;
        numbers[local.version] = id;
        const std::string stage(registry::to_string(local.stage));
        if (remote->current_stage != stage) {
          if (repair) client_.transition_stage(name, id, stage, false);
          differ(fmt::format("{} version {} is {} here but {} in MLflow", model.name, local.version, stage,
                             remote->current_stage),
                 repair);
        }
        const auto sha = remote->tags.find("mlops.sha256");
        if (sha == remote->tags.end() || sha->second != local.artifact_sha256) {
          differ(fmt::format("MLflow's {} version {} does not carry {} version {}'s sha256", name, id, model.name,
                             local.version),
                 false);
        }
      }
      RegisteredModel remote_model;
      try {
        remote_model = client_.get_registered_model(name);
      } catch (const MlflowError& e) {
        if (!is_deleted(e)) throw;
        differ(fmt::format("registered model {} is not in MLflow", name), false);
        continue;
      }
      for (const auto& [alias, version] : model.aliases) {
        const std::string want = numbers.count(version) ? numbers[version] : "";
        const auto got = remote_model.aliases.find(alias);
        if (want.empty() || (got != remote_model.aliases.end() && got->second == want)) continue;
        if (repair) client_.set_alias(name, alias, want);
        differ(fmt::format("{}@{} is version {} here (MLflow {}) but {} in MLflow", model.name, alias, version, want,
                           got == remote_model.aliases.end() ? "missing" : "version " + got->second),
               repair);
      }
      for (const auto& [alias, version] : remote_model.aliases) {
        if (model.aliases.count(alias)) continue;
        if (repair) client_.delete_alias(name, alias);
        differ(fmt::format("{}@{} exists in MLflow (version {}) but not here", name, alias, version), repair);
      }
    }
  }

 private:
  std::string remote_name(const std::string& local) const { return options_.model_prefix + local; }
  // The key of a version's MLflow number: its MLflow model name and local version.
  std::string version_key(const std::string& local_name, std::int64_t version) const {
    return fmt::format("{}/{}", remote_name(local_name), version);
  }
  std::string version_key(const json& p) const { return version_key(p.at("name"), p.at("version").get<std::int64_t>()); }

  // What a replica serving from MLflow decided about the model's active rollout that the
  // registry does not know yet; "" when nothing (or MLflow's record is unreadable or absent).
  std::string replica_decision(const std::string& local_name, const std::string& name) {
    const auto local = store_.latest_rollout(local_name);
    if (!local || !registry::is_active(local->state)) return "";
    std::optional<RolloutRecord> there;
    try {
      there = read_rollout_record(client_, name);
    } catch (const Error&) {
      return "";
    }
    if (!there || !record_is_ahead(*there, *local, registry_id_)) return "";
    return fmt::format("{}'s rollout {} is {} at {} in MLflow (a replica decided); `mlops rollout status {}` takes it "
                       "into the registry",
                       local_name, local->id, to_string(there->rollout.state),
                       registry::share_text(there->rollout.plan.steps[there->rollout.step]), local_name);
  }

  // The registry's rollout of the model as it is now (not as it was when the event was
  // written) — unless a replica serving from MLflow has taken it further, or it is there
  // already: a replica's decision is never undone, nor its step clock restarted.
  std::string send_rollout(const std::string& local_name, const std::string& name) {
    const auto local = store_.latest_rollout(local_name);
    if (!local) return fmt::format("{} has no rollout", local_name);
    RolloutRecord record{*local, registry_id_};
    record.rollout.name = name;
    for (std::int64_t* version : {&record.rollout.stable_version, &record.rollout.candidate_version}) {
      const auto number = store_.mirror_id("version", version_key(local_name, *version));
      if (!number) {
        throw Error(ErrorCode::not_found, fmt::format("{} version {} is not in MLflow", local_name, *version),
                    "its model_version_created event was skipped; skip this one too (`mlops mirror skip ID`)");
      }
      *version = std::stoll(*number);
    }
    std::optional<RolloutRecord> there;
    try {
      there = read_rollout_record(client_, name);
    } catch (const MlflowError&) {
      throw;
    } catch (const Error&) {
      // An unreadable record is replaced by the registry's.
    }
    if (there && there->origin == registry_id_ && there->rollout.id == local->id) {
      const registry::Rollout& r = there->rollout;
      if (!registry::is_active(r.state) || (r.step > local->step && r.state == local->state)) {
        return fmt::format("{} rollout {}: MLflow has it {} at {} already (a replica decided)", name, local->id,
                           to_string(r.state), registry::share_text(r.plan.steps[r.step]));
      }
      if (r.step > local->step) {
        // Paused or resumed in the registry a step behind the replicas: that state, at their
        // step (the registry takes the step once the rollout runs again).
        RolloutRecord merged = *there;
        merged.rollout.state = local->state;
        merged.rollout.reason = local->reason;
        merged.rollout.updated_at = local->updated_at;
        if (local->state == registry::RolloutState::running) merged.rollout.step_started_at = local->step_started_at;
        client_.set_registered_model_tag(name, std::string(kRolloutTag), rollout_record_text(merged));
        return fmt::format("{} rollout {} -> {} at {} (MLflow's step)", name, local->id, to_string(local->state),
                           registry::share_text(r.plan.steps[r.step]));
      }
      if (r.step == local->step && r.state == local->state && r.step_started_at == local->step_started_at) {
        return fmt::format("{} rollout {}: MLflow has it already", name, local->id);
      }
    }
    client_.set_registered_model_tag(name, std::string(kRolloutTag), rollout_record_text(record));
    return fmt::format("{} rollout {} -> {} at {}", name, local->id, to_string(local->state),
                       registry::share_text(local->plan.steps[local->step]));
  }

  std::string experiment_id(const std::string& name) {
    if (auto id = store_.mirror_id("experiment", name)) return *id;
    const std::string id = client_.ensure_experiment(name);
    store_.set_mirror_id("experiment", name, id);
    return id;
  }

  // A deleted experiment is restored (its runs come back with it), unless the registry is
  // told to leave deleted objects alone.
  void reactivate_experiment(const std::string& id, const std::string& why) {
    if (client_.experiment_lifecycle(id) != "deleted") return;
    if (!options_.recreate_deleted) throw DeletedInMlflow{fmt::format("MLflow experiment {} was deleted ({})", id, why)};
    client_.restore_experiment(id);
  }

  std::string create_run(const json& p) {
    const std::string local = p.at("run_id");
    if (auto id = store_.mirror_id("run", local)) return *id;
    std::string experiment = experiment_id(p.at("experiment"));
    const std::string origin = fmt::format("{}/run/{}", registry_id_, local);
    std::optional<RunInfo> run = client_.find_run_by_tag(experiment, kOriginTag, origin);
    if (run && run->lifecycle_stage == "deleted") {
      reactivate_experiment(experiment, "its run " + run->run_id);
      if (client_.get_run(run->run_id).lifecycle_stage == "deleted") {
        if (!options_.recreate_deleted) throw DeletedInMlflow{fmt::format("MLflow run {} was deleted", run->run_id)};
        client_.restore_run(run->run_id);
      }
    }
    if (!run) {
      Tags tags = string_map(p.value("tags", json::object()));
      tags["mlflow.user"] = p.value("user", "");
      tags["mlflow.source.name"] = "mlops";
      tags["mlflow.source.type"] = "LOCAL";
      tags["mlops.run_id"] = local;
      tags[kOriginTag] = origin;
      const auto create = [&] {
        return client_.create_run(experiment, p.value("run_name", ""), p.at("start_time").get<std::int64_t>(), tags);
      };
      try {
        run = create();
      } catch (const MlflowError& e) {
        if (is_inactive(e)) {
          reactivate_experiment(experiment, "a run was to be created in it");
        } else if (is_deleted(e)) {  // the experiment was deleted for good (mlflow gc): make it again
          if (!options_.recreate_deleted) throw DeletedInMlflow{fmt::format("MLflow experiment {} is gone", experiment)};
          store_.forget_mirror_id("experiment", p.at("experiment"));
          experiment = experiment_id(p.at("experiment"));
        } else {
          throw;
        }
        run = create();
      }
    }
    client_.log_batch(run->run_id, string_map(p.value("params", json::object())), {}, {});
    store_.set_mirror_id("run", local, run->run_id);
    store_.set_mirror_id("run_artifact_uri", local, run->artifact_uri);
    return run->run_id;
  }

  // The MLflow run of a local run created before; its create event came first.
  std::pair<std::string, std::string> remote_run(const std::string& local) {
    auto id = store_.mirror_id("run", local);
    auto uri = store_.mirror_id("run_artifact_uri", local);
    if (!id || !uri) {
      // Events of a run go in order, so its run_created event was skipped.
      if (!options_.recreate_deleted) throw DeletedInMlflow{fmt::format("run {} was never sent to MLflow", local)};
      throw Error(ErrorCode::not_found, fmt::format("run {} is not in MLflow", local),
                  "its run_created event was skipped; skip this event too (`mlops mirror skip ID`)");
    }
    return {*id, *uri};
  }

  std::string finish_run(const json& p) {
    const auto [run_id, artifact_uri] = remote_run(p.at("run_id"));
    try {
      finish_remote_run(p, run_id, artifact_uri);
    } catch (const MlflowError& e) {
      if (!is_inactive(e)) throw;
      // Deleted in MLflow (the run, or its experiment with it): restore, then finish it.
      const RunInfo info = client_.get_run(run_id);
      reactivate_experiment(info.experiment_id, "its run " + run_id);
      if (client_.get_run(run_id).lifecycle_stage == "deleted") {
        if (!options_.recreate_deleted) throw DeletedInMlflow{fmt::format("MLflow run {} was deleted", run_id)};
        client_.restore_run(run_id);
      }
      finish_remote_run(p, run_id, artifact_uri);
    }
    return run_id;
  }

  void finish_remote_run(const json& p, const std::string& run_id, const std::string& artifact_uri) {
    const std::int64_t end_time = p.at("end_time");
    std::vector<Metric> metrics;
    const json local_metrics = p.value("metrics", json::object());
    for (const auto& [key, value] : local_metrics.items()) {
      if (value.is_number() && std::isfinite(value.get<double>())) metrics.push_back({key, value.get<double>(), end_time, 0});
    }
    client_.log_batch(run_id, string_map(p.value("params", json::object())), metrics,
                      string_map(p.value("tags", json::object())));
    const std::string artifact = store_.absolute_path(p.value("artifact_path", ""));
    if (!artifact.empty()) {
      const std::string text = read_file(artifact);  // Error{not_found} when it was deleted: permanent
      const json model = json::parse(text, nullptr, false);
      const std::string version_tag = model.is_object() ? model.value("model_version", "") : "";
      client_.upload_artifact(artifact_uri, "model/model.json", text);
      client_.upload_artifact(artifact_uri, "model/MLmodel",
                              mlmodel_file(run_id, p.value("artifact_sha256", ""), version_tag, end_time));
    }
    client_.update_run(run_id, p.value("status", "FINISHED"), end_time);
  }

  // Makes sure the MLflow model is this registry's to write: created by it, adopted with
  // `mlops mirror --adopt`, or a model nobody has put versions in yet.
  void claim_model(const std::string& local) {
    const std::string name = remote_name(local);
    if (client_.ensure_registered_model(name, "", {{kOriginTag, registry_id_}})) {
      // A new model, or one deleted and made again: MLflow numbers its versions from 1 again,
      // so the numbers recorded for the old one would name the wrong versions.
      store_.forget_mirror_ids("version", name + "/");
      return;
    }
    const Tags tags = client_.get_registered_model(name).tags;
    const auto owner = tags.find(kOriginTag);
    if (owner != tags.end() && owner->second == registry_id_) return;
    if (store_.mirror_id("adopted_model", name)) return;
    if (owner == tags.end() && !client_.find_any_version(name)) {
      client_.set_registered_model_tag(name, kOriginTag, registry_id_);
      return;
    }
    throw Error(ErrorCode::conflict,
                fmt::format("MLflow model '{}' belongs to another registry ({}); this registry is {}", name,
                            owner == tags.end() ? "created outside mlops" : "mlops registry " + owner->second,
                            registry_id_),
                fmt::format("mirror under another name with MLOPS_MLFLOW_MODEL_PREFIX (e.g. {}-), or share the model "
                            "on purpose with `mlops mirror --adopt {}`; then `mlops mirror retry --all-failed`",
                            current_user(), local));
  }

  std::string create_version(const json& p) {
    const std::string name = remote_name(p.at("name"));
    const std::string key = version_key(p);
    if (auto v = store_.mirror_id("version", key)) return fmt::format("{} version {}", name, *v);
    const std::string local_run = p.value("run_id", "");
    if (local_run.empty()) {
      throw Error(ErrorCode::invalid_input, fmt::format("{} has no run, so its artifact has no place in MLflow", key),
                  "register models through `mlops train --register` or `mlops register`, which record a run");
    }
    const auto [run_id, artifact_uri] = remote_run(local_run);
    claim_model(p.at("name"));
    const std::string origin = fmt::format("{}/version/{}/{}", registry_id_, p.at("name").get<std::string>(),
                                           p.at("version").get<std::int64_t>());
    std::optional<ModelVersion> v = client_.find_version_by_tag(name, kOriginTag, origin);
    if (!v) {
      Tags tags = string_map(p.value("tags", json::object()));
      tags["model_version"] = p.value("version_tag", "");
      tags["mlops.sha256"] = p.value("artifact_sha256", "");
      tags["mlops.version"] = std::to_string(p.at("version").get<std::int64_t>());
      tags["mlops.registry"] = registry_id_;
      tags[kOriginTag] = origin;
      v = client_.create_model_version(name, artifact_uri + "/model", run_id, p.value("description", ""), tags);
    }
    store_.set_mirror_id("version", key, v->version);
    return fmt::format("{} version {}", name, v->version);
  }

  // Runs `apply` on the MLflow version of the event's local version. When MLflow has lost
  // it (deleted in the UI, or the whole model), the version is made again from the local
  // registry, with its current stage and aliases, and `apply` runs on the new one.
  std::string on_version(const json& p, const std::function<std::string(const std::string&)>& apply) {
    const std::string key = version_key(p);
    // No number on record: its model was deleted in MLflow and made again since (events of a
    // model go in order, so its create event was sent before this one).
    const auto known = store_.mirror_id("version", key);
    if (known) {
      try {
        return apply(*known);
      } catch (const MlflowError& e) {
        if (!is_deleted(e)) throw;
      }
    }
    const std::string gone = known ? "version " + *known : "its model";
    if (!options_.recreate_deleted) {
      throw DeletedInMlflow{fmt::format("{} of {} was deleted in MLflow", gone, remote_name(p.at("name")))};
    }
    const std::string version = recreate_version(p.at("name"), p.at("version"));
    return apply(version) + fmt::format(" (made again: {} was deleted in MLflow)", gone);
  }

  std::string recreate_version(const std::string& local_name, std::int64_t local_version) {
    const registry::ModelVersion local = store_.get_version(local_name, local_version);
    const json p = {{"name", local_name},       {"version", local_version},
                    {"run_id", local.run_id},   {"artifact_sha256", local.artifact_sha256},
                    {"version_tag", local.version_tag}, {"description", local.description},
                    {"tags", local.tags}};
    const std::string key = version_key(local_name, local_version);
    store_.forget_mirror_id("version", key);
    create_version(p);
    const std::string version = *store_.mirror_id("version", key);
    const std::string name = remote_name(local_name);
    if (local.stage != registry::Stage::none) {
      client_.transition_stage(name, version, std::string(registry::to_string(local.stage)), false);
    }
    for (const std::string& alias : local.aliases) client_.set_alias(name, alias, version);
    return version;
  }

  registry::RegistryStore& store_;
  Client& client_;
  DrainOptions options_;
  std::string registry_id_;
};

}  // namespace

VerifyReport verify(registry::RegistryStore& store, Client& client, const DrainOptions& options, bool repair) {
  VerifyReport report;
  Mirror(store, client, options).verify(report, repair);
  return report;
}

namespace {

// Which failed event holds back which models and runs: a pending event waits when it
// touches a subject of a failed event (or of an event already waiting for one).
class Blocker {
 public:
  explicit Blocker(const std::vector<registry::OutboxEvent>& failed) {
    for (const auto& e : failed) block(subjects_of(e), e.id);
  }
  std::optional<std::int64_t> waits_for(const std::vector<std::string>& subjects) const {
    for (const std::string& s : subjects) {
      if (auto it = blocked_.find(s); it != blocked_.end()) return it->second;
    }
    return std::nullopt;
  }
  void block(const std::vector<std::string>& subjects, std::int64_t failed_id) {
    for (const std::string& s : subjects) blocked_.emplace(s, failed_id);
  }

 private:
  std::map<std::string, std::int64_t> blocked_;  // subject -> the failed event it waits for
};

}  // namespace

std::map<std::int64_t, std::int64_t> blocked_events(const std::vector<registry::OutboxEvent>& failed,
                                                    const std::vector<registry::OutboxEvent>& pending) {
  Blocker blocker(failed);
  std::map<std::int64_t, std::int64_t> out;
  for (const auto& e : pending) {
    const std::vector<std::string> subjects = subjects_of(e);
    if (auto id = blocker.waits_for(subjects)) {
      out[e.id] = *id;
      blocker.block(subjects, *id);
    }
  }
  return out;
}

DrainOptions drain_options(const config::Settings& settings) {
  DrainOptions options;
  options.model_prefix = settings.get("MLOPS_MLFLOW_MODEL_PREFIX");
  const std::string deleted = settings.get("MLOPS_MIRROR_DELETED");
  if (deleted != "recreate" && deleted != "skip") {
    throw Error(ErrorCode::invalid_input, fmt::format("MLOPS_MIRROR_DELETED='{}' is neither recreate nor skip", deleted),
                "set MLOPS_MIRROR_DELETED=recreate (MLflow gets deleted objects back) or skip");
  }
  options.recreate_deleted = deleted == "recreate";
  return options;
}

DrainReport drain(registry::RegistryStore& store, Client& client, const DrainOptions& options,
                  const std::function<void(const EventOutcome&)>& on_event) {
  DrainReport report;
  Mirror mirror(store, client, options);
  Blocker blocker(store.outbox("failed", 1'000'000));
  const auto publish = [&](EventOutcome outcome) {
    if (on_event) on_event(outcome);
    report.events.push_back(std::move(outcome));
  };
  const auto fail = [&](const registry::OutboxEvent& e, const std::vector<std::string>& subjects, const std::string& what) {
    store.mark_outbox_failed(e.id, what);
    blocker.block(subjects, e.id);
    ++report.failed;
    publish({e.id, e.kind, "failed", what});
  };
  for (const registry::OutboxEvent& e : store.outbox("pending", 1'000'000)) {
    const std::vector<std::string> subjects = subjects_of(e);
    if (auto waits_for = blocker.waits_for(subjects)) {
      blocker.block(subjects, *waits_for);
      ++report.blocked;
      publish({e.id, e.kind, "blocked", fmt::format("waits for failed event {}", *waits_for)});
      continue;
    }
    try {
      const std::string detail = mirror.send(e);
      store.mark_outbox_done(e.id);
      ++report.done;
      publish({e.id, e.kind, "done", detail});
    } catch (const DeletedInMlflow& deleted) {
      const std::string why = deleted.what + "; skipped (MLOPS_MIRROR_DELETED=skip)";
      store.skip_outbox(e.id, why);
      ++report.skipped;
      publish({e.id, e.kind, "skipped", why});
    } catch (const Error& error) {
      if (is_permanent(error)) {
        // The remedy goes with it: `mirror status` is where people read this.
        const std::string hint = error.hint();
        fail(e, subjects, hint.empty() ? error.what() : fmt::format("{}; {}", error.what(), hint));
        continue;
      }
      store.mark_outbox_attempt_failed(e.id, error.what());
      report.stopped_by = error.what();
      publish({e.id, e.kind, "retry", error.what()});
      break;  // order matters: nothing after it may overtake it
    } catch (const std::exception& error) {  // a malformed payload: a bug or a hand-edited database
      fail(e, subjects, fmt::format("cannot read the event: {}", error.what()));
    }
  }
  report.pending = store.outbox_counts().pending;
  return report;
}

std::unique_ptr<MirrorLock> MirrorLock::try_acquire(const std::string& db_path) {
  const std::string path = db_path + ".mirror-lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(ErrorCode::io, fmt::format("cannot open {}", path), "check that MLOPS_HOME is writable");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<MirrorLock>(new MirrorLock(fd));
}

MirrorLock::~MirrorLock() { ::close(fd_); }

std::string mlmodel_file(const std::string& run_id, const std::string& sha256, const std::string& model_version,
                         std::int64_t created_ms) {
  const std::time_t seconds = static_cast<std::time_t>(created_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &utc);
  return fmt::format(
      "artifact_path: model\n"
      "flavors:\n"
      "  mlops:\n"
      "    data: model.json\n"
      "    format: {}\n"
      "    model_version: '{}'\n"
      "    sha256: {}\n"
      "    loader: mlops serve --model-uri mlflow:models:/NAME/VERSION\n"
      "run_id: {}\n"
      "utc_time_created: '{}.{:03}000'\n",
      model::kArtifactFormat, model_version, sha256, run_id, when, created_ms % 1000);
}

}  // namespace mlops::mlflow
