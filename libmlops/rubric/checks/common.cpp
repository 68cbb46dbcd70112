#include "libmlops/rubric/checks/common.hpp"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <cmath>
#include <cstdint>

#include "libmlops/core/error.hpp"
#include "libmlops/core/fs.hpp"
#include "libmlops/rubric/yaml_bounds.hpp"

namespace mlops::rubric::checks {

using nlohmann::json;

void bad(const YAML::Node& node, const std::string& file, const std::string& message) {
  throw Error(ErrorCode::invalid_input, fmt::format("{}:{}: {}", file, node.Mark().line + 1, message),
              "see rubric/README.md for the check kinds and their fields");
}

std::string need(const YAML::Node& node, const char* key, const std::string& file) {
  const YAML::Node v = node[key];
  if (!v || !v.IsScalar() || v.as<std::string>().empty()) bad(node, file, fmt::format("this check needs '{}'", key));
  return v.as<std::string>();
}

std::string shorten(std::string s, std::size_t max) {
  for (char& c : s) if (c == '\n' || c == '\r') c = ' ';
  return s.size() > max ? s.substr(0, max) + "…" : s;
}

Regex::Regex(const std::string& pattern, const YAML::Node& node, const std::string& file) : pattern_(pattern) {
  if (regcomp(&re_, pattern.c_str(), REG_EXTENDED | REG_NOSUB) != 0) bad(node, file, fmt::format("'{}' is not a valid regex", pattern));
}

Regex::~Regex() { regfree(&re_); }

std::filesystem::path in_workspace(const CheckContext& c, const std::string& path) {
  const std::filesystem::path p(c.expand(path));
  return p.is_absolute() ? p : std::filesystem::path(c.workspace) / p;
}

std::optional<std::string> outside_workspace(const CheckContext& c, const std::string& path) {
  if (std::filesystem::path(c.expand(path)).is_absolute()) return std::nullopt;
  std::error_code ec;
  const std::string root = std::filesystem::weakly_canonical(c.workspace, ec).string();
  const std::string target = std::filesystem::weakly_canonical(in_workspace(c, path), ec).string();
  if (!ec && (target == root || target.rfind(root + "/", 0) == 0)) return std::nullopt;
  return fmt::format("{} is outside the workspace (it leads to {}): not read", path, target);
}

std::string read_workspace_file(const CheckContext& c, const std::string& path) {
  constexpr std::uintmax_t kMaxFileBytes = 16u << 20;  // more is refused, not loaded
  if (auto why = outside_workspace(c, path)) throw Error(ErrorCode::invalid_input, *why);
  const std::filesystem::path p = in_workspace(c, path);
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) throw Error(ErrorCode::not_found, fmt::format("{} does not exist in the workspace", path));
  if (!std::filesystem::is_regular_file(p, ec)) throw Error(ErrorCode::invalid_input, fmt::format("{} is not a regular file", path));
  const std::uintmax_t size = std::filesystem::file_size(p, ec);
  if (ec || size > kMaxFileBytes) {
    throw Error(ErrorCode::invalid_input, fmt::format("{} is larger than {} MB: not read", path, kMaxFileBytes >> 20));
  }
  return read_file(p.string());
}

std::pair<std::string, std::string> split_url(const std::string& url) {
  const std::size_t scheme = url.find("://");
  const std::size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return {url, "/"};
  return {url.substr(0, slash), url.substr(slash)};
}

namespace {

bool compare(double got, const std::string& op, double expected) {
  return op == ">" ? got > expected : op == ">=" ? got >= expected : op == "<" ? got < expected : op == "<=" ? got <= expected
         : op == "==" ? got == expected : got != expected;
}

std::optional<json> lookup(const json& doc, const std::string& path) {
  const json* at = &doc;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') ++i;
    if (i < path.size() && path[i] == '[') {
      const std::size_t close = path.find(']', i);
      const std::size_t index = std::stoul(path.substr(i + 1, close - i - 1));
      if (!at->is_array() || index >= at->size()) return std::nullopt;
      at = &(*at)[index];
      i = close + 1;
      continue;
    }
    const std::size_t end = path.find_first_of(".[", i);
    const std::string key = path.substr(i, end == std::string::npos ? std::string::npos : end - i);
    if (!at->is_object() || !at->contains(key)) return std::nullopt;
    at = &(*at)[key];
    i = end == std::string::npos ? path.size() : end;
  }
  return *at;
}

