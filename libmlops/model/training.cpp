#include "libmlops/model/training.hpp"

#include <chrono>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/log.hpp"
#include "libmlops/data/csv.hpp"
#include "libmlops/data/split.hpp"

namespace mlops::model {
namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

TrainedModel train_model(const TrainingSpec& spec) {
  TrainedModel out;
  ModelArtifact& a = out.artifact;
  auto start = std::chrono::steady_clock::now();
  data::Dataset ds = spec.data_path.empty() ? data::generate_churn(spec.synthetic)
                                            : data::read_training_csv(spec.data_path, spec.target);
  a.data = {{"source", spec.data_path.empty() ? "synthetic" : spec.data_path},
            {"rows", ds.rows()},
            {"cols", ds.cols()},
            {"hash", fingerprint(ds)}};
  if (!spec.data_path.empty()) a.data["target"] = spec.target;
  out.load_seconds = seconds_since(start);
  logging::info("loaded {} rows x {} features, {} classes in {:.3f}s", ds.rows(), ds.cols(),
                ds.classes.size(), out.load_seconds);

  const data::Split split = data::train_test_split(ds, spec.test_size, spec.split_seed);
  start = std::chrono::steady_clock::now();
  a.fit = a.model.fit(split.train, static_cast<int>(ds.classes.size()), spec.fit);
  out.fit_seconds = seconds_since(start);
  logging::info("fit: objective {:.10g} after {} iterations in {:.3f}s", a.fit.objective,
                a.fit.iterations, out.fit_seconds);

  const data::DataView& eval = split.test.rows > 0 ? split.test : split.train;
  a.metrics_split = split.test.rows > 0 ? "test" : "train";
  a.metrics = evaluate(eval.targets(), a.model.predict_proba(eval.features()));
  a.baseline = compute_baseline(split.train, ds.feature_names);

  a.name = spec.name;
  a.model_version = spec.model_version;
  a.created_at = iso8601_utc(now_ms());
  a.run_id = spec.run_id;
  a.feature_names = ds.feature_names;
  a.classes = ds.classes;
  a.integer_classes = ds.integer_classes;
  a.params = {{"C", spec.fit.C},
              {"max_iter", spec.fit.max_iter},
              {"tol", spec.fit.tol},
              {"standardize", spec.fit.standardize},
              {"test_size", spec.test_size},
              {"seed", spec.data_path.empty() ? spec.synthetic.seed : spec.split_seed},
              {"random_state", spec.split_seed},  // the course's name for the split's seed
              {"model_version_tag", spec.model_version},
              {"n_samples", ds.rows()},
              {"n_features", ds.cols()},
              {"n_classes", ds.classes.size()},
              {"solver", "lbfgs"},
              {"penalty", "l2"}};
  return out;
}

}  // namespace mlops::model
