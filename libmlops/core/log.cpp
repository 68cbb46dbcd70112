#include "libmlops/core/log.hpp"

#include <atomic>
#include <cstdio>

#include "libmlops/core/error.hpp"

namespace mlops::logging {
namespace {
std::atomic<Level> g_level{Level::warn};
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

void write(Level level, const std::string& message) {
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error", "off"};
  std::fprintf(stderr, "mlops: %s: %s\n", kNames[static_cast<int>(level)], message.c_str());
}

}  // namespace mlops::logging
