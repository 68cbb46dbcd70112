// data: Dataset (features, labels, names), CSV read/write, the synthetic churn generator and
// the train/test split. Never fits anything.
#pragma once
#include <Eigen/Core>
#include <string>
#include <vector>

namespace mlops::data {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixView = Eigen::Map<const RowMatrix>;
using LabelView = Eigen::Map<const Eigen::VectorXi>;

// A read-only window on consecutive rows of a Dataset (no copy).
struct DataView {
  const double* values = nullptr;
  const int* labels = nullptr;
  Eigen::Index rows = 0;
  Eigen::Index cols = 0;
  MatrixView features() const { return MatrixView(values, rows, cols); }
  LabelView targets() const { return LabelView(labels, rows); }
};

// Features are stored row-major in one vector so that large CSVs are read without a second
// copy. labels[i] is an index into classes; classes are sorted as scikit-learn's np.unique
// sorts them (numerically when every label is an integer).
struct Dataset {
  std::vector<double> values;
  std::vector<int> labels;
  std::vector<std::string> feature_names;
  std::vector<std::string> classes;
  bool integer_classes = true;  // every label is an integer: print them as numbers

  Eigen::Index rows() const { return static_cast<Eigen::Index>(labels.size()); }
  Eigen::Index cols() const { return static_cast<Eigen::Index>(feature_names.size()); }
  DataView view() const { return slice(0, rows()); }
  DataView slice(Eigen::Index begin, Eigen::Index count) const {
    return {values.data() + begin * cols(), labels.data() + begin, count, cols()};
  }
};

// The number of rows of each class in a view (size = number of classes).
std::vector<Eigen::Index> class_counts(const DataView& view, std::size_t n_classes);

}  // namespace mlops::data
