// crm: the batch sync (reverse ETL) — predict every customer's segment and write back the
// changed ones, with a run ledger for audit, resume and rollback.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libmlops/crm/crm_store.hpp"
#include "libmlops/crm/segment_policy.hpp"
#include "libmlops/model/artifact.hpp"

namespace mlops::sqlite { class Database; }

namespace mlops::crm {

// The segment for each customer of a batch (same order); "" for a customer that cannot be
// decided (counted as failed, left untouched).
using Decider = std::function<std::vector<std::string>(const std::vector<Customer>&)>;
// Predicts with `model` and maps with `policy`; "" for a customer whose feature count
// differs from the model's.
Decider model_decider(std::shared_ptr<const model::ModelArtifact> model, SegmentPolicy policy);

// Opens a connection to the CRM: the sync reads pages on one while it writes on another.
using CrmOpener = std::function<std::unique_ptr<CrmStore>()>;

// Whether a customer id falls in shard i of n: a stable hash of the id, so shards are
// disjoint and together complete.
bool in_shard(const std::string& customer_id, int index, int count);

struct SyncRun {
  std::string id;
  std::string crm_url, model_uri, model_version, shard;
  std::string status;  // RUNNING, FINISHED, FAILED, ROLLED_BACK, ROLLBACK_CONFLICTS
  bool dry_run = false;
  std::int64_t started_at = 0, ended_at = 0;
  std::string checkpoint;  // the last customer id whose batch is written
  std::int64_t read = 0, changed = 0, unchanged = 0, failed = 0;
};

// The local record of sync runs (MLOPS_HOME/crm_sync.db): one row per run, its checkpoint,
// and every change it made (for rollback). Safe across processes.
class SyncLedger {
 public:
  explicit SyncLedger(const std::string& path);
  ~SyncLedger();
  SyncRun create(const SyncRun& run);
  // Records the changes a batch is about to write (before the CRM sees them, so that a
  // killed run can still be rolled back) together with the progress confirmed so far.
  void checkpoint(const SyncRun& run, const std::vector<SegmentChange>& planned);
  // The planned new segment of each customer after `after` (a resumed run's unconfirmed tail).
  std::map<std::string, std::string> planned_after(const std::string& run_id, const std::string& after);
  void finish(const std::string& run_id, const std::string& status);
  std::optional<SyncRun> find(const std::string& run_id);
  std::vector<SegmentChange> changes(const std::string& run_id);
  std::vector<SyncRun> list(int limit = 20);

 private:
  std::unique_ptr<sqlite::Database> db_;
};

struct SyncOptions {
  int batch_size = 1000;
  bool dry_run = false;
  std::int64_t limit = 0;        // at most this many customers read (0 = all)
  std::string where_segment;     // only customers currently in this segment
  int shard_index = 0, shard_count = 1;
  std::string resume_run_id;     // continue this run from its checkpoint
  std::string crm_url, model_uri, model_version;
  std::function<void(const SyncRun&)> progress;  // after each batch
};

struct SyncReport {
  SyncRun run;
  std::map<std::string, std::int64_t> moves;  // "Unassigned -> Churn_Risk_AI": count
  double seconds = 0;
  // Rollback: customers left alone because their segment changed after the run (id, segment now).
  std::vector<std::pair<std::string, std::string>> conflicts;
};

// Pages through the CRM in id order and decides each batch on one thread while another
// writes the previous batch's changed segments (one write per batch) — a two-stage
// pipeline. The ledger records each batch's planned changes before it is written and the
// progress confirmed after, so a killed run resumes with resume_run_id and writes no
// customer twice. Error{not_found} for an unknown resume id.
SyncReport run_sync(const CrmOpener& open_crm, SyncLedger& ledger, const Decider& decide, const SyncOptions& options);

// Restores the previous segment and model-version stamp of every customer a run changed,
// where the segment is still what the run wrote (compare-and-set in the same write); the
// others are reported as conflicts and left alone, unless `force` overwrites them. Marks
// the run ROLLED_BACK, or ROLLBACK_CONFLICTS when some were left alone (it can be rolled back
// again, e.g. with force).
SyncReport rollback_sync(CrmStore& crm, SyncLedger& ledger, const std::string& run_id, bool force = false);

}  // namespace mlops::crm
