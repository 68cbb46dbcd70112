#include "libmlops/http/json_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "libmlops/core/log.hpp"
#include "libmlops/http/detail/request_parser.hpp"

namespace mlops::http {

// ---------------------------------------------------------------- helpers

int status_of(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_input: return 422;
    case ErrorCode::not_found: return 404;
    case ErrorCode::conflict: return 409;
    case ErrorCode::unavailable: return 503;
    case ErrorCode::timeout: return 504;
    case ErrorCode::io: return 502;  // a store or service behind this one failed
    case ErrorCode::corrupt:
    case ErrorCode::internal: return 500;
  }
  return 500;
}

namespace {

// Constant-time comparison, so a key cannot be guessed byte by byte from timings.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

bool is_json_type(std::string_view type) {
  const std::size_t semi = type.find(';');
  std::string_view media = type.substr(0, semi);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  return iequals(media, "application/json");
}

}  // namespace

bool has_api_key(const Request& request, std::string_view key) {
  const std::string_view auth = request.header("Authorization");
  if (auth.size() > 7 && iequals(auth.substr(0, 7), "Bearer ") && same_secret(auth.substr(7), key)) return true;
  return request.has_header("X-API-Key") && same_secret(request.header("X-API-Key"), key);
}

std::string_view method_label(std::string_view method) {
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    if (method == known) return known;
  }
  return "other";
}

namespace {

// Counts a JSON document's values and depth without building it; stops at the first limit.
struct ShapeCounter {
  std::size_t max_values;
  std::size_t values = 0;
  std::size_t depth = 0;
  bool too_many = false, too_deep = false, overflow = false;
  std::size_t error_at = 0;

  bool value() {
    if (++values > max_values) too_many = true;
    return !too_many;
  }
  bool open() {
    if (++depth > 64) too_deep = true;
    return value() && !too_deep;
  }
  bool null() { return value(); }
  bool boolean(bool) { return value(); }
  bool number_integer(nlohmann::json::number_integer_t) { return value(); }
  bool number_unsigned(nlohmann::json::number_unsigned_t) { return value(); }
  bool number_float(nlohmann::json::number_float_t, const std::string&) { return value(); }
  bool string(std::string&) { return value(); }
  bool binary(nlohmann::json::binary_t&) { return value(); }
  bool start_object(std::size_t) { return open(); }
  bool end_object() { --depth; return true; }
  bool start_array(std::size_t) { return open(); }
  bool end_array() { --depth; return true; }
  bool key(std::string&) { return true; }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    error_at = position;
    overflow = e.id == 406;  // a number past double's range, e.g. 1e400
    return false;
  }
};

}  // namespace

nlohmann::json parse_json_body(const Request& request, std::size_t max_values) {
  if (!is_json_type(request.header("Content-Type"))) {
    throw HttpError(415, "unsupported_media_type", "send the body as JSON with 'Content-Type: application/json'");
  }
  if (request.body.empty()) throw HttpError(400, "malformed_json", "the body is empty; send a JSON document");
  ShapeCounter shape{max_values};
  const bool ok = nlohmann::json::sax_parse(request.body, &shape);
  if (shape.too_deep) throw HttpError(413, "too_deep", "the JSON body nests deeper than 64 levels");
  if (shape.too_many) {
    throw HttpError(413, "too_many_values",
                    fmt::format("the JSON body has more than {} values; split the request", max_values),
                    {{"max_values", max_values}});
  }
  if (shape.overflow) throw HttpError(422, "invalid_features", "the body holds a number too large to be finite");
  if (!ok) throw HttpError(400, "malformed_json", fmt::format("the body is not valid JSON (at byte {})", shape.error_at));
  try {
    return nlohmann::json::parse(request.body);
  } catch (const nlohmann::json::exception&) {
    throw HttpError(400, "malformed_json", "the body is not valid JSON");
  }
}

