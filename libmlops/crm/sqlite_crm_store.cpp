#include "libmlops/crm/sqlite_crm_store.hpp"

#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/fs.hpp"
#include "libmlops/data/csv.hpp"
#include "libmlops/data/synthetic.hpp"
#include "libmlops/sqlite/database.hpp"

namespace mlops::crm {
namespace {

using sqlite::Statement;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS crm_features (
  position  INTEGER PRIMARY KEY,
  name      TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS customers (
  id                     TEXT PRIMARY KEY,
  name                   TEXT NOT NULL,
  features               BLOB NOT NULL,   -- little-endian doubles, in crm_features order
  segment                TEXT NOT NULL DEFAULT 'Unassigned',
  segment_model_version  TEXT NOT NULL DEFAULT '',
  segment_updated_at     INTEGER NOT NULL DEFAULT 0,
  risk_score             REAL NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- No index on segment: every sync rewrites segments and keeping one up to date cost a
-- fifth of the write time; listing a segment scans instead.
DROP INDEX IF EXISTS customers_by_segment;
CREATE TABLE IF NOT EXISTS segment_history (
  id             INTEGER PRIMARY KEY,
  customer_id    TEXT NOT NULL,
  old_segment    TEXT NOT NULL,
  new_segment    TEXT NOT NULL,
  model_version  TEXT NOT NULL,
  source         TEXT NOT NULL,
  at             INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS segment_history_by_customer ON segment_history(customer_id, id);
)sql";

constexpr std::string_view kCustomerColumns =
    "id, name, features, segment, segment_model_version, segment_updated_at, risk_score";

Customer read_customer(const Statement& s) {
  Customer c;
  c.id = s.column_text(0);
  c.name = s.column_text(1);
  const std::string blob = s.column_blob(2);
  c.features.resize(blob.size() / sizeof(double));
  std::memcpy(c.features.data(), blob.data(), c.features.size() * sizeof(double));
  c.segment = s.column_text(3);
  c.segment_model_version = s.column_text(4);
  c.segment_updated_at = s.column_int64(5);
  c.risk_score = s.column_double(6);
  return c;
}

}  // namespace

SqliteCrmStore::SqliteCrmStore(const std::string& path)
    : db_(std::make_unique<sqlite::Database>(path)) {
  db_->exec(kSchema);
  // CRM files made before risk_score existed gain the column (0 for every customer).
  Statement columns(*db_, "SELECT 1 FROM pragma_table_info('customers') WHERE name = 'risk_score'");
  if (!columns.step()) db_->exec("ALTER TABLE customers ADD COLUMN risk_score REAL NOT NULL DEFAULT 0");
}

SqliteCrmStore::~SqliteCrmStore() = default;

std::vector<std::string> SqliteCrmStore::feature_names() {
  Statement s(*db_, "SELECT name FROM crm_features ORDER BY position");
  std::vector<std::string> names;
  while (s.step()) names.push_back(s.column_text(0));
  return names;
}

std::optional<Customer> SqliteCrmStore::find_customer(const std::string& id) {
  check_customer_id(id);
  Statement s(*db_, fmt::format("SELECT {} FROM customers WHERE id = ?1", kCustomerColumns));
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_customer(s);
}

std::vector<Customer> SqliteCrmStore::page(const std::string& after, int limit) {
  Statement s(*db_, fmt::format("SELECT {} FROM customers WHERE id > ?1 ORDER BY id LIMIT ?2", kCustomerColumns));
  s.bind(1, after).bind(2, limit);
  std::vector<Customer> out;
  while (s.step()) out.push_back(read_customer(s));
  return out;
}

std::vector<SegmentChange> SqliteCrmStore::write_segments(const std::vector<SegmentWrite>& writes) {
  sqlite::Transaction tx(*db_);
  std::vector<SegmentChange> changes;
  changes.reserve(writes.size());
  const std::int64_t now = now_ms();
  Statement current(*db_, "SELECT segment FROM customers WHERE id = ?1");
  Statement update(*db_,
                   "UPDATE customers SET segment = ?2, segment_model_version = ?3, segment_updated_at = ?4 WHERE id = ?1");
  Statement swap(*db_,
                 "UPDATE customers SET segment = ?2, segment_model_version = ?3, segment_updated_at = ?4"
                 " WHERE id = ?1 AND +segment = ?5");  // + keeps the lookup on the primary key
  Statement audit(*db_,
                  "INSERT INTO segment_history(customer_id, old_segment, new_segment, model_version, source, at)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  for (const SegmentWrite& w : writes) {
    check_customer_id(w.customer_id);
    if (w.segment.empty()) throw Error(ErrorCode::invalid_input, fmt::format("empty segment for {}", w.customer_id));
    SegmentChange change{w.customer_id, w.expected_segment, w.segment, true};
    // One compare-and-set when the caller knows the segment it read; a strict write (a
    // rollback) never falls back, so an edit made since is not overwritten.
    bool written = false;
    if (!w.expected_segment.empty() && (w.strict || w.expected_segment != w.segment)) {
      swap.reset();
      swap.bind_ref(1, w.customer_id).bind_ref(2, w.segment).bind_ref(3, w.model_version).bind(4, now);
      swap.bind_ref(5, w.expected_segment).step();
      written = db_->changes() == 1;
    }
    if (!written) {  // no hint, or the segment moved since the caller read it
      current.reset();
      current.bind_ref(1, w.customer_id);
      if (!current.step()) {
        throw Error(ErrorCode::not_found, fmt::format("no customer with id '{}' in the CRM", w.customer_id),
                    "run `mlops crm list` to see customer ids");
      }
      change.old_segment = current.column_text(0);
      change.changed = !w.strict && change.old_segment != change.new_segment;
      change.conflict = w.strict && change.old_segment != w.segment;  // already restored is no conflict
      if (change.changed || (w.force && !w.strict)) {
        update.reset();
        update.bind_ref(1, w.customer_id).bind_ref(2, w.segment).bind_ref(3, w.model_version).bind(4, now).step();
        written = true;
      }
    }
    if (written) {
      audit.reset();
      audit.bind_ref(1, w.customer_id).bind_ref(2, change.old_segment).bind_ref(3, w.segment);
      audit.bind_ref(4, w.model_version).bind_ref(5, w.source).bind(6, now).step();
    }
    changes.push_back(std::move(change));
  }
  tx.commit();
  return changes;
}

void SqliteCrmStore::upsert(const Customer& c) {
  Statement s(*db_,
              "INSERT INTO customers(id, name, features, segment, risk_score) VALUES (?1, ?2, ?3, ?4, ?5)"
              " ON CONFLICT(id) DO UPDATE SET name = excluded.name, features = excluded.features,"
              " segment = excluded.segment, risk_score = excluded.risk_score");
  s.bind(1, c.id).bind(2, c.name).bind_blob(3, c.features.data(), c.features.size() * sizeof(double));
  s.bind(4, c.segment.empty() ? "Unassigned" : c.segment).bind(5, c.risk_score).step();
}

std::int64_t SqliteCrmStore::seed(std::int64_t count, std::uint32_t seed) {
  if (count < 1) throw Error(ErrorCode::invalid_input, "--customers must be at least 1");
  const data::Dataset ds = data::generate_churn({count + 1, 10, 2, seed});
  sqlite::Transaction tx(*db_);
  db_->exec("DELETE FROM customers; DELETE FROM segment_history; DELETE FROM crm_features;");
  Statement feature(*db_, "INSERT INTO crm_features(position, name) VALUES (?1, ?2)");
  for (std::size_t j = 0; j < ds.feature_names.size(); ++j) {
    feature.reset();
    feature.bind(1, static_cast<std::int64_t>(j)).bind(2, ds.feature_names[j]).step();
  }
  const int width = std::max<int>(3, static_cast<int>(std::to_string(count).size()));
  Statement insert(*db_, "INSERT INTO customers(id, name, features, risk_score) VALUES (?1, ?2, ?3, ?4)");
  for (std::int64_t i = 0; i <= count; ++i) {
    const double* x = ds.values.data() + i * 10;
    // The course's test customer comes last, so CUST001... keep the same features for a seed.
    const std::string id = i < count ? fmt::format("CUST{:0{}}", i + 1, width) : "CUST_TEST_007";
    insert.reset();
    insert.bind(1, id).bind(2, i < count ? fmt::format("Customer {}", i + 1) : "Test Customer 007");
    insert.bind_blob(3, x, 10 * sizeof(double)).bind(4, data::churn_probability(x, 10)).step();  // the true risk
  }
  tx.commit();
  return count + 1;
}

std::int64_t SqliteCrmStore::import_csv(const std::string& path) {
  std::vector<std::string> header;
  std::vector<std::size_t> feature_columns;
  std::optional<std::size_t> segment_column;
  std::optional<std::size_t> risk_column;
  std::int64_t rows = 0;
  sqlite::Transaction tx(*db_);
  std::vector<std::string> known = feature_names();
  data::for_each_csv_row(path, [&](const std::vector<std::string_view>& fields, std::size_t line) {
    if (header.empty()) {
      header.assign(fields.begin(), fields.end());
      if (header.size() < 3 || header[0] != "id" || header[1] != "name") {
        throw Error(ErrorCode::invalid_input, fmt::format("{}:1: the header must start with id,name", path),
                    "columns: id, name, one column per feature, optionally segment");
      }
      std::vector<std::string> names;
      for (std::size_t c = 2; c < header.size(); ++c) {
        if (header[c] == "segment") {
          segment_column = c;
        } else if (header[c] == "risk_score") {
          risk_column = c;
        } else if (header[c] != "segment_model_version" && header[c] != "segment_updated_at") {
          feature_columns.push_back(c);
          names.push_back(header[c]);
        }
      }
      if (known.empty()) {
        Statement feature(*db_, "INSERT INTO crm_features(position, name) VALUES (?1, ?2)");
        for (std::size_t j = 0; j < names.size(); ++j) {
          feature.reset();
          feature.bind(1, static_cast<std::int64_t>(j)).bind(2, names[j]).step();
        }
      } else if (names != known) {
        throw Error(ErrorCode::invalid_input,
                    fmt::format("{}:1: feature columns {} differ from the CRM's {}", path, fmt::join(names, ","),
                                fmt::join(known, ",")),
                    "import into a new CRM file, or use the CRM's feature columns");
      }
      return;
    }
    if (fields.size() != header.size()) {
      throw Error(ErrorCode::invalid_input,
                  fmt::format("{}:{}: row has {} fields, the header has {}", path, line, fields.size(), header.size()));
    }
    Customer c;
    c.id = std::string(fields[0]);
    try {
      check_customer_id(c.id);
    } catch (const Error& e) {
      throw Error(ErrorCode::invalid_input, fmt::format("{}:{}: {}", path, line, e.what()), e.hint());
    }
    c.name = std::string(fields[1]);
    for (std::size_t col : feature_columns) c.features.push_back(data::parse_csv_number(fields[col], path, line, header[col], col));
    if (segment_column) c.segment = std::string(fields[*segment_column]);
    if (risk_column) {
      c.risk_score = data::parse_csv_number(fields[*risk_column], path, line, "risk_score", *risk_column);
      if (!(c.risk_score >= 0 && c.risk_score <= 1)) {
        throw Error(ErrorCode::invalid_input, fmt::format("{}:{}: risk_score {} is outside 0..1", path, line, c.risk_score));
      }
    }
    upsert(c);
    ++rows;
  });
  tx.commit();
  return rows;
}

std::int64_t SqliteCrmStore::export_csv(const std::string& path) {
  const std::vector<std::string> names = feature_names();
  std::string out = "id,name";
  for (const auto& n : names) {
    out += ',';
    out += data::csv_escape(n);
  }
  out += ",segment,segment_model_version,segment_updated_at,risk_score\n";
  Statement s(*db_, fmt::format("SELECT {} FROM customers ORDER BY id", kCustomerColumns));
  std::int64_t rows = 0;
  while (s.step()) {
    const Customer c = read_customer(s);
    out += fmt::format("{},{}", data::csv_escape(c.id), data::csv_escape(c.name));
    for (double v : c.features) out += fmt::format(",{}", v);
    out += fmt::format(",{},{},{},{}\n", data::csv_escape(c.segment), data::csv_escape(c.segment_model_version),
                       c.segment_updated_at, c.risk_score);
    ++rows;
  }
  write_file_atomic(path, out);
  return rows;
}

std::vector<Customer> SqliteCrmStore::list(const std::string& segment, int limit) {
  Statement s(*db_, fmt::format("SELECT {} FROM customers WHERE ?1 = '' OR segment = ?1 ORDER BY id LIMIT ?2",
                                kCustomerColumns));
  s.bind(1, segment).bind(2, limit);
  std::vector<Customer> out;
  while (s.step()) out.push_back(read_customer(s));
  return out;
}

std::vector<SegmentHistoryEntry> SqliteCrmStore::history(const std::string& customer_id, int limit) {
  Statement s(*db_,
              "SELECT id, customer_id, old_segment, new_segment, model_version, source, at FROM segment_history"
              " WHERE customer_id = ?1 ORDER BY id DESC LIMIT ?2");
  s.bind(1, customer_id).bind(2, limit);
  std::vector<SegmentHistoryEntry> out;
  while (s.step()) {
    out.push_back({s.column_int64(0), s.column_text(1), s.column_text(2), s.column_text(3), s.column_text(4),
                   s.column_text(5), s.column_int64(6)});
  }
  return out;
}

std::int64_t SqliteCrmStore::count() {
  Statement s(*db_, "SELECT COUNT(*) FROM customers");
  s.step();
  return s.column_int64(0);
}

}  // namespace mlops::crm
