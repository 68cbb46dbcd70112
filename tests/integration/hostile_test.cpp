// Hostile clients against the real `mlops serve` and `mlops crm serve` processes over raw
// loopback sockets: bytes no HTTP library would send, bodies shaped to explode, slow and
// idle connections, forged log lines, pipelining, signals. Each case asserts the answer,
// that the process lives on, and where it matters a bound on its peak memory.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "libmlops/core/text.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/support.hpp"

#include <httplib.h>  // last: its <resolv.h> defines a macro `_res` that breaks Eigen

using namespace mlops;
using nlohmann::json;
using test::ServerProcess;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kRow = "[5.2,1.3,7.7,2.0,3.1,4.4,1.0,8.2,2.5,6.0]";

// One raw TCP connection to 127.0.0.1:port.
class Conn {
 public:
  explicit Conn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~Conn() { ::close(fd_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // False when the server has closed the connection.
  bool send(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }
  // Reads until the server closes, `want` responses' heads have arrived, or `seconds` pass.
  std::string read(double seconds, int want = 1 << 30) {
    std::string out;
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (Clock::now() < deadline && count(out, "HTTP/1.1 ") < want) {
      timeval tv{0, 50000};
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) break;
      if (n > 0) out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  static int count(const std::string& text, const std::string& what) {
    int n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

 private:
  int fd_ = -1;
};

int status_of(const std::string& response) {
  return response.rfind("HTTP/1.1 ", 0) == 0 ? std::atoi(response.c_str() + 9) : 0;
}

json body_of(const std::string& response) {
  const auto at = response.find("\r\n\r\n");
  REQUIRE(at != std::string::npos);
  return json::parse(response.substr(at + 4));
}

std::string one(int port, const std::string& request, double seconds = 5) {
  Conn c(port);
  c.send(request);
  return c.read(seconds, 1);
}

bool running(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, name, state;
  stat >> pid_field >> name >> state;
  return stat && state != "Z";
}

// Peak resident memory of a process so far (VmHWM), in MB. Under AddressSanitizer (the
// `make sanitize` build) memory costs several times more: the bounds scale with it.
#if defined(__SANITIZE_ADDRESS__)
constexpr double kMemoryScale = 6;
#else
constexpr double kMemoryScale = 1;
#endif
double peak_rss_mb(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024;
  }
  return -1;
}

std::string post(const std::string& path, const std::string& body, const std::string& type = "application/json",
                 const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: " + type + "\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct Project {
  test::TempDir dir;
  std::string home = dir.file("home");
  std::string crm = dir.file("crm.db");
  Project() {
    auto r = test::run_cli({"train", "--n-samples", "400", "--seed", "42", "--model-version", "v1", "-o",
                            dir.file("m.json"), "--register", "--stage", "Production"}, home);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    r = test::run_cli({"crm", "--crm", "sqlite:" + crm, "init", "--customers", "20"}, home);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  }
  std::string segment(const std::string& id) {
    const auto r = test::run_cli({"crm", "--crm", "sqlite:" + crm, "show", id, "--json"}, home);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return json::parse(r.out)["segment"].get<std::string>();
  }
};

// Every log line is one line of printable UTF-8: no forged line, no raw control byte.
void check_log_is_clean(const std::string& log) {
  CHECK(is_valid_utf8(log));
  for (char c : log) {
    const auto u = static_cast<unsigned char>(c);
    if (c != '\n') REQUIRE_MESSAGE((u >= 0x20 && u != 0x7F), "a raw control byte in the log");
  }
  CHECK(log.find("\xC2\x9B") == std::string::npos);  // C1 CSI, a terminal escape
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("mlops: ", 0) == 0) continue;  // a plain warning of the CLI
    CAPTURE(line);
    CHECK((line.rfind("20", 0) == 0 || line.rfind("{\"ts\":\"20", 0) == 0));  // starts with its timestamp
  }
}

}  // namespace

TEST_SUITE("integration/hostile") {
  TEST_CASE("paths that are not UTF-8 or hold control bytes: 400, never a crash, never a 500") {
    Project p;
    ServerProcess serve(p.home, {"--reload-interval", "0"});
    ServerProcess crm(p.home, {}, {}, {"crm", "--crm", "sqlite:" + p.crm, "serve"});
    for (const auto& [port, request] : std::vector<std::pair<int, std::string>>{
             {serve.port(), "GET /%ff HTTP/1.1\r\n\r\n"},
             {serve.port(), "DELETE /x%c3%28 HTTP/1.1\r\n\r\n"},
             {serve.port(), "GET /v2/models/%ff HTTP/1.1\r\n\r\n"},
             {serve.port(), "GET /live%00 HTTP/1.1\r\n\r\n"},
             {serve.port(), "GET /health?x=%ff HTTP/1.1\r\n\r\n"},
             {serve.port(), "POST /crm_segment_update?customer_id=%c3 HTTP/1.1\r\n\r\n"},
             {crm.port(), "GET /customer/%ff HTTP/1.1\r\n\r\n"},
             {crm.port(), "GET /customer/%ff/features HTTP/1.1\r\n\r\n"},
             {crm.port(), "GET /customer/%c3%28 HTTP/1.1\r\n\r\n"}}) {
      CAPTURE(request);
      const std::string r = one(port, request);
      CHECK(status_of(r) == 400);
      CHECK(body_of(r)["error"]["code"].get<std::string>().find("invalid_") == 0);
    }
    // Raw bytes the request line may not hold at all.
    CHECK(status_of(one(serve.port(), "GET /\xff HTTP/1.1\r\n\r\n")) == 400);
    CHECK(status_of(one(serve.port(), "GET / HTTP/1.1\r\nX-A: \x01\r\n\r\n")) == 400);
    // An id a client chose is echoed as text only: the answer is valid JSON.
    const std::string unknown = one(crm.port(), "GET /customer/%e2%82%ac HTTP/1.1\r\n\r\n");
    CHECK(status_of(unknown) == 422);
    CHECK(running(serve.pid()));
    CHECK(running(crm.pid()));
    httplib::Client c("127.0.0.1", serve.port());
    const std::string metrics = c.Get("/metrics")->body;
    CHECK(metrics.find("status=\"500\"") == std::string::npos);
    CHECK(status_of(one(serve.port(), "BREW /live HTTP/1.1\r\n\r\n")) == 405);
    const std::string after = c.Get("/metrics")->body;
    CHECK(after.find("BREW") == std::string::npos);  // a made-up method is "other": labels stay bounded
    CHECK(after.find("method=\"other\"") != std::string::npos);
  }

  TEST_CASE("bodies shaped to explode are refused before they are built: bounded memory") {
    Project p;
    ServerProcess serve(p.home, {"--reload-interval", "0"});
    // Columns: one list of 2,000 zeros and one 500 KB string (it took 1 GB per request).
    std::string zeros;
    for (int i = 0; i < 2000; ++i) zeros += i ? ",0" : "0";
    const std::string columns = "{\"inputs\":{\"a\":[" + zeros + "],\"b\":\"" + std::string(500000, 'x') + "\"}}";
    for (int i = 0; i < 8; ++i) {
      const std::string r = one(serve.port(), post("/invocations", columns));
      CHECK(status_of(r) == 400);  // MLflow's scoring protocol: any bad input is a 400 BAD_REQUEST
      CHECK(r.find("\"error_code\":\"BAD_REQUEST\"") != std::string::npos);
    }
    // The same shape with the model's feature names: the batch limit, checked before rows.
    std::string named = "{\"inputs\":{";
    for (int f = 1; f <= 10; ++f) named += fmt::format("\"feature_{}\":[{}]{}", f, zeros, f < 10 ? "," : "}}");
    CHECK(status_of(one(serve.port(), post("/invocations", named))) == 413);
    // Half a million values, and nesting 100,000 deep.
    std::string values = "{\"instances\":[0";
    for (int i = 0; i < 500000; ++i) values += ",0";
    values += "]}";
    std::string r = one(serve.port(), post("/predict", values));
    CHECK(status_of(r) == 413);
    CHECK(body_of(r)["error"]["code"] == "too_many_values");
    r = one(serve.port(), post("/predict", std::string(100000, '[') + std::string(100000, ']')));
    CHECK(status_of(r) == 413);
    CHECK(body_of(r)["error"]["code"] == "too_deep");
    CHECK(running(serve.pid()));
    // Eight columns requests reached 6.9 GB before; now each is a few times its 0.5 MB body.
    CHECK(peak_rss_mb(serve.pid()) < 120 * kMemoryScale);
  }

  TEST_CASE("chunked bodies obey --max-body-bytes like Content-Length ones") {
    Project p;
    ServerProcess serve(p.home, {"--reload-interval", "0"});
    ServerProcess crm(p.home, {}, {}, {"crm", "--crm", "sqlite:" + p.crm, "serve"});
    for (int port : {serve.port(), crm.port()}) {
      Conn c(port);
      REQUIRE(c.send("POST /predict HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
      const std::string chunk = "100000\r\n" + std::string(0x100000, '0') + "\r\n";
      int sent = 0;
      while (sent < 400 && c.send(chunk)) ++sent;  // 400 MB offered
      const std::string r = c.read(5, 1);
      CHECK(status_of(r) == 413);
      CHECK(sent < 400);  // the server stopped reading and closed
      // Content-Length above the limit is refused from the header alone, even with Expect.
      CHECK(status_of(one(port, "POST /predict HTTP/1.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                                "Content-Length: 314572800\r\n\r\n")) == 413);
    }
    CHECK(peak_rss_mb(serve.pid()) < 64 * kMemoryScale);
    CHECK(peak_rss_mb(crm.pid()) < 64 * kMemoryScale);
  }

  TEST_CASE("slow and idle clients cannot starve the probes; a slow request ends in 408; SIGTERM drains") {
    Project p;
    ServerProcess serve(p.home, {"--reload-interval", "0", "--request-timeout", "2", "--shutdown-timeout", "5"});
    std::vector<std::unique_ptr<Conn>> hostile;
    for (int i = 0; i < 300; ++i) {  // slowloris: a request line, then nothing more yet
      hostile.push_back(std::make_unique<Conn>(serve.port()));
      hostile.back()->send("GET /live HTTP/1.1\r\nX-Slow: 1\r\n");
    }
    for (int i = 0; i < 500; ++i) {  // idle keep-alive: one request answered, then silence
      hostile.push_back(std::make_unique<Conn>(serve.port()));
      hostile.back()->send("GET /live HTTP/1.1\r\n\r\n");
    }
    httplib::Client c("127.0.0.1", serve.port());
    c.set_connection_timeout(2, 0);
    c.set_read_timeout(2, 0);
    for (int i = 0; i < 20; ++i) {
      auto live = c.Get("/live");
      REQUIRE(live);
      CHECK(live->status == 200);
      auto r = c.Post("/predict", "{\"features\":" + kRow + "}", "application/json");
      REQUIRE(r);
      CHECK(r->status == 200);
    }
    // A slowloris connection is answered 408 once its request deadline passes.
    const std::string timed_out = hostile.front()->read(6, 1);
    CHECK(status_of(timed_out) == 408);
    // SIGTERM with slow and idle connections still open: exits 0, well before the deadline.
    for (int i = 1; i < 10; ++i) hostile[static_cast<std::size_t>(i)]->send("X-More: 1\r\n");
    const auto start = Clock::now();
    CHECK(serve.terminate() == 0);
    CHECK(Clock::now() - start < std::chrono::seconds(5));
  }

  TEST_CASE("SIGTERM: a request still arriving is finished and answered, then the server exits 0") {
    Project p;
    ServerProcess serve(p.home, {"--reload-interval", "0", "--max-batch", "100000", "--max-body-bytes", "100000000"});
    std::string body = "{\"instances\":[";
    for (int i = 0; i < 5000; ++i) body += (i ? "," : "") + kRow;
    body += "]}";
    Conn c(serve.port());
    // Expect: 100-continue makes the server say when it has the headers: from then on the
    // request is in flight, whatever the timing of the signal.
    REQUIRE(c.send("POST /predict HTTP/1.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                   "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n"));
    REQUIRE(c.read(5, 1).rfind("HTTP/1.1 100 Continue", 0) == 0);
    REQUIRE(::kill(serve.pid(), SIGTERM) == 0);
    REQUIRE(c.send(body.substr(0, body.size() / 2)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the signal lands mid-upload
    REQUIRE(c.send(body.substr(body.size() / 2)));
    const std::string r = c.read(20);  // until the server closes: it answers, then exits
    CHECK(status_of(r) == 200);
    CHECK(r.find("Connection: close") != std::string::npos);
    CHECK(serve.terminate() == 0);  // already exiting: reaps it and reads its exit code
    CHECK(serve.log().find("shutting down") != std::string::npos);
  }

  TEST_CASE("crm serve: the API key guards every write, bodies are bounded, loopback by default") {
    Project p;
    ServerProcess crm(p.home, {}, {"MLOPS_API_KEY=s3cret"}, {"crm", "--crm", "sqlite:" + p.crm, "serve"});
    const std::string update = "{\"user_id\":\"CUST001\",\"ai_segment\":\"VIP\"}";
    CHECK(status_of(one(crm.port(), post("/crm_segment_update", update))) == 401);
    CHECK(status_of(one(crm.port(), post("/customers/segments", "{\"updates\":[" + update + "]}"))) == 401);
    CHECK(status_of(one(crm.port(), post("/crm_segment_update", update, "application/json", "X-API-Key: wrong\r\n"))) == 401);
    CHECK(p.segment("CUST001") == "Unassigned");
    CHECK(status_of(one(crm.port(), post("/crm_segment_update", update, "application/json", "X-API-Key: s3cret\r\n"))) == 200);
    CHECK(p.segment("CUST001") == "VIP");
    CHECK(status_of(one(crm.port(), "GET /customer/CUST001 HTTP/1.1\r\n\r\n")) == 200);  // reads stay open
    // A segment a client makes up is checked too.
    CHECK(status_of(one(crm.port(), post("/crm_segment_update", "{\"user_id\":\"CUST001\",\"ai_segment\":\"a\\nb\"}",
                                         "application/json", "Authorization: Bearer s3cret\r\n"))) == 422);
    // 300 MB announced: refused from the header; memory stays small.
    Conn big(crm.port());
    big.send("POST /customers/segments HTTP/1.1\r\nContent-Type: application/json\r\nX-API-Key: s3cret\r\n"
             "Content-Length: 314572800\r\n\r\n" + std::string(1 << 20, ' '));
    CHECK(status_of(big.read(5, 1)) == 413);
    CHECK(peak_rss_mb(crm.pid()) < 64 * kMemoryScale);
    CHECK(crm.output().find("http://127.0.0.1:") != std::string::npos);  // bound to loopback
    // `mlops serve` sends the CRM's key (CRM_API_KEY) with its writes; without it they are refused.
    const std::string crm_url = "http://127.0.0.1:" + std::to_string(crm.port());
    ServerProcess with_key(p.home, {"--reload-interval", "0", "--crm", crm_url}, {"CRM_API_KEY=s3cret"});
    CHECK(status_of(one(with_key.port(), "POST /crm_segment_update?customer_id=CUST002 HTTP/1.1\r\n\r\n")) == 200);
    ServerProcess without_key(p.home, {"--reload-interval", "0", "--crm", crm_url});
    CHECK(status_of(one(without_key.port(), "POST /crm_segment_update?customer_id=CUST003 HTTP/1.1\r\n\r\n")) == 502);
    CHECK(p.segment("CUST003") == "Unassigned");
  }

  TEST_CASE("log lines cannot be forged: client bytes are escaped in text and JSON logs") {
    Project p;
    for (const std::string format : {"text", "json"}) {
      CAPTURE(format);
      ServerProcess serve(p.home, {"--reload-interval", "0", "--log-format", format, "--crm", "sqlite:" + p.crm});
      // The observed forgery: a newline in the path, followed by a fake CRM step.
      one(serve.port(), "GET /x%0a2026-12-02T00:00:00.000Z%20info%20crm%20write%20customer_id=CUST999 HTTP/1.1\r\n\r\n");
      one(serve.port(), "GET /nope%c2%9b%e2%80%a8%5c%22 HTTP/1.1\r\nX-Request-ID: a\tb\r\n\r\n");
      one(serve.port(), "POST /crm_segment_update?customer_id=CUST_TEST_007 HTTP/1.1\r\nX-Request-ID: ok-1\r\n\r\n");
      serve.terminate();
      const std::string log = serve.log();
      CHECK(log.find("crm write customer_id=CUST999") == std::string::npos);
      CHECK(log.find("crm write") != std::string::npos);  // the real step is there
      CHECK((log.find("request_id=ok-1") != std::string::npos || log.find("\"request_id\":\"ok-1\"") != std::string::npos));
      check_log_is_clean(log);
      if (format == "json") {
        std::istringstream lines(log);
        for (std::string line; std::getline(lines, line);) {
          if (line.rfind("{", 0) == 0) CHECK_NOTHROW(json::parse(line));
        }
      }
    }
  }

  TEST_CASE("pipelined requests are answered in order on one connection") {
    Project p;
    ServerProcess serve(p.home, {"--reload-interval", "0"});
    Conn c(serve.port());
    std::string burst;
    for (int i = 1; i <= 11; ++i) burst += fmt::format("GET /live HTTP/1.1\r\nX-Request-ID: r{}\r\n\r\n", i);
    burst += post("/predict", "{\"features\":" + kRow + "}", "application/json", "X-Request-ID: r12\r\nConnection: close\r\n");
    REQUIRE(c.send(burst));
    const std::string answers = c.read(3);
    CHECK(Conn::count(answers, "HTTP/1.1 200 OK") == 12);
    std::size_t at = 0;
    for (int i = 1; i <= 12; ++i) {
      const auto next = answers.find(fmt::format("X-Request-ID: r{}\r\n", i), at);
      REQUIRE_MESSAGE(next != std::string::npos, "answer " << i << " missing or out of order");
      at = next;
    }
  }

  TEST_CASE("405 with Allow, 415 for look-alike types, bodyless requests answered at once, SIGHUP reloads") {
    Project p;
    ServerProcess serve(p.home, {"--reload-interval", "0"});
    std::string r = one(serve.port(), "DELETE /predict HTTP/1.1\r\n\r\n");
    CHECK(status_of(r) == 405);
    CHECK(r.find("Allow: POST\r\n") != std::string::npos);
    r = one(serve.port(), "OPTIONS /health HTTP/1.1\r\n\r\n");
    CHECK(status_of(r) == 204);
    CHECK(r.find("Allow: GET, HEAD\r\n") != std::string::npos);
    CHECK(status_of(one(serve.port(), post("/predict", "{\"features\":" + kRow + "}", "application/jsonp"))) == 415);
    CHECK(status_of(one(serve.port(), post("/predict", "{\"features\":" + kRow + "}", "application/json; charset=utf-8"))) == 200);
    const auto start = Clock::now();
    CHECK(status_of(one(serve.port(), "PUT /predict HTTP/1.1\r\n\r\n")) == 405);  // no body: no wait
    CHECK(status_of(one(serve.port(), "POST /predict HTTP/1.1\r\nContent-Type: application/json\r\n\r\n")) == 400);
    CHECK(Clock::now() - start < std::chrono::seconds(2));
    CHECK(status_of(one(serve.port(), "GET / HTTP/2.0\r\n\r\n")) == 505);
    CHECK(status_of(one(serve.port(), "POST /predict HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")) == 400);
    // /health tells the model's URI and digest, never where the server keeps files.
    httplib::Client c("127.0.0.1", serve.port());
    const json health = json::parse(c.Get("/health")->body);
    CHECK(health.dump().find(p.dir.path()) == std::string::npos);
    CHECK(health["model_version"] == "v1");
    {  // a model served from a file: its name shows, not where it lives; a failed file too
      ServerProcess from_file(p.home, {"--reload-interval", "0", "--model-uri", p.dir.file("m.json"),
                                       "--canary-uri", p.dir.file("missing.json")});
      httplib::Client f("127.0.0.1", from_file.port());
      const std::string text = f.Get("/health")->body;
      CHECK(text.find(p.dir.path()) == std::string::npos);
      CHECK(text.find("m.json") != std::string::npos);
      CHECK(json::parse(text)["last_reload"]["ok"] == false);
    }
    // SIGHUP: a new Production version is loaded; the process lives on.
    const auto trained = test::run_cli({"train", "--n-samples", "400", "--seed", "7", "--model-version", "v2", "-o",
                                        p.dir.file("m2.json"), "--register", "--stage", "Production"}, p.home);
    REQUIRE(trained.exit_code == 0);
    REQUIRE(::kill(serve.pid(), SIGHUP) == 0);
    std::string version;
    for (int i = 0; i < 200 && version != "v2"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      auto h = c.Get("/health");
      if (h) version = json::parse(h->body)["model_version"].get<std::string>();
    }
    CHECK(version == "v2");
    CHECK(running(serve.pid()));
    CHECK(serve.log().find("SIGHUP: reloading") != std::string::npos);
  }
}
