#include "libmlops/crm/sync_job.hpp"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/sqlite/database.hpp"

namespace mlops::crm {
namespace {

using sqlite::Statement;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sync_runs (
  id             TEXT PRIMARY KEY,
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
  run_id       TEXT NOT NULL,
  customer_id  TEXT NOT NULL,
  old_segment  TEXT NOT NULL,
  new_segment  TEXT NOT NULL,
  at           INTEGER NOT NULL,
  PRIMARY KEY (run_id, customer_id)
);
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
    for (const Customer& c : customers) {
      if (c.features.size() != features) {
        throw Error(ErrorCode::invalid_input,
                    fmt::format("customer {} has {} features, the model expects {}", c.id, c.features.size(), features),
                    "sync with a model trained on the CRM's features");
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
  db_->exec(kSchema);
}
SyncLedger::~SyncLedger() = default;

SyncRun SyncLedger::create(const SyncRun& run) {
  Statement s(*db_, "INSERT INTO sync_runs(id, crm_url, model_uri, model_version, shard, status, dry_run, started_at)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, 'RUNNING', ?6, ?7)");
  s.bind(1, run.id).bind(2, run.crm_url).bind(3, run.model_uri).bind(4, run.model_version).bind(5, run.shard);
  s.bind(6, run.dry_run ? 1 : 0).bind(7, run.started_at).step();
  return *find(run.id);
}

void SyncLedger::checkpoint(const SyncRun& run, const std::vector<SegmentChange>& changes) {
  sqlite::Transaction tx(*db_);
  Statement s(*db_, "UPDATE sync_runs SET checkpoint = ?2, read = ?3, changed = ?4, unchanged = ?5, failed = ?6 WHERE id = ?1");
  s.bind(1, run.id).bind(2, run.checkpoint).bind(3, run.read).bind(4, run.changed).bind(5, run.unchanged).bind(6, run.failed);
  s.step();
  Statement change(*db_, "INSERT OR IGNORE INTO sync_changes(run_id, customer_id, old_segment, new_segment, at)"
                         " VALUES (?1, ?2, ?3, ?4, ?5)");
  const std::int64_t now = now_ms();
  for (const SegmentChange& c : changes) {
    if (!c.changed) continue;
    change.reset();
    change.bind(1, run.id).bind(2, c.customer_id).bind(3, c.old_segment).bind(4, c.new_segment).bind(5, now).step();
  }
  tx.commit();
}

void SyncLedger::finish(const std::string& run_id, const std::string& status) {
  Statement s(*db_, "UPDATE sync_runs SET status = ?2, ended_at = ?3 WHERE id = ?1");
  s.bind(1, run_id).bind(2, status).bind(3, now_ms()).step();
}

std::optional<SyncRun> SyncLedger::find(const std::string& run_id) {
  Statement s(*db_, fmt::format("SELECT {} FROM sync_runs WHERE id = ?1", kRunColumns));
  s.bind(1, run_id);
  if (!s.step()) return std::nullopt;
  return read_run(s);
}

std::vector<SegmentChange> SyncLedger::changes(const std::string& run_id) {
  Statement s(*db_, "SELECT customer_id, old_segment, new_segment FROM sync_changes WHERE run_id = ?1 ORDER BY customer_id");
  s.bind(1, run_id);
  std::vector<SegmentChange> out;
  while (s.step()) out.push_back({s.column_text(0), s.column_text(1), s.column_text(2), true});
  return out;
}

std::vector<SyncRun> SyncLedger::list(int limit) {
  Statement s(*db_, fmt::format("SELECT {} FROM sync_runs ORDER BY started_at DESC LIMIT ?1", kRunColumns));
  s.bind(1, limit);
  std::vector<SyncRun> out;
  while (s.step()) out.push_back(read_run(s));
  return out;
}

SyncReport run_sync(CrmStore& crm, SyncLedger& ledger, const Decider& decide, const SyncOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  SyncReport report;
  SyncRun& run = report.run;
  if (!o.resume_run_id.empty()) {
    auto found = ledger.find(o.resume_run_id);
    if (!found) {
      throw Error(ErrorCode::not_found, fmt::format("no sync run '{}' to resume", o.resume_run_id),
                  "see `mlops crm-sync list` for run ids");
    }
    run = *found;
    if (run.status != "RUNNING" && run.status != "FAILED") {
      throw Error(ErrorCode::conflict, fmt::format("sync run {} is {}, nothing to resume", run.id, run.status));
    }
  } else {
    run.id = random_hex_id(8);
    run.crm_url = o.crm_url;
    run.model_uri = o.model_uri;
    run.model_version = o.model_version;
    run.shard = fmt::format("{}/{}", o.shard_index, o.shard_count);
    run.dry_run = o.dry_run;
    run.started_at = now_ms();
    run = ledger.create(run);
  }
  try {
    while (o.limit == 0 || run.read < o.limit) {
      const std::vector<Customer> page = crm.page(run.checkpoint, o.batch_size);
      if (page.empty()) break;
      std::vector<Customer> batch;
      for (const Customer& c : page) {
        if (o.limit != 0 && run.read + static_cast<std::int64_t>(batch.size()) >= o.limit) break;
        if (!in_shard(c.id, o.shard_index, o.shard_count)) continue;
        if (!o.where_segment.empty() && c.segment != o.where_segment) continue;
        batch.push_back(c);
      }
      const std::vector<std::string> segments = decide(batch);
      std::vector<SegmentWrite> writes;
      std::vector<SegmentChange> changes;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (segments[i] == batch[i].segment) {
          ++run.unchanged;
          continue;
        }
        ++report.moves[fmt::format("{} -> {}", batch[i].segment, segments[i])];
        if (o.dry_run) {
          ++run.changed;
        } else {
          writes.push_back({batch[i].id, segments[i], run.model_version, "sync:" + run.id});
        }
      }
      if (!writes.empty()) {
        changes = crm.write_segments(writes);  // one transaction (SQLite) or batches (HTTP)
        for (const SegmentChange& c : changes) c.changed ? ++run.changed : ++run.unchanged;
      }
      run.read += static_cast<std::int64_t>(batch.size());
      // The checkpoint is the last id of the page, even when filters skipped its end.
      const bool cut_by_limit = o.limit != 0 && run.read >= o.limit;
      run.checkpoint = cut_by_limit && !batch.empty() ? batch.back().id : page.back().id;
      ledger.checkpoint(run, changes);
      if (o.progress) o.progress(run);
      if (static_cast<int>(page.size()) < o.batch_size) break;
    }
  } catch (...) {
    ledger.finish(run.id, "FAILED");
    throw;
  }
  ledger.finish(run.id, "FINISHED");
  run.status = "FINISHED";
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

SyncReport rollback_sync(CrmStore& crm, SyncLedger& ledger, const std::string& run_id) {
  auto run = ledger.find(run_id);
  if (!run) throw Error(ErrorCode::not_found, fmt::format("no sync run '{}'", run_id), "see `mlops crm-sync list`");
  if (run->status == "ROLLED_BACK") throw Error(ErrorCode::conflict, fmt::format("sync run {} is already rolled back", run_id));
  SyncReport report;
  std::vector<SegmentWrite> writes;
  for (const SegmentChange& c : ledger.changes(run_id)) {
    writes.push_back({c.customer_id, c.old_segment, run->model_version, "rollback:" + run_id});
    ++report.moves[fmt::format("{} -> {}", c.new_segment, c.old_segment)];
  }
  for (std::size_t done = 0; done < writes.size(); done += 1000) {
    const std::vector<SegmentWrite> chunk(writes.begin() + static_cast<std::ptrdiff_t>(done),
                                          writes.begin() + static_cast<std::ptrdiff_t>(std::min(writes.size(), done + 1000)));
    crm.write_segments(chunk);
  }
  ledger.finish(run_id, "ROLLED_BACK");
  report.run = *ledger.find(run_id);
  report.run.changed = static_cast<std::int64_t>(writes.size());
  return report;
}

}  // namespace mlops::crm
