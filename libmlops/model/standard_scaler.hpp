// model: StandardScaler — per-feature centring and scaling, as scikit-learn's.
#pragma once
#include <Eigen/Core>

#include "libmlops/data/dataset.hpp"

namespace mlops::model {

struct StandardScaler {
  Eigen::VectorXd mean;
  Eigen::VectorXd scale;  // population standard deviation; 1 where a feature is constant

  // Learns mean and scale from the rows of `data` (two passes, numerically stable).
  static StandardScaler fit(const data::DataView& data);
  // The identity transform for `features` inputs (mean 0, scale 1).
  static StandardScaler identity(Eigen::Index features);
  bool empty() const { return mean.size() == 0; }
};

}  // namespace mlops::model
