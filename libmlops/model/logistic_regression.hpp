// model: L2-penalised logistic regression, binary and multinomial, fitted with L-BFGS.
// Never does HTTP or SQL.
#pragma once
#include <Eigen/Core>
#include <functional>
#include <optional>

#include "libmlops/data/dataset.hpp"
#include "libmlops/model/standard_scaler.hpp"

namespace mlops::model {

struct FitProgress {
  int evaluations = 0;
  double objective = 0;  // best objective so far (sum of log-losses + penalty)
};

struct FitOptions {
  double C = 1.0;             // inverse penalty strength, as scikit-learn's C (> 0)
  bool standardize = false;   // fit a StandardScaler first (a scikit-learn pipeline); scikit-learn's
                              // LogisticRegression alone never does
  int max_iter = 1000;        // L-BFGS iterations (> 0)
  // Stop when the gradient's 2-norm of the mean objective, in the solver's well-conditioned
  // coordinates, is below tol. The default reaches the minimum to ~1e-9 relative.
  double tol = 1e-7;
  int threads = 0;            // 0 = one per core for large data
  std::function<void(const FitProgress&)> progress;  // called after each evaluation
};

struct FitResult {
  double objective = 0;       // sum of log-losses + ||W||^2 / (2C) at the solution
  int iterations = 0;
  int evaluations = 0;
  bool converged = false;     // false when max_iter stopped the solver
  double gradient_norm = 0;   // final stopping quantity (see FitOptions::tol)
};

// The model scikit-learn's LogisticRegression(C, lbfgs) fits: objective = sum of log-losses
// + ||W||^2/(2C), intercepts unpenalised; with K > 2 classes a full softmax (K coefficient
// rows), with 2 classes one row for the second class. Coefficients are in the scaler's
// coordinates, as a scikit-learn pipeline's are.
class LogisticRegression {
 public:
  // Fits on `data` whose labels are in [0, n_classes). Throws Error{invalid_input} for bad
  // options or fewer than two classes present. The data is not modified.
  FitResult fit(const data::DataView& data, int n_classes, const FitOptions& options);

  // Sets a fitted state (from an artifact). coefficients: rows = 1 (binary) or n_classes.
  void set_parameters(Eigen::MatrixXd coefficients, Eigen::VectorXd intercepts,
                      StandardScaler scaler, int n_classes);

  // Probabilities for each row of raw (unscaled) features: rows x n_classes.
  Eigen::MatrixXd predict_proba(const Eigen::Ref<const data::RowMatrix>& x) const;
  // Probabilities for one raw feature row, written to `out` (size n_classes).
  void predict_proba_row(const double* x, double* out) const;

  // The objective (sum of log-losses + penalty) of the current parameters on `data`.
  double objective(const data::DataView& data, double C) const;

  int n_classes() const { return n_classes_; }
  Eigen::Index n_features() const { return coefficients_.cols(); }
  const Eigen::MatrixXd& coefficients() const { return coefficients_; }
  const Eigen::VectorXd& intercepts() const { return intercepts_; }
  const StandardScaler& scaler() const { return scaler_; }

 private:
  void fold_scaler();  // precomputes raw-coordinate weights for fast prediction

  int n_classes_ = 0;
  Eigen::MatrixXd coefficients_;  // rows x features, in scaler coordinates
  Eigen::VectorXd intercepts_;
  StandardScaler scaler_;
  Eigen::MatrixXd raw_coefficients_;  // coefficients_ / scale
  Eigen::VectorXd raw_intercepts_;    // intercepts_ - raw_coefficients_ * mean
};

}  // namespace mlops::model