namespace {

using Clock = std::chrono::steady_clock;

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

// A client's X-Request-ID is kept when it is a plain token; anything else is replaced, so
// it can be echoed in headers and logs safely.
bool good_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
          c == '.' || c == ':')) {
      return false;
    }
  }
  return true;
}

std::string new_request_id() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{:016x}", rng());
}

struct Route {
  std::string method;
  const char* path_template;
  std::vector<std::string> segments;  // "{}" for a parameter
  Handler handler;
  RouteOptions options;
};

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 1;  // paths begin with '/'
  while (start <= path.size()) {
    const std::size_t slash = path.find('/', start);
    out.emplace_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

bool match_segments(const Route& route, const std::vector<std::string>& parts, std::vector<std::string>* params) {
  if (route.segments.size() != parts.size()) return false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (route.segments[i] == "{}") {
      if (parts[i].empty()) return false;
    } else if (route.segments[i] != parts[i]) {
      return false;
    }
  }
  if (params) {
    params->clear();
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (route.segments[i] == "{}") params->push_back(parts[i]);
    }
  }
  return true;
}

// Raises the open-file limit to its hard maximum: each connection is a file descriptor.
void raise_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

// ---------------------------------------------------------------- the server

struct JsonServer::Impl {
  ServiceOptions options;
  std::vector<Route> routes;
  RequestObserver observer;
  int listen_fd = -1;
  std::atomic<bool> stopping{false};
  std::atomic<double> drain_seconds{10};
  std::atomic<std::size_t> buffered_total{0};

  struct Job {
    int loop;
    std::uint64_t conn;
    Request request;
    const Route* route;
  };
  struct Done {
    std::uint64_t conn;
    std::string bytes;
    bool close;
  };
  struct Loop;
  std::vector<std::unique_ptr<Loop>> loops;

  std::mutex jobs_mutex;
  std::condition_variable jobs_ready;
  std::deque<Job> jobs;
  bool workers_stop = false;
  std::vector<std::thread> workers;

  explicit Impl(ServiceOptions o) : options(std::move(o)) {}

  detail::ParseLimits parse_limits() const { return {options.max_header_bytes, options.max_body_bytes, 100}; }

