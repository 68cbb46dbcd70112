#include "libmlops/crm/crm_service.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "libmlops/core/error.hpp"
#include "libmlops/crm/sqlite_crm_store.hpp"
#include "libmlops/http/json_server.hpp"
#include "libmlops/observability/metrics.hpp"

namespace mlops::crm {
namespace {

using nlohmann::json;

// A segment name from a client: 1-64 characters, no control bytes (JSON guarantees UTF-8).
std::string segment_of(const json& value) {
  const std::string segment = value.get<std::string>();
  const bool control = std::any_of(segment.begin(), segment.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
  });
  if (segment.empty() || segment.size() > 64 || control) {
    throw Error(ErrorCode::invalid_input, "ai_segment must be 1-64 characters without control characters");
  }
  return segment;
}

struct Service {
  CrmServiceOptions options;
  observability::ServingMetrics metrics;

  SqliteCrmStore& store() {  // one connection per worker thread
    thread_local std::unique_ptr<SqliteCrmStore> store;
    if (!store) store = std::make_unique<SqliteCrmStore>(options.db_path);
    return *store;
  }

  json customer_json(const Customer& c, bool with_features) {
    json j = {{"user_id", c.id},
              {"name", c.name},
              {"segment", c.segment},
              {"segment_model_version", c.segment_model_version},
              {"segment_updated_at", c.segment_updated_at},
              {"risk_score", c.risk_score}};
    if (with_features) j["features"] = c.features;
    return j;
  }

  Customer get(const std::string& id) {
    check_customer_id(id);
    if (auto c = store().find_customer(id)) return *c;
    throw Error(ErrorCode::not_found, fmt::format("customer '{}' not found", id));
  }

  SegmentWrite write_of(const json& update) {
    const std::string id = update.at("user_id").get<std::string>();
    check_customer_id(id);
    SegmentWrite w{id, segment_of(update.at("ai_segment")), update.value("model_version", ""), update.value("source", "crm-api")};
    if (update.contains("if_segment")) {  // compare-and-set: only while the segment is still this
      w.expected_segment = update.at("if_segment").get<std::string>();
      w.strict = true;
    }
    return w;
  }

  // Every route touches SQLite, so all but /metrics run on the worker pool; the writing
  // routes need the API key when one is set.
  void install(http::JsonServer& server) {
    using http::Request;
    using http::Response;
    const http::RouteOptions reads{http::Lane::worker, false};
    const http::RouteOptions writes{http::Lane::worker, true};
    const std::size_t max_values = options.max_batch * 12 + 64;
    server.on_request([this](const Request& req, const Response& res, double seconds) {
      metrics.record_http(http::method_label(req.method), req.route, res.status, seconds);
    });
    server.route("GET", "/health", [this](Request&, Response& res) {
      res.json({{"status", "ok"}, {"service", "mlops crm"}, {"customers", store().count()}});
    }, reads);
    server.route("GET", "/metrics", [this](Request&, Response& res) {
      res.text(metrics.scrape(), "text/plain; version=0.0.4; charset=utf-8");
    });
    server.route("GET", "/customer/{id}/features", [this](Request& req, Response& res) {
      const Customer c = get(req.params[0]);
      res.json({{"user_id", c.id}, {"feature_count", c.features.size()}, {"features", c.features},
                {"feature_names", store().feature_names()}});
    }, reads);
    server.route("GET", "/customer/{id}", [this](Request& req, Response& res) {
      res.json(customer_json(get(req.params[0]), false));
    }, reads);
    server.route("POST", "/crm_segment_update", [this, max_values](Request& req, Response& res) {
      const json body = http::parse_json_body(req, max_values);
      const auto change = store().write_segments({write_of(body)}).front();
      res.json({{"status", "success"}, {"user_id", change.customer_id}, {"old_segment", change.old_segment},
                {"new_segment", change.new_segment}, {"changed", change.changed}});
    }, writes);
    server.route("GET", "/customers", [this](Request& req, Response& res) {
      const std::string after = req.query_param("after").value_or("");
      int limit = 1000;
      if (const auto given = req.query_param("limit")) limit = std::clamp(std::atoi(given->c_str()), 1, 10000);
      const auto page = store().page(after, limit);
      json customers = json::array();
      for (const Customer& c : page) customers.push_back(customer_json(c, true));
      res.json({{"customers", customers},
                {"feature_names", store().feature_names()},
                {"next_after", page.size() == static_cast<std::size_t>(limit) ? json(page.back().id) : json(nullptr)}});
    }, reads);
    server.route("POST", "/customers/segments", [this, max_values](Request& req, Response& res) {
      const json body = http::parse_json_body(req, max_values);
      const json& updates = body.at("updates");
      if (!updates.is_array() || updates.size() > options.max_batch) {
        throw http::HttpError(413, "batch_too_large", fmt::format("send at most {} updates a call", options.max_batch));
      }
      std::vector<SegmentWrite> batch;
      for (const json& u : updates) batch.push_back(write_of(u));
      const auto changes = store().write_segments(batch);  // all-or-nothing
      json results = json::array();
      for (const SegmentChange& c : changes) {
        results.push_back({{"user_id", c.customer_id}, {"status", c.conflict ? "conflict" : c.changed ? "updated" : "unchanged"},
                           {"old_segment", c.old_segment}, {"new_segment", c.new_segment}});
      }
      res.json({{"results", results}});
    }, writes);
  }
};

}  // namespace

void serve_crm_until_signal(const CrmServiceOptions& options, const std::function<void(int port)>& on_listening) {
  SqliteCrmStore check(options.db_path);  // fail now, not on the first request
  Service service{options, {}};
  http::JsonServer server(options.service);
  service.install(server);
  http::serve_until_signal(server, on_listening, {}, options.shutdown_timeout);
}

}  // namespace mlops::crm
