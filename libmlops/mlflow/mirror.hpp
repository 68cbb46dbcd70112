// mlflow: the mirror — sends the registry's outbox to MLflow in order, idempotently.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libmlops/mlflow/client.hpp"
#include "libmlops/registry/registry_store.hpp"

namespace mlops::config { class Settings; }

namespace mlops::mlflow {

// What happened to one event in a drain.
struct EventOutcome {
  std::int64_t id = 0;
  std::string kind;
  std::string result;  // done, failed (MLflow refused it for good), retry (transient), blocked, skipped
  std::string detail;  // the MLflow object it became, or the error
};

struct DrainReport {
  int done = 0;
  int skipped = 0;  // objects deleted in MLflow, left deleted (MLOPS_MIRROR_DELETED=skip)
  int failed = 0;   // newly failed in this drain
  int blocked = 0;  // waiting behind a failed event of the same model or run
  std::int64_t pending = 0;  // still pending afterwards (blocked and unsent)
  std::string stopped_by;    // the transient error that stopped the drain; "" when it ran through
  std::vector<EventOutcome> events;
};

// How the registry's objects are named in MLflow and what happens to ones deleted there.
struct DrainOptions {
  std::string model_prefix;      // MLOPS_MLFLOW_MODEL_PREFIX: local model M is PREFIX+M in MLflow
  bool recreate_deleted = true;  // MLOPS_MIRROR_DELETED: recreate (true) or skip
};
// From the settings; Error{invalid_input} for an MLOPS_MIRROR_DELETED other than recreate|skip.
DrainOptions drain_options(const config::Settings& settings);

// Sends every pending event, oldest first. A transient error (MLflow down, slow, 5xx, 429,
// refused credentials) stops the drain and leaves the rest pending for the next one. An
// event MLflow rejects for good is marked failed and blocks later events of the same model
// (or run) until `retry`; events of other models go on. Each event's MLflow id is recorded,
// and objects are looked up by their `mlops.origin` tag before they are created, so an event
// sent twice (a retry, a drain killed midway) never makes a second run or version.
//
// The registry is the source of truth: a version or model deleted in MLflow is made again
// from the local record (artifact, tags, current stage and aliases), a deleted run or
// experiment is restored — or, with recreate_deleted false, the event is marked skipped.
// A model name in MLflow that another registry owns (its `mlops.origin` tag) is refused
// unless adopted (`mirror_id("adopted_model", NAME)`).
DrainReport drain(registry::RegistryStore& store, Client& client, const DrainOptions& options,
                  const std::function<void(const EventOutcome&)>& on_event = {});

// What `mirror verify` found: each difference between the registry and MLflow, in words.
struct VerifyReport {
  std::vector<std::string> differences;
  int repaired = 0;  // how many of them repair fixed
};

// Compares every mirrored run (status, lifecycle), version (present, stage, sha256) and
// alias with MLflow. With `repair`, makes MLflow match the registry: versions deleted there
// made again, stages and aliases set (and aliases MLflow has beyond the registry's
// removed), runs restored and their status set. Meant after a drain has emptied the outbox.
VerifyReport verify(registry::RegistryStore& store, Client& client, const DrainOptions& options, bool repair);

// For `mirror status`: the failed event each pending event waits for, by pending id.
std::map<std::int64_t, std::int64_t> blocked_events(const std::vector<registry::OutboxEvent>& failed,
                                                    const std::vector<registry::OutboxEvent>& pending);

// One mirror at a time per registry: an exclusive lock on DB_PATH.mirror-lock, released when
// the holder exits, however it exits. nullptr when another process holds it.
class MirrorLock {
 public:
  static std::unique_ptr<MirrorLock> try_acquire(const std::string& db_path);
  ~MirrorLock();
  MirrorLock(const MirrorLock&) = delete;
  MirrorLock& operator=(const MirrorLock&) = delete;

 private:
  explicit MirrorLock(int fd) : fd_(fd) {}
  int fd_;
};

// The file written beside the model as `model/MLmodel`, so MLflow's UI shows a logged model.
std::string mlmodel_file(const std::string& run_id, const std::string& sha256, const std::string& model_version,
                         std::int64_t created_ms);

}  // namespace mlops::mlflow
