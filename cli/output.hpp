// cli: everything printed to the user — tables, JSON, progress lines and errors.
// The library never prints; commands print only through these helpers.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "libmlops/core/error.hpp"
#include "libmlops/registry/registry_store.hpp"

namespace mlops::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void add_row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  bool empty() const { return rows_.empty(); }
  std::string render(int indent = 0) const;  // aligned columns, a rule under the header

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

void print(const std::string& text);                 // to stdout, as is
void print_json(const nlohmann::json& value);        // one JSON document on stdout
// "mlops: error: ..." and "hint: ..." on stderr; with json, also the error envelope on stdout.
void print_error(const Error& error, bool json);
void print_usage_error(const std::string& message, const std::string& command);

// A single self-rewriting status line on stderr, shown only on a terminal, not with
// --quiet, and only once the work has taken longer than `delay_seconds`.
class Progress {
 public:
  Progress(bool enabled, double delay_seconds = 1.0);
  ~Progress();
  void update(const std::string& text);  // throttled to ~10 updates a second
  void finish();                         // clears the line

 private:
  bool enabled_;
  double delay_;
  double start_;
  double last_ = 0;
  bool shown_ = false;
};

std::string format_time(std::int64_t ms);  // local "2026-11-29 03:22:00"
std::string format_number(double value, int digits = 4);
nlohmann::json to_json(const registry::ModelVersion& v);
nlohmann::json to_json(const registry::Run& r);
nlohmann::json to_json(const registry::RegisteredModel& m);

}  // namespace mlops::cli
