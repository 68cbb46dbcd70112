#include "libmlops/http/message.hpp"

namespace mlops::http {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view Request::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return {};
}

bool Request::has_header(std::string_view name) const {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return true;
  }
  return false;
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return value;
  }
  return std::nullopt;
}

void Response::json(const nlohmann::json& value, int status_code) {
  status = status_code;
  content_type = "application/json";
  body = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void Response::error(int status_code, std::string_view code, std::string_view message, const nlohmann::json& details) {
  nlohmann::json e = {{"code", code}, {"message", message}};
  if (!details.is_null()) e["details"] = details;
  json({{"error", std::move(e)}}, status_code);
}

void Response::text(std::string content, std::string type) {
  body = std::move(content);
  content_type = std::move(type);
}

void Response::set_header(std::string name, std::string_view value) {
  std::string clean;
  for (char c : value) {
    if (c != '\r' && c != '\n' && c != '\0') clean += c;
  }
  headers.push_back({std::move(name), std::move(clean)});
}

}  // namespace mlops::http
