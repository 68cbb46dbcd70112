// http: a small JSON-over-HTTP client on cpp-httplib — timeouts, retries with backoff,
// errors as mlops::Error. Knows no service.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mlops::http {

struct ClientOptions {
  double timeout_seconds = 5;    // connect, read and write, each
  int retries = 2;               // extra attempts on connection errors, 429 and 5xx
  double backoff_seconds = 0.05; // doubled after each attempt
  std::string bearer_token = {};  // sent as Authorization: Bearer
  std::string username = {};      // with password: HTTP basic auth
  std::string password = {};
  bool verify_tls = true;         // https: check the server's certificate
  std::string ca_cert_path = {};  // https: trust this CA bundle instead of the system's
};

struct ClientResponse {
  int status = 0;
  std::string body;
  // The body as JSON; Error{corrupt} naming the URL when it is not JSON.
  nlohmann::json json(const std::string& what) const;
};

// Percent-encodes everything but RFC 3986's unreserved characters (for a query value or a
// path segment).
std::string url_encode(std::string_view text);

// A URL with its user:password@ taken out: the URL without them (safe to print, log and
// store) and the credentials, percent-decoded. A URL without any comes back unchanged.
struct UrlCredentials {
  std::string url;
  std::string username;
  std::string password;
};
UrlCredentials take_credentials(const std::string& url);

class Client {
 public:
  // base_url: http://host[:port] or https://host[:port], optionally with a path prefix
  // (http://host/mlflow) that is put in front of every request path.
  // Throws Error{invalid_input} for a malformed URL.
  Client(const std::string& base_url, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Any HTTP status is returned; only transport failures throw: Error{timeout} when the
  // server does not answer in time, Error{unavailable} when it cannot be reached.
  // GETs are retried; POSTs only when `idempotent`.
  ClientResponse get(const std::string& path);
  ClientResponse post_json(const std::string& path, const nlohmann::json& body, bool idempotent = false);
  ClientResponse post(const std::string& path, const std::string& body, const std::string& content_type);
  // PUT replaces a resource, so it is retried.
  ClientResponse put(const std::string& path, const std::string& body, const std::string& content_type);
  // Any method with a body (e.g. MLflow's DELETE and PATCH with JSON); retried when `idempotent`.
  ClientResponse send(const std::string& method, const std::string& path, const std::string& body,
                const std::string& content_type, bool idempotent);
  const std::string& base_url() const { return base_url_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string base_url_;
};

}  // namespace mlops::http
