#include "libmlops/core/log.hpp"

#include <atomic>
#include <cstdio>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"

namespace mlops::logging {
namespace {
std::atomic<Level> g_level{Level::warn};
std::atomic<Format> g_format{Format::text};
constexpr const char* kNames[] = {"debug", "info", "warn", "error", "off"};

void json_escape(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
}
}

void set_level(Level level) { g_level = level; }
bool enabled(Level level) { return level >= g_level.load(std::memory_order_relaxed); }

Level parse_level(std::string_view text) {
  if (text == "debug") return Level::debug;
  if (text == "info") return Level::info;
  if (text == "warn" || text == "warning") return Level::warn;
  if (text == "error") return Level::error;
  if (text == "off") return Level::off;
  throw Error(ErrorCode::invalid_input, fmt::format("unknown log level '{}'", text),
              "use one of debug, info, warn, error, off");
}

void set_format(Format format) { g_format = format; }

void event(Level level, std::string_view message, const Fields& fields) {
  if (!enabled(level)) return;
  std::string line;
  const std::string ts = iso8601_utc(now_ms());
  if (g_format.load(std::memory_order_relaxed) == Format::json) {
    line = fmt::format("{{\"ts\":\"{}\",\"level\":\"{}\",\"msg\":\"", ts, kNames[static_cast<int>(level)]);
    json_escape(line, message);
    line += '"';
    for (const auto& [key, value] : fields) {
      line += ",\"";
      line += key;
      line += "\":\"";
      json_escape(line, value);
      line += '"';
    }
    line += "}\n";
  } else {
    line = fmt::format("{} {} {}", ts, kNames[static_cast<int>(level)], message);
    for (const auto& [key, value] : fields) {
      line += ' ';
      line += key;
      line += '=';
      line += value.find(' ') == std::string::npos ? value : "\"" + value + "\"";
    }
    line += '\n';
  }
  std::fwrite(line.data(), 1, line.size(), stderr);  // one write: lines from threads never interleave
}

void write(Level level, const std::string& message) {
  std::fprintf(stderr, "mlops: %s: %s\n", kNames[static_cast<int>(level)], message.c_str());
}

}  // namespace mlops::logging
