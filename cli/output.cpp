#include "cli/output.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "cli/command.hpp"

namespace mlops::cli {
namespace {
double monotonic_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Display width of UTF-8 text (continuation bytes do not count; CJK counts double).
std::size_t display_width(const std::string& s) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) == 0x80) continue;
    width += c >= 0xE3 && c <= 0xED ? 2 : 1;  // most CJK sits in U+3000..U+D7FF
  }
  return width;
}
}  // namespace

std::string Table::render(int indent) const {
  std::vector<std::size_t> widths(headers_.size(), 0);
  for (std::size_t c = 0; c < headers_.size(); ++c) widths[c] = display_width(headers_[c]);
  for (const auto& row : rows_) {
    for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], display_width(row[c]));
    }
  }
  std::string out;
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string text = pad;
    for (std::size_t c = 0; c < widths.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      text += cell;
      if (c + 1 < widths.size()) text += std::string(widths[c] - display_width(cell) + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  line(headers_);
  std::vector<std::string> rule;
  for (std::size_t w : widths) rule.push_back(std::string(w, '-'));
  line(rule);
  for (const auto& row : rows_) line(row);
  return out;
}

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void print_json(const nlohmann::json& value) { print(value.dump(2) + "\n"); }

void print_error(const Error& error, bool json) {
  std::fprintf(stderr, "mlops: error: %s\n", error.what());
  if (!error.hint().empty()) std::fprintf(stderr, "hint: %s\n", error.hint().c_str());
  if (json) {
    nlohmann::json envelope = {{"error", {{"code", to_string(error.code())}, {"message", error.what()}}}};
    if (!error.hint().empty()) envelope["error"]["hint"] = error.hint();
    print_json(envelope);
  }
}

void print_usage_error(const std::string& message, const std::string& command) {
  std::fprintf(stderr, "mlops: error: %s\nhint: run 'mlops %s--help' for usage\n", message.c_str(),
               command.empty() ? "" : (command + " ").c_str());
}

Progress::Progress(bool enabled, double delay_seconds)
    : enabled_(enabled && ::isatty(STDERR_FILENO)), delay_(delay_seconds), start_(monotonic_seconds()) {}

Progress::~Progress() { finish(); }

void Progress::update(const std::string& text) {
  if (!enabled_) return;
  const double now = monotonic_seconds();
  if (now - start_ < delay_ || now - last_ < 0.1) return;
  last_ = now;
  shown_ = true;
  std::fprintf(stderr, "\r\033[K%s (%.1fs)", text.c_str(), now - start_);
  std::fflush(stderr);
}

void Progress::finish() {
  if (shown_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    shown_ = false;
  }
}

std::string format_time(std::int64_t ms) {
  if (ms <= 0) return "-";
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string format_number(double value, int digits) { return fmt::format("{:.{}f}", value, digits); }

nlohmann::json to_json(const registry::ModelVersion& v) {
  return {{"name", v.name},
          {"version", v.version},
          {"version_tag", v.version_tag},
          {"run_id", v.run_id},
          {"source", v.source},
          {"artifact_sha256", v.artifact_sha256},
          {"stage", registry::to_string(v.stage)},
          {"description", v.description},
          {"aliases", v.aliases},
          {"tags", v.tags},
          {"created_at", v.created_at},
          {"updated_at", v.updated_at}};
}

nlohmann::json to_json(const registry::Run& r) {
  nlohmann::json j = {{"run_id", r.id},
                      {"experiment", r.experiment},
                      {"run_name", r.name},
                      {"status", r.status},
                      {"start_time", r.start_time},
                      {"end_time", r.end_time ? nlohmann::json(*r.end_time) : nlohmann::json(nullptr)},
                      {"artifact_path", r.artifact_path},
                      {"artifact_sha256", r.artifact_sha256},
                      {"user", r.user},
                      {"params", r.params},
                      {"metrics", r.metrics},
                      {"tags", r.tags}};
  return j;
}

nlohmann::json to_json(const registry::RegisteredModel& m) {
  return {{"name", m.name},
          {"description", m.description},
          {"latest_version", m.latest_version},
          {"production_version",
           m.production_version ? nlohmann::json(*m.production_version) : nlohmann::json(nullptr)},
          {"aliases", m.aliases},
          {"created_at", m.created_at},
          {"updated_at", m.updated_at}};
}

}  // namespace mlops::cli

namespace mlops::cli {

int with_usage_errors(Context& ctx, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::invalid_input) throw;
    print_error(e, ctx.json);
    return kExitUsage;
  }
}

}  // namespace mlops::cli
