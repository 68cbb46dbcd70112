#include "libmlops/http/detail/request_parser.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "libmlops/core/text.hpp"

namespace mlops::http::detail {
namespace {

bool is_tchar(char c) {  // RFC 9110 token characters
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether a comma-separated header value lists `token` (Connection: keep-alive, close).
bool lists_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool decode_component(std::string_view in, bool plus_is_space, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    out += c;
  }
  if (!is_valid_utf8(out)) return false;
  return std::none_of(out.begin(), out.end(), [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return u < 0x20 || u == 0x7F;
  });
}

RequestParser::State RequestParser::fail(int status, std::string code, std::string message) {
  phase_ = Phase::failed;
  error_ = {status, std::move(code), std::move(message)};
  return State::failed;
}

RequestParser::State RequestParser::parse() {
  switch (phase_) {
    case Phase::failed: return State::failed;
    case Phase::done: return State::complete;
    case Phase::headers: {
      const State s = parse_headers();
      if (s != State::incomplete || phase_ == Phase::headers) return s;
      return parse();
    }
    case Phase::length_body:
      if (buf_.size() < body_length_) return State::incomplete;
      request_.body.assign(buf_, 0, body_length_);
      buf_.erase(0, body_length_);
      phase_ = Phase::done;
      return State::complete;
    default: return parse_chunked();
  }
}

RequestParser::State RequestParser::parse_headers() {
  // Robustness (RFC 9112 §2.2): empty lines before a request line are ignored.
  std::size_t start = 0;
  while (start < buf_.size() && (buf_[start] == '\r' || buf_[start] == '\n')) ++start;
  if (start > 0) {
    buf_.erase(0, start);
    scan_ = 0;
  }
  // The end of the head: an empty line, "\r\n\r\n" or a bare "\n\n".
  std::size_t end = std::string::npos;
  for (std::size_t nl = buf_.find('\n', scan_); nl != std::string::npos; nl = buf_.find('\n', nl + 1)) {
    if (nl + 1 < buf_.size() && buf_[nl + 1] == '\n') {
      end = nl + 2;
      break;
    }
    if (nl + 2 < buf_.size() && buf_[nl + 1] == '\r' && buf_[nl + 2] == '\n') {
      end = nl + 3;
      break;
    }
    if (nl + 2 >= buf_.size()) break;  // the empty line may still be on its way
    scan_ = nl + 1;
  }
  if (end == std::string::npos) {
    if (buf_.size() > limits_.max_header_bytes) {
      const std::size_t first_line = buf_.find('\n');
      if (first_line == std::string::npos || first_line > limits_.max_header_bytes) {
        return fail(414, "uri_too_long", fmt::format("the request line exceeds {} bytes", limits_.max_header_bytes));
      }
      return fail(431, "headers_too_large", fmt::format("the request headers exceed {} bytes", limits_.max_header_bytes));
    }
    return State::incomplete;
  }
  if (end > limits_.max_header_bytes) {
    return fail(431, "headers_too_large", fmt::format("the request headers exceed {} bytes", limits_.max_header_bytes));
  }
  const State s = parse_head(std::string_view(buf_).substr(0, end));
  buf_.erase(0, end);
  scan_ = 0;
  return s;
}

RequestParser::State RequestParser::parse_head(std::string_view head) {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    const std::size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    lines.push_back(line);
    head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
  }
  if (lines.empty()) return fail(400, "bad_request", "the request has no request line");
  if (lines.size() - 1 > limits_.max_headers) {
    return fail(431, "headers_too_large", fmt::format("the request has more than {} headers", limits_.max_headers));
  }

