// crm: a CRM reached over HTTP — the original course's API, plus the batch endpoints of
// `mlops crm serve` when the CRM offers them.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libmlops/crm/crm_store.hpp"

namespace mlops::http { class Client; }

namespace mlops::crm {

class HttpCrmStore : public CrmStore {
 public:
  // Throws Error{invalid_input} for a malformed URL. timeout_seconds bounds each call;
  // write_segments keeps up to `concurrency` calls in flight.
  explicit HttpCrmStore(const std::string& base_url, double timeout_seconds = 5, int concurrency = 1,
                        const std::string& api_key = {});
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
  // Calls run `concurrency` at a time, each retried with backoff on 5xx, 429 and lost
  // connections; chunks written before a failure stay written.
  std::vector<SegmentChange> write_segments(const std::vector<SegmentWrite>& writes) override;

 private:
  std::optional<std::vector<SegmentChange>> write_chunk(http::Client& client, const SegmentWrite* begin,
                                                        const SegmentWrite* end);
  static SegmentChange write_one(http::Client& client, const SegmentWrite& w);

  std::vector<std::unique_ptr<http::Client>> clients_;  // one connection per concurrent call
  std::optional<bool> batch_api_;  // learned on first use
};

}  // namespace mlops::crm
