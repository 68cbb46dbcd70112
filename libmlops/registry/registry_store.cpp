#include "libmlops/registry/registry_store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/log.hpp"
#include "libmlops/registry/detail/journal.hpp"
#include "libmlops/registry/detail/schema.hpp"
#include "libmlops/sqlite/database.hpp"

namespace mlops::registry {
namespace {

using nlohmann::json;
using sqlite::Statement;

using detail::append_audit;
using detail::append_outbox;

Error version_not_found(const std::string& name, std::int64_t version) {
  return Error(ErrorCode::not_found, fmt::format("model '{}' has no version {}", name, version),
               fmt::format("run `mlops models show {}` to list its versions", name));
}

Error model_not_found(const std::string& name) {
  return Error(ErrorCode::not_found, fmt::format("no registered model named '{}'", name),
               "run `mlops models list` to see the registered models");
}

constexpr std::string_view kVersionColumns =
    "name, version, version_tag, COALESCE(run_id, ''), source, artifact_sha256, stage, description, "
    "created_at, updated_at";

ModelVersion read_version(const Statement& s) {
  ModelVersion v;
  v.name = s.column_text(0);
  v.version = s.column_int64(1);
  v.version_tag = s.column_text(2);
  v.run_id = s.column_text(3);
  v.source = s.column_text(4);
  v.artifact_sha256 = s.column_text(5);
  v.stage = parse_stage(s.column_text(6)).value_or(Stage::none);
  v.description = s.column_text(7);
  v.created_at = s.column_int64(8);
  v.updated_at = s.column_int64(9);
  return v;
}

void load_version_extras(sqlite::Database& db, ModelVersion& v) {
  Statement aliases(db, "SELECT alias FROM aliases WHERE name = ?1 AND version = ?2 ORDER BY alias");
  aliases.bind(1, v.name).bind(2, v.version);
  while (aliases.step()) v.aliases.push_back(aliases.column_text(0));
  Statement tags(db, "SELECT key, value FROM model_version_tags WHERE name = ?1 AND version = ?2");
  tags.bind(1, v.name).bind(2, v.version);
  while (tags.step()) v.tags[tags.column_text(0)] = tags.column_text(1);
}

std::optional<ModelVersion> query_one_version(sqlite::Database& db, std::string_view where,
                                              const std::string& name, const std::string& arg) {
  Statement s(db, fmt::format("SELECT {} FROM model_versions WHERE name = ?1 AND {} "
                              "ORDER BY version DESC LIMIT 1",
                              kVersionColumns, where));
  s.bind(1, name).bind(2, arg);
  if (!s.step()) return std::nullopt;
  ModelVersion v = read_version(s);
  load_version_extras(db, v);
  return v;
}

std::int64_t ensure_experiment(sqlite::Database& db, const std::string& name) {
  Statement find(db, "SELECT id FROM experiments WHERE name = ?1");
  find.bind(1, name);
  if (find.step()) return find.column_int64(0);
  Statement insert(db, "INSERT INTO experiments(name, created_at) VALUES (?1, ?2)");
  insert.bind(1, name).bind(2, now_ms()).step();
  const std::int64_t id = db.last_insert_rowid();
  append_outbox(db, "experiment_created", {{"experiment_id", id}, {"name", name}});
  return id;
}

void check_name(std::string_view what, const std::string& value) {
  if (value.empty() || value.size() > 256 ||
      std::any_of(value.begin(), value.end(), [](unsigned char c) { return std::iscntrl(c) || c == '/'; })) {
    throw Error(ErrorCode::invalid_input, fmt::format("invalid {} '{}'", what, value),
                fmt::format("a {} is 1-256 printable characters without '/'", what));
  }
}

// finish_run inside the caller's transaction.
void finish_run_in(sqlite::Database& db, const std::string& run_id, const RunOutcome& outcome) {
  const std::int64_t now = now_ms();
  Statement update(db,
                   "UPDATE runs SET status = ?2, end_time = ?3, artifact_path = ?4, artifact_sha256 = ?5"
                   " WHERE id = ?1");
  update.bind(1, run_id).bind(2, outcome.status).bind(3, now).bind(4, outcome.artifact_path);
  update.bind(5, outcome.artifact_sha256).step();
  if (db.changes() == 0) {
    throw Error(ErrorCode::not_found, fmt::format("no run with id {}", run_id),
                "run `mlops runs list` to see the runs");
  }
  Statement param(db, "INSERT OR REPLACE INTO run_params(run_id, key, value) VALUES (?1, ?2, ?3)");
  for (const auto& [key, value] : outcome.params) {
    param.reset();
    param.bind(1, run_id).bind(2, key).bind(3, value).step();
  }
  Statement metric(db, "INSERT OR REPLACE INTO run_metrics(run_id, key, value, timestamp) VALUES (?1, ?2, ?3, ?4)");
  for (const auto& [key, value] : outcome.metrics) {
    metric.reset();
    metric.bind(1, run_id).bind(2, key).bind(3, value).bind(4, now).step();
  }
  Statement tag(db, "INSERT OR REPLACE INTO run_tags(run_id, key, value) VALUES (?1, ?2, ?3)");
  for (const auto& [key, value] : outcome.tags) {
    tag.reset();
    tag.bind(1, run_id).bind(2, key).bind(3, value).step();
  }
  append_outbox(db, "run_finished",
                {{"run_id", run_id}, {"status", outcome.status}, {"end_time", now},
                 {"params", outcome.params}, {"metrics", outcome.metrics}, {"tags", outcome.tags},
                 {"artifact_path", outcome.artifact_path},
                 {"artifact_sha256", outcome.artifact_sha256}});
}

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The start time of a process (field 22 of /proc/PID/stat), "" when there is no such process.
std::string process_start_time(const std::string& pid) {
  const std::string stat = first_line("/proc/" + pid + "/stat");
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return "";
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
  }
  return field;
}

std::string host_name() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

// Who runs a run: "HOST BOOT_ID PID START_TIME". A pid alone could have been reused.
std::string this_process_owner() {
  static const std::string owner = fmt::format("{} {} {} {}", host_name(), first_line("/proc/sys/kernel/random/boot_id"),
                                               ::getpid(), process_start_time("self"));
  return owner;
}

// False only when the owner is surely gone: same host, and another boot or no such process.
bool owner_alive(const std::string& owner) {
  std::istringstream in(owner);
  std::string host, boot, pid, start;
  if (!(in >> host >> boot >> pid >> start) || host != host_name()) return true;
  if (boot != first_line("/proc/sys/kernel/random/boot_id")) return false;
  return process_start_time(pid) == start;
}

}  // namespace

