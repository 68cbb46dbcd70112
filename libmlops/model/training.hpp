// model: the training pipeline — data, split, fit, evaluation, baseline — into an artifact.
#pragma once
#include <cstdint>
#include <string>

#include "libmlops/data/synthetic.hpp"
#include "libmlops/model/artifact.hpp"
#include "libmlops/model/logistic_regression.hpp"

namespace mlops::model {

struct TrainingSpec {
  std::string data_path;  // CSV to train on; "" = the course's synthetic data
  std::string target;     // label column of the CSV
  data::SyntheticSpec synthetic;
  double test_size = 0.2;  // share held out for evaluation; 0 = train and evaluate on all rows
  std::uint32_t split_seed = 42;  // scikit-learn's random_state
  FitOptions fit;
  std::string name = "ChurnPredictionModel";
  std::string model_version = "v1.0.0";
  std::string run_id;
};

struct TrainedModel {
  ModelArtifact artifact;
  double load_seconds = 0;  // reading or generating the data
  double fit_seconds = 0;   // the solver alone
};

// Runs the pipeline. Throws Error{invalid_input} / Error{not_found} for bad data or options.
TrainedModel train_model(const TrainingSpec& spec);

}  // namespace mlops::model
