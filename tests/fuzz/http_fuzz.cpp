// libFuzzer target: the whole HTTP path of the service layer — raw request bytes in,
// through parsing, routing, the API-key check, routes (the serving request parsers among
// them), error handling, the request log and rendering; response bytes out. Whatever the
// bytes, every answer must be a well-formed HTTP/1.1 response whose JSON body parses, and
// nothing may crash, hang or throw past the layer. Run by tests/fuzz/run.sh.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "libmlops/core/error.hpp"
#include "libmlops/core/log.hpp"
#include "libmlops/http/json_server.hpp"
#include "libmlops/serving/request.hpp"

namespace {

using namespace mlops;

const std::vector<std::string> kFeatures = {"feature_1", "feature_2", "feature_3"};
bool g_boom = false;  // whether the route made to fail ran for this input

std::unique_ptr<http::JsonServer> make_server() {
  http::ServiceOptions o;
  o.max_body_bytes = 4096;
  o.max_header_bytes = 1024;
  o.api_key = "key";
  auto server = std::make_unique<http::JsonServer>(o);
  for (const char* path : {"/predict", "/invocations", "/v2/models/{name}/infer"}) {
    server->route("POST", path, [path](http::Request& req, http::Response& res) {
      const nlohmann::json body = http::parse_json_body(req, 256);
      const auto parse = std::string(path) == "/predict" ? serving::parse_predict
                         : std::string(path) == "/invocations" ? serving::parse_invocations
                                                               : serving::parse_v2_infer;
      const serving::Rows rows = parse(body, kFeatures, 16);
      res.json({{"rows", rows.rows}, {"values", rows.values}, {"echo", body}, {"params", req.params}});
    });
  }
  server->route("GET", "/customer/{id}", [](http::Request& req, http::Response& res) {
    if (req.params[0] == "missing") throw Error(ErrorCode::not_found, "customer '" + req.params[0] + "' not found");
    res.json({{"id", req.params[0]}, {"query", req.query}, {"x", req.query_param("x").value_or("")}});
  });
  server->route("POST", "/admin", [](http::Request&, http::Response& res) { res.json({{"ok", true}}); },
                {http::Lane::worker, true});
  server->route("GET", "/boom", [](http::Request&, http::Response&) {
    g_boom = true;
    throw std::runtime_error("boom");
  });
  return server;
}

// Checks one rendered response at `at`; returns where the next begins.
std::size_t check_response(const std::string& out, std::size_t at) {
  if (out.compare(at, 9, "HTTP/1.1 ") != 0) __builtin_trap();
  const int status = std::atoi(out.c_str() + at + 9);
  if (status < 100 || status > 599) __builtin_trap();
  const std::size_t head_end = out.find("\r\n\r\n", at);
  if (head_end == std::string::npos) __builtin_trap();
  const std::string head = out.substr(at, head_end - at);
  if (head.find('\0') != std::string::npos) __builtin_trap();
  std::size_t length = 0;
  if (const std::size_t cl = head.find("\r\nContent-Length: "); cl != std::string::npos) {
    length = std::strtoul(head.c_str() + cl + 18, nullptr, 10);
  } else if (status != 204) {
    __builtin_trap();
  }
  const std::size_t body_at = head_end + 4;
  // An answer to HEAD has the Content-Length of its GET and no body: the next answer (or
  // the end) follows the head at once.
  if (body_at == out.size() || (body_at + length != out.size() && out.compare(body_at, 9, "HTTP/1.1 ") == 0)) {
    return body_at;
  }
  if (body_at + length > out.size()) __builtin_trap();
  if (head.find("Content-Type: application/json") != std::string::npos) {
    const auto body = nlohmann::json::parse(out.begin() + static_cast<long>(body_at),
                                            out.begin() + static_cast<long>(body_at + length), nullptr, false);
    if (body.is_discarded()) __builtin_trap();  // every JSON answer is valid JSON (valid UTF-8)
  }
  if (status == 500 && !g_boom) __builtin_trap();  // only the route made to fail answers 500
  return body_at + length;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto server = [] {
    logging::set_level(logging::Level::info);  // format every request's log line too
    return make_server();
  }();
  g_boom = false;
  const std::string out = server->handle_bytes(std::string_view(reinterpret_cast<const char*>(data), size));
  for (std::size_t at = 0; at < out.size();) at = check_response(out, at);
  return 0;
}