std::string_view to_string(Stage stage) {
  switch (stage) {
    case Stage::none: return "None";
    case Stage::staging: return "Staging";
    case Stage::production: return "Production";
    case Stage::archived: return "Archived";
  }
  return "None";
}

std::optional<Stage> parse_stage(std::string_view text) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "none") return Stage::none;
  if (lower == "staging") return Stage::staging;
  if (lower == "production") return Stage::production;
  if (lower == "archived") return Stage::archived;
  return std::nullopt;
}

RegistryStore::RegistryStore(const std::string& path, Mode mode)
    : db_(std::make_unique<sqlite::Database>(
          path, 30000, mode == Mode::read_only ? sqlite::Access::read_only : sqlite::Access::read_write)) {
  if (path != ":memory:") {
    home_ = std::filesystem::absolute(path).parent_path().lexically_normal().string();
    if (home_.empty() || home_.back() != '/') home_ += '/';
  }
  if (mode == Mode::read_only) {
    const auto schema = [&] {
      Statement version(*db_, "PRAGMA user_version");
      version.step();
      return version.column_int64(0);
    };
    // A registry written by an older mlops is upgraded once where it can be written.
    if (schema() < detail::schema_version() && ::access(path.c_str(), W_OK) == 0 &&
        ::access(home_.c_str(), W_OK) == 0) {
      RegistryStore upgrade(path, Mode::read_write);
    }
    if (const std::int64_t found = schema(); found != detail::schema_version()) {
      throw Error(ErrorCode::corrupt,
                  fmt::format("{} has schema version {}; this mlops reads version {}", path, found, detail::schema_version()),
                  found < detail::schema_version()
                      ? "run a command that changes the registry once (e.g. `mlops mirror`) where it is writable"
                      : "upgrade mlops");
    }
    return;
  }
  detail::migrate(*db_);
  const std::vector<std::string> failed = fail_abandoned_runs();
  if (!failed.empty()) {
    logging::event(logging::Level::warn, "marked runs whose process died as FAILED",
                   {{"runs", fmt::format("{}", fmt::join(failed, ","))}});
  }
}

std::string RegistryStore::absolute_path(const std::string& stored) const {
  if (stored.empty() || home_.empty() || stored.front() == '/') return stored;
  return home_ + stored;
}

std::string RegistryStore::stored_path(const std::string& path) const {
  if (home_.empty() || path.empty()) return path;
  const std::string normal = std::filesystem::absolute(path).lexically_normal().string();
  return normal.compare(0, home_.size(), home_) == 0 ? normal.substr(home_.size()) : normal;
}

