#include "libmlops/model/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mlops::model {

std::optional<double> roc_auc(const Eigen::VectorXi& labels, const Eigen::VectorXd& scores) {
  const Eigen::Index n = labels.size();
  std::vector<Eigen::Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](Eigen::Index a, Eigen::Index b) { return scores[a] < scores[b]; });
  double positive_rank_sum = 0;
  Eigen::Index positives = 0;
  for (Eigen::Index i = 0; i < n;) {
    Eigen::Index j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    const double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (Eigen::Index k = i; k < j; ++k) {
      if (labels[order[k]] == 1) {
        positive_rank_sum += average_rank;
        ++positives;
      }
    }
    i = j;
  }
  const Eigen::Index negatives = n - positives;
  if (positives == 0 || negatives == 0) return std::nullopt;
  const double p = static_cast<double>(positives);
  return (positive_rank_sum - p * (p + 1) / 2.0) / (p * static_cast<double>(negatives));
}

ClassificationMetrics evaluate(const Eigen::VectorXi& labels, const Eigen::MatrixXd& probabilities) {
  ClassificationMetrics m;
  const Eigen::Index n = labels.size();
  const Eigen::Index k = probabilities.cols();
  m.samples = n;
  m.confusion.assign(static_cast<std::size_t>(k), std::vector<Eigen::Index>(static_cast<std::size_t>(k), 0));
  if (n == 0) return m;
  double loss = 0;
  Eigen::Index correct = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    Eigen::Index predicted = 0;
    probabilities.row(i).maxCoeff(&predicted);
    ++m.confusion[static_cast<std::size_t>(labels[i])][static_cast<std::size_t>(predicted)];
    correct += predicted == labels[i];
    loss -= std::log(std::clamp(probabilities(i, labels[i]), 1e-15, 1.0 - 1e-15));
  }
  m.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  m.log_loss = loss / static_cast<double>(n);

  const auto class_scores = [&](std::size_t c, double& precision, double& recall) {
    Eigen::Index predicted = 0, actual = 0;
    for (std::size_t r = 0; r < m.confusion.size(); ++r) {
      predicted += m.confusion[r][c];
      actual += m.confusion[c][r];
    }
    const double tp = static_cast<double>(m.confusion[c][c]);
    precision = predicted ? tp / static_cast<double>(predicted) : 0.0;
    recall = actual ? tp / static_cast<double>(actual) : 0.0;
  };
  const auto f1_of = [](double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; };
  if (k == 2) {
    class_scores(1, m.precision, m.recall);
    m.f1 = f1_of(m.precision, m.recall);
    m.roc_auc = roc_auc(labels, probabilities.col(1));
  } else {
    for (std::size_t c = 0; c < static_cast<std::size_t>(k); ++c) {
      double p = 0, r = 0;
      class_scores(c, p, r);
      m.precision += p / static_cast<double>(k);
      m.recall += r / static_cast<double>(k);
      m.f1 += f1_of(p, r) / static_cast<double>(k);
    }
  }
  return m;
}

nlohmann::json ClassificationMetrics::to_json() const {
  nlohmann::json j = {{"samples", samples},   {"accuracy", accuracy}, {"precision", precision},
                      {"recall", recall},     {"f1", f1},             {"log_loss", log_loss},
                      {"confusion_matrix", confusion}};
  j["roc_auc"] = roc_auc ? nlohmann::json(*roc_auc) : nlohmann::json(nullptr);
  return j;
}

ClassificationMetrics ClassificationMetrics::from_json(const nlohmann::json& j) {
  ClassificationMetrics m;
  m.samples = j.at("samples").get<Eigen::Index>();
  m.accuracy = j.at("accuracy").get<double>();
  m.precision = j.at("precision").get<double>();
  m.recall = j.at("recall").get<double>();
  m.f1 = j.at("f1").get<double>();
  m.log_loss = j.at("log_loss").get<double>();
  m.confusion = j.at("confusion_matrix").get<std::vector<std::vector<Eigen::Index>>>();
  if (j.contains("roc_auc") && !j["roc_auc"].is_null()) m.roc_auc = j["roc_auc"].get<double>();
  return m;
}

}  // namespace mlops::model
