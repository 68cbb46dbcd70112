// http (internal): an incremental HTTP/1.1 request parser. Bytes go in as they arrive; a
// request comes out once its headers and whole body (Content-Length or chunked) are here.
// Pure: no I/O, no clock. Every limit is checked before memory is spent on the bytes.
#pragma once
#include <cstddef>
#include <string>

#include "libmlops/http/message.hpp"

namespace mlops::http::detail {

struct ParseLimits {
  std::size_t max_header_bytes = 16 * 1024;  // request line + headers (+ chunked trailers)
  std::size_t max_body_bytes = 1 << 20;      // after chunked decoding
  std::size_t max_headers = 100;
};

// Why a request was refused: answered with `status` and then the connection is closed.
struct ParseError {
  int status = 400;
  std::string code;
  std::string message;
};

class RequestParser {
 public:
  enum class State { incomplete, complete, failed };

  explicit RequestParser(ParseLimits limits) : limits_(limits) {}

  void append(const char* data, std::size_t size) { buf_.append(data, size); }
  // Advances as far as the bytes allow. complete: take() the request; failed: see error().
  State parse();
  // The complete request; the parser then starts on the next one (pipelined bytes kept).
  Request take();
  const ParseError& error() const { return error_; }

  // True once per request: its headers asked for "Expect: 100-continue" and its body is not
  // all here yet (the server then sends "100 Continue").
  bool take_continue();
  // Bytes held (unparsed input and the body so far): what this connection costs.
  std::size_t buffered() const { return buf_.size() + request_.body.size(); }
  // Whether any byte of a next request has arrived (an idle keep-alive connection has none).
  bool started() const { return phase_ != Phase::headers || !buf_.empty(); }

 private:
  enum class Phase { headers, length_body, chunk_size, chunk_data, chunk_end, trailers, done, failed };

  State fail(int status, std::string code, std::string message);
  State parse_headers();
  State parse_head(std::string_view head);
  State parse_chunked();

  ParseLimits limits_;
  std::string buf_;  // unconsumed input
  std::size_t scan_ = 0;  // where the search for the end of the headers resumes
  Phase phase_ = Phase::headers;
  Request request_;
  ParseError error_;
  std::size_t body_length_ = 0;     // Content-Length, or the bytes left in this chunk
  std::size_t trailer_bytes_ = 0;
  bool expect_continue_ = false;
};

// Percent-decodes `in` (with '+' as a space when `plus_is_space`). Returns false on a bad
// escape, a result that is not valid UTF-8, or a control byte (NUL, CR, LF, DEL, ...).
bool decode_component(std::string_view in, bool plus_is_space, std::string& out);

}  // namespace mlops::http::detail
