// model: evaluation metrics of a classifier on held-out data.
#pragma once
#include <Eigen/Core>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mlops::model {

struct ClassificationMetrics {
  Eigen::Index samples = 0;
  double accuracy = 0;
  double precision = 0;  // binary: of the positive (second) class; multiclass: macro average
  double recall = 0;
  double f1 = 0;
  std::optional<double> roc_auc;  // binary only
  double log_loss = 0;            // mean, probabilities clipped to [1e-15, 1 - 1e-15]
  std::vector<std::vector<Eigen::Index>> confusion;  // [true class][predicted class]

  nlohmann::json to_json() const;
  static ClassificationMetrics from_json(const nlohmann::json& j);
};

// Metrics of predicted probabilities (rows x classes) against labels in [0, classes).
// Precision/recall/F1 of a class with no predictions (or no samples) count as 0, as
// scikit-learn's zero_division default warns and does.
ClassificationMetrics evaluate(const Eigen::VectorXi& labels, const Eigen::MatrixXd& probabilities);

// ROC AUC of scores for the positive class (labels 0/1), ties averaged (Mann-Whitney U).
// nullopt when only one class is present.
std::optional<double> roc_auc(const Eigen::VectorXi& labels, const Eigen::VectorXd& scores);

}  // namespace mlops::model
