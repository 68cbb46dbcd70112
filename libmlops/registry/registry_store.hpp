// registry: SQLite store of experiments, runs, registered models, versions, stages, aliases,
// the audit log and the MLflow mirror outbox. Never touches the network.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libmlops/registry/rollout.hpp"

namespace mlops::sqlite { class Database; enum class Access; }

namespace mlops::registry {

enum class Stage { none, staging, production, archived };
std::string_view to_string(Stage stage);                // MLflow's spelling: "None", "Staging", ...
std::optional<Stage> parse_stage(std::string_view text);  // case-insensitive

struct Run {
  std::string id;
  std::string experiment;
  std::string name;
  std::string status;  // RUNNING, FINISHED, FAILED, KILLED
  std::int64_t start_time = 0;
  std::optional<std::int64_t> end_time;
  std::string artifact_path;
  std::string artifact_sha256;
  std::string user;
  std::map<std::string, std::string> params;
  std::map<std::string, double> metrics;
  std::map<std::string, std::string> tags;
};

struct NewRun {
  std::string experiment = "Default";
  std::string name;
  std::map<std::string, std::string> params;
  std::map<std::string, std::string> tags;
};

struct RunOutcome {
  std::string status = "FINISHED";
  std::map<std::string, std::string> params;  // added to those given at creation
  std::map<std::string, double> metrics;
  std::map<std::string, std::string> tags;
  std::string artifact_path;
  std::string artifact_sha256;
};

struct ModelVersion {
  std::string name;
  std::int64_t version = 0;
  std::string version_tag;
  std::string run_id;
  std::string source;  // the stored artifact's path
  std::string artifact_sha256;
  Stage stage = Stage::none;
  std::string description;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  std::vector<std::string> aliases;
  std::map<std::string, std::string> tags;
};

struct RegisteredModel {
  std::string name;
  std::string description;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  std::int64_t latest_version = 0;
  std::optional<std::int64_t> production_version;  // the newest version in Production
  std::map<std::string, std::int64_t> aliases;
};

struct NewVersion {
  std::string name;
  std::string run_id;
  std::string source;
  std::string artifact_sha256;
  std::string version_tag;
  std::string description;
  std::map<std::string, std::string> tags;
  std::string gate;  // the accuracy gate's result, recorded in the audit log ("" if none)
  // Also moved to this stage / given this alias, in the same transaction as the version.
  std::optional<Stage> stage;
  bool archive_existing = false;
  std::string alias;
};

// Who changes the registry and why: recorded in the audit log.
struct Change {
  std::string user;    // "" = the OS user
  std::string reason;  // optional, from --reason
};

struct AuditEntry {
  std::int64_t id = 0;
  std::string name;
  std::optional<std::int64_t> version;
  std::string action;  // register, refuse, stage, alias_set, alias_delete, rollback, tag,
                       // rollout_start, rollout_step, rollout_promoted, rollout_rolled_back, ...
  std::string from_value;
  std::string to_value;
  std::string gate;  // the accuracy gate's result; for rollout decisions, the analysis figures (JSON)
  std::string reason;
  std::string user;
  std::int64_t at = 0;
};

struct OutboxEvent {
  std::int64_t id = 0;
  std::string kind;
  std::string payload;  // JSON
  std::string status;   // pending, done, failed, skipped
  int attempts = 0;
  std::string last_error;
  std::int64_t created_at = 0;
};

struct OutboxCounts {
  std::int64_t pending = 0;
  std::int64_t failed = 0;
  std::int64_t done = 0;
  std::int64_t skipped = 0;
};

// One connection to the registry database. Every change is one transaction that also
// appends its audit row and its outbox event. Safe across processes (WAL, BEGIN IMMEDIATE,
// busy timeout); not thread-safe: one store per thread.
//
// Paths inside the database's folder (MLOPS_HOME) are stored relative to it and handed out
// absolute, so the folder can be moved or copied whole.
class RegistryStore {
 public:
  enum class Mode {
    // Creates and migrates the database; marks FAILED the RUNNING runs whose process has
    // died (removing their half-written temp files).
    read_write,
    // For commands that only look: never writes (works on a read-only mount). Throws
    // Error{not_found} when there is no registry yet.
    read_only,
  };
  // ":memory:" for tests. Throws Error{io} or Error{corrupt}.
  explicit RegistryStore(const std::string& path, Mode mode = Mode::read_write);
  ~RegistryStore();
  RegistryStore(const RegistryStore&) = delete;
  RegistryStore& operator=(const RegistryStore&) = delete;

  // Runs. create_run returns the new run (status RUNNING); finish_run sets its outcome.
  Run create_run(const NewRun& run);
  void finish_run(const std::string& run_id, const RunOutcome& outcome);
  std::optional<Run> find_run(const std::string& run_id);
  Run get_run(const std::string& run_id);  // Error{not_found}
  // Newest first; experiment "" = all.
  std::vector<Run> list_runs(const std::string& experiment = "", int limit = 100);

  // Creates the registered model on first use and the next version (1, 2, ...), with its
  // stage and alias when asked, in one transaction, atomic across processes.
  // Error{not_found} if run_id is set but unknown.
  ModelVersion register_version(const NewVersion& v, const Change& change = {});
  // Records a registration refused by the accuracy gate (no version is created).
  void record_refusal(const std::string& name, const std::string& gate, const Change& change = {});

