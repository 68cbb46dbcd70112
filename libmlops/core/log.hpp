// core: leveled logging to stderr. The level is checked before formatting (ccache's LOG).
#pragma once
#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mlops::logging {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_level(Level level);
bool enabled(Level level);
// Parses "debug", "info", "warn", "error", "off"; throws Error{invalid_input} otherwise.
Level parse_level(std::string_view text);
void write(Level level, const std::string& message);

// Structured events (one line each): text "TIME LEVEL message k=v ..." or a JSON object
// {"ts","level","msg",k:v...} — the request log of `serve` and the steps of batch jobs.
enum class Format { text, json };
void set_format(Format format);
using Fields = std::vector<std::pair<std::string_view, std::string>>;
void event(Level level, std::string_view message, const Fields& fields);

template <class... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(Level::debug)) write(Level::debug, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(Level::info)) write(Level::info, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(Level::warn)) write(Level::warn, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(Level::error)) write(Level::error, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace mlops::logging
