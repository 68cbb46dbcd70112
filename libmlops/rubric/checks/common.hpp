// rubric/checks: what the check kinds share — rubric field readers that name file and line,
// workspace paths that never lead outside it, bounded reads, numeric comparisons and field
// assertions on JSON documents.
#pragma once
#include <regex.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "libmlops/rubric/check.hpp"

namespace YAML { class Node; }

namespace mlops::rubric::checks {

// --- reading the rubric ------------------------------------------------------------------

// Error{invalid_input} "FILE:LINE: message", with a pointer to the check kinds' reference.
[[noreturn]] void bad(const YAML::Node& node, const std::string& file, const std::string& message);
// The non-empty scalar `key` of a check, or bad().
std::string need(const YAML::Node& node, const char* key, const std::string& file);

// POSIX extended regular expressions (the same syntax as grep -E).
class Regex {
 public:
  Regex(const std::string& pattern, const YAML::Node& node, const std::string& file);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  bool search(const std::string& text) const { return regexec(&re_, text.c_str(), 0, nullptr, 0) == 0; }
  const std::string& pattern() const { return pattern_; }

 private:
  regex_t re_{};
  std::string pattern_;
};

// An optional numeric comparison on a check: one of >, >=, <, <=, ==, !=.
struct Comparison {
  std::string op;
  double value = 0;
  Comparison() = default;
  Comparison(const YAML::Node& node, const std::string& file);
  // nullopt when it holds (or there is none); else why not.
  std::optional<std::string> test(double got, const std::string& what) const;
};

// One assertion on a JSON document: `path` (dotted, [i] for arrays) and one of equals,
// exists, type, regex, or a comparison with a number.
struct FieldAssertion {
  std::string path;
  std::string op;
  nlohmann::json expected;
  std::shared_ptr<Regex> regex;
};
std::vector<FieldAssertion> parse_fields(const YAML::Node& node, const std::string& file);
// The first failing assertion's reason, or nullopt when all hold.
std::optional<std::string> check_fields(const nlohmann::json& doc, const std::vector<FieldAssertion>& fields);

// YAML as JSON (quoted scalars stay strings; numbers and booleans are typed), bounded:
// Error{invalid_input} past 200,000 nodes once aliases are expanded or 64 levels.
nlohmann::json yaml_to_json(const YAML::Node& node);

// --- running a check ---------------------------------------------------------------------

// One line, at most `max` bytes (then "…").
std::string shorten(std::string s, std::size_t max = 120);

// The path a check names, relative to the workspace unless absolute.
std::filesystem::path in_workspace(const CheckContext& c, const std::string& path);
// A learner's workspace is untrusted: a relative path must stay inside it once symlinks are
// followed (an absolute path comes from the rubric or the grader, and is taken as given).
// nullopt when the path may be read; else why not.
std::optional<std::string> outside_workspace(const CheckContext& c, const std::string& path);
// A file a check reads: inside the workspace, a regular file (not a pipe that would block),
// at most 16 MB. Error{not_found|invalid_input} otherwise.
std::string read_workspace_file(const CheckContext& c, const std::string& path);

// http://host:port/path?query → {"http://host:port", "/path?query"}.
std::pair<std::string, std::string> split_url(const std::string& url);

}  // namespace mlops::rubric::checks
