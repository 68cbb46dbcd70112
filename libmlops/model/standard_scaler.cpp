#include "libmlops/model/standard_scaler.hpp"

#include <cmath>

namespace mlops::model {

StandardScaler StandardScaler::fit(const data::DataView& data) {
  const auto x = data.features();
  StandardScaler s;
  const double n = static_cast<double>(data.rows);
  s.mean = x.colwise().sum().transpose() / n;
  Eigen::VectorXd var = Eigen::VectorXd::Zero(data.cols);
  for (Eigen::Index i = 0; i < data.rows; ++i) var += (x.row(i).transpose() - s.mean).array().square().matrix();
  s.scale = (var / n).array().sqrt();
  // scikit-learn leaves constant (and numerically near-constant) features unscaled.
  for (Eigen::Index j = 0; j < s.scale.size(); ++j) {
    const double eps = 10 * std::numeric_limits<double>::epsilon() * std::max(1.0, std::abs(s.mean[j]));
    if (s.scale[j] < eps) s.scale[j] = 1.0;
  }
  return s;
}

StandardScaler StandardScaler::identity(Eigen::Index features) {
  return {Eigen::VectorXd::Zero(features), Eigen::VectorXd::Ones(features)};
}

}  // namespace mlops::model
