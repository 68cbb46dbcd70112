-- The registry schema as mlops wrote it before version 3 (user_version 2): a fixture for
-- the upgrade test. Do not edit: it is what older registries on disk look like.

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
PRAGMA user_version = 2;
