// registry (internal): what every change writes beside itself, inside its transaction —
// the audit row and the MLflow mirror's outbox event.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "libmlops/registry/registry_store.hpp"

namespace mlops::sqlite { class Database; }

namespace mlops::registry::detail {

struct AuditRow {
  std::string_view name;
  std::optional<std::int64_t> version;
  std::string_view action;
  std::string from_value;
  std::string to_value;
  std::string gate;
};

void append_audit(sqlite::Database& db, const AuditRow& row, const Change& change);
void append_outbox(sqlite::Database& db, std::string_view kind, const nlohmann::json& payload);

}  // namespace mlops::registry::detail
