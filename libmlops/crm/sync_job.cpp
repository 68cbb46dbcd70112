#include "libmlops/crm/sync_job.hpp"

#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/log.hpp"
#include "libmlops/sqlite/database.hpp"

namespace mlops::crm {
namespace {

using sqlite::Statement;

// Version 2: changes are keyed by the run's sequence number, so a new run appends to the
// end of the table instead of inserting among millions of earlier rows. Version 3: each
// change keeps the model-version stamp it replaced, which a rollback puts back.
constexpr int kLedgerVersion = 3;
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sync_runs (
  seq            INTEGER PRIMARY KEY,
  id             TEXT NOT NULL UNIQUE,
  crm_url        TEXT NOT NULL,
  model_uri      TEXT NOT NULL,
  model_version  TEXT NOT NULL,
  shard          TEXT NOT NULL,
  status         TEXT NOT NULL,
  dry_run        INTEGER NOT NULL,
  started_at     INTEGER NOT NULL,
  ended_at       INTEGER NOT NULL DEFAULT 0,
  checkpoint     TEXT NOT NULL DEFAULT '',
  read           INTEGER NOT NULL DEFAULT 0,
  changed        INTEGER NOT NULL DEFAULT 0,
  unchanged      INTEGER NOT NULL DEFAULT 0,
  failed         INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sync_changes (
  run_seq      INTEGER NOT NULL,
  customer_id  TEXT NOT NULL,
  old_segment  TEXT NOT NULL,
  new_segment  TEXT NOT NULL,
  at           INTEGER NOT NULL,
  old_model_version TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (run_seq, customer_id)
) WITHOUT ROWID;
)sql";
constexpr std::string_view kMigrateFrom2 = "ALTER TABLE sync_changes ADD COLUMN old_model_version TEXT NOT NULL DEFAULT ''";

// From version 1 (run ids as the changes' key), keeping every run and change.
constexpr std::string_view kMigrateFrom1 = R"sql(
ALTER TABLE sync_runs RENAME TO sync_runs_v1;
ALTER TABLE sync_changes RENAME TO sync_changes_v1;
)sql";
constexpr std::string_view kCopyFrom1 = R"sql(
INSERT INTO sync_runs(id, crm_url, model_uri, model_version, shard, status, dry_run, started_at, ended_at, checkpoint,
                      read, changed, unchanged, failed)
  SELECT id, crm_url, model_uri, model_version, shard, status, dry_run, started_at, ended_at, checkpoint,
         read, changed, unchanged, failed FROM sync_runs_v1 ORDER BY started_at;
INSERT INTO sync_changes(run_seq, customer_id, old_segment, new_segment, at)
  SELECT r.seq, c.customer_id, c.old_segment, c.new_segment, c.at
  FROM sync_changes_v1 c JOIN sync_runs r ON r.id = c.run_id;
DROP TABLE sync_runs_v1;
DROP TABLE sync_changes_v1;
)sql";

constexpr std::string_view kRunColumns =
    "id, crm_url, model_uri, model_version, shard, status, dry_run, started_at, ended_at, checkpoint, read, changed, "
    "unchanged, failed";

SyncRun read_run(const Statement& s) {
  SyncRun r;
  r.id = s.column_text(0);
  r.crm_url = s.column_text(1);
  r.model_uri = s.column_text(2);
  r.model_version = s.column_text(3);
  r.shard = s.column_text(4);
  r.status = s.column_text(5);
  r.dry_run = s.column_int64(6) != 0;
  r.started_at = s.column_int64(7);
  r.ended_at = s.column_int64(8);
  r.checkpoint = s.column_text(9);
  r.read = s.column_int64(10);
  r.changed = s.column_int64(11);
  r.unchanged = s.column_int64(12);
  r.failed = s.column_int64(13);
  return r;
}

}  // namespace

