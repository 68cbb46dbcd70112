#include "libmlops/http/client.hpp"

#include <fmt/format.h>

#include <cctype>
#include <chrono>
#include <thread>

#include "libmlops/core/error.hpp"

#include <httplib.h>

namespace mlops::http {

std::string url_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

nlohmann::json ClientResponse::json(const std::string& what) const {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception&) {
    throw Error(ErrorCode::corrupt, fmt::format("{} answered {} with a body that is not JSON", what, status),
                "check that the URL points at the right service");
  }
}

struct Client::Impl {
  ClientOptions options;
  std::string prefix;  // the base URL's path, put in front of every request path
  std::unique_ptr<httplib::Client> client;
};

namespace {
// Splits http[s]://host[:port][/prefix] into the part httplib connects to and the prefix.
std::pair<std::string, std::string> split_base_url(const std::string& url) {
  const bool https = url.rfind("https://", 0) == 0;
  if ((!https && url.rfind("http://", 0) != 0) || url.size() <= (https ? 8u : 7u)) {
    throw Error(ErrorCode::invalid_input, fmt::format("'{}' is not an http:// or https:// URL", url),
                "use http://HOST:PORT, e.g. http://127.0.0.1:8001");
  }
  const std::size_t host_start = https ? 8 : 7;
  const std::size_t slash = url.find('/', host_start);
  if (slash == std::string::npos) return {url, ""};
  std::string prefix = url.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return {url.substr(0, slash), prefix};
}
}  // namespace

Client::Client(const std::string& base_url, ClientOptions options) : impl_(std::make_unique<Impl>()), base_url_(base_url) {
  auto [origin, prefix] = split_base_url(base_url);
  impl_->options = options;
  impl_->prefix = std::move(prefix);
  impl_->client = std::make_unique<httplib::Client>(origin);
  if (!impl_->client->is_valid()) {
    throw Error(ErrorCode::invalid_input, fmt::format("'{}' is not a valid URL", base_url),
                "use http://HOST:PORT or https://HOST:PORT");
  }
  const auto seconds = static_cast<time_t>(options.timeout_seconds);
  const auto micros = static_cast<time_t>((options.timeout_seconds - static_cast<double>(seconds)) * 1e6);
  impl_->client->set_connection_timeout(seconds, micros);
  impl_->client->set_read_timeout(seconds, micros);
  impl_->client->set_write_timeout(seconds, micros);
  impl_->client->set_keep_alive(true);
  impl_->client->set_tcp_nodelay(true);
  if (!options.bearer_token.empty()) {
    impl_->client->set_bearer_token_auth(options.bearer_token.c_str());
  } else if (!options.username.empty()) {
    impl_->client->set_basic_auth(options.username.c_str(), options.password.c_str());
  }
  impl_->client->enable_server_certificate_verification(options.verify_tls);
  if (!options.ca_cert_path.empty()) impl_->client->set_ca_cert_path(options.ca_cert_path.c_str());
}

Client::~Client() = default;

namespace {
template <class Call>
ClientResponse with_retries(const ClientOptions& options, const std::string& url, bool retry, Call call) {
  double backoff = options.backoff_seconds;
  const int attempts = retry ? options.retries + 1 : 1;
  for (int attempt = 1;; ++attempt) {
    httplib::Result result = call();
    const bool transient = !result || result->status == 429 || result->status >= 500;
    if (!transient || attempt >= attempts) {
      if (result) return {result->status, result->body};
      if (result.error() == httplib::Error::Read || result.error() == httplib::Error::Write ||
          result.error() == httplib::Error::ConnectionTimeout) {
        throw Error(ErrorCode::timeout, fmt::format("{} did not answer within {} s", url, options.timeout_seconds),
                    "the service is slow or stuck; try again later");
      }
      if (result.error() == httplib::Error::SSLServerVerification || result.error() == httplib::Error::SSLConnection) {
        throw Error(ErrorCode::unavailable, fmt::format("TLS with {} failed ({})", url, httplib::to_string(result.error())),
                    "check the server's certificate, or name its CA bundle (e.g. MLFLOW_TRACKING_SERVER_CERT_PATH)");
      }
      throw Error(ErrorCode::unavailable, fmt::format("cannot reach {} ({})", url, httplib::to_string(result.error())),
                  "is the service running? check the URL and port");
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
    backoff *= 2;
  }
}
}  // namespace

ClientResponse Client::get(const std::string& path) {
  const std::string full = impl_->prefix + path;
  return with_retries(impl_->options, base_url_ + path, true, [&] { return impl_->client->Get(full.c_str()); });
}

ClientResponse Client::post_json(const std::string& path, const nlohmann::json& body, bool idempotent) {
  return send("POST", path, body.dump(), "application/json", idempotent);
}

ClientResponse Client::post(const std::string& path, const std::string& body, const std::string& content_type) {
  return send("POST", path, body, content_type, false);
}

ClientResponse Client::put(const std::string& path, const std::string& body, const std::string& content_type) {
  return send("PUT", path, body, content_type, true);
}

ClientResponse Client::send(const std::string& method, const std::string& path, const std::string& body,
                      const std::string& content_type, bool idempotent) {
  httplib::Request req;
  req.method = method;
  req.path = impl_->prefix + path;
  req.body = body;
  if (!content_type.empty()) req.set_header("Content-Type", content_type);
  return with_retries(impl_->options, base_url_ + path, idempotent, [&] { return impl_->client->send(req); });
}

}  // namespace mlops::http
