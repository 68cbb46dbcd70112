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
int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view text) {  // a bad escape is kept as it is
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 && hex_digit(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}
}  // namespace

UrlCredentials take_credentials(const std::string& url) {
  UrlCredentials out{url, {}, {}};
  const std::size_t scheme = url.find("://");
  if (scheme == std::string::npos) return out;
  const std::size_t host_start = scheme + 3;
  const std::size_t host_end = std::min(url.find_first_of("/?#", host_start), url.size());
  const std::size_t at = url.rfind('@', host_end - 1);
  if (at == std::string::npos || at < host_start) return out;
  const std::string_view userinfo(url.data() + host_start, at - host_start);
  const std::size_t colon = userinfo.find(':');
  out.username = percent_decode(userinfo.substr(0, colon));
  if (colon != std::string_view::npos) out.password = percent_decode(userinfo.substr(colon + 1));
  out.url = url.substr(0, host_start) + url.substr(at + 1);
  return out;
}

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

Client::Client(const std::string& base_url, ClientOptions options)
    : impl_(std::make_unique<Impl>()), base_url_(take_credentials(base_url).url) {
  // Credentials in the URL become basic auth (unless others are given) and never reach a
  // message: base_url_ is the URL without them.
  if (const UrlCredentials given = take_credentials(base_url);
      !given.username.empty() && options.username.empty() && options.bearer_token.empty()) {
    options.username = given.username;
    options.password = given.password;
  }
  auto [origin, prefix] = split_base_url(base_url_);
  impl_->options = options;
  impl_->prefix = std::move(prefix);
  impl_->client = std::make_unique<httplib::Client>(origin);
  if (!impl_->client->is_valid()) {
    throw Error(ErrorCode::invalid_input, fmt::format("'{}' is not a valid URL", base_url_),
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