  // Finds the route, or answers: 404 (no such path), 405 (path known, method not; with
  // Allow), 204 for OPTIONS, 401 (no key). Returns the route to run, if any.
  const Route* route_for(Request& req, Response& res) {
    const std::vector<std::string> parts = split_path(req.path);
    std::string allow;
    const Route* found = nullptr;
    for (const Route& r : routes) {
      if (!match_segments(r, parts, nullptr)) continue;
      if (!found && (r.method == req.method || (req.method == "HEAD" && r.method == "GET"))) found = &r;
      if (allow.find(r.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + r.method;
      if (r.method == "GET" && allow.find("HEAD") == std::string::npos) allow += ", HEAD";
    }
    if (found) {
      match_segments(*found, parts, &req.params);
      req.route = found->path_template;
    } else if (allow.empty()) {
      res.error(404, "not_found", fmt::format("no route {} {}", req.method, req.path), {{"routes", "GET /"}});
      return nullptr;
    } else if (req.method == "OPTIONS") {
      res.status = 204;
      res.content_type.clear();
      res.set_header("Allow", allow);
      return nullptr;
    } else {
      res.set_header("Allow", allow);
      res.error(405, "method_not_allowed", fmt::format("{} is not allowed on {}", req.method, req.path), {{"allow", allow}});
      return nullptr;
    }
    if (found->options.needs_key && !options.api_key.empty() && !has_api_key(req, options.api_key)) {
      res.error(401, "unauthorized", "this route needs the API key",
                {{"hint", "send 'Authorization: Bearer KEY' or 'X-API-Key: KEY' (setting MLOPS_API_KEY)"}});
      return nullptr;
    }
    return found;
  }

  // Runs a route: whatever it throws becomes an answer; nothing passes this point.
  static void run_route(const Route& route, Request& req, Response& res) {
    try {
      route.handler(req, res);
    } catch (const HttpError& e) {
      res.error(e.status(), e.code_name(), e.what(), e.details());
    } catch (const Error& e) {
      res.error(status_of(e.code()), to_string(e.code()), e.what(),
                e.hint().empty() ? nlohmann::json(nullptr) : nlohmann::json{{"hint", e.hint()}});
    } catch (const nlohmann::json::exception&) {
      res.error(400, "malformed_json", "the body is not the JSON this route expects");
    } catch (const std::bad_alloc&) {
      res.error(503, "overloaded", "the server is out of memory for this request; try a smaller one");
    } catch (const std::exception& e) {
      logging::event(logging::Level::error, "route failed", {{"route", req.route}, {"error", e.what()}});
      res.error(500, "internal", "the request failed inside the server; see its log");
    } catch (...) {
      res.error(500, "internal", "the request failed inside the server; see its log");
    }
  }

  // Before the route: the request id and the timer.
  static void begin(Request& req, Response& res) {
    req.started = Clock::now();
    const std::string_view given = req.header("X-Request-ID");
    req.request_id = good_request_id(given) ? std::string(given) : new_request_id();
    res.set_header("X-Request-ID", req.request_id);
  }

  // After the route: metrics, the request log, and the bytes on the wire.
  std::string finish(const Request& req, Response& res, bool keep_alive) {
    const double seconds = std::chrono::duration<double>(Clock::now() - req.started).count();
    if (observer) {
      try {
        observer(req, res, seconds);
      } catch (const std::exception& e) {
        logging::event(logging::Level::error, "request observer failed", {{"error", e.what()}});
      }
    }
    const logging::Level level = res.status >= 500 ? logging::Level::error : logging::Level::info;
    if (logging::enabled(level)) {
      logging::Fields fields = {{"method", req.method},
                                {"route", req.route},
                                {"path", req.path},
                                {"status", std::to_string(res.status)},
                                {"latency_ms", fmt::format("{:.3f}", seconds * 1000)},
                                {"request_id", req.request_id}};
      for (const auto& [k, v] : res.log_fields) fields.emplace_back(k, v);
      logging::event(level, "request", fields);
    }
    return render(res, keep_alive, req.method == "HEAD");
  }

  static std::string render(const Response& res, bool keep_alive, bool head) {
    std::string out = fmt::format("HTTP/1.1 {} {}\r\n", res.status, reason_phrase(res.status));
    if (!res.content_type.empty()) out += fmt::format("Content-Type: {}\r\n", res.content_type);
    if (res.status != 204) out += fmt::format("Content-Length: {}\r\n", res.body.size());
    for (const Header& h : res.headers) out += fmt::format("{}: {}\r\n", h.name, h.value);
    out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    if (!head && res.status != 204) out += res.body;
    return out;
  }

  // A request refused before it was complete (malformed, too large, too slow).
  std::string refuse(int status, std::string_view code, std::string_view message) {
    Request req;
    req.method = "-";
    Response res;
    begin(req, res);
    res.error(status, code, message);
    return finish(req, res, false);
  }

  void worker_main() {
    while (true) {
      Job job;
      {
        std::unique_lock lock(jobs_mutex);
        jobs_ready.wait(lock, [&] { return workers_stop || !jobs.empty(); });
        if (jobs.empty()) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      Response res;
      res.headers.push_back({"X-Request-ID", job.request.request_id});
      run_route(*job.route, job.request, res);
      const bool keep = job.request.keep_alive && !stopping.load();
      complete(job.loop, job.conn, finish(job.request, res, keep), !keep);
    }
  }

  void complete(int loop, std::uint64_t conn, std::string bytes, bool close);
};

// One event loop: an epoll set, its connections, and an eventfd to be woken by workers.
struct JsonServer::Impl::Loop {
  enum class Phase { reading, handling, writing };
  struct Conn {
    int fd = -1;
    detail::RequestParser parser;
    Phase phase = Phase::reading;
    std::string out;
    std::size_t out_pos = 0;
    bool close_after_write = false;
    std::size_t accounted = 0;  // this connection's share of Impl::buffered_total
    Clock::time_point since;    // idle since / request began / write began
    Clock::time_point last_byte;
    bool request_began = false;
    explicit Conn(detail::ParseLimits limits) : parser(limits) {}
  };
  static constexpr std::uint64_t kListener = 0, kWake = 1;

  Impl& impl;
  int index;
  int epfd = -1;
  int wake_fd = -1;
  int spare_fd = -1;  // closed to accept (and refuse) a connection when out of descriptors
  std::uint64_t next_id = 2;
  std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> conns;
  std::mutex done_mutex;
  std::vector<Done> done;
  bool draining = false;
  Clock::time_point drain_deadline;
  Clock::time_point last_sweep = Clock::now();

  Loop(Impl& i, int n) : impl(i), index(n) {
    epfd = epoll_create1(EPOLL_CLOEXEC);
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (epfd < 0 || wake_fd < 0) throw Error(ErrorCode::unavailable, "cannot create the server's event loop");
    watch(wake_fd, kWake, EPOLLIN, EPOLL_CTL_ADD);
  }
  ~Loop() {
    for (auto& [id, c] : conns) ::close(c->fd);
    for (int fd : {epfd, wake_fd, spare_fd}) {
      if (fd >= 0) ::close(fd);
    }
  }

  void watch(int fd, std::uint64_t id, std::uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = id;
    epoll_ctl(epfd, op, fd, &ev);
  }

  void wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd, &one, sizeof one);
  }

  void close_conn(std::uint64_t id) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    impl.buffered_total -= it->second->accounted;
    ::close(it->second->fd);  // also leaves the epoll set
    conns.erase(it);
  }