std::vector<std::string> RegistryStore::fail_abandoned_runs() {
  std::vector<std::string> abandoned;
  {
    Statement s(*db_, "SELECT id, owner FROM runs WHERE status = 'RUNNING' AND owner IS NOT NULL");
    while (s.step()) {
      if (!owner_alive(s.column_text(1))) abandoned.push_back(s.column_text(0));
    }
  }
  for (const std::string& id : abandoned) {
    // Half-written artifacts of the dead process: write_file_atomic's NAME.tmp-XXXXXX files.
    std::error_code ec;
    const std::filesystem::path dir = std::filesystem::path(home_) / "artifacts" / id;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().filename().string().find(".tmp-") != std::string::npos) std::filesystem::remove(it->path(), ec);
    }
    RunOutcome outcome;
    outcome.status = "FAILED";
    outcome.tags["mlops.failure"] = "the process running it ended before it finished (killed or crashed)";
    sqlite::Transaction tx(*db_);
    Statement still(*db_, "SELECT 1 FROM runs WHERE id = ?1 AND status = 'RUNNING'");
    still.bind(1, id);
    if (!still.step()) continue;  // another process got there first
    finish_run_in(*db_, id, outcome);
    tx.commit();
  }
  return abandoned;
}

RegistryStore::~RegistryStore() = default;

Run RegistryStore::create_run(const NewRun& run) {
  check_name("experiment name", run.experiment);
  sqlite::Transaction tx(*db_);
  const std::int64_t experiment_id = ensure_experiment(*db_, run.experiment);
  Run r;
  r.id = random_hex_id();
  r.experiment = run.experiment;
  r.name = run.name.empty() ? r.id.substr(0, 8) : run.name;
  r.status = "RUNNING";
  r.start_time = now_ms();
  r.user = current_user();
  r.params = run.params;
  r.tags = run.tags;
  Statement insert(*db_,
                   "INSERT INTO runs(id, experiment_id, name, status, start_time, user, owner)"
                   " VALUES (?1, ?2, ?3, 'RUNNING', ?4, ?5, ?6)");
  insert.bind(1, r.id).bind(2, experiment_id).bind(3, r.name).bind(4, r.start_time).bind(5, r.user);
  insert.bind(6, this_process_owner()).step();
  Statement param(*db_, "INSERT INTO run_params(run_id, key, value) VALUES (?1, ?2, ?3)");
  for (const auto& [key, value] : run.params) {
    param.reset();
    param.bind(1, r.id).bind(2, key).bind(3, value).step();
  }
  Statement tag(*db_, "INSERT INTO run_tags(run_id, key, value) VALUES (?1, ?2, ?3)");
  for (const auto& [key, value] : run.tags) {
    tag.reset();
    tag.bind(1, r.id).bind(2, key).bind(3, value).step();
  }
  append_outbox(*db_, "run_created",
                {{"run_id", r.id}, {"experiment", r.experiment}, {"experiment_id", experiment_id},
                 {"run_name", r.name}, {"start_time", r.start_time}, {"user", r.user},
                 {"params", run.params}, {"tags", run.tags}});
  tx.commit();
  return r;
}

void RegistryStore::finish_run(const std::string& run_id, const RunOutcome& outcome) {
  sqlite::Transaction tx(*db_);
  RunOutcome stored = outcome;
  stored.artifact_path = stored_path(outcome.artifact_path);
  finish_run_in(*db_, run_id, stored);
  tx.commit();
}

std::optional<Run> RegistryStore::find_run(const std::string& run_id) {
  Statement s(*db_,
              "SELECT r.id, e.name, r.name, r.status, r.start_time, r.end_time, COALESCE(r.artifact_path, ''),"
              " COALESCE(r.artifact_sha256, ''), r.user FROM runs r JOIN experiments e ON e.id = r.experiment_id"
              " WHERE r.id = ?1");
  s.bind(1, run_id);
  if (!s.step()) return std::nullopt;
  Run r;
  r.id = s.column_text(0);
  r.experiment = s.column_text(1);
  r.name = s.column_text(2);
  r.status = s.column_text(3);
  r.start_time = s.column_int64(4);
  if (!s.column_is_null(5)) r.end_time = s.column_int64(5);
  r.artifact_path = absolute_path(s.column_text(6));
  r.artifact_sha256 = s.column_text(7);
  r.user = s.column_text(8);
  Statement params(*db_, "SELECT key, value FROM run_params WHERE run_id = ?1");
  params.bind(1, run_id);
  while (params.step()) r.params[params.column_text(0)] = params.column_text(1);
  Statement metrics(*db_, "SELECT key, value FROM run_metrics WHERE run_id = ?1");
  metrics.bind(1, run_id);
  while (metrics.step()) r.metrics[metrics.column_text(0)] = metrics.column_double(1);
  Statement tags(*db_, "SELECT key, value FROM run_tags WHERE run_id = ?1");
  tags.bind(1, run_id);
  while (tags.step()) r.tags[tags.column_text(0)] = tags.column_text(1);
  return r;
}

