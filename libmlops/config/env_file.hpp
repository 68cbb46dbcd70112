// config: the `.env` file format (KEY=value lines), as docker-compose and python-dotenv read it.
#pragma once
#include <map>
#include <string>
#include <string_view>

namespace mlops::config {

// Parses `.env` text: `KEY=value`, optional `export `, '#' comments, single-quoted values
// taken literally, double-quoted values with \n \" \\ escapes, and ` #` comments after an
// unquoted value. A later line overrides an earlier one. Throws Error{invalid_input} naming
// origin and line for a malformed line.
std::map<std::string, std::string> parse_env_text(std::string_view text, std::string_view origin);

// Reads and parses a file. Throws Error{not_found} if it is missing.
std::map<std::string, std::string> read_env_file(const std::string& path);

}  // namespace mlops::config
