// crm: the embedded CRM in SQLite — customers, features, segments and the segment history.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "libmlops/crm/crm_store.hpp"

namespace mlops::sqlite { class Database; }

namespace mlops::crm {

struct SegmentHistoryEntry {
  std::int64_t id = 0;
  std::string customer_id;
  std::string old_segment;
  std::string new_segment;
  std::string model_version;
  std::string source;
  std::int64_t at = 0;
};

class SqliteCrmStore : public CrmStore {
 public:
  explicit SqliteCrmStore(const std::string& path);  // creates the schema when missing
  ~SqliteCrmStore() override;

  std::vector<std::string> feature_names() override;
  std::optional<Customer> find_customer(const std::string& id) override;
  std::vector<Customer> page(const std::string& after, int limit) override;
  std::vector<SegmentChange> write_segments(const std::vector<SegmentWrite>& writes) override;

  // Replaces all customers with `count` seeded ones (CUST001..., plus CUST_TEST_007),
  // features drawn like the course's training data. Returns the number written.
  std::int64_t seed(std::int64_t count, std::uint32_t seed);
  // Adds or replaces customers from a CSV with columns id, name, the feature columns and
  // optionally segment. The first import fixes the feature names. Returns rows imported.
  std::int64_t import_csv(const std::string& path);
  // Writes id, name, features, segment, segment_model_version, segment_updated_at.
  std::int64_t export_csv(const std::string& path);
  std::vector<Customer> list(const std::string& segment, int limit);
  std::vector<SegmentHistoryEntry> history(const std::string& customer_id, int limit = 100);
  std::int64_t count();

 private:
  void upsert(const Customer& c);
  std::unique_ptr<sqlite::Database> db_;
};

}  // namespace mlops::crm
