#include "libmlops/crm/http_crm_store.hpp"

#include <fmt/format.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "libmlops/core/error.hpp"
#include "libmlops/http/client.hpp"

namespace mlops::crm {
namespace {

constexpr std::size_t kBatch = 100;  // records per batch call, as HubSpot's batch update

Error crm_error(const http::ClientResponse& r, const std::string& what) {
  std::string message;
  try {
    message = nlohmann::json::parse(r.body).at("error").at("message").get<std::string>();
  } catch (const std::exception&) {
    message = r.body.substr(0, 200);
  }
  return Error(ErrorCode::io, fmt::format("the CRM answered {} to {}: {}", r.status, what, message),
               "check the CRM service's log");
}

// Reads a field of the CRM's JSON, turning a wrong shape into Error{corrupt}.
template <class T>
T field(const nlohmann::json& j, const char* key, const std::string& what) {
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(ErrorCode::corrupt, fmt::format("the CRM's answer to {} lacks a valid '{}'", what, key),
                "the service does not speak the CRM API");
  }
}

// The course mock's risk_score, when the CRM has one: informational, so a missing or
// non-numeric value reads as 0 rather than failing the read.
double risk_score_of(const nlohmann::json& j) {
  const auto it = j.find("risk_score");
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

Customer customer_of(const nlohmann::json& j, const std::string& what) {
  Customer c;
  c.id = field<std::string>(j, "user_id", what);
  c.name = j.value("name", "");
  c.segment = j.value("segment", "");
  c.segment_model_version = j.value("segment_model_version", "");
  c.segment_updated_at = j.value("segment_updated_at", std::int64_t{0});
  c.risk_score = risk_score_of(j);
  if (j.contains("features")) c.features = field<std::vector<double>>(j, "features", what);
  return c;
}

}  // namespace

HttpCrmStore::HttpCrmStore(const std::string& base_url, double timeout_seconds, int concurrency,
                           const std::string& api_key) {
  if (concurrency < 1) throw Error(ErrorCode::invalid_input, "the CRM concurrency must be at least 1");
  for (int i = 0; i < concurrency; ++i) {
    clients_.push_back(std::make_unique<http::Client>(base_url, http::ClientOptions{timeout_seconds, 2, 0.05, api_key}));
  }
}

HttpCrmStore::~HttpCrmStore() = default;

std::vector<std::string> HttpCrmStore::feature_names() {
  const http::ClientResponse r = clients_[0]->get("/customers?limit=1");
  if (r.status != 200) return {};
  const nlohmann::json j = r.json("GET /customers");
  return j.contains("feature_names") ? field<std::vector<std::string>>(j, "feature_names", "GET /customers")
                                     : std::vector<std::string>{};
}

std::optional<Customer> HttpCrmStore::find_customer(const std::string& id) {
  check_customer_id(id);  // the id goes into a URL path: only safe characters
  const std::string what = fmt::format("GET /customer/{}/features", id);
  const http::ClientResponse f = clients_[0]->get("/customer/" + id + "/features");
  if (f.status == 404) return std::nullopt;
  if (f.status != 200) throw crm_error(f, what);
  const nlohmann::json features = f.json(what);
  Customer c;
  c.id = id;
  c.features = field<std::vector<double>>(features, "features", what);
  const http::ClientResponse d = clients_[0]->get("/customer/" + id);
  if (d.status == 404) return std::nullopt;
  if (d.status != 200) throw crm_error(d, "GET /customer/" + id);
  const nlohmann::json details = d.json("GET /customer/" + id);
  c.name = details.value("name", "");
  c.segment = field<std::string>(details, "segment", "GET /customer/" + id);
  c.segment_model_version = details.value("segment_model_version", "");
  c.segment_updated_at = details.value("segment_updated_at", std::int64_t{0});
  c.risk_score = risk_score_of(details);
  return c;
}

std::vector<Customer> HttpCrmStore::page(const std::string& after, int limit) {
  if (!after.empty()) check_customer_id(after);
  const std::string path = fmt::format("/customers?after={}&limit={}", after, limit);
  const http::ClientResponse r = clients_[0]->get(path);
  if (r.status == 404) {
    batch_api_ = false;
    throw Error(ErrorCode::not_found, "the CRM has no GET /customers (it speaks only the course's per-customer API)",
                "run `mlops crm serve`, or sync customers one by one with /crm_segment_update");
  }
  if (r.status != 200) throw crm_error(r, "GET " + path);
  std::vector<Customer> out;
  for (const auto& c : field<nlohmann::json>(r.json("GET " + path), "customers", "GET " + path)) {
    out.push_back(customer_of(c, "GET " + path));
  }
  return out;
}

// POST /customers/segments for writes [begin, end); nullopt when the CRM has no batch API.
std::optional<std::vector<SegmentChange>> HttpCrmStore::write_chunk(http::Client& client, const SegmentWrite* begin,
                                                                    const SegmentWrite* end) {
  nlohmann::json updates = nlohmann::json::array();
  for (const SegmentWrite* w = begin; w != end; ++w) {
    nlohmann::json update = {{"user_id", w->customer_id}, {"ai_segment", w->segment},
                             {"model_version", w->model_version}, {"source", w->source}};
    if (w->strict) update["if_segment"] = w->expected_segment;
    updates.push_back(std::move(update));
  }
  // Setting a segment is idempotent, so a batch is safe to retry.
  const http::ClientResponse r = client.post_json("/customers/segments", {{"updates", updates}}, true);
  if (r.status == 404 && batch_api_ != true) return std::nullopt;
  if (r.status == 404) throw Error(ErrorCode::not_found, crm_error(r, "POST /customers/segments").what());  // a customer
  if (r.status != 200) throw crm_error(r, "POST /customers/segments");
  std::vector<SegmentChange> changes;
  for (const auto& result : field<nlohmann::json>(r.json("POST /customers/segments"), "results", "POST /customers/segments")) {
    SegmentChange change{field<std::string>(result, "user_id", "the batch answer"), result.value("old_segment", ""),
                         result.value("new_segment", ""), result.value("status", "") == "updated"};
    change.conflict = result.value("status", "") == "conflict";
    changes.push_back(std::move(change));
  }
  if (changes.size() != static_cast<std::size_t>(end - begin)) {
    throw Error(ErrorCode::corrupt, fmt::format("the CRM answered {} results for {} updates", changes.size(), end - begin),
                "the service does not speak the batch API");
  }
  return changes;
}

// The course's POST /crm_segment_update, for a CRM without the batch API.
SegmentChange HttpCrmStore::write_one(http::Client& client, const SegmentWrite& w) {
  if (w.strict) {
    throw Error(ErrorCode::invalid_input,
                fmt::format("the CRM at {} offers no compare-and-set write (POST /customers/segments)", client.base_url()),
                "it cannot tell a segment changed by hand from one this run wrote; rerun with --force to overwrite "
                "every customer the run changed");
  }
  const http::ClientResponse r = client.post_json("/crm_segment_update", {{"user_id", w.customer_id}, {"ai_segment", w.segment}}, true);
  if (r.status == 404) throw Error(ErrorCode::not_found, fmt::format("no customer with id '{}' in the CRM", w.customer_id));
  if (r.status != 200) throw crm_error(r, "POST /crm_segment_update");
  const nlohmann::json j = r.json("POST /crm_segment_update");
  const std::string old_segment = field<std::string>(j, "old_segment", "POST /crm_segment_update");
  return {w.customer_id, old_segment, j.value("new_segment", w.segment), old_segment != w.segment};
}

std::vector<SegmentChange> HttpCrmStore::write_segments(const std::vector<SegmentWrite>& writes) {
  for (const SegmentWrite& w : writes) check_customer_id(w.customer_id);
  const std::size_t chunk = batch_api_ == false ? 1 : kBatch;
  const std::size_t tasks = (writes.size() + chunk - 1) / chunk;
  std::vector<std::vector<SegmentChange>> results(tasks);
  std::size_t first = 0;
  if (batch_api_ == std::nullopt && tasks > 0) {  // the first call learns which API the CRM speaks
    auto changes = write_chunk(*clients_[0], writes.data(), writes.data() + std::min(kBatch, writes.size()));
    batch_api_ = changes.has_value();
    if (!changes) return write_segments(writes);
    results[0] = std::move(*changes);
    first = 1;
  }
  // Up to `concurrency` calls in flight, each worker on its own connection; the first
  // error stops new calls and is rethrown once the calls in flight return.
  std::atomic<std::size_t> next{first};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  const auto work = [&](http::Client& client) {
    for (std::size_t t = next++; t < tasks && !failed; t = next++) {
      try {
        const SegmentWrite* begin = writes.data() + t * chunk;
        const SegmentWrite* end = writes.data() + std::min(writes.size(), (t + 1) * chunk);
        if (chunk == 1) {
          results[t] = {write_one(client, *begin)};
        } else if (auto changes = write_chunk(client, begin, end)) {
          results[t] = std::move(*changes);
        } else {
          throw Error(ErrorCode::not_found, "the CRM stopped offering POST /customers/segments");
        }
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  const std::size_t workers = std::min(clients_.size(), tasks - first);
  std::vector<std::thread> threads;
  for (std::size_t k = 1; k < workers; ++k) threads.emplace_back(work, std::ref(*clients_[k]));
  if (workers > 0) work(*clients_[0]);
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  std::vector<SegmentChange> changes;
  changes.reserve(writes.size());
  for (auto& r : results) changes.insert(changes.end(), std::make_move_iterator(r.begin()), std::make_move_iterator(r.end()));
  return changes;
}

}  // namespace mlops::crm
