#include "libmlops/registry/detail/schema.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <string_view>
#include <vector>

#include "libmlops/core/error.hpp"
#include "libmlops/sqlite/database.hpp"

namespace mlops::registry::detail {
namespace {

// Each entry moves the schema from version i to i + 1. Append only: never edit a shipped one.
const std::vector<std::string_view> kMigrations = {
    R"sql(
CREATE TABLE experiments (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  created_at  INTEGER NOT NULL
);
CREATE TABLE runs (
  id               TEXT PRIMARY KEY,
  experiment_id    INTEGER NOT NULL REFERENCES experiments(id),
  name             TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
  start_time       INTEGER NOT NULL,
  end_time         INTEGER,
  artifact_path    TEXT,
  artifact_sha256  TEXT,
  user             TEXT NOT NULL
);
CREATE INDEX runs_by_experiment ON runs(experiment_id, start_time);
CREATE TABLE run_params (
  run_id  TEXT NOT NULL REFERENCES runs(id),
  key     TEXT NOT NULL,
  value   TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE run_metrics (
  run_id     TEXT NOT NULL REFERENCES runs(id),
  key        TEXT NOT NULL,
  value      REAL NOT NULL,
  timestamp  INTEGER NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE run_tags (
  run_id  TEXT NOT NULL REFERENCES runs(id),
  key     TEXT NOT NULL,
  value   TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE registered_models (
  name         TEXT PRIMARY KEY,
  description  TEXT NOT NULL DEFAULT '',
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
);
CREATE TABLE model_versions (
  name             TEXT NOT NULL REFERENCES registered_models(name),
  version          INTEGER NOT NULL,
  version_tag      TEXT NOT NULL DEFAULT '',
  run_id           TEXT REFERENCES runs(id),
  source           TEXT NOT NULL,
  artifact_sha256  TEXT NOT NULL,
  stage            TEXT NOT NULL DEFAULT 'None'
                   CHECK (stage IN ('None', 'Staging', 'Production', 'Archived')),
  description      TEXT NOT NULL DEFAULT '',
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE TABLE model_version_tags (
  name     TEXT NOT NULL,
  version  INTEGER NOT NULL,
  key      TEXT NOT NULL,
  value    TEXT NOT NULL,
  PRIMARY KEY (name, version, key),
  FOREIGN KEY (name, version) REFERENCES model_versions(name, version)
);
CREATE TABLE aliases (
  name     TEXT NOT NULL,
  alias    TEXT NOT NULL,
  version  INTEGER NOT NULL,
  PRIMARY KEY (name, alias),
  FOREIGN KEY (name, version) REFERENCES model_versions(name, version)
);
-- Append-only: every version, stage and alias change, and every refused registration.
CREATE TABLE audit_log (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  version     INTEGER,
  action      TEXT NOT NULL,
  from_value  TEXT,
  to_value    TEXT,
  gate        TEXT,
  reason      TEXT,
  user        TEXT NOT NULL,
  at          INTEGER NOT NULL
);
CREATE INDEX audit_by_name ON audit_log(name, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
-- Changes waiting to be mirrored to MLflow, written in the same transaction as the change.
CREATE TABLE outbox (
  id          INTEGER PRIMARY KEY,
  kind        TEXT NOT NULL,
  payload     TEXT NOT NULL,
  status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_error  TEXT,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE INDEX outbox_by_status ON outbox(status, id);
)sql",
    R"sql(
-- What each local object is called in MLflow once mirrored (run id, version number, ...).
CREATE TABLE mirror_ids (
  kind       TEXT NOT NULL,
  local_id   TEXT NOT NULL,
  remote_id  TEXT NOT NULL,
  PRIMARY KEY (kind, local_id)
) WITHOUT ROWID;
-- Facts about this registry; registry_id tells its mirrored objects from another laptop's.
CREATE TABLE meta (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES ('registry_id', lower(hex(randomblob(8))));
)sql",
    R"sql(
-- The process that runs a RUNNING run (boot id, pid, start time), so that a run whose
-- process died without finishing it can be told from one still running.
ALTER TABLE runs ADD COLUMN owner TEXT;
-- An event can be skipped on purpose (`mlops mirror skip`), e.g. when its object was
-- deleted in MLflow and should stay deleted.
CREATE TABLE outbox_v3 (
  id          INTEGER PRIMARY KEY,
  kind        TEXT NOT NULL,
  payload     TEXT NOT NULL,
  status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed', 'skipped')),
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_error  TEXT,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
INSERT INTO outbox_v3 SELECT id, kind, payload, status, attempts, last_error, created_at, updated_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v3 RENAME TO outbox;
CREATE INDEX outbox_by_status ON outbox(status, id);
)sql",
    R"sql(
-- Progressive rollouts (registry/rollout.hpp): one row per rollout, its plan as JSON; at
-- most one active (running or paused) per model.
CREATE TABLE rollouts (
  id                 INTEGER PRIMARY KEY,
  name               TEXT NOT NULL REFERENCES registered_models(name),
  stable_version     INTEGER NOT NULL,
  candidate_version  INTEGER NOT NULL,
  plan               TEXT NOT NULL,
  step               INTEGER NOT NULL DEFAULT 0,
  state              TEXT NOT NULL DEFAULT 'running'
                     CHECK (state IN ('running', 'paused', 'promoted', 'rolled_back', 'aborted')),
  started_at         INTEGER NOT NULL,
  step_started_at    INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL,
  reason             TEXT NOT NULL DEFAULT '',
  figures            TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX one_active_rollout ON rollouts(name) WHERE state IN ('running', 'paused');
)sql",
};

int read_user_version(sqlite::Database& db) {
  sqlite::Statement s(db, "PRAGMA user_version");
  s.step();
  return static_cast<int>(s.column_int64(0));
}

}  // namespace

int schema_version() { return static_cast<int>(kMigrations.size()); }

void migrate(sqlite::Database& db) {
  if (read_user_version(db) == schema_version()) return;  // the common case: no write lock
  sqlite::Transaction tx(db);
  const int current = read_user_version(db);
  if (current > schema_version()) {
    throw Error(ErrorCode::corrupt,
                fmt::format("{} has schema version {}, newer than this mlops understands ({})",
                            db.path(), current, schema_version()),
                "upgrade mlops, or point MLOPS_HOME at another directory");
  }
  for (int v = current; v < schema_version(); ++v) db.exec(kMigrations[static_cast<std::size_t>(v)]);
  if (current < 3 && db.path() != ":memory:") {
    // From version 3 on, paths inside the registry's folder are stored relative to it, so
    // the folder can be moved or copied. Older registries stored them absolute.
    const std::string home = std::filesystem::absolute(db.path()).parent_path().lexically_normal().string() + "/";
    for (const char* sql : {"UPDATE model_versions SET source = substr(source, length(?1) + 1) WHERE substr(source, 1, length(?1)) = ?1",
                            "UPDATE runs SET artifact_path = substr(artifact_path, length(?1) + 1) WHERE substr(artifact_path, 1, length(?1)) = ?1"}) {
      sqlite::Statement s(db, sql);
      s.bind(1, home).step();
    }
  }
  db.exec(fmt::format("PRAGMA user_version = {}", schema_version()));
  tx.commit();
}

}  // namespace mlops::registry::detail
