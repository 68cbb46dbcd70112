#include "libmlops/crm/http_crm_store.hpp"

#include <fmt/format.h>

#include "libmlops/core/error.hpp"
#include "libmlops/http/client.hpp"

namespace mlops::crm {
namespace {

constexpr std::size_t kBatch = 100;  // records per batch call, as HubSpot's batch update

Error crm_error(const http::Response& r, const std::string& what) {
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

Customer customer_of(const nlohmann::json& j, const std::string& what) {
  Customer c;
  c.id = field<std::string>(j, "user_id", what);
  c.name = j.value("name", "");
  c.segment = j.value("segment", "");
  c.segment_model_version = j.value("segment_model_version", "");
  c.segment_updated_at = j.value("segment_updated_at", std::int64_t{0});
  if (j.contains("features")) c.features = field<std::vector<double>>(j, "features", what);
  return c;
}

}  // namespace

HttpCrmStore::HttpCrmStore(const std::string& base_url, double timeout_seconds)
    : client_(std::make_unique<http::Client>(base_url, http::ClientOptions{timeout_seconds, 2, 0.05})) {}

HttpCrmStore::~HttpCrmStore() = default;

std::vector<std::string> HttpCrmStore::feature_names() {
  const http::Response r = client_->get("/customers?limit=1");
  if (r.status != 200) return {};
  const nlohmann::json j = r.json("GET /customers");
  return j.contains("feature_names") ? field<std::vector<std::string>>(j, "feature_names", "GET /customers")
                                     : std::vector<std::string>{};
}

std::optional<Customer> HttpCrmStore::find_customer(const std::string& id) {
  check_customer_id(id);  // the id goes into a URL path: only safe characters
  const std::string what = fmt::format("GET /customer/{}/features", id);
  const http::Response f = client_->get("/customer/" + id + "/features");
  if (f.status == 404) return std::nullopt;
  if (f.status != 200) throw crm_error(f, what);
  const nlohmann::json features = f.json(what);
  Customer c;
  c.id = id;
  c.features = field<std::vector<double>>(features, "features", what);
  const http::Response d = client_->get("/customer/" + id);
  if (d.status == 404) return std::nullopt;
  if (d.status != 200) throw crm_error(d, "GET /customer/" + id);
  const nlohmann::json details = d.json("GET /customer/" + id);
  c.name = details.value("name", "");
  c.segment = field<std::string>(details, "segment", "GET /customer/" + id);
  c.segment_model_version = details.value("segment_model_version", "");
  c.segment_updated_at = details.value("segment_updated_at", std::int64_t{0});
  return c;
}

std::vector<Customer> HttpCrmStore::page(const std::string& after, int limit) {
  if (!after.empty()) check_customer_id(after);
  const std::string path = fmt::format("/customers?after={}&limit={}", after, limit);
  const http::Response r = client_->get(path);
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

std::vector<SegmentChange> HttpCrmStore::write_segments(const std::vector<SegmentWrite>& writes) {
  std::vector<SegmentChange> changes;
  for (const SegmentWrite& w : writes) check_customer_id(w.customer_id);
  std::size_t done = 0;
  while (done < writes.size() && batch_api_ != false) {
    const std::size_t n = std::min(kBatch, writes.size() - done);
    nlohmann::json updates = nlohmann::json::array();
    for (std::size_t i = done; i < done + n; ++i) {
      updates.push_back({{"user_id", writes[i].customer_id}, {"ai_segment", writes[i].segment},
                         {"model_version", writes[i].model_version}, {"source", writes[i].source}});
    }
    // Setting a segment is idempotent, so a batch is safe to retry.
    const http::Response r = client_->post_json("/customers/segments", {{"updates", updates}}, true);
    if (r.status == 404 && !batch_api_) {
      batch_api_ = false;  // a course-only CRM: fall back below
      break;
    }
    if (r.status == 404) throw Error(ErrorCode::not_found, crm_error(r, "POST /customers/segments").what());
    if (r.status != 200) throw crm_error(r, "POST /customers/segments");
    batch_api_ = true;
    for (const auto& result : field<nlohmann::json>(r.json("POST /customers/segments"), "results", "POST /customers/segments")) {
      changes.push_back({field<std::string>(result, "user_id", "the batch answer"), result.value("old_segment", ""),
                         result.value("new_segment", ""), result.value("status", "") == "updated"});
    }
    done += n;
  }
  for (; done < writes.size(); ++done) {
    const SegmentWrite& w = writes[done];
    const http::Response r = client_->post_json("/crm_segment_update", {{"user_id", w.customer_id}, {"ai_segment", w.segment}}, true);
    if (r.status == 404) {
      throw Error(ErrorCode::not_found, fmt::format("no customer with id '{}' in the CRM", w.customer_id));
    }
    if (r.status != 200) throw crm_error(r, "POST /crm_segment_update");
    const nlohmann::json j = r.json("POST /crm_segment_update");
    const std::string old_segment = j.value("old_segment", "");
    changes.push_back({w.customer_id, old_segment, j.value("new_segment", w.segment), old_segment != w.segment});
  }
  return changes;
}

}  // namespace mlops::crm
