// cli: `mlops train` — fit a model, write its artifact, track the run, optionally register.
#include <fmt/format.h>

#include <optional>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/mlflow_support.hpp"
#include "cli/push_metrics.hpp"
#include "libmlops/registry/tracking.hpp"

namespace mlops::cli {
namespace {

constexpr const char* kCourseExperiment = "ai_deployment_tutorial_churn_prediction";

struct TrainOptions {
  TrainOptions() { spec.fit.C = 0.1; }  // the course's C
  model::TrainingSpec spec;
  std::int64_t n_samples = 1000;
  int n_features = 10;
  int classes = 2;
  std::uint32_t seed = 42;
  bool standardize = false;
  bool no_standardize = false;  // the default now; accepted so that older scripts keep working
  std::optional<std::string> model_version, name, output;
  std::optional<std::string> experiment;
  bool register_model = false;
  bool archive_existing = false;
  std::optional<double> min_accuracy;
  std::string stage, alias;
};

std::string metrics_block(const model::ModelArtifact& a) {
  const model::ClassificationMetrics& m = a.metrics;
  Table metrics({"metric", "value"});
  metrics.add_row({"accuracy", format_number(m.accuracy)});
  metrics.add_row({a.classes.size() == 2 ? "precision" : "precision (macro)", format_number(m.precision)});
  metrics.add_row({a.classes.size() == 2 ? "recall" : "recall (macro)", format_number(m.recall)});
  metrics.add_row({a.classes.size() == 2 ? "f1" : "f1 (macro)", format_number(m.f1)});
  if (m.roc_auc) metrics.add_row({"roc_auc", format_number(*m.roc_auc)});
  metrics.add_row({"log_loss", format_number(m.log_loss)});
  std::vector<std::string> header = {"true \\ predicted"};
  for (const std::string& c : a.classes) header.push_back(c);
  Table confusion(header);
  for (std::size_t r = 0; r < m.confusion.size(); ++r) {
    std::vector<std::string> row = {a.classes[r]};
    for (auto count : m.confusion[r]) row.push_back(std::to_string(count));
    confusion.add_row(row);
  }
  return fmt::format("Metrics on {} {} rows:\n{}\nConfusion matrix:\n{}", m.samples, a.metrics_split,
                     metrics.render(2), confusion.render(2));
}

int run_train(TrainOptions opt, Context& ctx) {
  const config::Settings& s = ctx.settings;
  model::TrainingSpec& spec = opt.spec;
  spec.synthetic = {opt.n_samples, opt.n_features, opt.classes, opt.seed};
  spec.split_seed = opt.seed;
  spec.fit.standardize = opt.standardize;
  // The course's script tracks its runs in this experiment; a CSV's runs go to MLflow's default.
  const std::string experiment = opt.experiment.value_or(spec.data_path.empty() ? kCourseExperiment : "Default");
  spec.model_version = opt.model_version.value_or(s.get("MODEL_VERSION"));
  spec.name = opt.name.value_or(s.get("MODEL_NAME"));
  const std::string output = opt.output.value_or(s.get("MODEL_PATH"));

  Progress progress(!ctx.quiet && !ctx.json);
  spec.fit.progress = [&](const model::FitProgress& p) {
    progress.update(fmt::format("fitting: evaluation {}, objective {:.10g}", p.evaluations, p.objective));
  };
  registry::RegistryStore store(s.db_path());
  const auto tracked = registry::train_tracked(store, s.artifacts_dir(), spec, experiment, output);
  progress.finish();
  const model::ModelArtifact& a = tracked.trained.artifact;

  std::optional<registry::RegisterOutcome> reg;
  if (opt.register_model) {
    registry::RegisterOptions ro;
    ro.name = spec.name;
    ro.min_accuracy = opt.min_accuracy;
    if (!opt.stage.empty()) ro.stage = registry::parse_stage(opt.stage);
    ro.alias = opt.alias;
    ro.archive_existing = opt.archive_existing;
    reg = registry::register_artifact(store, s.artifacts_dir(), a, tracked.stored_path, ro);
  }
  const bool refused = reg && !reg->registered;
  push_job_metrics(ctx, "mlops_train", {{"model", spec.name}},
                   {{"train_rows", "Rows the last run trained on", a.data["rows"].get<double>()},
                    {"train_accuracy", "Accuracy of the last trained model on its evaluation split", a.metrics.accuracy},
                    {"train_registered", "1 when the last run's model was registered, 0 when the gate refused it or it was not asked",
                     reg && reg->registered ? 1.0 : 0.0}},
                   tracked.trained.fit_seconds + tracked.trained.load_seconds);

  if (ctx.json) {
    nlohmann::json j = {{"run_id", tracked.run.id},
                        {"experiment", experiment},
                        {"artifact", output},
                        {"artifact_sha256", a.sha256},
                        {"stored_artifact", tracked.stored_path},
                        {"model_version", a.model_version},
                        {"params", a.params},
                        {"metrics", a.metrics.to_json()},
                        {"metrics_split", a.metrics_split},
                        {"objective", a.fit.objective},
                        {"n_iter", a.fit.iterations},
                        {"converged", a.fit.converged},
                        {"fit_seconds", tracked.trained.fit_seconds},
                        {"load_seconds", tracked.trained.load_seconds},
                        {"classes", a.classes}};
    if (reg) {
      j["registered"] = reg->registered;
      if (!reg->gate.empty()) j["gate"] = reg->gate;
      if (reg->version) j["registered_version"] = to_json(*reg->version);
    }
    print_json(j);
  } else {
    print(fmt::format("Trained {} {} on {} rows x {} features ({} classes), fit in {:.3f}s\n", spec.name,
                      a.model_version, a.data["rows"].get<long long>(), a.feature_names.size(),
                      a.classes.size(), tracked.trained.fit_seconds));
    print(fmt::format("Objective {:.10g} after {} iterations ({})\n\n", a.fit.objective, a.fit.iterations,
                      a.fit.converged ? "converged" : "NOT converged: raise --max-iter"));
    print(metrics_block(a));
    print(fmt::format("\nArtifact  {} (sha256 {})\nRun       {} (experiment {})\n", output, a.sha256.substr(0, 12),
                      tracked.run.id, experiment));
    if (reg && reg->version) {
      print(fmt::format("Registered {} version {} ({}), stage {}{}\n", reg->version->name, reg->version->version,
                        reg->version->version_tag, registry::to_string(reg->version->stage),
                        reg->gate.empty() ? "" : " — " + reg->gate));
    }
  }
  mirror_after_change(ctx);
  if (refused) {
    std::fprintf(stderr, "mlops: %s: model not registered\n", reg->gate.c_str());
    return kExitGateFailed;
  }
  return kExitOk;
}

}  // namespace

Command add_train_command(CLI::App& root, Globals& globals) {
  auto opt = std::make_shared<TrainOptions>();
  CLI::App* app = root.add_subcommand("train", "Train a logistic regression model and track the run");
  app->footer(
      "Without --data, trains on the course's synthetic churn data (10 features uniform in\n"
      "[0, 10), label = sigmoid(x.w - 2) > 0.5) exactly as the course's train_model.py makes it, split\n"
      "as scikit-learn's train_test_split(test_size=0.2, random_state=--seed) does, and fits the\n"
      "model scikit-learn's LogisticRegression(C) fits. The artifact goes to --output (MODEL_PATH) and\n"
      "to the run's store in MLOPS_HOME; --register also creates a registry version.\n"
      "Example: mlops train --n_samples 1000 --c_param 0.1 --model_version v1.2.0-stable --register");
  app->add_option("--n-samples,--n_samples", opt->n_samples, "Synthetic rows")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--n-features,--n_features", opt->n_features, "Synthetic features")->capture_default_str()->check(CLI::Range(1, 100000));
  app->add_option("--classes", opt->classes, "Synthetic classes (> 2: multinomial)")->capture_default_str()->check(CLI::Range(2, 1000));
  app->add_option("--c-param,--c_param,-C", opt->spec.fit.C, "Inverse L2 strength C, as scikit-learn's")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--model-version,--model_version", opt->model_version, "Version tag (default MODEL_VERSION)");
  app->add_option("--seed", opt->seed, "Random seed for data and split")->capture_default_str();
  app->add_option("--test-size", opt->spec.test_size, "Share of rows held out for metrics (0 = none)")->capture_default_str()->check(CLI::Range(0.0, 0.99));
  app->add_option("--data", opt->spec.data_path, "Train on this CSV instead (header row, numeric features)");
  app->add_option("--target", opt->spec.target, "The CSV's label column (with --data)");
  app->add_flag("--standardize", opt->standardize,
                "Scale features to mean 0, variance 1 before fitting (a StandardScaler pipeline). Off by default, as in "
                "scikit-learn's LogisticRegression and the course's script: C then means the same as there, and so do the "
                "accuracy and predictions");
  app->add_flag("--no-standardize", opt->no_standardize, "The default (kept for older scripts)")->group("");
  app->add_option("--max-iter", opt->spec.fit.max_iter, "L-BFGS iteration limit")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--tol", opt->spec.fit.tol, "Gradient-norm tolerance of the solver")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--name", opt->name, "Registered model name (default MODEL_NAME)");
  app->add_option("--output,-o", opt->output, "Artifact path (default MODEL_PATH)");
  app->add_option("--experiment", opt->experiment,
                  "Experiment to track the run in (default: ai_deployment_tutorial_churn_prediction, the course's, for its "
                  "synthetic data; Default with --data)");
  app->add_flag("--register", opt->register_model, "Register the model as a new version");
  app->add_option("--min-accuracy", opt->min_accuracy, "With --register: refuse below this accuracy (exit 3)")->check(CLI::Range(0.0, 1.0));
  app->add_option("--stage", opt->stage, "With --register: move the version to this stage")
      ->check(CLI::IsMember({"None", "Staging", "Production", "Archived"}, CLI::ignore_case));
  app->add_flag("--archive-existing", opt->archive_existing, "With --stage: archive the other versions in that stage");
  app->add_option("--alias", opt->alias, "With --register: point this alias at the version");
  add_json_flag(app, globals);
  return {app, [opt](Context& ctx) {
            if (!opt->spec.data_path.empty() && opt->spec.target.empty()) {
              print_usage_error("--data needs --target COLUMN (the label column)", "train");
              return kExitUsage;
            }
            if (opt->spec.data_path.empty() && !opt->spec.target.empty()) {
              print_usage_error("--target only applies with --data FILE.csv", "train");
              return kExitUsage;
            }
            if (!opt->register_model &&
                (opt->min_accuracy || !opt->stage.empty() || !opt->alias.empty() || opt->archive_existing)) {
              print_usage_error("--min-accuracy, --stage, --archive-existing and --alias need --register", "train");
              return kExitUsage;
            }
            return run_train(*opt, ctx);
          }};
}

}  // namespace mlops::cli
