#include "libmlops/registry/tracking.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <filesystem>

#include "libmlops/core/error.hpp"
#include "libmlops/core/fs.hpp"
#include "libmlops/core/sha256.hpp"
#include "libmlops/registry/model_uri.hpp"

namespace mlops::registry {
namespace {

std::map<std::string, std::string> params_of(const nlohmann::json& params) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : params.items()) out[key] = value.is_string() ? value.get<std::string>() : value.dump();
  return out;
}

std::map<std::string, double> metrics_of(const model::ModelArtifact& a) {
  std::map<std::string, double> m = {{"accuracy", a.metrics.accuracy}, {"precision", a.metrics.precision},
                                     {"recall", a.metrics.recall},     {"f1", a.metrics.f1},
                                     {"log_loss", a.metrics.log_loss}, {"objective", a.fit.objective},
                                     {"n_iter", a.fit.iterations}};
  if (a.metrics.roc_auc) m["roc_auc"] = *a.metrics.roc_auc;
  return m;
}

std::string gate_text(double accuracy, double gate) {
  return fmt::format("accuracy {:.4f} {} {} {}", accuracy, accuracy >= gate ? ">=" : "<", gate,
                     accuracy >= gate ? "passed" : "failed");
}

}  // namespace

std::string store_artifact(const std::string& artifacts_dir, const std::string& run_id, const std::string& text) {
  // Absolute, so that the registry resolves it from any working directory.
  const std::string path =
      std::filesystem::absolute(std::filesystem::path(artifacts_dir) / run_id / "model.json").lexically_normal().string();
  if (std::filesystem::exists(path)) {
    if (sha256_file(path) == sha256_hex(text)) return path;
    throw Error(ErrorCode::conflict, fmt::format("{} already holds a different artifact", path),
                "stored artifacts are immutable; train a new run instead");
  }
  write_file_atomic(path, text);
  ::chmod(path.c_str(), 0444);
  return path;
}

RegisterOutcome register_artifact(RegistryStore& store, const std::string& artifacts_dir,
                                  const model::ModelArtifact& artifact, const std::string& path,
                                  const RegisterOptions& options) {
  RegisterOutcome out;
  out.accuracy = artifact.metrics.accuracy;
  if (options.min_accuracy) {
    out.gate = gate_text(out.accuracy, *options.min_accuracy);
    if (out.accuracy < *options.min_accuracy) {
      store.record_refusal(options.name, out.gate, options.change);
      return out;
    }
  }
  // An artifact trained against this registry keeps its run; any other gets an imported run.
  std::string run_id = artifact.run_id;
  const auto known = run_id.empty() ? std::nullopt : store.find_run(run_id);
  if (!known) {
    const Run run = store.create_run({"Default", "import", params_of(artifact.params),
                                      {{"mlops.source", path}, {"model_version", artifact.model_version}}});
    run_id = run.id;
  }
  std::string text, stored;
  try {
    text = read_file(path);
    stored = store_artifact(artifacts_dir, run_id, text);
  } catch (...) {
    if (!known) {
      try {
        store.finish_run(run_id, {"FAILED", {}, {}, {}, "", ""});
      } catch (...) {
        // A full disk may refuse this too; the next open marks the run FAILED then.
      }
    }
    throw;
  }
  if (!known) {
    store.finish_run(run_id, {"FINISHED", {}, metrics_of(artifact), {}, stored, sha256_hex(text)});
  }
  const std::string tag = options.version_tag.empty() ? artifact.model_version : options.version_tag;
  NewVersion v;
  v.name = options.name;
  v.run_id = run_id;
  v.source = stored;
  v.artifact_sha256 = sha256_hex(text);
  v.version_tag = tag;
  v.description = options.description;
  v.gate = out.gate;
  v.stage = options.stage;
  v.archive_existing = options.archive_existing;
  v.alias = options.alias;
  out.registered = true;
  out.version = store.register_version(v, options.change);
  return out;
}

TrackedTraining train_tracked(RegistryStore& store, const std::string& artifacts_dir, model::TrainingSpec spec,
                              const std::string& experiment, const std::string& output) {
  TrackedTraining out;
  nlohmann::json params = {{"C", spec.fit.C},
                           {"max_iter", spec.fit.max_iter},
                           {"tol", spec.fit.tol},
                           {"standardize", spec.fit.standardize},
                           {"test_size", spec.test_size}};
  out.run = store.create_run({experiment, "", params_of(params), {{"model_version", spec.model_version}}});
  spec.run_id = out.run.id;
  try {
    out.trained = model::train_model(spec);
    model::ModelArtifact& a = out.trained.artifact;
    const std::string text = model::artifact_to_text(a);
    write_file_atomic(output, text);
    a.sha256 = sha256_hex(text);
    out.stored_path = store_artifact(artifacts_dir, out.run.id, text);
    store.finish_run(out.run.id, {"FINISHED", params_of(a.params), metrics_of(a), {}, out.stored_path, a.sha256});
  } catch (...) {
    try {
      store.finish_run(out.run.id, {"FAILED", {}, {}, {}, "", ""});
    } catch (...) {
      // The training error is the one worth reporting.
    }
    throw;
  }
  out.run = store.get_run(out.run.id);
  return out;
}

}  // namespace mlops::registry
