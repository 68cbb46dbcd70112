#include "libmlops/config/env_file.hpp"

#include <fmt/format.h>

#include <cctype>

#include "libmlops/core/error.hpp"
#include "libmlops/core/fs.hpp"

namespace mlops::config {
namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool valid_key(std::string_view key) {
  if (key.empty() || std::isdigit(static_cast<unsigned char>(key.front()))) return false;
  for (char c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}
}  // namespace

std::map<std::string, std::string> parse_env_text(std::string_view text, std::string_view origin) {
  std::map<std::string, std::string> values;
  int line_no = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    ++line_no;
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    if (line.starts_with("export ")) line = trim(line.substr(7));
    const std::size_t eq = line.find('=');
    const auto bad = [&](std::string_view why) {
      return Error(ErrorCode::invalid_input, fmt::format("{}:{}: {}", origin, line_no, why),
                   "each line must look like KEY=value (see .env.example)");
    };
    if (eq == std::string_view::npos) throw bad("expected KEY=value");
    const std::string_view key = trim(line.substr(0, eq));
    if (!valid_key(key)) throw bad(fmt::format("'{}' is not a valid variable name", key));
    std::string_view raw = trim(line.substr(eq + 1));
    std::string value;
    if (!raw.empty() && (raw.front() == '"' || raw.front() == '\'')) {
      const char quote = raw.front();
      std::size_t i = 1;
      for (; i < raw.size() && raw[i] != quote; ++i) {
        if (quote == '"' && raw[i] == '\\' && i + 1 < raw.size()) {
          const char next = raw[++i];
          value += next == 'n' ? '\n' : next == 't' ? '\t' : next;
        } else {
          value += raw[i];
        }
      }
      if (i >= raw.size()) throw bad("unterminated quoted value");
      const std::string_view rest = trim(raw.substr(i + 1));
      if (!rest.empty() && rest.front() != '#') throw bad("unexpected text after quoted value");
    } else {
      const std::size_t comment = raw.find(" #");
      value = std::string(trim(raw.substr(0, comment)));
    }
    values[std::string(key)] = std::move(value);
  }
  return values;
}

std::map<std::string, std::string> read_env_file(const std::string& path) {
  return parse_env_text(read_file(path), path);
}

}  // namespace mlops::config
