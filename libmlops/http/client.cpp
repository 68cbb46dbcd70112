#include "libmlops/http/client.hpp"

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "libmlops/core/error.hpp"

#include <httplib.h>

namespace mlops::http {

nlohmann::json Response::json(const std::string& what) const {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception&) {
    throw Error(ErrorCode::corrupt, fmt::format("{} answered {} with a body that is not JSON", what, status),
                "check that the URL points at the right service");
  }
}

struct Client::Impl {
  ClientOptions options;
  std::unique_ptr<httplib::Client> client;
};

Client::Client(const std::string& base_url, ClientOptions options) : impl_(std::make_unique<Impl>()), base_url_(base_url) {
  if (base_url.rfind("http://", 0) != 0 || base_url.size() <= 7) {
    throw Error(ErrorCode::invalid_input, fmt::format("'{}' is not an http:// URL", base_url),
                "use http://HOST:PORT, e.g. http://127.0.0.1:8001");
  }
  impl_->options = options;
  impl_->client = std::make_unique<httplib::Client>(base_url);
  const auto seconds = static_cast<time_t>(options.timeout_seconds);
  const auto micros = static_cast<time_t>((options.timeout_seconds - static_cast<double>(seconds)) * 1e6);
  impl_->client->set_connection_timeout(seconds, micros);
  impl_->client->set_read_timeout(seconds, micros);
  impl_->client->set_write_timeout(seconds, micros);
  impl_->client->set_keep_alive(true);
  impl_->client->set_tcp_nodelay(true);
}

Client::~Client() = default;

namespace {
template <class Call>
Response with_retries(const ClientOptions& options, const std::string& url, bool retry, Call call) {
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
      throw Error(ErrorCode::unavailable, fmt::format("cannot reach {} ({})", url, httplib::to_string(result.error())),
                  "is the service running? check the URL and port");
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
    backoff *= 2;
  }
}
}  // namespace

Response Client::get(const std::string& path) {
  return with_retries(impl_->options, base_url_ + path, true, [&] { return impl_->client->Get(path.c_str()); });
}

Response Client::post_json(const std::string& path, const nlohmann::json& body, bool idempotent) {
  const std::string text = body.dump();
  return with_retries(impl_->options, base_url_ + path, idempotent,
                      [&] { return impl_->client->Post(path.c_str(), text, "application/json"); });
}

Response Client::post(const std::string& path, const std::string& body, const std::string& content_type) {
  return with_retries(impl_->options, base_url_ + path, false,
                      [&] { return impl_->client->Post(path.c_str(), body, content_type.c_str()); });
}

Response Client::put(const std::string& path, const std::string& body, const std::string& content_type) {
  return with_retries(impl_->options, base_url_ + path, true,
                      [&] { return impl_->client->Put(path.c_str(), body, content_type.c_str()); });
}

}  // namespace mlops::http
