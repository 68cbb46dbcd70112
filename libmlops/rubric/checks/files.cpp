#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <filesystem>
#include <vector>

#include "libmlops/core/error.hpp"
#include "libmlops/rubric/checks/common.hpp"
#include "libmlops/rubric/checks/kinds.hpp"

namespace mlops::rubric::checks {
namespace {

using nlohmann::json;

class FileExists : public Check {
 public:
  FileExists(const YAML::Node& n, const std::string& file) : path_(need(n, "path", file)) {}
  CheckResult run(const CheckContext& c) const override {
    if (auto why = outside_workspace(c, path_)) return {false, *why};
    const auto p = in_workspace(c, path_);
    if (std::filesystem::exists(p)) return {true, fmt::format("{} exists", path_)};
    return {false, fmt::format("{} does not exist in the workspace", path_)};
  }

 private:
  std::string path_;
};

class FileContains : public Check {
 public:
  FileContains(const YAML::Node& n, const std::string& file)
      : path_(need(n, "path", file)), regex_(need(n, "regex", file), n, file) {}
  CheckResult run(const CheckContext& c) const override {
    try {
      if (regex_.search(read_workspace_file(c, path_))) return {true, fmt::format("{} matches /{}/", path_, regex_.pattern())};
      return {false, fmt::format("{} has no match for /{}/", path_, regex_.pattern())};
    } catch (const Error& e) {
      return {false, e.what()};
    }
  }

 private:
  std::string path_;
  Regex regex_;
};

class EnvFile : public Check {
 public:
  EnvFile(const YAML::Node& n, const std::string& file) : path_(n["path"] ? n["path"].as<std::string>() : ".env") {
    const YAML::Node keys = n["keys"];
    if (!keys || !keys.IsSequence() || keys.size() == 0) bad(n, file, "env_file needs 'keys': the settings the file must set");
    for (const auto& k : keys) keys_.push_back(k.as<std::string>());
  }
  CheckResult run(const CheckContext& c) const override {
    std::string text;
    try {
      text = read_workspace_file(c, path_);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::not_found) return {false, e.what()};
      return {false, fmt::format("{} is missing (copy .env.example to {})", path_, path_)};
    }
    std::vector<std::string> missing;
    for (const std::string& key : keys_) {
      bool found = false;
      std::size_t start = 0;
      while (!found && start < text.size()) {
        const std::size_t end = text.find('\n', start);
        std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (line.rfind("export ", 0) == 0) line = line.substr(7);
        found = line.rfind(key + "=", 0) == 0 && line.size() > key.size() + 1;
        start = end == std::string::npos ? text.size() : end + 1;
      }
      if (!found) missing.push_back(key);
    }
    if (missing.empty()) return {true, fmt::format("{} sets {}", path_, fmt::join(keys_, ", "))};
    return {false, fmt::format("{} does not set {}", path_, fmt::join(missing, ", "))};
  }

 private:
  std::string path_;
  std::vector<std::string> keys_;
};

}  // namespace

CheckPtr file_exists(const YAML::Node& n, const std::string& file) { return std::make_shared<FileExists>(n, file); }
CheckPtr file_contains(const YAML::Node& n, const std::string& file) { return std::make_shared<FileContains>(n, file); }
CheckPtr env_file(const YAML::Node& n, const std::string& file) { return std::make_shared<EnvFile>(n, file); }

}  // namespace mlops::rubric::checks