  void run() {
    if (impl.listen_fd >= 0) watch(impl.listen_fd, kListener, EPOLLIN | EPOLLEXCLUSIVE, EPOLL_CTL_ADD);
    std::vector<epoll_event> events(256);
    while (true) {
      const int n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()), 100);
      for (int i = 0; i < n; ++i) {
        const std::uint64_t id = events[static_cast<std::size_t>(i)].data.u64;
        const std::uint32_t ev = events[static_cast<std::size_t>(i)].events;
        if (id == kListener) {
          accept_all();
        } else if (id == kWake) {
          std::uint64_t count;
          [[maybe_unused]] const auto r = ::read(wake_fd, &count, sizeof count);
          take_done();
        } else {
          on_event(id, ev);
        }
      }
      const auto now = Clock::now();
      if (impl.stopping.load() && !draining) start_drain(now);
      if (now - last_sweep >= std::chrono::milliseconds(250)) sweep(now);
      if (draining && (conns.empty() || now >= drain_deadline)) break;
    }
    std::vector<std::uint64_t> ids;
    for (auto& [id, c] : conns) ids.push_back(id);
    for (auto id : ids) close_conn(id);
  }

  void start_drain(Clock::time_point now) {
    draining = true;
    drain_deadline = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(impl.drain_seconds.load()));
    if (impl.listen_fd >= 0) epoll_ctl(epfd, EPOLL_CTL_DEL, impl.listen_fd, nullptr);
    std::vector<std::uint64_t> idle;
    for (auto& [id, c] : conns) {
      if (c->phase == Phase::reading && !c->parser.started()) {
        idle.push_back(id);  // no request of theirs is in flight: nothing to drain
      } else {
        c->close_after_write = true;  // answered, then closed; a request still arriving may finish
      }
    }
    for (auto id : idle) close_conn(id);
  }

  void accept_all() {
    for (int i = 0; i < 64; ++i) {
      const int fd = accept4(impl.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) {  // out of descriptors: refuse one, do not spin
          if (!evict_idle() && spare_fd >= 0) {
            ::close(spare_fd);
            const int refused = accept4(impl.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (refused >= 0) ::close(refused);
            spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
          }
          continue;
        }
        return;  // EAGAIN, or another loop took it
      }
      const std::size_t per_loop = std::max<std::size_t>(1, impl.options.max_connections / impl.loops.size());
      if (conns.size() >= per_loop && !evict_idle()) {
        ::close(fd);
        continue;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto conn = std::make_unique<Conn>(impl.parse_limits());
      conn->fd = fd;
      conn->since = conn->last_byte = Clock::now();
      const std::uint64_t id = next_id++;
      watch(fd, id, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
      conns.emplace(id, std::move(conn));
    }
  }

  // Closes the keep-alive connection idle the longest, to make room. False if none is idle.
  bool evict_idle() {
    std::uint64_t oldest = 0;
    Clock::time_point when = Clock::time_point::max();
    for (auto& [id, c] : conns) {
      if (c->phase == Phase::reading && !c->parser.started() && c->since < when) {
        when = c->since;
        oldest = id;
      }
    }
    if (oldest == 0) return false;
    close_conn(oldest);
    return true;
  }

  void on_event(std::uint64_t id, std::uint32_t ev) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    Conn& c = *it->second;
    if (ev & EPOLLERR) return close_conn(id);
    if (c.phase == Phase::writing && (ev & EPOLLOUT)) {
      if (write_out(id, c)) process(id, c);
      return;
    }
    if (c.phase != Phase::reading) {
      if (ev & EPOLLHUP) close_conn(id);
      return;
    }
    char buf[65536];
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return close_conn(id);
    if (n < 0) return;
    if (!c.request_began) {
      c.request_began = true;
      c.since = Clock::now();  // the request's deadline counts from its first byte
    }
    c.last_byte = Clock::now();
    c.parser.append(buf, static_cast<std::size_t>(n));
    process(id, c);
  }

  // Parses what has arrived and answers it: a complete request is dispatched, a broken one
  // refused. Pipelined requests are answered one after another, in order.
  void process(std::uint64_t id, Conn& c) {
    while (c.phase == Phase::reading && c.parser.started()) {
      const detail::RequestParser::State state = c.parser.parse();
      if (!account(c)) {
        respond(id, c, impl.refuse(503, "overloaded", "the server holds too many request bytes; retry shortly"), true);
        return;
      }
      if (state == detail::RequestParser::State::failed) {
        const detail::ParseError& e = c.parser.error();
        respond(id, c, impl.refuse(e.status, e.code, e.message), true);
        return;
      }
      if (state == detail::RequestParser::State::incomplete) {
        if (c.parser.take_continue()) send_now(c, "HTTP/1.1 100 Continue\r\n\r\n");
        return;
      }
      Request req = c.parser.take();
      account(c);
      Response res;
      Impl::begin(req, res);
      const Route* route = impl.route_for(req, res);
      const bool keep = req.keep_alive && !draining;
      if (route && route->options.lane == Lane::worker) {
        c.phase = Phase::handling;
        watch(c.fd, id, 0, EPOLL_CTL_MOD);  // nothing to read until it is answered
        {
          std::lock_guard lock(impl.jobs_mutex);
          impl.jobs.push_back({index, id, std::move(req), route});
        }
        impl.jobs_ready.notify_one();
        return;
      }
      if (route) Impl::run_route(*route, req, res);
      if (!respond(id, c, impl.finish(req, res, keep), !keep)) return;
    }
  }

  // Keeps Impl::buffered_total current; false when this connection would pass the budget.
  bool account(Conn& c) {
    const std::size_t now_held = c.parser.buffered();
    impl.buffered_total += now_held;
    impl.buffered_total -= c.accounted;
    c.accounted = now_held;
    return impl.buffered_total.load() <= impl.options.max_buffered_bytes || now_held <= 64 * 1024;
  }

  // A best-effort write of a small interim answer (100 Continue).
  static void send_now(Conn& c, std::string_view bytes) {
    [[maybe_unused]] const auto n = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }

  // Sends a response. Returns false when the connection is gone (closed after it, or broken).
  bool respond(std::uint64_t id, Conn& c, std::string bytes, bool close) {
    c.out = std::move(bytes);
    c.out_pos = 0;
    c.close_after_write = c.close_after_write || close || draining;
    c.phase = Phase::writing;
    c.since = Clock::now();
    return write_out(id, c);
  }

  // Writes what the socket takes; when all is sent, the connection reads again (or closes).
  // Returns false when the connection is gone.
  bool write_out(std::uint64_t id, Conn& c) {
    while (c.out_pos < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
          watch(c.fd, id, EPOLLOUT, EPOLL_CTL_MOD);
          return true;
        }
        close_conn(id);
        return false;
      }
      c.out_pos += static_cast<std::size_t>(n);
    }
    if (c.close_after_write) {
      ::shutdown(c.fd, SHUT_WR);
      close_conn(id);
      return false;
    }
    c.out.clear();
    c.out.shrink_to_fit();
    c.phase = Phase::reading;
    c.since = Clock::now();
    c.request_began = c.parser.started();
    watch(c.fd, id, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
    return true;
  }

  void take_done() {
    std::vector<Done> ready;
    {
      std::lock_guard lock(done_mutex);
      ready.swap(done);
    }
    for (Done& d : ready) {
      auto it = conns.find(d.conn);
      if (it == conns.end()) continue;  // closed while its request ran
      if (respond(d.conn, *it->second, std::move(d.bytes), d.close)) process(d.conn, *it->second);
    }
  }

  // Deadlines: a request must arrive whole within request_timeout of its first byte, an
  // idle keep-alive connection lasts idle_timeout, a response must be taken in write_timeout.
  void sweep(Clock::time_point now) {
    last_sweep = now;
    const auto secs = [](double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); };
    std::vector<std::uint64_t> expired, slow;
    for (auto& [id, c] : conns) {
      if (c->phase == Phase::reading) {
        if (draining && c->request_began && now - c->last_byte > std::chrono::milliseconds(500)) {
          expired.push_back(id);  // shutting down: an upload that stalls is not waited for
        } else if (c->request_began && now - c->since > secs(impl.options.request_timeout)) {
          slow.push_back(id);
        } else if (!c->request_began && now - c->since > secs(impl.options.idle_timeout)) {
          expired.push_back(id);
        }
      } else if (c->phase == Phase::writing && now - c->since > secs(impl.options.write_timeout)) {
        expired.push_back(id);
      }
    }
    for (auto id : expired) close_conn(id);
    for (auto id : slow) {
      auto it = conns.find(id);
      respond(id, *it->second,
              impl.refuse(408, "request_timeout",
                          fmt::format("the request did not arrive whole within {} s", impl.options.request_timeout)),
              true);
    }
  }
};

