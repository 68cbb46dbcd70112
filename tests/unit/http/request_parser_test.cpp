#include <doctest/doctest.h>

#include "libmlops/core/text.hpp"
#include "libmlops/http/detail/request_parser.hpp"
#include "libmlops/http/json_server.hpp"

using namespace mlops;
using http::detail::RequestParser;
using State = RequestParser::State;

namespace {

// Feeds `bytes` one at a time (the worst split a network can make) and returns the state.
State feed_bytewise(RequestParser& p, const std::string& bytes) {
  State s = State::incomplete;
  for (char c : bytes) {
    p.append(&c, 1);
    s = p.parse();
    if (s != State::incomplete) break;
  }
  return s;
}

}  // namespace

TEST_SUITE("unit/http") {
  TEST_CASE("a chunked body split at every byte decodes whole, trailers dropped; the parser then takes the next") {
    RequestParser p({});
    const std::string req =
        "POST /predict?x=a%20b&y=%E2%82%AC+c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-A:  v \r\n\r\n"
        "4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nTrailer: t\r\n\r\n";
    REQUIRE(feed_bytewise(p, req) == State::complete);
    http::Request r = p.take();
    CHECK(r.method == "POST");
    CHECK(r.path == "/predict");
    CHECK(r.body == "abcdefg");
    CHECK(r.header("x-a") == "v");
    CHECK(r.query_param("x") == "a b");
    CHECK(r.query_param("y") == "\xE2\x82\xAC c");
    CHECK(r.keep_alive);
    CHECK_FALSE(p.started());  // nothing of the trailers or framing is left over
    REQUIRE(feed_bytewise(p, "GET /live HTTP/1.1\r\n\r\n") == State::complete);
    CHECK(p.take().path == "/live");
  }

  TEST_CASE("pipelined requests come out one by one, in order") {
    RequestParser p({});
    const std::string two = "GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.0\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi";
    p.append(two.data(), two.size());
    REQUIRE(p.parse() == State::complete);
    CHECK(p.take().path == "/a");
    REQUIRE(p.parse() == State::complete);
    http::Request b = p.take();
    CHECK(b.path == "/b");
    CHECK(b.body == "hi");
    CHECK(b.minor_version == 0);
    CHECK(b.keep_alive);
    CHECK_FALSE(p.started());
  }

  TEST_CASE("what is refused, with which status") {
    const auto refused = [](const std::string& bytes, http::detail::ParseLimits limits = {}) {
      RequestParser p(limits);
      p.append(bytes.data(), bytes.size());
      return p.parse() == State::failed ? p.error().status : 0;
    };
    CHECK(refused("GET /%ff HTTP/1.1\r\n\r\n") == 400);
    CHECK(refused("GET /a%0ab HTTP/1.1\r\n\r\n") == 400);  // a newline for the log: never
    CHECK(refused("GET /a%2 HTTP/1.1\r\n\r\n") == 400);
    CHECK(refused("GET /?q=%c3%28 HTTP/1.1\r\n\r\n") == 400);
    CHECK(refused("GET http://x/ HTTP/1.1\r\n\r\n") == 400);
    CHECK(refused("G(T / HTTP/1.1\r\n\r\n") == 400);
    CHECK(refused("GET / HTTP/2.0\r\n\r\n") == 505);
    CHECK(refused("GET / HTTP/1.1\r\nX : y\r\n\r\n") == 400);
    CHECK(refused("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n") == 400);
    CHECK(refused("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
    CHECK(refused("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") == 400);
    CHECK(refused("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == 400);
    CHECK(refused("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n") == 400);
    CHECK(refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") == 501);
    CHECK(refused("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", {1024, 10, 100}) == 413);
    CHECK(refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n3\r\n", {1024, 10, 100}) == 413);
    CHECK(refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") == 400);
    CHECK(refused("GET /" + std::string(2000, 'a') + " HTTP/1.1\r\n", {1024, 10, 100}) == 414);
    CHECK(refused("GET / HTTP/1.1\r\nX: " + std::string(2000, 'a'), {1024, 10, 100}) == 431);
    std::string many = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 101; ++i) many += "X: 1\r\n";
    CHECK(refused(many + "\r\n") == 431);
  }

  TEST_CASE("Expect: 100-continue is offered once, only while a body is owed") {
    RequestParser p({});
    const std::string head = "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    p.append(head.data(), head.size());
    CHECK(p.parse() == State::incomplete);
    CHECK(p.take_continue());
    CHECK_FALSE(p.take_continue());
    p.append("abc", 3);
    CHECK(p.parse() == State::complete);
  }

  TEST_CASE("the whole path without sockets: routes, 404/405, errors a route throws, HEAD") {
    http::JsonServer server({});
    server.route("GET", "/item/{id}", [](http::Request& req, http::Response& res) { res.json({{"id", req.params[0]}}); });
    server.route("POST", "/fail", [](http::Request&, http::Response&) { throw Error(ErrorCode::not_found, "no such thing"); });
    server.route("POST", "/json", [](http::Request& req, http::Response& res) { res.json(http::parse_json_body(req, 8)); });
    const std::string out = server.handle_bytes(
        "GET /item/%E2%82%AC HTTP/1.1\r\n\r\nHEAD /item/1 HTTP/1.1\r\n\r\nPOST /item/1 HTTP/1.1\r\n\r\n"
        "GET /nope HTTP/1.1\r\n\r\nPOST /fail HTTP/1.1\r\n\r\n"
        "POST /json HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 21\r\n\r\n[1,2,3,4,5,6,7,8,9,0]"
        "POST /json HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    CHECK(out.find("HTTP/1.1 200 OK") == 0);
    CHECK(out.find("{\"id\":\"\xE2\x82\xAC\"}") != std::string::npos);
    CHECK(out.find("HTTP/1.1 405 Method Not Allowed") != std::string::npos);
    CHECK(out.find("Allow: GET, HEAD") != std::string::npos);
    CHECK(out.find("HTTP/1.1 404 Not Found") != std::string::npos);
    CHECK(out.find("\"code\":\"not_found\",\"message\":\"no such thing\"") != std::string::npos);
    CHECK(out.find("\"code\":\"too_many_values\"") != std::string::npos);
    CHECK(out.find("HTTP/1.1 415") != std::string::npos);
    CHECK(out.find("Connection: close") != std::string::npos);
  }

  TEST_CASE("escaping for logs: control bytes, C1, invalid UTF-8; valid text kept") {
    std::string out;
    append_escaped(out, "a\nb\rc\x01 \xC2\x9B \xFF \xE2\x82\xAC \\ \"", true);
    CHECK(out == "a\\nb\\rc\\x01 \\u009b \\xff \xE2\x82\xAC \\\\ \\\"");
    CHECK(is_valid_utf8("\xE2\x82\xAC"));
    CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));  // a surrogate
    CHECK_FALSE(is_valid_utf8("\xC0\xAF"));      // overlong '/'
    CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  }
}
