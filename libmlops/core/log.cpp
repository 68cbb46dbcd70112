#include "libmlops/core/log.hpp"

#include <atomic>
#include <cstdio>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/text.hpp"

namespace mlops::logging {
namespace {
std::atomic<Level> g_level{Level::warn};
std::atomic<Format> g_format{Format::text};
constexpr const char* kNames[] = {"debug", "info", "warn", "error", "off"};

// JSON strings: quotes, backslashes and control bytes escaped; a byte that is not UTF-8
// becomes the text \xNN, so the line is always valid JSON.
void json_escape(std::string& out, std::string_view text) {
  while (!text.empty()) {
    const auto c = static_cast<unsigned char>(text[0]);
    const std::size_t n = c < 0x80 ? 1 : utf8_sequence_length(text);
    if (n == 2 && c == 0xC2 && static_cast<unsigned char>(text[1]) < 0xA0) {  // C1 controls (CSI, ...)
      out += fmt::format("\\u{:04x}", static_cast<unsigned char>(text[1]));
    } else if (n > 1) {
      out.append(text.substr(0, n));
    } else if (n == 0) {
      out += fmt::format("\\\\x{:02x}", c);
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
    text.remove_prefix(n == 0 ? 1 : n);
  }
}

// Text lines: k=v, the value quoted when it has a space, '=' or a quote; always one line.
void text_value(std::string& out, std::string_view value) {
  const bool quote = value.empty() || value.find_first_of(" =\"") != std::string_view::npos;
  if (quote) out += '"';
  append_escaped(out, value, true);
  if (quote) out += '"';
}
}  // namespace

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
    line = fmt::format("{} {} ", ts, kNames[static_cast<int>(level)]);
    append_escaped(line, message, false);
    for (const auto& [key, value] : fields) {
      line += ' ';
      line += key;
      line += '=';
      text_value(line, value);
    }
    line += '\n';
  }
  std::fwrite(line.data(), 1, line.size(), stderr);  // one write: lines from threads never interleave
}

void write(Level level, const std::string& message) {
  std::fprintf(stderr, "mlops: %s: %s\n", kNames[static_cast<int>(level)], message.c_str());
}

}  // namespace mlops::logging
