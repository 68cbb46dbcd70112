// registry (internal): the versioned schema and its migrations.
#pragma once

namespace mlops::sqlite { class Database; }

namespace mlops::registry::detail {

// Brings the database to the newest schema version inside one write transaction, so that
// processes opening a new registry at the same moment migrate it exactly once. Throws
// Error{corrupt} for a database written by a newer mlops.
void migrate(sqlite::Database& db);
int schema_version();

}  // namespace mlops::registry::detail
