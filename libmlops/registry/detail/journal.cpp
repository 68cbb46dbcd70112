#include "libmlops/registry/detail/journal.hpp"

#include "libmlops/core/clock.hpp"
#include "libmlops/sqlite/database.hpp"

namespace mlops::registry::detail {

using sqlite::Statement;

void append_outbox(sqlite::Database& db, std::string_view kind, const nlohmann::json& payload) {
  const std::int64_t now = now_ms();
  Statement s(db, "INSERT INTO outbox(kind, payload, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)");
  s.bind(1, kind).bind(2, payload.dump()).bind(3, now).step();
}

void append_audit(sqlite::Database& db, const AuditRow& row, const Change& change) {
  Statement s(db,
              "INSERT INTO audit_log(name, version, action, from_value, to_value, gate, reason, user, at)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  s.bind(1, row.name);
  if (row.version) {
    s.bind(2, *row.version);
  } else {
    s.bind(2, nullptr);
  }
  s.bind(3, row.action).bind(4, row.from_value).bind(5, row.to_value).bind(6, row.gate);
  s.bind(7, change.reason).bind(8, change.user.empty() ? current_user() : change.user).bind(9, now_ms()).step();
}

}  // namespace mlops::registry::detail