  std::optional<ModelVersion> find_version(const std::string& name, std::int64_t version);
  ModelVersion get_version(const std::string& name, std::int64_t version);  // Error{not_found}
  std::vector<ModelVersion> list_versions(const std::string& name);  // Error{not_found}
  std::optional<RegisteredModel> find_model(const std::string& name);
  std::vector<RegisteredModel> list_models();
  // The newest version in a stage, or the version an alias points to.
  std::optional<ModelVersion> find_latest_in_stage(const std::string& name, Stage stage);
  std::optional<ModelVersion> find_by_alias(const std::string& name, const std::string& alias);

  // Moves a version to a stage. archive_existing archives the other versions in that stage
  // (MLflow's archive_existing_versions). Moving to Production also points the
  // `production` alias at the version.
  ModelVersion set_stage(const std::string& name, std::int64_t version, Stage stage,
                         bool archive_existing, const Change& change = {});
  void set_alias(const std::string& name, const std::string& alias, std::int64_t version,
                 const Change& change = {});
  void delete_alias(const std::string& name, const std::string& alias, const Change& change = {});
  // Moves Production (and the `production` alias) back to the version that was in
  // Production before the current one; the current one is archived. Error{not_found} when
  // there is no current or no earlier Production version. Returns the restored version.
  ModelVersion rollback(const std::string& name, const Change& change = {});
  void set_version_tag(const std::string& name, std::int64_t version, const std::string& key,
                       const std::string& value, const Change& change = {});

  // Progressive rollouts (registry/rollout.hpp; their bodies are in rollout_store.cpp).
  // start_rollout: from the version the `production` alias names (else the newest in
  // Production) to `candidate`, which gets the `candidate` alias. Error{conflict} while
  // another rollout of the model is active; Error{not_found} without a stable version.
  Rollout start_rollout(const std::string& name, std::int64_t candidate, const RolloutPlan& plan,
                        const Change& change = {});
  std::optional<Rollout> latest_rollout(const std::string& name);  // active or not
  std::vector<Rollout> list_rollouts(const std::string& name);      // newest first
  // The analysis passed `decision.step`: the next step begins, or after the last one the
  // candidate is promoted (Production, the `production` alias; the stable archived). When
  // the rollout is no longer running at that step (another replica decided first) nothing
  // changes. Returns the rollout as it is now.
  Rollout advance_rollout(const std::string& name, const RolloutDecision& decision, const Change& change = {});
  // Ends the active rollout: rolled_back (the analysis failed, an alert fired) or aborted
  // (by hand). The candidate's weight becomes 0, its `candidate` alias is removed;
  // Production and its alias were never moved. With decision.step set, only while the
  // rollout is still at that step (else unchanged, as advance_rollout).
  Rollout end_rollout(const std::string& name, RolloutState to, const RolloutDecision& decision,
                      bool any_step, const Change& change = {});
  // By hand: promote now (whatever the step), pause (weight kept, no decisions), resume.
  Rollout promote_rollout(const std::string& name, const Change& change = {});
  Rollout pause_rollout(const std::string& name, const Change& change = {});
  Rollout resume_rollout(const std::string& name, const Change& change = {});

  // The append-only audit of a model, oldest first.
  std::vector<AuditEntry> history(const std::string& name);

  // The mirror outbox, oldest first; status "" = all.
  std::vector<OutboxEvent> outbox(const std::string& status = "pending", int limit = 1000);
  OutboxCounts outbox_counts();
  // The mirror's bookkeeping. attempt_failed keeps the event pending (a transient error);
  // mark_failed parks it until retry_outbox requeues it (Error{not_found} unless it failed).
  void mark_outbox_done(std::int64_t id);
  void mark_outbox_attempt_failed(std::int64_t id, const std::string& error);
  void mark_outbox_failed(std::int64_t id, const std::string& error);
  void retry_outbox(std::int64_t id);
  // Gives up on a failed or pending event for good (status skipped, with the reason).
  void skip_outbox(std::int64_t id, const std::string& reason);
  // The MLflow name of a mirrored local object (kind: experiment, run, version, ...).
  std::optional<std::string> mirror_id(const std::string& kind, const std::string& local_id);
  void set_mirror_id(const std::string& kind, const std::string& local_id, const std::string& remote_id);
  void forget_mirror_id(const std::string& kind, const std::string& local_id);
  void forget_mirror_ids(const std::string& kind, const std::string& local_id_prefix);
  // A random id made when the registry was created; tags its objects in MLflow.
  std::string registry_id();

  // A path as stored (relative to the registry's folder) made absolute, and back.
  std::string absolute_path(const std::string& stored) const;
  std::string stored_path(const std::string& path) const;

  // RUNNING runs whose process is gone: marked FAILED (mirrored as such). Returns their ids.
  std::vector<std::string> fail_abandoned_runs();

 private:
  // The bodies of set_stage and set_alias, inside the caller's transaction.
  void set_stage_locked(const std::string& name, std::int64_t version, Stage stage, bool archive_existing,
                        const Change& change);
  void set_alias_locked(const std::string& name, const std::string& alias, std::int64_t version, const Change& change);
  Rollout active_rollout_locked(const std::string& name);  // Error{not_found} without one
  Rollout set_rollout_running(const std::string& name, bool running, const Change& change);  // pause, resume
  void finish_rollout_locked(const Rollout& r, RolloutState to, const RolloutDecision& decision, const Change& change);

  std::unique_ptr<sqlite::Database> db_;
  std::string home_;  // the database's folder with a trailing '/'; "" for :memory:
};

// For commands that only look: the registry opened read-only when it exists, else a new
// empty one (a fresh project reads as empty rather than failing).
std::unique_ptr<RegistryStore> open_for_reading(const std::string& path);

}  // namespace mlops::registry