Decider model_decider(std::shared_ptr<const model::ModelArtifact> model, SegmentPolicy policy) {
  policy.check_classes(model->classes);
  return [model, policy](const std::vector<Customer>& customers) {
    std::vector<std::string> segments;
    std::vector<double> probs(model->classes.size());
    const auto features = static_cast<std::size_t>(model->model.n_features());
    segments.reserve(customers.size());
    for (const Customer& c : customers) {
      if (c.features.size() != features) {
        segments.emplace_back();
        continue;
      }
      model->model.predict_proba_row(c.features.data(), probs.data());
      const auto best = static_cast<std::size_t>(std::max_element(probs.begin(), probs.end()) - probs.begin());
      segments.push_back(policy.decide(best, model->classes, probs.data()));
    }
    return segments;
  };
}

bool in_shard(const std::string& customer_id, int index, int count) {
  if (count <= 1) return true;
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: stable across machines and versions
  for (unsigned char c : customer_id) h = (h ^ c) * 0x100000001b3ULL;
  return static_cast<int>(h % static_cast<std::uint64_t>(count)) == index;
}

SyncLedger::SyncLedger(const std::string& path) : db_(std::make_unique<sqlite::Database>(path)) {
  sqlite::Transaction tx(*db_);
  const auto scalar = [&](std::string_view sql) {
    Statement s(*db_, sql);
    s.step();
    return s.column_int64(0);
  };
  const std::int64_t found = scalar("PRAGMA user_version");
  if (found > kLedgerVersion) {
    throw Error(ErrorCode::corrupt, fmt::format("{} is a sync ledger of a newer mlops (version {})", path, found),
                "upgrade mlops, or point MLOPS_HOME elsewhere");
  }
  const bool existing = scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'sync_runs'") > 0;
  const bool from1 = existing && found < 2;
  if (from1) db_->exec(kMigrateFrom1);
  if (existing && found == 2) db_->exec(kMigrateFrom2);
  db_->exec(kSchema);
  if (from1) db_->exec(kCopyFrom1);
  db_->exec(fmt::format("PRAGMA user_version = {}", kLedgerVersion));
  tx.commit();
}
SyncLedger::~SyncLedger() = default;

SyncRun SyncLedger::create(const SyncRun& run) {
  Statement s(*db_, "INSERT INTO sync_runs(id, crm_url, model_uri, model_version, shard, status, dry_run, started_at)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, 'RUNNING', ?6, ?7)");
  s.bind(1, run.id).bind(2, run.crm_url).bind(3, run.model_uri).bind(4, run.model_version).bind(5, run.shard);
  s.bind(6, run.dry_run ? 1 : 0).bind(7, run.started_at).step();
  return *find(run.id);
}

