// http: a request as the service layer hands it to a route, and the response a route fills.
// Everything in a Request came from a client and is checked before a route sees it: the
// method is a token, the path and query are percent-decoded, valid UTF-8 and free of
// control bytes, the body is within the limits.
#pragma once
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mlops::http {

struct Header {
  std::string name;
  std::string value;
};

struct Request {
  std::string method;                 // "GET", "POST", ... (a token, case as sent)
  std::string target;                 // the raw request-target, e.g. "/customer/42?x=1"
  std::string path;                   // decoded path, e.g. "/customer/42"
  std::vector<std::pair<std::string, std::string>> query;  // decoded ?k=v pairs in order
  std::vector<Header> headers;
  std::string body;                   // decoded (chunked bodies are joined)
  int minor_version = 1;              // HTTP/1.x
  bool keep_alive = true;             // what the client asked for

  // The per-request context, set by the service layer before the route runs.
  std::vector<std::string> params;    // the {name} segments of the route template, in order
  const char* route = "unmatched";    // the route template: a bounded metric label
  std::string request_id;             // X-Request-ID: the client's (if well formed) or new
  std::chrono::steady_clock::time_point started;

  // The first header of that name (case-insensitive), or "" when absent.
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  // The first query parameter of that name, decoded; nullopt when absent.
  std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<Header> headers;
  // Extra fields for this request's log line (e.g. model_version); values are escaped there.
  std::vector<std::pair<std::string_view, std::string>> log_fields;

  // A JSON body. Strings that are not valid UTF-8 are written with U+FFFD in their place, so
  // echoing client bytes can never throw.
  void json(const nlohmann::json& value, int status_code = 200);
  // The error body of DESIGN.md §5: {"error":{"code","message","details"?}}.
  void error(int status_code, std::string_view code, std::string_view message,
             const nlohmann::json& details = nullptr);
  void text(std::string content, std::string type);
  // Adds a header; CR, LF and NUL in the value are dropped (no response splitting).
  void set_header(std::string name, std::string_view value);
};

// Case-insensitive ASCII comparison, for header names and tokens.
bool iequals(std::string_view a, std::string_view b);

}  // namespace mlops::http

namespace mlops::http {

// A request the service answers with an error of its own choosing (a client mistake or a
// refusal): status, a stable code and details, rendered as the error body of DESIGN.md §5.
// A route may throw it; the service layer answers it.
class HttpError : public std::runtime_error {
 public:
  HttpError(int status, std::string code, std::string message, nlohmann::json details = nullptr)
      : std::runtime_error(std::move(message)), status_(status), code_(std::move(code)), details_(std::move(details)) {}
  int status() const { return status_; }
  const std::string& code_name() const { return code_; }
  const nlohmann::json& details() const { return details_; }

 private:
  int status_;
  std::string code_;
  nlohmann::json details_;
};

}  // namespace mlops::http
