#include "libmlops/registry/model_uri.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "libmlops/core/error.hpp"

namespace mlops::registry {
namespace {
constexpr std::string_view kScheme = "models:/";

Error malformed(std::string_view text) {
  return Error(ErrorCode::invalid_input, fmt::format("malformed model URI '{}'", text),
               "use models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME/latest, models:/NAME@ALIAS or a file path");
}
}  // namespace

ModelUri parse_model_uri(std::string_view text) {
  ModelUri uri;
  uri.text = std::string(text);
  if (!text.starts_with(kScheme)) {
    if (text.empty()) throw malformed(text);
    uri.path = std::string(text.starts_with("file://") ? text.substr(7) : text);
    return uri;
  }
  const std::string_view rest = text.substr(kScheme.size());
  if (const auto at = rest.find('@'); at != std::string_view::npos) {
    uri.kind = ModelUri::Kind::alias;
    uri.name = std::string(rest.substr(0, at));
    uri.alias = std::string(rest.substr(at + 1));
    if (uri.name.empty() || uri.alias.empty() || uri.alias.find('/') != std::string::npos) throw malformed(text);
    return uri;
  }
  const auto slash = rest.rfind('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) throw malformed(text);
  uri.name = std::string(rest.substr(0, slash));
  const std::string_view ref = rest.substr(slash + 1);
  if (ref == "latest") {
    uri.kind = ModelUri::Kind::latest;
    return uri;
  }
  if (std::all_of(ref.begin(), ref.end(), [](unsigned char c) { return std::isdigit(c); })) {
    uri.kind = ModelUri::Kind::version;
    uri.version = std::stoll(std::string(ref));
    return uri;
  }
  if (const auto stage = parse_stage(ref)) {
    uri.kind = ModelUri::Kind::stage;
    uri.stage = *stage;
    return uri;
  }
  throw Error(ErrorCode::invalid_input,
              fmt::format("'{}' in model URI '{}' is neither a version number nor a stage", ref, text),
              "stages are None, Staging, Production, Archived; aliases use models:/NAME@ALIAS");
}

ResolvedModel resolve_model_uri(RegistryStore& store, std::string_view text) {
  const ModelUri uri = parse_model_uri(text);
  ResolvedModel out;
  out.uri = uri.text;
  if (uri.kind == ModelUri::Kind::file) {
    if (!std::filesystem::exists(uri.path)) {
      throw Error(ErrorCode::not_found, fmt::format("model file {} does not exist", uri.path),
                  "train one with `mlops train`, or pass models:/NAME@ALIAS from the registry");
    }
    out.path = uri.path;
    return out;
  }
  std::optional<ModelVersion> found;
  std::string missing;
  switch (uri.kind) {
    case ModelUri::Kind::version:
      found = store.get_version(uri.name, uri.version);
      break;
    case ModelUri::Kind::stage:
      found = store.find_latest_in_stage(uri.name, uri.stage);
      missing = fmt::format("no version of '{}' is in stage {}", uri.name, to_string(uri.stage));
      break;
    case ModelUri::Kind::alias:
      found = store.find_by_alias(uri.name, uri.alias);
      missing = fmt::format("model '{}' has no alias '{}'", uri.name, uri.alias);
      break;
    case ModelUri::Kind::latest:
      if (store.find_model(uri.name)) {
        for (ModelVersion& v : store.list_versions(uri.name)) {
          if (!found || v.version > found->version) found = std::move(v);
        }
      }
      missing = fmt::format("model '{}' has no version yet", uri.name);
      break;
    case ModelUri::Kind::file:
      break;
  }
  if (!found) {
    if (!store.find_model(uri.name)) {
      throw Error(ErrorCode::not_found, fmt::format("no registered model named '{}'", uri.name),
                  "run `mlops models list`, or register one with `mlops train --register`");
    }
    throw Error(ErrorCode::not_found, missing,
                fmt::format("run `mlops models show {}`; promote or alias a version first", uri.name));
  }
  out.name = found->name;
  out.version = found->version;
  out.version_tag = found->version_tag;
  out.path = found->source;
  out.sha256 = found->artifact_sha256;
  return out;
}

std::string default_model_uri(const std::string& db_path, const std::string& name, const std::string& model_path) {
  if (std::filesystem::exists(db_path)) {
    RegistryStore store(db_path, RegistryStore::Mode::read_only);
    if (store.find_by_alias(name, "production")) return fmt::format("models:/{}@production", name);
  }
  return std::filesystem::exists(model_path) ? model_path : "";
}

std::string default_model_uri(const config::Settings& settings) {
  if (!settings.get("MODEL_URI").empty()) return settings.get("MODEL_URI");
  return default_model_uri(settings.db_path(), settings.get("MODEL_NAME"), settings.get("MODEL_PATH"));
}

model::ModelArtifact load_model(RegistryStore& store, std::string_view uri, ResolvedModel* resolved) {
  ResolvedModel r = resolve_model_uri(store, uri);
  model::ModelArtifact artifact = model::load_artifact(r.path, r.sha256);
  if (resolved) *resolved = std::move(r);
  return artifact;
}

}  // namespace mlops::registry