void SyncLedger::checkpoint(const SyncRun& run, const std::vector<SegmentChange>& planned) {
  sqlite::Transaction tx(*db_);
  Statement s(*db_, "UPDATE sync_runs SET checkpoint = ?2, read = ?3, changed = ?4, unchanged = ?5, failed = ?6 WHERE id = ?1");
  s.bind(1, run.id).bind(2, run.checkpoint).bind(3, run.read).bind(4, run.changed).bind(5, run.unchanged).bind(6, run.failed);
  s.step();
  Statement seq(*db_, "SELECT seq FROM sync_runs WHERE id = ?1");
  seq.bind(1, run.id);
  if (!seq.step()) throw Error(ErrorCode::not_found, fmt::format("no sync run '{}' in the ledger", run.id));
  const std::int64_t run_seq = seq.column_int64(0);
  Statement change(*db_, "INSERT OR IGNORE INTO sync_changes(run_seq, customer_id, old_segment, new_segment, at,"
                         " old_model_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  const std::int64_t now = now_ms();
  for (const SegmentChange& c : planned) {
    change.reset();
    change.bind(1, run_seq).bind(2, c.customer_id).bind(3, c.old_segment).bind(4, c.new_segment).bind(5, now);
    change.bind(6, c.old_model_version).step();
  }
  tx.commit();
}

void SyncLedger::finish(const std::string& run_id, const std::string& status) {
  Statement s(*db_, "UPDATE sync_runs SET status = ?2, ended_at = ?3 WHERE id = ?1");
  s.bind(1, run_id).bind(2, status).bind(3, now_ms()).step();
}

std::map<std::string, std::string> SyncLedger::planned_after(const std::string& run_id, const std::string& after) {
  Statement s(*db_, "SELECT customer_id, new_segment FROM sync_changes"
                    " WHERE run_seq = (SELECT seq FROM sync_runs WHERE id = ?1) AND customer_id > ?2");
  s.bind(1, run_id).bind(2, after);
  std::map<std::string, std::string> out;
  while (s.step()) out.emplace(s.column_text(0), s.column_text(1));
  return out;
}

std::optional<SyncRun> SyncLedger::find(const std::string& run_id) {
  Statement s(*db_, fmt::format("SELECT {} FROM sync_runs WHERE id = ?1", kRunColumns));
  s.bind(1, run_id);
  if (!s.step()) return std::nullopt;
  return read_run(s);
}

std::vector<SegmentChange> SyncLedger::changes(const std::string& run_id) {
  Statement s(*db_, "SELECT customer_id, old_segment, new_segment, old_model_version FROM sync_changes"
                    " WHERE run_seq = (SELECT seq FROM sync_runs WHERE id = ?1) ORDER BY customer_id");
  s.bind(1, run_id);
  std::vector<SegmentChange> out;
  while (s.step()) {
    SegmentChange c{s.column_text(0), s.column_text(1), s.column_text(2), true};
    c.old_model_version = s.column_text(3);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<SyncRun> SyncLedger::list(int limit) {
  Statement s(*db_, fmt::format("SELECT {} FROM sync_runs ORDER BY started_at DESC LIMIT ?1", kRunColumns));
  s.bind(1, limit);
  std::vector<SyncRun> out;
  while (s.step()) out.push_back(read_run(s));
  return out;
}

namespace {

// A decided batch on its way from the reading stage to the writing stage: the writes it
// needs and the counts of what needs no write.
struct Batch {
  std::vector<SegmentWrite> writes;
  std::vector<SegmentChange> planned;  // the same changes, for the ledger (with the stamps they replace)
  SyncRun counts;  // read, changed (dry run, or written before a resume), unchanged, failed
  std::map<std::string, std::int64_t> moves;
  std::string checkpoint;  // the id to resume after once this batch is written
};

// A bounded hand-off between the two stages. close() wakes both sides: the reader stops
// pushing, the writer drains what is queued and stops.
class BatchQueue {
 public:
  explicit BatchQueue(std::size_t capacity) : capacity_(capacity) {}

  bool push(Batch batch) {  // false once closed
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    items_.push_back(std::move(batch));
    changed_.notify_all();
    return true;
  }

  std::optional<Batch> pop() {  // nullopt once closed and drained
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    Batch batch = std::move(items_.front());
    items_.pop_front();
    changed_.notify_all();
    return batch;
  }

  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> items_;
  std::size_t capacity_;
  bool closed_ = false;
};

SyncRun start_or_resume(SyncLedger& ledger, const SyncOptions& o) {
  if (!o.resume_run_id.empty()) {
    auto found = ledger.find(o.resume_run_id);
    if (!found) {
      throw Error(ErrorCode::not_found, fmt::format("no sync run '{}' to resume", o.resume_run_id),
                  "see `mlops crm-sync list` for run ids");
    }
    if (found->status != "RUNNING" && found->status != "FAILED") {
      throw Error(ErrorCode::conflict, fmt::format("sync run {} is {}, nothing to resume", found->id, found->status));
    }
    return *found;
  }
  SyncRun run;
  run.id = random_hex_id(8);
  run.crm_url = o.crm_url;
  run.model_uri = o.model_uri;
  run.model_version = o.model_version;
  run.shard = fmt::format("{}/{}", o.shard_index, o.shard_count);
  run.dry_run = o.dry_run;
  run.started_at = now_ms();
  return ledger.create(run);
}

// What a sync run needs to decide a batch.
struct Planner {
  const Decider& decide;
  const SyncOptions& options;
  const SyncRun& run;
  // A resumed run's unconfirmed tail: customers it may already have written.
  std::map<std::string, std::string> written_before;
  int failures_logged = 0;

  Batch plan(const std::vector<Customer>& customers) {
    Batch batch;
    const std::vector<std::string> segments = decide(customers);
    for (std::size_t i = 0; i < customers.size(); ++i) {
      const Customer& c = customers[i];
      const std::string& segment = segments[i];
      if (segment.empty()) {
        ++batch.counts.failed;
        if (failures_logged++ < 5) {
          logging::event(logging::Level::warn, "customer not synced",
                         {{"customer_id", c.id}, {"reason", fmt::format("{} features do not fit the model", c.features.size())}});
        }
      } else if (segment != c.segment) {
        ++batch.moves[fmt::format("{} -> {}", c.segment, segment)];
        if (options.dry_run) {
          ++batch.counts.changed;
        } else {
          batch.writes.push_back({c.id, segment, run.model_version, "sync:" + run.id, false, c.segment});
          SegmentChange planned{c.id, c.segment, segment, true};
          planned.old_model_version = c.segment_model_version;
          batch.planned.push_back(std::move(planned));
        }
      } else {
        const auto before = written_before.find(c.id);
        (before != written_before.end() && before->second == segment) ? ++batch.counts.changed : ++batch.counts.unchanged;
      }
    }
    batch.counts.read = static_cast<std::int64_t>(customers.size());
    return batch;
  }
};

// The reading stage: pages, filters, decides, and records the planned changes in the
// ledger before handing a batch to the writer. `confirmed` is the writer's progress.
void read_batches(CrmStore& crm, SyncLedger& ledger, Planner& planner, const std::function<SyncRun()>& confirmed,
                  BatchQueue& queue) {
  const SyncOptions& o = planner.options;
  std::string cursor = planner.run.checkpoint;
  std::int64_t taken = planner.run.read;
  while (o.limit == 0 || taken < o.limit) {
    std::vector<Customer> page = crm.page(cursor, o.batch_size);
    if (page.empty()) return;
    const std::string page_end = page.back().id;  // before the customers move out of the page
    std::vector<Customer> selected;
    for (Customer& c : page) {
      if (o.limit != 0 && taken + static_cast<std::int64_t>(selected.size()) >= o.limit) break;
      if (!in_shard(c.id, o.shard_index, o.shard_count)) continue;
      if (!o.where_segment.empty() && c.segment != o.where_segment) continue;
      selected.push_back(std::move(c));
    }
    taken += static_cast<std::int64_t>(selected.size());
    Batch batch = planner.plan(selected);
    // The checkpoint is the last id of the page, even when filters skipped its end.
    const bool cut_by_limit = o.limit != 0 && taken >= o.limit;
    batch.checkpoint = cut_by_limit && !selected.empty() ? selected.back().id : page_end;
    ledger.checkpoint(confirmed(), batch.planned);
    const bool last = static_cast<int>(page.size()) < o.batch_size || cut_by_limit;
    cursor = batch.checkpoint;
    if (!queue.push(std::move(batch)) || last) return;
  }
}

}  // namespace

SyncReport run_sync(const CrmOpener& open_crm, SyncLedger& ledger, const Decider& decide, const SyncOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  SyncReport report;
  SyncRun& run = report.run;
  run = start_or_resume(ledger, o);
  Planner planner{decide, o, run, ledger.planned_after(run.id, run.checkpoint)};
  std::unique_ptr<CrmStore> reader_crm = open_crm();
  std::unique_ptr<CrmStore> writer_crm = open_crm();

  std::mutex confirmed_mutex;
  SyncRun confirmed = run;
  const auto confirmed_copy = [&] {
    std::lock_guard lock(confirmed_mutex);
    return confirmed;
  };
  BatchQueue queue(2);
  std::exception_ptr reader_error;
  std::thread reader([&] {
    try {
      read_batches(*reader_crm, ledger, planner, confirmed_copy, queue);
    } catch (...) {
      reader_error = std::current_exception();
    }
    queue.close();
  });
  const auto stop = [&](const std::string& status) {
    queue.close();
    reader.join();
    ledger.checkpoint(run, {});
    ledger.finish(run.id, status);
  };
  try {
    while (std::optional<Batch> batch = queue.pop()) {
      if (!batch->writes.empty()) {
        for (const SegmentChange& c : writer_crm->write_segments(batch->writes)) {
          c.changed ? ++run.changed : ++run.unchanged;
        }
      }
      run.read += batch->counts.read;
      run.changed += batch->counts.changed;
      run.unchanged += batch->counts.unchanged;
      run.failed += batch->counts.failed;
      for (const auto& [move, n] : batch->moves) report.moves[move] += n;
      run.checkpoint = batch->checkpoint;
      {
        std::lock_guard lock(confirmed_mutex);
        confirmed = run;
      }
      if (o.progress) o.progress(run);
    }
  } catch (...) {
    stop("FAILED");
    throw;
  }
  stop(reader_error ? "FAILED" : "FINISHED");
  if (reader_error) std::rethrow_exception(reader_error);
  run.status = "FINISHED";
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

SyncReport rollback_sync(CrmStore& crm, SyncLedger& ledger, const std::string& run_id, bool force) {
  auto run = ledger.find(run_id);
  if (!run) throw Error(ErrorCode::not_found, fmt::format("no sync run '{}'", run_id), "see `mlops crm-sync list`");
  if (run->status == "ROLLED_BACK") throw Error(ErrorCode::conflict, fmt::format("sync run {} is already rolled back", run_id));
  if (run->status == "RUNNING") {
    throw Error(ErrorCode::conflict, fmt::format("sync run {} is still running (or was killed)", run_id),
                fmt::format("finish it first: mlops crm-sync --resume {}", run_id));
  }
  SyncReport report;
  std::vector<SegmentWrite> writes;
  // Each customer goes back to its old segment and stamp only while it still holds what
  // the run wrote (compare-and-set); one the run never reached restores as unchanged.
  for (const SegmentChange& c : ledger.changes(run_id)) {
    SegmentWrite w{c.customer_id, c.old_segment, c.old_model_version, "rollback:" + run_id, false, c.new_segment};
    w.strict = !force;
    writes.push_back(std::move(w));
  }
  for (std::size_t done = 0; done < writes.size(); done += 1000) {
    const std::vector<SegmentWrite> chunk(writes.begin() + static_cast<std::ptrdiff_t>(done),
                                          writes.begin() + static_cast<std::ptrdiff_t>(std::min(writes.size(), done + 1000)));
    for (const SegmentChange& c : crm.write_segments(chunk)) {
      if (c.conflict) {
        report.conflicts.push_back({c.customer_id, c.old_segment});
        continue;
      }
      if (!c.changed) continue;
      ++report.moves[fmt::format("{} -> {}", c.old_segment, c.new_segment)];
      ++report.run.changed;
    }
  }
  // With conflicts left, a later `rollback --force` may still finish the job.
  ledger.finish(run_id, report.conflicts.empty() ? "ROLLED_BACK" : "ROLLBACK_CONFLICTS");
  const std::int64_t restored = report.run.changed;
  report.run = *ledger.find(run_id);
  report.run.changed = restored;
  return report;
}

}  // namespace mlops::crm
