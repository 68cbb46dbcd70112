// http: the JSON service layer both servers stand on (`mlops serve`, `mlops crm serve`).
// Event-driven HTTP/1.1: a few I/O threads own every connection (epoll), so slow, idle or
// hostile clients cost a file descriptor and a small buffer, never a thread. Routes that
// may block (a database, another service) run on a worker pool; cheap ones (probes,
// predictions) run on the I/O thread. The layer answers everything a client can get
// wrong: malformed requests, limits, deadlines, content types, 404/405, the API key, and
// any exception a route lets out. Business logic stays in the routes.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "libmlops/core/error.hpp"
#include "libmlops/http/message.hpp"

namespace mlops::http {

using Handler = std::function<void(Request&, Response&)>;

// Where a route runs: io = on the I/O thread (must not block: no disk, no network); worker
// = on the worker pool (may block).
enum class Lane { io, worker };

struct RouteOptions {
  Lane lane = Lane::io;
  bool needs_key = false;  // 401 without the API key, when the service has one
};

struct ServiceOptions {
  std::string name = "mlops";        // in logs
  std::string host = "127.0.0.1";
  int port = 0;                      // 0 = any free port
  int workers = 16;                  // threads for Lane::worker routes
  int io_threads = 0;                // 0 = one per two cores, 1 to 4 (the rest is left to
                                     // workers and clients: on 2 cores two loops cost p99)
  std::size_t max_body_bytes = 1 << 20;    // per request, after chunked decoding (413 above)
  std::size_t max_header_bytes = 16 * 1024;  // request line + headers (414/431 above)
  std::size_t max_connections = 10000;       // then the longest-idle keep-alive connection is closed
  std::size_t max_buffered_bytes = 128u << 20;  // request bytes held for all connections (503 above)
  double request_timeout = 10;       // seconds from a request's first byte to its last (408 after)
  double idle_timeout = 30;          // seconds a keep-alive connection may wait for a request
  double write_timeout = 10;         // seconds to take a response
  std::string api_key;               // required by RouteOptions::needs_key routes when set
};

// Called once for every response, refused requests included, after it is rendered.
using RequestObserver = std::function<void(const Request&, const Response&, double seconds)>;

class JsonServer {
 public:
  explicit JsonServer(ServiceOptions options);
  ~JsonServer();
  JsonServer(const JsonServer&) = delete;
  JsonServer& operator=(const JsonServer&) = delete;

  // Adds a route before bind(). `path_template` is a literal such as "/customer/{id}"; each
  // {name} matches one non-empty segment, given to the handler in Request::params. The
  // template is the request's `route` (a bounded metric label). GET routes answer HEAD too.
  void route(const char* method, const char* path_template, Handler handler, RouteOptions options = {});
  void on_request(RequestObserver observer);

  // Binds and listens; returns the port. Throws Error{unavailable} when it cannot.
  int bind();
  // Serves until shutdown() has drained; returns then. Call once, after bind().
  void run();
  // Thread-safe. Stops accepting, closes idle connections, lets requests in flight finish
  // for up to `deadline_seconds`, then closes what is left; run() then returns.
  void shutdown(double deadline_seconds);

  // Runs the bytes one client sent on one connection through parsing, routing, the routes
  // and rendering, with every route inline; returns the bytes the client would get back.
  // For tests and the fuzzer: the whole HTTP path without sockets.
  std::string handle_bytes(std::string_view input);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Binds, calls on_listening(port), then serves until SIGTERM or SIGINT, which drain the
// server for up to shutdown_timeout seconds (then it returns normally). SIGHUP calls
// on_hangup (e.g. reload the model) and keeps serving. Signals are handled on a thread of
// their own, never in a signal handler.
void serve_until_signal(JsonServer& server, const std::function<void(int port)>& on_listening,
                        const std::function<void()>& on_hangup, double shutdown_timeout);

// Blocks the signals serve_until_signal waits for, in this thread and the threads it starts
// later. Call it before starting threads of your own next to the server.
void block_service_signals();

// The one map from the library's error codes to HTTP statuses.
int status_of(ErrorCode code);

// Parses a JSON body with its shape bounded before anything is built: at most `max_values`
// values (numbers, strings, ... and containers) and 64 levels of nesting, so a body of B
// bytes never costs more than a few times B. Throws HttpError 415 (Content-Type is not
// application/json), 400 (malformed, empty), 413 (too many values, too deep).
nlohmann::json parse_json_body(const Request& request, std::size_t max_values);

// The label for a request's method in metrics: the method when it is a standard one, else
// "other" (a client must not be able to add label values).
std::string_view method_label(std::string_view method);

// Whether the request carries `key` as "Authorization: Bearer KEY" or "X-API-Key: KEY"
// (compared in constant time).
bool has_api_key(const Request& request, std::string_view key);

}  // namespace mlops::http
