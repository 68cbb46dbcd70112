#include "libmlops/config/settings.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "libmlops/config/env_file.hpp"
#include "libmlops/core/error.hpp"

namespace mlops::config {

const std::vector<SettingSpec>& known_settings() {
  static const std::vector<SettingSpec> specs = {
      {"MLOPS_HOME", ".mlops", "home directory: registry database and artifact store"},
      {"MODEL_NAME", "ChurnPredictionModel", "registered model name"},
      {"MODEL_VERSION", "v1.0.0", "version tag written into trained models"},
      {"MODEL_PATH", "models/sample_model.json", "the deployed model file that train writes"},
      {"MLOPS_LOG", "warn", "log level: debug, info, warn, error, off (serve logs requests at info)"},
      {"MODEL_URI", "", "model serve loads: models:/NAME@ALIAS, models:/NAME/VERSION|STAGE or a file"},
      {"MLOPS_HOST", "127.0.0.1", "address serve listens on (0.0.0.0 in a container)"},
      {"MLOPS_PORT", "8000", "port serve listens on"},
      {"MLOPS_API_KEY", "", "when set, mutating routes need it (Authorization: Bearer or X-API-Key)"},
      {"CANARY_URI", "", "a second model that gets CANARY_WEIGHT of prediction traffic"},
      {"CANARY_WEIGHT", "0.1", "share of prediction traffic for the canary, 0 to 1"},
      {"MLOPS_RELOAD_INTERVAL", "10", "seconds between serve's checks for a new registry target (0 = off)"},
      {"MLOPS_LOG_FORMAT", "text", "log lines as text or json"},
      {"MLOPS_DRIFT_WINDOW", "1000", "serve measures drift over this many most recent requests (at least 10)"},
      {"MLOPS_DRIFT_MIN_SAMPLES", "100", "serve reports a drift PSI only once the window holds this many requests"},
      {"MLOPS_DRIFT_WINDOW_SECONDS", "0", "serve measures drift over the requests of the last this many seconds too (0 = requests only)"},
      {"MLOPS_ROLLBACK_ALERTS", "PredictionLatencyP95High,PredictionErrorRatioHigh,FeatureDrift",
       "the Alertmanager alerts whose firing (POST /admin/alerts) rolls back the active rollout; empty = none"},
      {"CRM_URL", "sqlite:crm.db", "the CRM: sqlite:PATH (embedded) or http://HOST:PORT"},
      {"CRM_TIMEOUT", "5", "seconds a CRM call may take before it fails (504)"},
      {"CRM_API_KEY", "", "key sent to an HTTP CRM whose writes need one (its MLOPS_API_KEY); empty = MLOPS_API_KEY (secret)"},
      {"SEGMENT_POLICY", "", "segment policy YAML; empty = class 1 -> Churn_Risk_AI, else Normal_Segment_AI"},
      {"PUSHGATEWAY_URL", "", "when set, train and crm-sync push their run metrics to this Prometheus Pushgateway"},
      {"MLFLOW_TRACKING_URI", "", "when set, registry changes are mirrored to this MLflow server (http[s]://HOST:5000)"},
      {"MLFLOW_TRACKING_TOKEN", "", "MLflow bearer token (secret)"},
      {"MLFLOW_TRACKING_USERNAME", "", "MLflow basic-auth user"},
      {"MLFLOW_TRACKING_PASSWORD", "", "MLflow basic-auth password (secret)"},
      {"MLFLOW_TRACKING_INSECURE_TLS", "false", "true = do not verify MLflow's TLS certificate"},
      {"MLFLOW_TRACKING_SERVER_CERT_PATH", "", "CA bundle that signed MLflow's TLS certificate"},
      {"MLFLOW_HTTP_REQUEST_TIMEOUT", "10", "seconds an MLflow call may take"},
      {"MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3", "extra attempts of an MLflow call on connection errors, 5xx and 429"},
      {"MLOPS_MLFLOW_MODEL_PREFIX", "", "prefix of the registry's model names in MLflow, when another registry owns the plain name"},
      {"MLOPS_MIRROR_DELETED", "recreate", "what the mirror does with objects deleted in MLflow: recreate them or skip the change"},
  };
  return specs;
}

std::string_view to_string(Source source) {
  switch (source) {
    case Source::flag: return "flag";
    case Source::environment: return "environment";
    case Source::env_file: return "env_file";
    case Source::default_value: return "default";
  }
  return "default";
}

const std::string& Settings::get(const std::string& key) const {
  const auto it = values_.find(key);
  if (it == values_.end()) {
    throw Error(ErrorCode::internal, fmt::format("setting {} is not defined", key));
  }
  return it->second.first;
}

std::optional<std::string> Settings::find(const std::string& key) const {
  const auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second.first;
}

Source Settings::source(const std::string& key) const {
  const auto it = values_.find(key);
  return it == values_.end() ? Source::default_value : it->second.second;
}

double Settings::number(const std::string& key) const {
  const std::string& text = get(key);
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(value)) {
    throw Error(ErrorCode::invalid_input,
                fmt::format("setting {}='{}' (from {}) is not a number", key, text, to_string(source(key))),
                fmt::format("set {} to a number, e.g. in .env (see .env.example)", key));
  }
  return value;
}

double Settings::number(const std::string& key, double min, double max) const {
  const double value = number(key);
  if (value < min || value > max) {
    throw Error(ErrorCode::invalid_input,
                fmt::format("setting {}={} (from {}) is outside {} to {}", key, get(key), to_string(source(key)), min, max),
                fmt::format("set {} to a number from {} to {}, e.g. in .env (see .env.example)", key, min, max));
  }
  return value;
}

std::string Settings::db_path() const {
  return (std::filesystem::path(home()) / "mlops.db").string();
}

std::string Settings::crm_api_key() const {
  return get("CRM_API_KEY").empty() ? get("MLOPS_API_KEY") : get("CRM_API_KEY");
}

std::string Settings::artifacts_dir() const {
  return (std::filesystem::path(home()) / "artifacts").string();
}

Settings load_settings(const std::map<std::string, std::string>& flags,
                       const std::optional<std::string>& env_file,
                       const std::function<const char*(const char*)>& getenv) {
  Settings settings;
  std::map<std::string, std::string> file_values;
  if (env_file) {
    file_values = read_env_file(*env_file);
    settings.env_file_ = *env_file;
  } else if (std::filesystem::is_regular_file(".env")) {
    file_values = read_env_file(".env");
    settings.env_file_ = ".env";
  }
  // Lowest precedence first; each later source overwrites.
  for (const SettingSpec& spec : known_settings()) {
    settings.values_[spec.key] = {spec.default_value, Source::default_value};
  }
  for (const auto& [key, value] : file_values) settings.values_[key] = {value, Source::env_file};
  for (const SettingSpec& spec : known_settings()) {
    if (const char* value = getenv(spec.key.c_str())) {
      settings.values_[spec.key] = {value, Source::environment};
    }
  }
  for (const auto& [key, value] : flags) settings.values_[key] = {value, Source::flag};
  return settings;
}

}  // namespace mlops::config
