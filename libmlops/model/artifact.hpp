// model: the model artifact — a versioned, human-readable JSON file with the fitted model,
// its training parameters and metrics, a data fingerprint and the drift baseline.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libmlops/data/dataset.hpp"
#include "libmlops/model/baseline.hpp"
#include "libmlops/model/logistic_regression.hpp"
#include "libmlops/model/metrics.hpp"

namespace mlops::model {

inline constexpr std::string_view kArtifactFormat = "mlops.logistic_regression/1";

struct ModelArtifact {
  std::string name;            // the model name it was trained for
  std::string model_version;   // a version tag such as v1.2.0-stable
  std::string created_at;      // ISO 8601, UTC
  std::string run_id;          // the registry run that produced it ("" if none)
  std::vector<std::string> feature_names;
  std::vector<std::string> classes;
  bool integer_classes = true;  // classes are written (and predicted) as JSON numbers
  LogisticRegression model;
  nlohmann::json params = nlohmann::json::object();  // training parameters (C, seed, ...)
  ClassificationMetrics metrics;
  std::string metrics_split = "test";  // "test", or "train" when nothing was held out
  FitResult fit;
  nlohmann::json data = nlohmann::json::object();    // fingerprint: source, rows, cols, hash
  std::vector<FeatureBaseline> baseline;
  std::string sha256;  // of the file's bytes; set by save_artifact / load_artifact

  // The class label as JSON (a number when integer_classes).
  nlohmann::json class_label(Eigen::Index index) const;
};

// Serialises with an embedded checksum over the canonical JSON, so that any edit to the
// file is detected on load even outside the registry.
std::string artifact_to_text(const ModelArtifact& artifact);
// Writes atomically (temp file + rename) and sets artifact.sha256. Throws Error{io}.
void save_artifact(ModelArtifact& artifact, const std::string& path);
// Parses and verifies text. Throws Error{corrupt} naming origin for invalid JSON, an unknown
// format, a checksum mismatch or inconsistent shapes.
ModelArtifact parse_artifact(std::string_view text, std::string_view origin);
// Reads, verifies and (when expected_sha256 is given) checks the file's hash, as the
// registry recorded it. Throws Error{not_found} or Error{corrupt}.
ModelArtifact load_artifact(const std::string& path,
                            const std::optional<std::string>& expected_sha256 = std::nullopt);

// A fast 64-bit fingerprint of a dataset's values and labels (FNV-1a over 8-byte words).
std::string fingerprint(const data::Dataset& ds);

}  // namespace mlops::model