void JsonServer::Impl::complete(int loop, std::uint64_t conn, std::string bytes, bool close) {
  Loop& l = *loops[static_cast<std::size_t>(loop)];
  {
    std::lock_guard lock(l.done_mutex);
    l.done.push_back({conn, std::move(bytes), close});
  }
  l.wake();
}

JsonServer::JsonServer(ServiceOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

JsonServer::~JsonServer() {
  if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
}

void JsonServer::route(const char* method, const char* path_template, Handler handler, RouteOptions options) {
  impl_->routes.push_back({method, path_template, split_path(path_template), std::move(handler), options});
  for (std::string& s : impl_->routes.back().segments) {
    if (s.size() >= 2 && s.front() == '{' && s.back() == '}') s = "{}";
  }
}

void JsonServer::on_request(RequestObserver observer) { impl_->observer = std::move(observer); }

int JsonServer::bind() {
  raise_file_limit();
  const ServiceOptions& o = impl_->options;
  const auto fail = [&](std::string_view why) {
    if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
    impl_->listen_fd = -1;
    return Error(ErrorCode::unavailable, fmt::format("cannot listen on {}:{} ({})", o.host, o.port, why),
                 "another process may use the port; pick another with --port");
  };
  const bool v6 = o.host.find(':') != std::string::npos;
  impl_->listen_fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (impl_->listen_fd < 0) throw fail(std::strerror(errno));
  const int one = 1;
  setsockopt(impl_->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage addr{};
  socklen_t len = 0;
  const std::string host = o.host == "localhost" ? "127.0.0.1" : o.host;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<std::uint16_t>(o.port));
    if (inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1) throw fail("not an IP address");
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<std::uint16_t>(o.port));
    if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) throw fail("not an IP address");
    len = sizeof *a;
  }
  if (::bind(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) throw fail(std::strerror(errno));
  if (::listen(impl_->listen_fd, SOMAXCONN) != 0) throw fail(std::strerror(errno));
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  getsockname(impl_->listen_fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  return ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

void JsonServer::run() {
  Impl& impl = *impl_;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int io = impl.options.io_threads > 0 ? impl.options.io_threads : std::clamp(cores / 2, 1, 4);
  for (int i = 0; i < io; ++i) impl.loops.push_back(std::make_unique<Impl::Loop>(impl, i));
  for (int i = 0; i < std::max(1, impl.options.workers); ++i) impl.workers.emplace_back([&impl] { impl.worker_main(); });
  std::vector<std::thread> extra;
  for (int i = 1; i < io; ++i) extra.emplace_back([&impl, i] { impl.loops[static_cast<std::size_t>(i)]->run(); });
  impl.loops[0]->run();
  for (auto& t : extra) t.join();
  {
    std::lock_guard lock(impl.jobs_mutex);
    impl.workers_stop = true;
    impl.jobs.clear();  // their connections are closed
  }
  impl.jobs_ready.notify_all();
  for (auto& t : impl.workers) t.join();
  impl.workers.clear();
  impl.loops.clear();
}

void JsonServer::shutdown(double deadline_seconds) {
  impl_->drain_seconds = deadline_seconds;
  impl_->stopping = true;
  // The loops see the flag within their 100 ms wait; no need to reach into them here.
}

std::string JsonServer::handle_bytes(std::string_view input) {
  Impl& impl = *impl_;
  detail::RequestParser parser(impl.parse_limits());
  parser.append(input.data(), input.size());
  std::string out;
  while (true) {
    const auto state = parser.parse();
    if (state == detail::RequestParser::State::failed) {
      out += impl.refuse(parser.error().status, parser.error().code, parser.error().message);
      break;
    }
    if (state == detail::RequestParser::State::incomplete) break;
    Request req = parser.take();
    Response res;
    Impl::begin(req, res);
    if (const Route* route = impl.route_for(req, res)) Impl::run_route(*route, req, res);
    out += impl.finish(req, res, req.keep_alive);
    if (!req.keep_alive) break;
  }
  return out;
}

namespace {

sigset_t service_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR2}) sigaddset(&signals, s);
  return signals;
}

}  // namespace