Run RegistryStore::get_run(const std::string& run_id) {
  if (auto run = find_run(run_id)) return *run;
  // Accept a unique prefix, as git does for commits.
  Statement s(*db_, "SELECT id FROM runs WHERE id LIKE ?1 || '%' LIMIT 2");
  s.bind(1, run_id);
  std::vector<std::string> matches;
  while (s.step()) matches.push_back(s.column_text(0));
  if (matches.size() == 1 && run_id.size() >= 4) return *find_run(matches.front());
  const std::string what = matches.size() > 1 ? fmt::format("run id prefix '{}' is ambiguous", run_id)
                                               : fmt::format("no run with id '{}'", run_id);
  throw Error(ErrorCode::not_found, what, "run `mlops runs list` to see the runs");
}

std::vector<Run> RegistryStore::list_runs(const std::string& experiment, int limit) {
  Statement s(*db_,
              "SELECT r.id FROM runs r JOIN experiments e ON e.id = r.experiment_id"
              " WHERE ?1 = '' OR e.name = ?1 ORDER BY r.start_time DESC, r.rowid DESC LIMIT ?2");
  s.bind(1, experiment).bind(2, limit);
  std::vector<std::string> ids;
  while (s.step()) ids.push_back(s.column_text(0));
  std::vector<Run> runs;
  for (const std::string& id : ids) runs.push_back(*find_run(id));
  return runs;
}

ModelVersion RegistryStore::register_version(const NewVersion& v, const Change& change) {
  check_name("model name", v.name);
  sqlite::Transaction tx(*db_);  // BEGIN IMMEDIATE: concurrent registers queue, none is lost
  const std::int64_t now = now_ms();
  if (!v.run_id.empty()) {
    Statement run(*db_, "SELECT 1 FROM runs WHERE id = ?1");
    run.bind(1, v.run_id);
    if (!run.step()) throw Error(ErrorCode::not_found, fmt::format("no run with id {}", v.run_id));
  }
  Statement model(*db_, "INSERT OR IGNORE INTO registered_models(name, created_at, updated_at) VALUES (?1, ?2, ?2)");
  model.bind(1, v.name).bind(2, now).step();
  if (db_->changes() > 0) append_outbox(*db_, "registered_model_created", {{"name", v.name}});
  Statement next(*db_, "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?1");
  next.bind(1, v.name).step();
  const std::int64_t version = next.column_int64(0);
  Statement insert(*db_,
                   "INSERT INTO model_versions(name, version, version_tag, run_id, source, artifact_sha256,"
                   " description, created_at, updated_at) VALUES (?1, ?2, ?3, NULLIF(?4, ''), ?5, ?6, ?7, ?8, ?8)");
  const std::string source = stored_path(v.source);
  insert.bind(1, v.name).bind(2, version).bind(3, v.version_tag).bind(4, v.run_id).bind(5, source);
  insert.bind(6, v.artifact_sha256).bind(7, v.description).bind(8, now).step();
  Statement tag(*db_, "INSERT INTO model_version_tags(name, version, key, value) VALUES (?1, ?2, ?3, ?4)");
  for (const auto& [key, value] : v.tags) {
    tag.reset();
    tag.bind(1, v.name).bind(2, version).bind(3, key).bind(4, value).step();
  }
  Statement touch(*db_, "UPDATE registered_models SET updated_at = ?2 WHERE name = ?1");
  touch.bind(1, v.name).bind(2, now).step();
  append_audit(*db_, {v.name, version, "register", "", v.version_tag, v.gate}, change);
  append_outbox(*db_, "model_version_created",
                {{"name", v.name}, {"version", version}, {"run_id", v.run_id}, {"source", source},
                 {"artifact_sha256", v.artifact_sha256}, {"version_tag", v.version_tag},
                 {"description", v.description}, {"tags", v.tags}});
  if (v.stage) set_stage_locked(v.name, version, *v.stage, v.archive_existing, change);
  if (!v.alias.empty()) set_alias_locked(v.name, v.alias, version, change);
  tx.commit();
  return get_version(v.name, version);
}

