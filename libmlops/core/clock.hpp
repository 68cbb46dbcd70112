// core: wall-clock time, ISO-8601 formatting, and the current OS user.
#pragma once
#include <cstdint>
#include <string>

namespace mlops {

std::int64_t now_ms();                        // milliseconds since the Unix epoch
std::string iso8601_utc(std::int64_t ms);     // 2026-11-29T03:22:00.123Z
std::string current_user();                   // the OS user name ("unknown" if none)
std::string random_hex_id(int bytes = 16);    // e.g. a run id, as MLflow's uuid4().hex

}  // namespace mlops
