// model: an offline data-drift report of a dataset against what a model was trained on —
// per feature the PSI on the training bins and a Kolmogorov–Smirnov test, the share of
// drifted features (dataset drift) and prediction drift (predicted class shares), in the
// spirit of Evidently's data-drift preset.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "libmlops/data/csv.hpp"
#include "libmlops/model/artifact.hpp"

namespace mlops::model {

struct DriftReportOptions {
  double alpha = 0.05;       // a test's p-value below this: the difference is real
  double min_psi = 0.1;      // ... and a PSI above this: it matters (0.1-0.2 moderate, > 0.2 large)
  double drift_share = 0.5;  // dataset drift: at least this share of the features drifted
};

struct FeatureDriftResult {
  std::string name;
  double reference_mean = 0;
  double current_mean = 0;
  double psi = 0;
  double ks_statistic = 0;  // the largest gap between the two cumulative distributions
  double p_value = 1;
  bool drifted = false;
  std::vector<double> bin_edges;            // the training bins
  std::vector<double> reference_fractions;  // share per bin
  std::vector<double> current_fractions;
};

struct PredictionDriftResult {
  std::vector<std::string> classes;
  std::vector<double> reference_share;  // predicted share per class
  std::vector<double> current_share;
  double psi = 0;
  double chi_square = 0;
  double p_value = 1;
  bool drifted = false;
  bool available = false;  // false when the reference has no predictions (no test split)
};

struct DriftReport {
  std::string reference;  // "training baseline" or the reference CSV
  std::size_t reference_rows = 0;
  std::size_t current_rows = 0;
  std::vector<FeatureDriftResult> features;
  PredictionDriftResult prediction;
  std::size_t drifted_features = 0;
  double drifted_share = 0;
  bool dataset_drift = false;
  DriftReportOptions options;
};

// Compares `current` (rows of the model's features, in its order) with `reference` when
// given (two-sample KS on the rows), else with the model's training baseline (KS at the
// decile edges, where the training distribution is known exactly). Prediction drift
// compares the model's predictions of `current` with those of the reference, or with the
// predicted shares on its held-out test split. Error{invalid_input} for an empty table or
// one whose width is not the model's.
DriftReport drift_report(const ModelArtifact& model, const data::FeatureTable& current,
                         const data::FeatureTable* reference, const std::string& reference_name,
                         const DriftReportOptions& options = {});

// The share of each class among the model's predictions on its held-out test split (the
// confusion matrix's columns): the reference of prediction drift. Empty without a test split.
std::vector<double> test_prediction_shares(const ModelArtifact& model);

// The Kolmogorov distribution's upper tail for statistic d with effective sample size n
// (n·m/(n+m) for two samples), with Stephens' small-sample correction.
double ks_p_value(double d, double n_effective);
// The chi-square distribution's upper tail P(X > x) with `dof` degrees of freedom.
double chi_square_p_value(double x, double dof);

}  // namespace mlops::model