void RegistryStore::record_refusal(const std::string& name, const std::string& gate, const Change& change) {
  sqlite::Transaction tx(*db_);
  append_audit(*db_, {name, std::nullopt, "refuse", "", "", gate}, change);
  tx.commit();
}

std::optional<ModelVersion> RegistryStore::find_version(const std::string& name, std::int64_t version) {
  auto v = query_one_version(*db_, "version = ?2", name, std::to_string(version));
  if (v) v->source = absolute_path(v->source);
  return v;
}

ModelVersion RegistryStore::get_version(const std::string& name, std::int64_t version) {
  if (auto found = find_version(name, version)) return *found;
  if (!find_model(name)) throw model_not_found(name);
  throw version_not_found(name, version);
}

std::vector<ModelVersion> RegistryStore::list_versions(const std::string& name) {
  if (!find_model(name)) throw model_not_found(name);
  Statement s(*db_, fmt::format("SELECT {} FROM model_versions WHERE name = ?1 ORDER BY version", kVersionColumns));
  s.bind(1, name);
  std::vector<ModelVersion> versions;
  while (s.step()) versions.push_back(read_version(s));
  for (ModelVersion& v : versions) {
    v.source = absolute_path(v.source);
    load_version_extras(*db_, v);
  }
  return versions;
}

std::optional<RegisteredModel> RegistryStore::find_model(const std::string& name) {
  Statement s(*db_,
              "SELECT m.name, m.description, m.created_at, m.updated_at,"
              " (SELECT COALESCE(MAX(version), 0) FROM model_versions v WHERE v.name = m.name),"
              " (SELECT MAX(version) FROM model_versions v WHERE v.name = m.name AND v.stage = 'Production')"
              " FROM registered_models m WHERE m.name = ?1");
  s.bind(1, name);
  if (!s.step()) return std::nullopt;
  RegisteredModel m;
  m.name = s.column_text(0);
  m.description = s.column_text(1);
  m.created_at = s.column_int64(2);
  m.updated_at = s.column_int64(3);
  m.latest_version = s.column_int64(4);
  if (!s.column_is_null(5)) m.production_version = s.column_int64(5);
  Statement aliases(*db_, "SELECT alias, version FROM aliases WHERE name = ?1");
  aliases.bind(1, name);
  while (aliases.step()) m.aliases[aliases.column_text(0)] = aliases.column_int64(1);
  return m;
}

std::vector<RegisteredModel> RegistryStore::list_models() {
  Statement s(*db_, "SELECT name FROM registered_models ORDER BY name");
  std::vector<std::string> names;
  while (s.step()) names.push_back(s.column_text(0));
  std::vector<RegisteredModel> models;
  for (const std::string& name : names) models.push_back(*find_model(name));
  return models;
}

std::optional<ModelVersion> RegistryStore::find_latest_in_stage(const std::string& name, Stage stage) {
  auto v = query_one_version(*db_, "stage = ?2", name, std::string(to_string(stage)));
  if (v) v->source = absolute_path(v->source);
  return v;
}

std::optional<ModelVersion> RegistryStore::find_by_alias(const std::string& name, const std::string& alias) {
  auto v = query_one_version(*db_, "version = (SELECT version FROM aliases WHERE name = ?1 AND alias = ?2)",
                             name, alias);
  if (v) v->source = absolute_path(v->source);
  return v;
}

ModelVersion RegistryStore::set_stage(const std::string& name, std::int64_t version, Stage stage,
                                      bool archive_existing, const Change& change) {
  sqlite::Transaction tx(*db_);
  set_stage_locked(name, version, stage, archive_existing, change);
  tx.commit();
  return get_version(name, version);
}

