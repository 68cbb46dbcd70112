// crm: a CRM reached over HTTP — the original course's API, plus the batch endpoints of
// `mlops crm serve` when the CRM offers them.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "libmlops/crm/crm_store.hpp"

namespace mlops::http { class Client; }

namespace mlops::crm {

class HttpCrmStore : public CrmStore {
 public:
  // Throws Error{invalid_input} for a malformed URL. timeout_seconds bounds each call.
  explicit HttpCrmStore(const std::string& base_url, double timeout_seconds = 5);
  ~HttpCrmStore() override;

  // The CRM's feature names when it reports them ("" otherwise: only counts are checked).
  std::vector<std::string> feature_names() override;
  // GET /customer/{id}/features and /customer/{id}; nullopt on 404. Error{io} for another
  // status, Error{corrupt} for a body that is not the API's JSON, Error{unavailable} or
  // Error{timeout} for transport failures.
  std::optional<Customer> find_customer(const std::string& id) override;
  // GET /customers?after=&limit= (batch API). Error{not_found} when the CRM lacks it.
  std::vector<Customer> page(const std::string& after, int limit) override;
  // POST /customers/segments in chunks of 100 (all-or-nothing per chunk); falls back to
  // one POST /crm_segment_update per write for a CRM that speaks only the course's API.
  std::vector<SegmentChange> write_segments(const std::vector<SegmentWrite>& writes) override;

 private:
  std::unique_ptr<http::Client> client_;
  std::optional<bool> batch_api_;  // learned on first use
};

}  // namespace mlops::crm