  // Request line: METHOD SP request-target SP HTTP/1.x
  const std::string_view line = lines[0];
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return fail(400, "bad_request", "the request line is not 'METHOD /path HTTP/1.1'");
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return fail(400, "bad_request", "the request method is not a token");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' ||
      version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return fail(400, "bad_request", "the request line does not end in HTTP/1.0 or HTTP/1.1");
  }
  if (version[5] != '1') return fail(505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served");
  if (target.empty() || target[0] != '/') {
    return fail(400, "bad_request", "the request target must be a path starting with '/'");
  }
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F) return fail(400, "bad_request", "the request target has a byte that must be percent-encoded");
  }
  Request& r = request_;
  r.method.assign(method);
  r.target.assign(target);
  r.minor_version = version[7] - '0';
  const std::size_t question = target.find('?');
  std::string_view raw_path = target.substr(0, question);
  if (const std::size_t hash = raw_path.find('#'); hash != std::string_view::npos) raw_path = raw_path.substr(0, hash);
  if (!decode_component(raw_path, false, r.path)) {
    return fail(400, "invalid_path", "the path has a bad percent-escape, a control byte or bytes that are not UTF-8");
  }
  if (question != std::string_view::npos) {
    std::string_view query = target.substr(question + 1);
    if (const std::size_t hash = query.find('#'); hash != std::string_view::npos) query = query.substr(0, hash);
    while (!query.empty()) {
      const std::size_t amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
      if (pair.empty()) continue;
      const std::size_t eq = pair.find('=');
      std::string key, value;
      if (!decode_component(pair.substr(0, eq), true, key) ||
          !decode_component(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true, value)) {
        return fail(400, "invalid_query",
                    "the query string has a bad percent-escape, a control byte or bytes that are not UTF-8");
      }
      r.query.emplace_back(std::move(key), std::move(value));
    }
  }

  // Header fields: NAME ":" OWS VALUE OWS. Folding and whitespace before the colon are
  // refused (RFC 9112 §5): both have been used to smuggle requests past proxies.
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view field = lines[i];
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos || !is_token(field.substr(0, colon))) {
      return fail(400, "bad_request", "a header line is not 'Name: value'");
    }
    const std::string_view value = trim(field.substr(colon + 1));
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if (u == 0 || u == '\r' || u == 0x7F || (u < 0x20 && u != '\t')) {
        return fail(400, "bad_request", "a header value has a control byte");
      }
    }
    r.headers.push_back({std::string(field.substr(0, colon)), std::string(value)});
  }

  const std::string_view connection = r.header("Connection");
  r.keep_alive = r.minor_version >= 1 ? !lists_token(connection, "close") : lists_token(connection, "keep-alive");

  // Body framing (RFC 9112 §6): chunked, or Content-Length, or none (a request without
  // either has no body). Both at once is refused: a classic request-smuggling vector.
  bool has_length = false;
  std::size_t length = 0;
  bool chunked = false;
  for (const Header& h : r.headers) {
    if (iequals(h.name, "Content-Length")) {
      std::size_t value = 0;
      const auto [end, ec] = std::from_chars(h.value.data(), h.value.data() + h.value.size(), value);
      if (h.value.empty() || ec != std::errc() || end != h.value.data() + h.value.size() || (has_length && value != length)) {
        return fail(400, "bad_request", "the Content-Length header is not one decimal number");
      }
      has_length = true;
      length = value;
    } else if (iequals(h.name, "Transfer-Encoding")) {
      if (!iequals(h.value, "chunked") || chunked) {
        return fail(501, "not_implemented", "only 'Transfer-Encoding: chunked' is understood");
      }
      chunked = true;
    }
  }
  if (has_length && chunked) {
    return fail(400, "bad_request", "a request cannot have both Content-Length and Transfer-Encoding");
  }
  if (chunked && r.minor_version == 0) return fail(400, "bad_request", "HTTP/1.0 has no chunked transfer encoding");
  if (has_length && length > limits_.max_body_bytes) {
    return fail(413, "payload_too_large",
                fmt::format("the body has {} bytes; this server takes at most {}", length, limits_.max_body_bytes));
  }
  const bool has_body = chunked || length > 0;
  expect_continue_ = has_body && r.minor_version >= 1 && iequals(r.header("Expect"), "100-continue");
  if (chunked) {
    phase_ = Phase::chunk_size;
  } else if (length > 0) {
    body_length_ = length;
    phase_ = Phase::length_body;
  } else {
    phase_ = Phase::done;
    return State::complete;
  }
  return State::incomplete;
}

