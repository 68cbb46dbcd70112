#include "libmlops/model/artifact.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "libmlops/core/error.hpp"
#include "libmlops/core/fs.hpp"
#include "libmlops/core/sha256.hpp"

namespace mlops::model {
namespace {

using nlohmann::json;

json matrix_to_json(const Eigen::MatrixXd& m) {
  json rows = json::array();
  for (Eigen::Index r = 0; r < m.rows(); ++r) {
    std::vector<double> row(static_cast<std::size_t>(m.cols()));
    for (Eigen::Index c = 0; c < m.cols(); ++c) row[static_cast<std::size_t>(c)] = m(r, c);
    rows.push_back(row);
  }
  return rows;
}

Eigen::VectorXd vector_from_json(const json& j) {
  const auto v = j.get<std::vector<double>>();
  return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}

Eigen::MatrixXd matrix_from_json(const json& j) {
  const auto rows = j.get<std::vector<std::vector<double>>>();
  const std::size_t cols = rows.empty() ? 0 : rows.front().size();
  Eigen::MatrixXd m(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(cols));
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != cols) throw std::invalid_argument("ragged coefficient matrix");
    for (std::size_t c = 0; c < cols; ++c) m(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = rows[r][c];
  }
  return m;
}

json fit_to_json(const FitResult& f) {
  return {{"objective", f.objective},       {"iterations", f.iterations},
          {"evaluations", f.evaluations},   {"converged", f.converged},
          {"gradient_norm", f.gradient_norm}};
}

json to_json(const ModelArtifact& a) {
  json classes = json::array();
  for (std::size_t i = 0; i < a.classes.size(); ++i) classes.push_back(a.class_label(static_cast<Eigen::Index>(i)));
  const StandardScaler& s = a.model.scaler();
  const bool identity = s.mean.isZero(0) && s.scale.isOnes(0);
  json scaler = identity ? json(nullptr)
                         : json{{"mean", std::vector<double>(s.mean.data(), s.mean.data() + s.mean.size())},
                                {"scale", std::vector<double>(s.scale.data(), s.scale.data() + s.scale.size())}};
  const Eigen::VectorXd& b = a.model.intercepts();
  return {{"format", kArtifactFormat},
          {"name", a.name},
          {"model_version", a.model_version},
          {"created_at", a.created_at},
          {"run_id", a.run_id},
          {"feature_names", a.feature_names},
          {"classes", classes},
          {"scaler", scaler},
          {"coefficients", matrix_to_json(a.model.coefficients())},
          {"intercepts", std::vector<double>(b.data(), b.data() + b.size())},
          {"params", a.params},
          {"metrics", a.metrics.to_json()},
          {"metrics_split", a.metrics_split},
          {"fit", fit_to_json(a.fit)},
          {"data", a.data},
          {"baseline", to_json(a.baseline)}};
}

std::string checksum_of(const json& without_checksum) {
  return sha256_hex(without_checksum.dump());
}

[[noreturn]] void corrupt(std::string_view origin, const std::string& why) {
  throw Error(ErrorCode::corrupt, fmt::format("{}: not a valid model artifact: {}", origin, why),
              "retrain with `mlops train` or fetch the artifact from the registry again");
}

}  // namespace

json ModelArtifact::class_label(Eigen::Index index) const {
  const std::string& label = classes.at(static_cast<std::size_t>(index));
  if (integer_classes) return std::stoll(label);
  return label;
}

std::string artifact_to_text(const ModelArtifact& artifact) {
  json j = to_json(artifact);
  j["checksum"] = "sha256:" + checksum_of(j);
  return j.dump(2) + "\n";
}

void save_artifact(ModelArtifact& artifact, const std::string& path) {
  const std::string text = artifact_to_text(artifact);
  write_file_atomic(path, text);
  artifact.sha256 = sha256_hex(text);
}