json convert(const YAML::Node& n) {
  if (n.IsMap()) {
    json j = json::object();
    for (const auto& kv : n) j[kv.first.as<std::string>()] = convert(kv.second);
    return j;
  }
  if (n.IsSequence()) {
    json j = json::array();
    for (const auto& v : n) j.push_back(convert(v));
    return j;
  }
  if (!n.IsScalar()) return nullptr;
  const std::string s = n.as<std::string>();
  if (n.Tag() == "!") return s;  // quoted: a string
  if (s == "true" || s == "false") return s == "true";
  try {
    std::size_t used = 0;
    const double d = std::stod(s, &used);
    if (used == s.size()) {
      if (d == std::floor(d) && std::abs(d) < 9e15) return static_cast<std::int64_t>(d);  // shown as 20, not 20.0
      return d;
    }
  } catch (const std::exception&) {
  }
  return s;
}

std::string type_name(const json& j) {
  if (j.is_string()) return "string";
  if (j.is_boolean()) return "boolean";
  if (j.is_number()) return "number";
  if (j.is_array()) return "array";
  if (j.is_object()) return "object";
  return "null";
}

}  // namespace

Comparison::Comparison(const YAML::Node& n, const std::string& file) {
  for (const char* candidate : {">", ">=", "<", "<=", "==", "!="}) {
    if (!n[candidate]) continue;
    if (!op.empty()) bad(n, file, "give one comparison");
    op = candidate;
    try {
      value = n[candidate].as<double>();
    } catch (const YAML::Exception&) {
      bad(n[candidate], file, fmt::format("'{}' compares with a number", candidate));
    }
  }
}

std::optional<std::string> Comparison::test(double got, const std::string& what) const {
  if (op.empty() || compare(got, op, value)) return std::nullopt;
  return fmt::format("{}: expected {} {}, got {}", what, op, value, got);
}

json yaml_to_json(const YAML::Node& n) {
  if (const auto why = yaml_out_of_bounds(n, 200'000, 64)) throw Error(ErrorCode::invalid_input, *why + ": not read");
  return convert(n);
}

std::vector<FieldAssertion> parse_fields(const YAML::Node& node, const std::string& file) {
  std::vector<FieldAssertion> out;
  const YAML::Node fields = node["fields"];
  if (!fields) return out;
  if (!fields.IsSequence()) bad(fields, file, "'fields' is a list of {path, equals|exists|type|regex|>|>=|<|<=|==|!=}");
  for (const auto& f : fields) {
    FieldAssertion a;
    a.path = need(f, "path", file);
    for (const char* op : {"equals", "exists", "type", "regex", ">", ">=", "<", "<=", "==", "!="}) {
      if (!f[op]) continue;
      if (!a.op.empty()) bad(f, file, fmt::format("field '{}' has two assertions; give one per entry", a.path));
      a.op = op;
      a.expected = yaml_to_json(f[op]);
      if (a.op == "regex") a.regex = std::make_shared<Regex>(f[op].as<std::string>(), f, file);
      if (std::string_view(op).find_first_of("<>=!") == 0 && !a.expected.is_number()) bad(f, file, fmt::format("'{}' compares with a number", op));
    }
    if (a.op.empty()) bad(f, file, fmt::format("field '{}' has no assertion (equals, exists, type, regex or a comparison)", a.path));
    out.push_back(std::move(a));
  }
  return out;
}

// The first failing assertion's reason, or nullopt when all hold.
std::optional<std::string> check_fields(const json& doc, const std::vector<FieldAssertion>& fields) {
  for (const FieldAssertion& a : fields) {
    const std::optional<json> got = lookup(doc, a.path);
    if (a.op == "exists") {
      if (got.has_value() != a.expected.get<bool>()) return fmt::format("{}: expected {}", a.path, got ? "absent" : "present");
      continue;
    }
    if (!got) return fmt::format("{}: missing", a.path);
    const std::string shown = shorten(got->dump(), 60);
    if (a.op == "equals") {
      const bool same = (*got == a.expected) || (got->is_number() && a.expected.is_number() && got->get<double>() == a.expected.get<double>()) ||
                        (got->is_string() && !a.expected.is_string() && got->get<std::string>() == a.expected.dump());
      if (!same) return fmt::format("{}: expected {}, got {}", a.path, a.expected.dump(), shown);
    } else if (a.op == "type") {
      if (type_name(*got) != a.expected.get<std::string>()) return fmt::format("{}: expected a {}, got {}", a.path, a.expected.get<std::string>(), shown);
    } else if (a.op == "regex") {
      const std::string text = got->is_string() ? got->get<std::string>() : got->dump();
      if (!a.regex->search(text)) return fmt::format("{}: expected to match /{}/, got {}", a.path, a.regex->pattern(), shown);
    } else {
      if (!got->is_number()) return fmt::format("{}: expected a number {} {}, got {}", a.path, a.op, a.expected.dump(), shown);
      const double v = got->get<double>(), e = a.expected.get<double>();
      if (!compare(v, a.op, e)) return fmt::format("{}: expected {} {}, got {}", a.path, a.op, a.expected.dump(), shown);
    }
  }
  return std::nullopt;
}

}  // namespace mlops::rubric::checks