RequestParser::State RequestParser::parse_chunked() {
  std::size_t pos = 0;
  const auto consume = [&](State s) {
    buf_.erase(0, pos);  // raw chunk framing never piles up: only the decoded body is kept
    return s;
  };
  while (true) {
    switch (phase_) {
      case Phase::chunk_size: {
        const std::size_t nl = buf_.find('\n', pos);
        if (nl == std::string::npos) {
          if (buf_.size() - pos > 1024) return fail(400, "bad_request", "a chunk-size line exceeds 1024 bytes");
          return consume(State::incomplete);
        }
        std::string_view line(buf_.data() + pos, nl - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const std::size_t ext = line.find_first_of("; \t");
        const std::string_view digits = line.substr(0, ext);
        std::size_t size = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
        if (digits.empty() || digits.size() > 15 || ec != std::errc() || end != digits.data() + digits.size()) {
          return fail(400, "bad_request", "a chunk size is not a hexadecimal number");
        }
        pos = nl + 1;
        if (request_.body.size() + size > limits_.max_body_bytes) {
          return fail(413, "payload_too_large",
                      fmt::format("the chunked body exceeds this server's {} bytes", limits_.max_body_bytes));
        }
        body_length_ = size;
        phase_ = size == 0 ? Phase::trailers : Phase::chunk_data;
        break;
      }
      case Phase::chunk_data: {
        const std::size_t take = std::min(body_length_, buf_.size() - pos);
        request_.body.append(buf_, pos, take);
        pos += take;
        body_length_ -= take;
        if (body_length_ > 0) return consume(State::incomplete);
        phase_ = Phase::chunk_end;
        break;
      }
      case Phase::chunk_end: {
        if (buf_.size() - pos < 1 || (buf_[pos] == '\r' && buf_.size() - pos < 2)) return consume(State::incomplete);
        if (buf_[pos] == '\n') {
          pos += 1;
        } else if (buf_[pos] == '\r' && buf_[pos + 1] == '\n') {
          pos += 2;
        } else {
          return fail(400, "bad_request", "a chunk does not end with CRLF");
        }
        phase_ = Phase::chunk_size;
        break;
      }
      case Phase::trailers: {  // trailer fields are read and dropped, up to the header limit
        const std::size_t nl = buf_.find('\n', pos);
        if (nl == std::string::npos) {
          if (trailer_bytes_ + buf_.size() - pos > limits_.max_header_bytes) {
            return fail(431, "headers_too_large", "the chunked trailers exceed the header limit");
          }
          return consume(State::incomplete);
        }
        trailer_bytes_ += nl + 1 - pos;
        if (trailer_bytes_ > limits_.max_header_bytes) {
          return fail(431, "headers_too_large", "the chunked trailers exceed the header limit");
        }
        const bool empty = nl == pos || (nl == pos + 1 && buf_[pos] == '\r');
        pos = nl + 1;
        if (empty) {
          phase_ = Phase::done;
          return consume(State::complete);
        }
        break;
      }
      default: return State::failed;
    }
  }
}

bool RequestParser::take_continue() {
  if (!expect_continue_ || phase_ == Phase::done) return false;
  expect_continue_ = false;
  return true;
}

Request RequestParser::take() {
  Request r = std::move(request_);
  request_ = Request{};
  phase_ = Phase::headers;
  body_length_ = 0;
  trailer_bytes_ = 0;
  expect_continue_ = false;
  scan_ = 0;
  if (buf_.capacity() > 64 * 1024 && buf_.size() < 4096) buf_.shrink_to_fit();  // an idle connection stays small
  return r;
}

}  // namespace mlops::http::detail
