#include "libmlops/crm/crm_service.hpp"

#include <fmt/format.h>

#include <csignal>
#include <nlohmann/json.hpp>
#include <thread>

#include "libmlops/core/error.hpp"
#include "libmlops/core/log.hpp"
#include "libmlops/crm/sqlite_crm_store.hpp"
#include "libmlops/observability/metrics.hpp"

// Last: <resolv.h>, which httplib includes, defines a macro `_res` that breaks Eigen.
#include <httplib.h>

namespace mlops::crm {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

thread_local Clock::time_point t_start;
thread_local const char* t_route = "unmatched";

void write_error(httplib::Response& res, int status, std::string_view code, const std::string& message) {
  res.status = status;
  res.set_content(json{{"error", {{"code", code}, {"message", message}}}}.dump(), "application/json");
}

void write_json(httplib::Response& res, const json& body) { res.set_content(body.dump(), "application/json"); }

int status_of(const Error& e) {
  switch (e.code()) {
    case ErrorCode::not_found: return 404;
    case ErrorCode::invalid_input: return 422;
    case ErrorCode::unavailable: return 503;
    default: return 500;
  }
}

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

struct Service {
  CrmServiceOptions options;
  observability::ServingMetrics metrics;

  SqliteCrmStore& store() {  // one connection per worker thread
    thread_local std::unique_ptr<SqliteCrmStore> store;
    if (!store) store = std::make_unique<SqliteCrmStore>(options.db_path);
    return *store;
  }

  // Runs a handler, turning mlops errors and bad JSON into JSON error answers.
  Handler route(const char* name, Handler handler) {
    return [name, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
      t_route = name;
      try {
        handler(req, res);
      } catch (const json::exception& e) {
        write_error(res, 400, "malformed_json", fmt::format("the body is not the expected JSON ({})", e.what()));
      } catch (const Error& e) {
        write_error(res, status_of(e), to_string(e.code()), e.what());
      }
    };
  }

  json customer_json(const Customer& c, bool with_features) {
    json j = {{"user_id", c.id},
              {"name", c.name},
              {"segment", c.segment},
              {"segment_model_version", c.segment_model_version},
              {"segment_updated_at", c.segment_updated_at}};
    if (with_features) j["features"] = c.features;
    return j;
  }

  Customer get(const std::string& id) {
    if (auto c = store().find_customer(id)) return *c;
    throw Error(ErrorCode::not_found, fmt::format("customer '{}' not found", id));
  }

  void install(httplib::Server& server) {
    server.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
      t_start = Clock::now();
      t_route = "unmatched";
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (res.body.empty()) write_error(res, res.status, "not_found", fmt::format("no route {} {}", req.method, req.path));
    });
    server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      const double seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
      metrics.record_http(req.method, t_route, res.status, seconds);
      logging::event(res.status >= 500 ? logging::Level::error : logging::Level::info, "request",
                     {{"method", req.method}, {"route", t_route}, {"path", req.path}, {"status", std::to_string(res.status)},
                      {"latency_ms", fmt::format("{:.3f}", seconds * 1000)}});
    });
    server.Get("/health", route("/health", [this](const httplib::Request&, httplib::Response& res) {
      write_json(res, {{"status", "ok"}, {"service", "mlops crm"}, {"customers", store().count()}});
    }));
    server.Get("/metrics", route("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.scrape(), "text/plain; version=0.0.4; charset=utf-8");
    }));
    server.Get(R"(/customer/([^/]+)/features)", route("/customer/{id}/features", [this](const httplib::Request& req, httplib::Response& res) {
      const Customer c = get(req.matches[1]);
      write_json(res, {{"user_id", c.id}, {"feature_count", c.features.size()}, {"features", c.features},
                       {"feature_names", store().feature_names()}});
    }));
    server.Get(R"(/customer/([^/]+))", route("/customer/{id}", [this](const httplib::Request& req, httplib::Response& res) {
      write_json(res, customer_json(get(req.matches[1]), false));
    }));
    server.Post("/crm_segment_update", route("/crm_segment_update", [this](const httplib::Request& req, httplib::Response& res) {
      const json body = json::parse(req.body);
      const std::string id = body.at("user_id").get<std::string>();
      const std::string segment = body.at("ai_segment").get<std::string>();
      const auto change = store().write_segments({{id, segment, body.value("model_version", ""), body.value("source", "crm-api")}}).front();
      write_json(res, {{"status", "success"}, {"user_id", id}, {"old_segment", change.old_segment},
                       {"new_segment", change.new_segment}, {"changed", change.changed}});
    }));
    server.Get("/customers", route("/customers", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string after = req.get_param_value("after");
      int limit = 1000;
      if (req.has_param("limit")) limit = std::clamp(std::atoi(req.get_param_value("limit").c_str()), 1, 10000);
      const auto page = store().page(after, limit);
      json customers = json::array();
      for (const Customer& c : page) customers.push_back(customer_json(c, true));
      write_json(res, {{"customers", customers},
                       {"feature_names", store().feature_names()},
                       {"next_after", page.size() == static_cast<std::size_t>(limit) ? json(page.back().id) : json(nullptr)}});
    }));
    server.Post("/customers/segments", route("/customers/segments", [this](const httplib::Request& req, httplib::Response& res) {
      const json body = json::parse(req.body);
      const json& updates = body.at("updates");
      if (!updates.is_array() || updates.size() > options.max_batch) {
        write_error(res, 413, "batch_too_large", fmt::format("send at most {} updates a call", options.max_batch));
        return;
      }
      std::vector<SegmentWrite> writes;
      for (const json& u : updates) {
        writes.push_back({u.at("user_id").get<std::string>(), u.at("ai_segment").get<std::string>(),
                          u.value("model_version", ""), u.value("source", "crm-api")});
      }
      const auto changes = store().write_segments(writes);  // all-or-nothing
      json results = json::array();
      for (const SegmentChange& c : changes) {
        results.push_back({{"user_id", c.customer_id}, {"status", c.changed ? "updated" : "unchanged"},
                           {"old_segment", c.old_segment}, {"new_segment", c.new_segment}});
      }
      write_json(res, {{"results", results}});
    }));
  }
};

}  // namespace

void serve_crm_until_signal(const CrmServiceOptions& options, const std::function<void(int port)>& on_listening) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  Service service{options, {}};
  SqliteCrmStore check(options.db_path);  // fail now, not on the first request
  httplib::Server server;
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(100000);
  const int threads = std::max(2, options.threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  service.install(server);
  const int port = options.port == 0 ? server.bind_to_any_port(options.host)
                                     : (server.bind_to_port(options.host, options.port) ? options.port : -1);
  if (port < 0) {
    throw Error(ErrorCode::unavailable, fmt::format("cannot listen on {}:{}", options.host, options.port),
                "another process may use the port; pick another with --port");
  }
  on_listening(port);
  std::thread waiter([&] {
    int received = 0;
    sigwait(&signals, &received);
    server.stop();
  });
  server.listen_after_bind();
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
}

}  // namespace mlops::crm