void RegistryStore::set_stage_locked(const std::string& name, std::int64_t version, Stage stage,
                                     bool archive_existing, const Change& change) {
  const ModelVersion current = get_version(name, version);
  const std::int64_t now = now_ms();
  if (archive_existing && (stage == Stage::production || stage == Stage::staging)) {
    Statement others(*db_, "SELECT version FROM model_versions WHERE name = ?1 AND stage = ?2 AND version != ?3");
    others.bind(1, name).bind(2, to_string(stage)).bind(3, version);
    std::vector<std::int64_t> archived;
    while (others.step()) archived.push_back(others.column_int64(0));
    Statement archive(*db_, "UPDATE model_versions SET stage = 'Archived', updated_at = ?3 WHERE name = ?1 AND version = ?2");
    for (std::int64_t other : archived) {
      archive.reset();
      archive.bind(1, name).bind(2, other).bind(3, now).step();
      append_audit(*db_, {name, other, "stage", std::string(to_string(stage)), "Archived", ""}, change);
    }
  }
  Statement update(*db_, "UPDATE model_versions SET stage = ?3, updated_at = ?4 WHERE name = ?1 AND version = ?2");
  update.bind(1, name).bind(2, version).bind(3, to_string(stage)).bind(4, now).step();
  append_audit(*db_, {name, version, "stage", std::string(to_string(current.stage)), std::string(to_string(stage)), ""},
               change);
  append_outbox(*db_, "stage_transitioned",
                {{"name", name}, {"version", version}, {"stage", to_string(stage)},
                 {"archive_existing_versions", archive_existing}});
  if (stage == Stage::production) {
    Statement old(*db_, "SELECT version FROM aliases WHERE name = ?1 AND alias = 'production'");
    old.bind(1, name);
    const std::string from = old.step() ? std::to_string(old.column_int64(0)) : "";
    if (from != std::to_string(version)) {
      Statement alias(*db_, "INSERT OR REPLACE INTO aliases(name, alias, version) VALUES (?1, 'production', ?2)");
      alias.bind(1, name).bind(2, version).step();
      append_audit(*db_, {name, version, "alias_set", from, "production", ""}, change);
      append_outbox(*db_, "alias_set", {{"name", name}, {"alias", "production"}, {"version", version}});
    }
  }
}

void RegistryStore::set_alias(const std::string& name, const std::string& alias, std::int64_t version,
                              const Change& change) {
  sqlite::Transaction tx(*db_);
  set_alias_locked(name, alias, version, change);
  tx.commit();
}

void RegistryStore::set_alias_locked(const std::string& name, const std::string& alias, std::int64_t version,
                                     const Change& change) {
  check_name("alias", alias);
  if (alias.size() > 1 && (alias[0] == 'v' || alias[0] == 'V') &&
      std::all_of(alias.begin() + 1, alias.end(), [](unsigned char c) { return std::isdigit(c); })) {
    throw Error(ErrorCode::invalid_input, fmt::format("alias '{}' looks like a version reference", alias),
                "MLflow reserves aliases of the form v<number>; choose a name such as champion");
  }
  get_version(name, version);
  Statement old(*db_, "SELECT version FROM aliases WHERE name = ?1 AND alias = ?2");
  old.bind(1, name).bind(2, alias);
  const std::string from = old.step() ? std::to_string(old.column_int64(0)) : "";
  Statement s(*db_, "INSERT OR REPLACE INTO aliases(name, alias, version) VALUES (?1, ?2, ?3)");
  s.bind(1, name).bind(2, alias).bind(3, version).step();
  append_audit(*db_, {name, version, "alias_set", from, alias, ""}, change);
  append_outbox(*db_, "alias_set", {{"name", name}, {"alias", alias}, {"version", version}});
}

void RegistryStore::delete_alias(const std::string& name, const std::string& alias, const Change& change) {
  sqlite::Transaction tx(*db_);
  Statement old(*db_, "SELECT version FROM aliases WHERE name = ?1 AND alias = ?2");
  old.bind(1, name).bind(2, alias);
  if (!old.step()) {
    if (!find_model(name)) throw model_not_found(name);
    throw Error(ErrorCode::not_found, fmt::format("model '{}' has no alias '{}'", name, alias),
                fmt::format("run `mlops models show {}` to see its aliases", name));
  }
  const std::int64_t version = old.column_int64(0);
  Statement s(*db_, "DELETE FROM aliases WHERE name = ?1 AND alias = ?2");
  s.bind(1, name).bind(2, alias).step();
  append_audit(*db_, {name, version, "alias_delete", alias, "", ""}, change);
  append_outbox(*db_, "alias_deleted", {{"name", name}, {"alias", alias}});
  tx.commit();
}

