// registry: model URIs as MLflow spells them, resolved against the local registry.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libmlops/config/settings.hpp"
#include "libmlops/model/artifact.hpp"
#include "libmlops/registry/registry_store.hpp"

namespace mlops::registry {

// models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME/latest (the highest version, as
// in MLflow), models:/NAME@ALIAS, or a file path.
struct ModelUri {
  enum class Kind { file, version, stage, alias, latest };
  Kind kind = Kind::file;
  std::string text;  // as given
  std::string path;  // Kind::file
  std::string name;
  std::int64_t version = 0;
  Stage stage = Stage::none;
  std::string alias;
};

// Throws Error{invalid_input} for a malformed models:/ URI.
ModelUri parse_model_uri(std::string_view text);

struct ResolvedModel {
  std::string uri;
  std::string name;          // "" for a file
  std::int64_t version = 0;  // 0 for a file
  std::string version_tag;
  std::string path;
  std::optional<std::string> sha256;  // the registry's record; none for a plain file
};

// Looks the URI up. Throws Error{not_found} naming what is missing (model, version, stage,
// alias, file) with a hint.
ResolvedModel resolve_model_uri(RegistryStore& store, std::string_view uri);

// The model a command uses when none is named: models:/NAME@production when the registry
// at db_path has that alias, else model_path when that file exists, else "".
std::string default_model_uri(const std::string& db_path, const std::string& name, const std::string& model_path);
// The one rule `serve`, `predict` and `crm-sync` follow when no model is named on the
// command line: MODEL_URI when set, else default_model_uri(MLOPS_HOME's registry,
// MODEL_NAME, MODEL_PATH).
std::string default_model_uri(const config::Settings& settings);

// Resolves and loads, verifying the artifact (and the registry's sha256 when it has one).
model::ModelArtifact load_model(RegistryStore& store, std::string_view uri, ResolvedModel* resolved = nullptr);

}  // namespace mlops::registry