ModelArtifact parse_artifact(std::string_view text, std::string_view origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    corrupt(origin, fmt::format("invalid JSON at byte {} (truncated or edited?)", e.byte));
  }
  if (!j.is_object()) corrupt(origin, "the top level is not an object");
  const auto format = j.value("format", std::string{});
  if (format != kArtifactFormat) {
    corrupt(origin, fmt::format("unknown format '{}' (this mlops reads '{}')", format, kArtifactFormat));
  }
  if (!j.contains("checksum") || !j["checksum"].is_string()) corrupt(origin, "no checksum field");
  const std::string stored = j["checksum"].get<std::string>();
  j.erase("checksum");
  if (stored != "sha256:" + checksum_of(j)) {
    corrupt(origin, "checksum mismatch: the file was modified after it was written");
  }
  ModelArtifact a;
  try {
    a.name = j.at("name").get<std::string>();
    a.model_version = j.at("model_version").get<std::string>();
    a.created_at = j.at("created_at").get<std::string>();
    a.run_id = j.at("run_id").get<std::string>();
    a.feature_names = j.at("feature_names").get<std::vector<std::string>>();
    a.integer_classes = true;
    for (const json& c : j.at("classes")) {
      if (c.is_number_integer()) {
        a.classes.push_back(std::to_string(c.get<long long>()));
      } else {
        a.integer_classes = false;
        a.classes.push_back(c.get<std::string>());
      }
    }
    const auto p = static_cast<Eigen::Index>(a.feature_names.size());
    StandardScaler scaler = StandardScaler::identity(p);
    if (!j.at("scaler").is_null()) {
      scaler.mean = vector_from_json(j["scaler"].at("mean"));
      scaler.scale = vector_from_json(j["scaler"].at("scale"));
    }
    Eigen::MatrixXd coefficients = matrix_from_json(j.at("coefficients"));
    Eigen::VectorXd intercepts = vector_from_json(j.at("intercepts"));
    if (coefficients.cols() != p) {
      corrupt(origin, fmt::format("{} feature names but {} coefficients per class", p, coefficients.cols()));
    }
    if (!coefficients.allFinite() || !intercepts.allFinite() || !scaler.mean.allFinite() ||
        !scaler.scale.allFinite() || (scaler.scale.array() <= 0).any()) {
      corrupt(origin, "non-finite or non-positive model parameters");
    }
    a.model.set_parameters(std::move(coefficients), std::move(intercepts), std::move(scaler),
                           static_cast<int>(a.classes.size()));
    a.params = j.at("params");
    a.metrics = ClassificationMetrics::from_json(j.at("metrics"));
    a.metrics_split = j.at("metrics_split").get<std::string>();
    const json& fit = j.at("fit");
    a.fit = {fit.at("objective").get<double>(), fit.at("iterations").get<int>(),
             fit.at("evaluations").get<int>(), fit.at("converged").get<bool>(),
             fit.at("gradient_norm").get<double>()};
    a.data = j.at("data");
    a.baseline = baseline_from_json(j.at("baseline"));
  } catch (const json::exception& e) {
    corrupt(origin, fmt::format("missing or mistyped field ({})", e.what()));
  } catch (const std::invalid_argument& e) {
    corrupt(origin, e.what());
  } catch (const Error& e) {
    corrupt(origin, e.what());
  }
  a.sha256 = sha256_hex(text);
  return a;
}

ModelArtifact load_artifact(const std::string& path, const std::optional<std::string>& expected_sha256) {
  const std::string text = read_file(path);
  if (expected_sha256 && sha256_hex(text) != *expected_sha256) {
    throw Error(ErrorCode::corrupt,
                fmt::format("{}: sha256 {} does not match the registry's {}", path, sha256_hex(text),
                            *expected_sha256),
                "the stored artifact was altered or truncated; register the model again");
  }
  return parse_artifact(text, path);
}

std::string fingerprint(const data::Dataset& ds) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  const auto mix = [&h](std::uint64_t word) {
    h ^= word;
    h *= 0x100000001b3ULL;
  };
  for (double v : ds.values) {
    std::uint64_t word;
    std::memcpy(&word, &v, sizeof(word));
    mix(word);
  }
  for (int label : ds.labels) mix(static_cast<std::uint64_t>(label));
  return fmt::format("fnv1a64:{:016x}", h);
}

}  // namespace mlops::model
