// crm: the CRM the models write segments into — an interface with an embedded SQLite
// implementation (and an HTTP one), the segment policy and the batch sync. Never fits models.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlops::crm {

struct Customer {
  std::string id;
  std::string name;
  std::vector<double> features;  // in the CRM's feature order (feature_names())
  std::string segment;
  std::string segment_model_version;  // the model version that set it ("" if never)
  std::int64_t segment_updated_at = 0;
  // The CRM's own churn risk estimate, 0..1 (the course mock's field): seeded from the
  // course's true model, imported from a CSV column; models write segments, not this.
  double risk_score = 0;
};

struct SegmentWrite {
  std::string customer_id;
  std::string segment;
  std::string model_version;
  std::string source;  // a request id or a sync run id, for the audit
  bool force = false;  // write (and record) even when the segment is unchanged
  // The segment the caller last read, when it knows it: the store then writes with one
  // compare-and-set instead of a read and a write, and falls back when it differs.
  std::string expected_segment = {};
  // Write only while the segment is still expected_segment (no fall back): otherwise the
  // change comes back as a conflict and nothing is written. For rollbacks.
  bool strict = false;
};

struct SegmentChange {
  std::string customer_id;
  std::string old_segment;
  std::string new_segment;
  bool changed = false;
  bool conflict = false;              // strict write refused: the segment was changed by someone else
  std::string old_model_version = {}; // the model version stamp before the change, when known
};

// A CRM holding customers with numeric features and a segment. Implementations throw
// Error{not_found} for an unknown customer, Error{unavailable} when unreachable.
class CrmStore {
 public:
  virtual ~CrmStore() = default;
  virtual std::vector<std::string> feature_names() = 0;
  virtual std::optional<Customer> find_customer(const std::string& id) = 0;
  // Customers with id > after, in id order, at most limit.
  virtual std::vector<Customer> page(const std::string& after, int limit) = 0;
  // Writes segments all-or-nothing, recording each change in the segment history.
  // A write whose segment equals the current one is reported unchanged and not recorded.
  virtual std::vector<SegmentChange> write_segments(const std::vector<SegmentWrite>& writes) = 0;
};

// Opens a CRM by URL: sqlite:PATH (created when missing) or http://HOST:PORT. Throws Error{invalid_input} for
// an unknown scheme. `concurrency`: parallel write calls to an HTTP CRM; `api_key`: sent to
// an HTTP CRM as a bearer token (its writing routes ask for it when it has one).
std::unique_ptr<CrmStore> open_crm(const std::string& url, double timeout_seconds = 5, int concurrency = 1,
                                   const std::string& api_key = {});

// Customer ids are 1-64 characters of letters, digits, '_', '-' and '.', so that they can
// never carry SQL or URL syntax. Throws Error{invalid_input} naming the id.
void check_customer_id(const std::string& id);

}  // namespace mlops::crm
