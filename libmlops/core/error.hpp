// core: the error type, logging, hashing and file helpers. Depends on nothing but std and fmt.
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

namespace mlops {

// Stable error codes: the contract between modules, the CLI's JSON output and HTTP errors.
enum class ErrorCode { invalid_input, not_found, conflict, corrupt, io, unavailable, timeout, internal };

std::string_view to_string(ErrorCode code);  // "invalid_input", "not_found", ...

// The only exception type that crosses a module boundary. The message says what failed and
// where (file/row/column, name/version); the hint says what the user can do next.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string message, std::string hint = {})
      : std::runtime_error(std::move(message)), code_(code), hint_(std::move(hint)) {}
  ErrorCode code() const noexcept { return code_; }
  const std::string& hint() const noexcept { return hint_; }

 private:
  ErrorCode code_;
  std::string hint_;
};

}  // namespace mlops