ModelVersion RegistryStore::rollback(const std::string& name, const Change& change) {
  std::int64_t restored = 0;
  {
    sqlite::Transaction tx(*db_);
    const auto current = find_latest_in_stage(name, Stage::production);
    if (!current) {
      if (!find_model(name)) throw model_not_found(name);
      throw Error(ErrorCode::not_found, fmt::format("model '{}' has no version in Production", name),
                  fmt::format("promote one first: mlops models promote {} VERSION --stage Production", name));
    }
    // The newest earlier move to Production of another version that still exists.
    Statement previous(*db_,
                       "SELECT a.version FROM audit_log a JOIN model_versions v"
                       " ON v.name = a.name AND v.version = a.version"
                       " WHERE a.name = ?1 AND a.action IN ('stage', 'rollback') AND a.to_value = 'Production'"
                       " AND a.version != ?2 ORDER BY a.id DESC LIMIT 1");
    previous.bind(1, name).bind(2, current->version);
    if (!previous.step()) {
      throw Error(ErrorCode::not_found,
                  fmt::format("model '{}' has no earlier Production version than {} to roll back to", name,
                              current->version),
                  fmt::format("see `mlops models history {}`", name));
    }
    restored = previous.column_int64(0);
    const std::int64_t now = now_ms();
    Statement update(*db_, "UPDATE model_versions SET stage = ?3, updated_at = ?4 WHERE name = ?1 AND version = ?2");
    update.bind(1, name).bind(2, current->version).bind(3, "Archived").bind(4, now).step();
    update.reset();
    update.bind(1, name).bind(2, restored).bind(3, "Production").bind(4, now).step();
    Statement alias(*db_, "INSERT OR REPLACE INTO aliases(name, alias, version) VALUES (?1, 'production', ?2)");
    alias.bind(1, name).bind(2, restored).step();
    append_audit(*db_, {name, current->version, "stage", "Production", "Archived", ""}, change);
    append_audit(*db_, {name, restored, "rollback", std::to_string(current->version), "Production", ""}, change);
    append_outbox(*db_, "stage_transitioned",
                  {{"name", name}, {"version", current->version}, {"stage", "Archived"},
                   {"archive_existing_versions", false}});
    append_outbox(*db_, "stage_transitioned",
                  {{"name", name}, {"version", restored}, {"stage", "Production"},
                   {"archive_existing_versions", false}});
    append_outbox(*db_, "alias_set", {{"name", name}, {"alias", "production"}, {"version", restored}});
    tx.commit();
  }
  return get_version(name, restored);
}

void RegistryStore::set_version_tag(const std::string& name, std::int64_t version, const std::string& key,
                                    const std::string& value, const Change& change) {
  sqlite::Transaction tx(*db_);
  get_version(name, version);
  Statement s(*db_, "INSERT OR REPLACE INTO model_version_tags(name, version, key, value) VALUES (?1, ?2, ?3, ?4)");
  s.bind(1, name).bind(2, version).bind(3, key).bind(4, value).step();
  append_audit(*db_, {name, version, "tag", key, value, ""}, change);
  append_outbox(*db_, "version_tag_set", {{"name", name}, {"version", version}, {"key", key}, {"value", value}});
  tx.commit();
}

std::vector<AuditEntry> RegistryStore::history(const std::string& name) {
  if (!find_model(name)) {
    Statement any(*db_, "SELECT 1 FROM audit_log WHERE name = ?1 LIMIT 1");
    any.bind(1, name);
    if (!any.step()) throw model_not_found(name);
  }
  Statement s(*db_,
              "SELECT id, name, version, action, COALESCE(from_value, ''), COALESCE(to_value, ''),"
              " COALESCE(gate, ''), COALESCE(reason, ''), user, at FROM audit_log WHERE name = ?1 ORDER BY id");
  s.bind(1, name);
  std::vector<AuditEntry> entries;
  while (s.step()) {
    AuditEntry e;
    e.id = s.column_int64(0);
    e.name = s.column_text(1);
    if (!s.column_is_null(2)) e.version = s.column_int64(2);
    e.action = s.column_text(3);
    e.from_value = s.column_text(4);
    e.to_value = s.column_text(5);
    e.gate = s.column_text(6);
    e.reason = s.column_text(7);
    e.user = s.column_text(8);
    e.at = s.column_int64(9);
    entries.push_back(std::move(e));
  }
  return entries;
}

std::vector<OutboxEvent> RegistryStore::outbox(const std::string& status, int limit) {
  Statement s(*db_,
              "SELECT id, kind, payload, status, attempts, COALESCE(last_error, ''), created_at FROM outbox"
              " WHERE ?1 = '' OR status = ?1 ORDER BY id LIMIT ?2");
  s.bind(1, status).bind(2, limit);
  std::vector<OutboxEvent> events;
  while (s.step()) {
    events.push_back({s.column_int64(0), s.column_text(1), s.column_text(2), s.column_text(3),
                      static_cast<int>(s.column_int64(4)), s.column_text(5), s.column_int64(6)});
  }
  return events;
}

OutboxCounts RegistryStore::outbox_counts() {
  Statement s(*db_, "SELECT status, COUNT(*) FROM outbox GROUP BY status");
  OutboxCounts counts;
  while (s.step()) {
    const std::string status = s.column_text(0);
    const std::int64_t n = s.column_int64(1);
    if (status == "pending") counts.pending = n;
    if (status == "failed") counts.failed = n;
    if (status == "done") counts.done = n;
    if (status == "skipped") counts.skipped = n;
  }
  return counts;
}