void block_service_signals() {
  const sigset_t signals = service_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

void serve_until_signal(JsonServer& server, const std::function<void(int port)>& on_listening,
                        const std::function<void()>& on_hangup, double shutdown_timeout) {
  // The signals are blocked in every thread (threads inherit the mask); one thread waits
  // for them, so nothing runs inside a signal handler.
  block_service_signals();
  const sigset_t signals = service_signals();
  const int port = server.bind();
  on_listening(port);
  std::thread waiter([&] {
    while (true) {
      int received = 0;
      if (sigwait(&signals, &received) != 0) continue;
      if (received == SIGUSR2) return;  // run() returned on its own: stop waiting
      if (received == SIGHUP) {
        logging::event(logging::Level::info, "SIGHUP: reloading", {});
        if (on_hangup) on_hangup();
        continue;
      }
      logging::event(logging::Level::info, "shutting down",
                     {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"},
                      {"deadline_seconds", fmt::format("{}", shutdown_timeout)}});
      server.shutdown(shutdown_timeout);
      return;
    }
  });
  try {
    server.run();
  } catch (...) {
    pthread_kill(waiter.native_handle(), SIGUSR2);
    waiter.join();
    throw;
  }
  pthread_kill(waiter.native_handle(), SIGUSR2);
  waiter.join();
}

}  // namespace mlops::http
