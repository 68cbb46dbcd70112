// http: a small JSON-over-HTTP client on cpp-httplib — timeouts, retries with backoff,
// errors as mlops::Error. Knows no service.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace mlops::http {

struct ClientOptions {
  double timeout_seconds = 5;    // connect, read and write, each
  int retries = 2;               // extra attempts on connection errors, 429 and 5xx
  double backoff_seconds = 0.05; // doubled after each attempt
};

struct Response {
  int status = 0;
  std::string body;
  // The body as JSON; Error{corrupt} naming the URL when it is not JSON.
  nlohmann::json json(const std::string& what) const;
};

class Client {
 public:
  // base_url: http://host:port (https is not built into Debian's cpp-httplib here).
  // Throws Error{invalid_input} for a malformed URL.
  Client(const std::string& base_url, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Any HTTP status is returned; only transport failures throw: Error{timeout} when the
  // server does not answer in time, Error{unavailable} when it cannot be reached.
  // GETs are retried; POSTs only when `idempotent`.
  Response get(const std::string& path);
  Response post_json(const std::string& path, const nlohmann::json& body, bool idempotent = false);
  Response post(const std::string& path, const std::string& body, const std::string& content_type);
  // PUT replaces a resource, so it is retried.
  Response put(const std::string& path, const std::string& body, const std::string& content_type);
  const std::string& base_url() const { return base_url_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string base_url_;
};

}  // namespace mlops::http
