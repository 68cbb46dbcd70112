// config: settings resolved as command-line flag > environment > `.env` file > default.
// Never does I/O beyond reading the `.env` file.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlops::config {

// One known setting: its environment name, default and a one-line description. The same
// table produces `.env.example`'s checks and `mlops doctor`'s report.
struct SettingSpec {
  std::string key;
  std::string default_value;
  std::string description;
};
const std::vector<SettingSpec>& known_settings();

enum class Source { flag, environment, env_file, default_value };
std::string_view to_string(Source source);

class Settings {
 public:
  // The value of a known setting (or an unknown key found in a source). Throws
  // Error{internal} for a key that is neither known nor set anywhere.
  const std::string& get(const std::string& key) const;
  std::optional<std::string> find(const std::string& key) const;
  Source source(const std::string& key) const;
  // A numeric setting. Throws Error{invalid_input} naming the key, its value and where it
  // came from when the value is not a finite number.
  double number(const std::string& key) const;
  // The same, and within [min, max]: Error{invalid_input} naming the key, its value, where
  // it came from and the range otherwise (so a caller can cast it to an integer safely).
  double number(const std::string& key, double min, double max) const;
  const std::string& env_file() const { return env_file_; }  // "" when none was read

  // Paths derived from MLOPS_HOME.
  std::string home() const { return get("MLOPS_HOME"); }
  std::string db_path() const;         // MLOPS_HOME/mlops.db
  std::string artifacts_dir() const;   // MLOPS_HOME/artifacts
  std::string crm_api_key() const;     // CRM_API_KEY, else MLOPS_API_KEY

 private:
  friend Settings load_settings(const std::map<std::string, std::string>&,
                                const std::optional<std::string>&,
                                const std::function<const char*(const char*)>&);
  std::map<std::string, std::pair<std::string, Source>> values_;
  std::string env_file_;
};

// Resolves every known setting. `flags` holds values given on the command line (by key).
// `env_file`: an explicit file (Error{not_found} if missing); without it `./.env` is read
// when present. `getenv` is injectable for tests.
Settings load_settings(const std::map<std::string, std::string>& flags,
                       const std::optional<std::string>& env_file,
                       const std::function<const char*(const char*)>& getenv = ::getenv);

}  // namespace mlops::config
