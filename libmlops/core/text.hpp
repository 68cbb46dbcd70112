// core: checks and escapes for text that came from outside (clients, files, servers).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlops {

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF).
bool is_valid_utf8(std::string_view text);
// The length of the well-formed UTF-8 sequence at the start of `text`, or 0 if it is not one.
std::size_t utf8_sequence_length(std::string_view text);

// Appends `text` so that it stays on one line and is printable: control bytes become \n, \r,
// \t or \xNN, bytes that are not valid UTF-8 become \xNN, and a backslash is doubled. With
// `quote`, a double quote becomes \" too. What a client sends can then never start a new
// log line or carry raw terminal escapes.
void append_escaped(std::string& out, std::string_view text, bool quote);

// A comma-separated list as people write it in a flag or a setting: each item trimmed of
// spaces, empty items kept (so a caller can refuse "10,,50" or skip them).
std::vector<std::string> split_list(std::string_view text, char separator = ',');

// A duration as people write it on a command line: "200ms", "1.5s", "2m", "1h"; a bare
// number is seconds. Seconds, or nothing when it is not one (negative, not finite, no
// number, an unknown unit).
std::optional<double> parse_duration(std::string_view text);

}  // namespace mlops
