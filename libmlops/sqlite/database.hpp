// sqlite: Database, Statement, Transaction — the only code that calls sqlite3_*. Knows no table.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace mlops::sqlite {

enum class Access {
  read_write,  // creates the file and its directory if missing; WAL mode
  read_only,   // never writes: the file must exist; works on a read-only mount too
};

// An open connection in WAL mode with a busy timeout, so that concurrent processes queue
// instead of failing. Not thread-safe: one connection per thread.
class Database {
 public:
  // Opens the file at path; ":memory:" for tests. Throws Error{io}, or Error{not_found}
  // for a read-only open of a missing file.
  explicit Database(const std::string& path, int busy_timeout_ms = 30000, Access access = Access::read_write);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements without results (DDL, PRAGMA). Throws Error{io}.
  void exec(std::string_view sql);
  std::int64_t last_insert_rowid() const;
  int changes() const;
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

// A prepared statement. bind() uses 1-based indexes; column_*() 0-based.
class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, const std::optional<std::string>& value);
  Statement& bind(int index, std::nullptr_t);
  // Binds without copying: `value` must stay alive until the next reset() or step() ends.
  Statement& bind_ref(int index, std::string_view value);
  Statement& bind_blob(int index, const void* data, std::size_t size);

  // Advances; true while a row is available. Throws Error{io}, or Error{conflict} on a
  // constraint violation.
  bool step();
  void reset();

  bool column_is_null(int index) const;
  std::int64_t column_int64(int index) const;
  double column_double(int index) const;
  std::string column_text(int index) const;
  std::optional<std::string> column_optional_text(int index) const;
  std::string column_blob(int index) const;

 private:
  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back in the destructor unless commit() ran. IMMEDIATE
// takes the write lock up front, so concurrent writers queue on the busy timeout rather
// than failing with SQLITE_BUSY at their first write.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace mlops::sqlite