namespace {
void update_outbox(sqlite::Database& db, std::int64_t id, std::string_view status, const std::string* error,
                   bool count_attempt) {
  Statement s(db,
              "UPDATE outbox SET status = ?2, last_error = ?3, attempts = attempts + ?4, updated_at = ?5"
              " WHERE id = ?1");
  s.bind(1, id).bind(2, status);
  if (error) {
    s.bind(3, *error);
  } else {
    s.bind(3, nullptr);
  }
  s.bind(4, count_attempt ? 1 : 0).bind(5, now_ms()).step();
}
}  // namespace

void RegistryStore::mark_outbox_done(std::int64_t id) { update_outbox(*db_, id, "done", nullptr, true); }

void RegistryStore::mark_outbox_attempt_failed(std::int64_t id, const std::string& error) {
  update_outbox(*db_, id, "pending", &error, true);
}

void RegistryStore::mark_outbox_failed(std::int64_t id, const std::string& error) {
  update_outbox(*db_, id, "failed", &error, true);
}

namespace {
// An outbox event's status; Error{not_found} for an unknown id.
std::string outbox_status(sqlite::Database& db, std::int64_t id) {
  Statement find(db, "SELECT status FROM outbox WHERE id = ?1");
  find.bind(1, id);
  if (!find.step()) {
    throw Error(ErrorCode::not_found, fmt::format("no mirror event {}", id),
                "run `mlops mirror status` to list the pending and failed events");
  }
  return find.column_text(0);
}
}  // namespace

void RegistryStore::retry_outbox(std::int64_t id) {
  sqlite::Transaction tx(*db_);
  const std::string status = outbox_status(*db_, id);
  if (status != "failed") {
    throw Error(ErrorCode::not_found, fmt::format("mirror event {} has not failed (it is {})", id, status),
                "only failed events can be retried; pending ones are sent by `mlops mirror`");
  }
  Statement s(*db_, "UPDATE outbox SET status = 'pending', updated_at = ?2 WHERE id = ?1");
  s.bind(1, id).bind(2, now_ms()).step();
  tx.commit();
}

void RegistryStore::skip_outbox(std::int64_t id, const std::string& reason) {
  sqlite::Transaction tx(*db_);
  const std::string status = outbox_status(*db_, id);
  if (status != "failed" && status != "pending") {
    throw Error(ErrorCode::conflict, fmt::format("mirror event {} is {}: there is nothing to skip", id, status),
                "only pending and failed events can be skipped");
  }
  update_outbox(*db_, id, "skipped", &reason, false);
  tx.commit();
}

void RegistryStore::forget_mirror_id(const std::string& kind, const std::string& local_id) {
  Statement s(*db_, "DELETE FROM mirror_ids WHERE kind = ?1 AND local_id = ?2");
  s.bind(1, kind).bind(2, local_id).step();
}

void RegistryStore::forget_mirror_ids(const std::string& kind, const std::string& local_id_prefix) {
  Statement s(*db_, "DELETE FROM mirror_ids WHERE kind = ?1 AND substr(local_id, 1, length(?2)) = ?2");
  s.bind(1, kind).bind(2, local_id_prefix).step();
}

std::optional<std::string> RegistryStore::mirror_id(const std::string& kind, const std::string& local_id) {
  Statement s(*db_, "SELECT remote_id FROM mirror_ids WHERE kind = ?1 AND local_id = ?2");
  s.bind(1, kind).bind(2, local_id);
  if (!s.step()) return std::nullopt;
  return s.column_text(0);
}

void RegistryStore::set_mirror_id(const std::string& kind, const std::string& local_id, const std::string& remote_id) {
  Statement s(*db_, "INSERT OR REPLACE INTO mirror_ids(kind, local_id, remote_id) VALUES (?1, ?2, ?3)");
  s.bind(1, kind).bind(2, local_id).bind(3, remote_id).step();
}

std::string RegistryStore::registry_id() {
  Statement s(*db_, "SELECT value FROM meta WHERE key = 'registry_id'");
  if (!s.step()) throw Error(ErrorCode::corrupt, fmt::format("{} has no registry_id", db_->path()));
  return s.column_text(0);
}

std::unique_ptr<RegistryStore> open_for_reading(const std::string& path) {
  std::error_code ec;
  const bool exists = path != ":memory:" && std::filesystem::exists(path, ec);
  return std::make_unique<RegistryStore>(path, exists ? RegistryStore::Mode::read_only : RegistryStore::Mode::read_write);
}

}  // namespace mlops::registry
