#include "libmlops/sqlite/database.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <cerrno>
#include <filesystem>

#include "libmlops/core/error.hpp"

namespace mlops::sqlite {
namespace {
[[noreturn]] void fail(sqlite3* db, int rc, std::string_view what) {
  const std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int primary = rc & 0xff;
  if (primary == SQLITE_CONSTRAINT) {
    throw Error(ErrorCode::conflict, fmt::format("{}: {}", what, detail));
  }
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    throw Error(ErrorCode::unavailable, fmt::format("{}: database is busy ({})", what, detail),
                "another process holds the database lock; try again");
  }
  // A full disk shows as SQLITE_FULL, or as an I/O error whose errno says so (WAL, fsync).
  if (primary == SQLITE_FULL || (primary == SQLITE_IOERR && db && sqlite3_system_errno(db) == ENOSPC)) {
    throw Error(ErrorCode::io, fmt::format("{}: the disk is full ({})", what, detail),
                "free some space on the disk that holds it and run the command again; the change was rolled back, "
                "nothing was half-written");
  }
  if (primary == SQLITE_READONLY) {
    throw Error(ErrorCode::io, fmt::format("{}: the database is read-only ({})", what, detail),
                "this command changes the registry: point MLOPS_HOME at a writable copy");
  }
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) {
    throw Error(ErrorCode::corrupt, fmt::format("{}: {}", what, detail),
                "the database file is damaged or not a SQLite database");
  }
  throw Error(ErrorCode::io, fmt::format("{}: {}", what, detail));
}

// Memory statistics make every SQLite allocation take one process-wide mutex: two threads
// on two connections (the sync's reader and writer, the server's workers) spent half their
// time waiting on it. Nothing here reads those statistics.
void configure_sqlite_once() {
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return sqlite3_initialize() == SQLITE_OK;
  }();
  (void)configured;
}
}  // namespace

namespace {
sqlite3* open_connection(const std::string& name, int flags) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(name.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc == SQLITE_OK) return db;
  const std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  sqlite3_close(db);
  throw Error(ErrorCode::io, fmt::format("cannot open database {}: {}", name, detail),
              "check that the directory exists and is writable (setting MLOPS_HOME)");
}

// A file path as the path of a file: URI ('%', '?' and '#' escaped).
std::string uri_path(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out;
}

// Whether a read works on this connection: a WAL database in a folder this process cannot
// write fails here (it cannot make the -shm file), not at open.
bool can_read(sqlite3* db) {
  return sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr) == SQLITE_OK;
}
}  // namespace

Database::Database(const std::string& path, int busy_timeout_ms, Access access) : path_(path) {
  configure_sqlite_once();
  if (access == Access::read_only) {
    std::error_code ec;
    if (path != ":memory:" && !std::filesystem::exists(path, ec)) {
      throw Error(ErrorCode::not_found, fmt::format("no database at {}", path),
                  "nothing has been recorded there yet: check MLOPS_HOME, or train with --register first");
    }
    db_ = open_connection(path, SQLITE_OPEN_READONLY);
    if (!can_read(db_)) {
      // A read-only mount: nobody can be writing, so the file may be read as immutable.
      sqlite3_close(db_);
      db_ = open_connection(
          "file:" + uri_path(path) + "?mode=ro&immutable=1", SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
    }
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    sqlite3_extended_result_codes(db_, 1);
    return;
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (path != ":memory:" && !parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    throw Error(ErrorCode::io, fmt::format("cannot create directory {}: {}", parent.string(), ec.message()),
                "set MLOPS_HOME (or --home) to a writable directory");
  }
  db_ = open_connection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  sqlite3_extended_result_codes(db_, 1);
  try {
    exec("PRAGMA foreign_keys = ON");
    if (path != ":memory:") {
      // Switching to WAL needs a moment of exclusive access; the busy handler covers it.
      exec("PRAGMA journal_mode = WAL");
      exec("PRAGMA synchronous = NORMAL");
    }
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

Database::~Database() { sqlite3_close(db_); }

void Database::exec(std::string_view sql) {
  const std::string text(sql);
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  sqlite3_free(message);  // sqlite3_errmsg(db_) holds the same text, read by fail()
  if (rc != SQLITE_OK) fail(db_, rc, path_);
}

std::int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
int Database::changes() const { return sqlite3_changes(db_); }

Statement::Statement(Database& db, std::string_view sql) : db_(db) {
  const int rc = sqlite3_prepare_v2(db.handle(), sql.data(), static_cast<int>(sql.size()), &stmt_,
                                    nullptr);
  if (rc != SQLITE_OK) fail(db.handle(), rc, fmt::format("preparing '{}'", sql));
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) fail(db_.handle(), rc, "bind");
  return *this;
}

Statement& Statement::bind(int index, double value) {
  const int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK) fail(db_.handle(), rc, "bind");
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  const int rc = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                                   SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) fail(db_.handle(), rc, "bind");
  return *this;
}

Statement& Statement::bind_ref(int index, std::string_view value) {
  const int rc = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
  if (rc != SQLITE_OK) fail(db_.handle(), rc, "bind");
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& value) {
  return value ? bind(index, std::string_view(*value)) : bind(index, nullptr);
}

Statement& Statement::bind(int index, std::nullptr_t) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) fail(db_.handle(), rc, "bind");
  return *this;
}

Statement& Statement::bind_blob(int index, const void* data, std::size_t size) {
  const int rc = sqlite3_bind_blob(stmt_, index, data, static_cast<int>(size), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) fail(db_.handle(), rc, "bind");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_.handle(), rc, db_.path());
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}
std::int64_t Statement::column_int64(int index) const { return sqlite3_column_int64(stmt_, index); }
double Statement::column_double(int index) const { return sqlite3_column_double(stmt_, index); }

std::string Statement::column_text(int index) const {
  const auto* text = sqlite3_column_text(stmt_, index);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index)));
}

std::string Statement::column_blob(int index) const {
  const void* data = sqlite3_column_blob(stmt_, index);
  if (!data) return {};
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index)));
}

std::optional<std::string> Statement::column_optional_text(int index) const {
  if (column_is_null(index)) return std::nullopt;
  return column_text(index);
}

Transaction::Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.exec("ROLLBACK");
    } catch (...) {
      // A failed rollback leaves nothing to undo that SQLite has not undone itself.
    }
  }
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace mlops::sqlite
