#include <doctest/doctest.h>

#include <thread>

#include "libmlops/config/settings.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/http/client.hpp"
#include "libmlops/mlflow/client.hpp"

#include <httplib.h>  // last: its <resolv.h> defines a macro `_res` that breaks Eigen

using namespace mlops;

TEST_SUITE("unit/http") {
  TEST_CASE("credentials in a URL are taken out of it") {
    http::UrlCredentials c = http::take_credentials("http://ana:p%40ss%3Aw0rd@mlflow.local:5000/prefix?x=a@b");
    CHECK(c.url == "http://mlflow.local:5000/prefix?x=a@b");
    CHECK(c.username == "ana");
    CHECK(c.password == "p@ss:w0rd");
    c = http::take_credentials("https://token@host");
    CHECK(c.url == "https://host");
    CHECK(c.username == "token");
    CHECK(c.password.empty());
    c = http::take_credentials("http://host:5000/a@b");  // an '@' in the path is no userinfo
    CHECK(c.url == "http://host:5000/a@b");
    CHECK(c.username.empty());
  }

  TEST_CASE("a client sends URL credentials as basic auth and never shows them in an error") {
    httplib::Server server;
    server.Get("/who", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.get_header_value("Authorization"), "text/plain");
    });
    const int port = server.bind_to_any_port("127.0.0.1");
    std::thread thread([&] { server.listen_after_bind(); });
    {
      http::Client client("http://ana:s3cr%40t@127.0.0.1:" + std::to_string(port), {2, 0, 0});
      CHECK(client.base_url() == "http://127.0.0.1:" + std::to_string(port));
      CHECK(client.get("/who").body == "Basic YW5hOnMzY3JAdA==");  // base64("ana:s3cr@t")
    }
    server.stop();
    thread.join();
    // The same server gone: the error names the URL without the password.
    http::Client gone("http://ana:s3cr%40t@127.0.0.1:" + std::to_string(port), {1, 0, 0});
    try {
      gone.get("/who");
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("s3cr") == std::string::npos);
      CHECK(std::string(e.what()).find("127.0.0.1") != std::string::npos);
    }
    // MLFLOW_TRACKING_URI with credentials: the connection keeps them as basic auth only.
    const config::Settings s = config::load_settings({}, std::nullopt, [](const char* key) -> const char* {
      return std::string(key) == "MLFLOW_TRACKING_URI" ? "http://ana:s3cret@mlflow.local:5000/" : nullptr;
    });
    const mlflow::Connection c = mlflow::connection_from(s);
    CHECK(c.tracking_uri == "http://mlflow.local:5000");
    CHECK(c.http.username == "ana");
    CHECK(c.http.password == "s3cret");
  }
}
