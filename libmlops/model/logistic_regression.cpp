#include "libmlops/model/logistic_regression.hpp"

#include <LBFGS.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include "libmlops/core/error.hpp"
#include "libmlops/core/log.hpp"

namespace mlops::model {
namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

// Rows per block: small enough that a block of X stays in cache between the forward
// product and the gradient product, so each evaluation reads X from memory once.
constexpr Index kBlockRows = 2048;
// Below this many rows one thread is faster than starting more.
constexpr Index kRowsPerThread = 50000;

struct Partial {
  double loss = 0;
  MatrixXd g_w;  // sum over rows of residual * x (K x p)
  VectorXd g_b;  // sum over rows of residual (K)
};

// Adds the log-loss and its gradient (in raw feature coordinates) over rows [begin, end).
// W, B are the raw-coordinate weights: z = W x + B. K = 1 means binary (sigmoid).
void accumulate(const data::DataView& d, Index begin, Index end, const MatrixXd& W,
                const VectorXd& B, Partial& out) {
  const Index K = W.rows();
  out.loss = 0;
  out.g_w = MatrixXd::Zero(K, d.cols);
  out.g_b = VectorXd::Zero(K);
  MatrixXd Z;
  for (Index a = begin; a < end; a += kBlockRows) {
    const Index m = std::min(kBlockRows, end - a);
    const data::MatrixView X(d.values + a * d.cols, m, d.cols);
    const Eigen::Map<const Eigen::VectorXi> y(d.labels + a, m);
    Z.noalias() = X * W.transpose();
    Z.rowwise() += B.transpose();
    if (K == 1) {
      auto z = Z.col(0).array();
      const Eigen::ArrayXd yd = y.cast<double>().array();
      const Eigen::ArrayXd e = (-z.abs()).exp();
      out.loss += (z.max(0.0) + e.log1p()).sum() - (yd * z).sum();
      // sigmoid(z) without overflow: 1/(1+e) for z >= 0, e/(1+e) otherwise.
      const Eigen::ArrayXd p = (z >= 0).select(1.0 / (1.0 + e), e / (1.0 + e));
      z = p - yd;
    } else {
      const Eigen::ArrayXd top = Z.rowwise().maxCoeff().array();
      Eigen::ArrayXXd E = (Z.array().colwise() - top).exp();
      const Eigen::ArrayXd sum = E.rowwise().sum();
      const Eigen::ArrayXd lse = top + sum.log();
      double picked = 0;
      for (Index i = 0; i < m; ++i) picked += Z(i, y[i]);
      out.loss += lse.sum() - picked;
      Z = (E.colwise() / sum).matrix();
      for (Index i = 0; i < m; ++i) Z(i, y[i]) -= 1.0;
    }
    out.g_w.noalias() += Z.transpose() * X;
    out.g_b += Z.colwise().sum().transpose();
  }
}

// Runs accumulate over all rows, split into contiguous ranges across threads; the partial
// sums are added in a fixed order so that results do not depend on scheduling.
Partial loss_and_gradient(const data::DataView& d, const MatrixXd& W, const VectorXd& B,
                          int threads) {
  const Index wanted = threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  const Index n_threads = std::clamp<Index>(d.rows / kRowsPerThread, 1, wanted);
  std::vector<Partial> parts(static_cast<std::size_t>(n_threads));
  const Index per = (d.rows + n_threads - 1) / n_threads;
  {
    std::vector<std::jthread> workers;
    for (Index t = 1; t < n_threads; ++t) {
      workers.emplace_back([&, t] {
        accumulate(d, t * per, std::min(d.rows, (t + 1) * per), W, B, parts[static_cast<std::size_t>(t)]);
      });
    }
    accumulate(d, 0, std::min(d.rows, per), W, B, parts[0]);
  }
  for (std::size_t t = 1; t < parts.size(); ++t) {
    parts[0].loss += parts[t].loss;
    parts[0].g_w += parts[t].g_w;
    parts[0].g_b += parts[t].g_b;
  }
  return std::move(parts[0]);
}

// The objective in the solver's coordinates. The model sees x' = (x - m) / d (the scaler);
// the solver's variables are V = U * t (per feature) and c' = c + U mu', where mu', sigma'
// are the mean and std of x' and t = sqrt(sigma'^2 + 4/(nC)). This exact change of
// variables centres and balances the problem, so L-BFGS converges on raw, badly scaled
// features as fast as on standardised ones, without copying or modifying the data.
class Objective {
 public:
  Objective(const data::DataView& d, Index K, const StandardScaler& model_scaler,
            const StandardScaler& data_stats, const FitOptions& options)
      : d_(d), K_(K), C_(options.C), threads_(options.threads), progress_(options.progress),
        m_(model_scaler.mean), scale_(model_scaler.scale) {
    const double n = static_cast<double>(d.rows);
    mu_ = ((data_stats.mean - m_).array() / scale_.array()).matrix();
    const Eigen::ArrayXd sigma = data_stats.scale.array() / scale_.array();
    t_ = (sigma.square() + 4.0 / (n * C_)).sqrt().matrix();
  }

  Index size() const { return K_ * d_.cols + K_; }

  // Model coordinates (U, c) from solver variables.
  void to_model(const VectorXd& theta, MatrixXd& U, VectorXd& c) const {
    const Eigen::Map<const MatrixXd> V(theta.data(), K_, d_.cols);
    U = (V.array().rowwise() / t_.transpose().array()).matrix();
    c = theta.tail(K_) - U * mu_;
  }

  double operator()(const VectorXd& theta, VectorXd& grad) {
    MatrixXd U;
    VectorXd c;
    to_model(theta, U, c);
    const MatrixXd W = (U.array().rowwise() / scale_.transpose().array()).matrix();
    const VectorXd B = c - W * m_;
    const Partial p = loss_and_gradient(d_, W, B, threads_);
    const double n = static_cast<double>(d_.rows);
    const double f = p.loss + U.squaredNorm() / (2.0 * C_);
    MatrixXd gU = ((p.g_w - p.g_b * m_.transpose()).array().rowwise() / scale_.transpose().array()).matrix() -
                  p.g_b * mu_.transpose();
    gU += U / C_;
    grad.resize(size());
    Eigen::Map<MatrixXd>(grad.data(), K_, d_.cols) =
        (gU.array().rowwise() / t_.transpose().array()).matrix() / n;
    grad.tail(K_) = p.g_b / n;
    ++evaluations_;
    if (!std::isfinite(f)) return std::numeric_limits<double>::infinity();
    if (f < best_f_) {
      best_f_ = f;
      best_theta_ = theta;
      best_gnorm_ = grad.norm();
    }
    if (progress_) progress_({evaluations_, best_f_});
    return f / n;
  }

  const VectorXd& best_theta() const { return best_theta_; }
  double best_objective() const { return best_f_; }
  double best_gradient_norm() const { return best_gnorm_; }
  int evaluations() const { return evaluations_; }

 private:
  const data::DataView& d_;
  Index K_;
  double C_;
  int threads_;
  std::function<void(const FitProgress&)> progress_;
  VectorXd m_, scale_, mu_, t_;
  double best_f_ = std::numeric_limits<double>::infinity();
  double best_gnorm_ = std::numeric_limits<double>::infinity();
  VectorXd best_theta_;
  int evaluations_ = 0;
};

void check_options(const FitOptions& o) {
  if (!(o.C > 0) || !std::isfinite(o.C)) {
    throw Error(ErrorCode::invalid_input, fmt::format("C must be a positive number, got {}", o.C),
                "smaller C means stronger regularisation; the course uses 0.1");
  }
  if (o.max_iter < 1) {
    throw Error(ErrorCode::invalid_input, fmt::format("--max-iter must be at least 1, got {}", o.max_iter));
  }
  if (!(o.tol > 0)) {
    throw Error(ErrorCode::invalid_input, fmt::format("--tol must be positive, got {}", o.tol));
  }
}

}  // namespace

FitResult LogisticRegression::fit(const data::DataView& d, int n_classes, const FitOptions& options) {
  check_options(options);
  if (n_classes < 2 || d.rows < 1) {
    throw Error(ErrorCode::invalid_input, "logistic regression needs at least two classes and one row");
  }
  const Index K = n_classes == 2 ? 1 : n_classes;
  const StandardScaler stats = StandardScaler::fit(d);
  const StandardScaler model_scaler = options.standardize ? stats : StandardScaler::identity(d.cols);
  Objective objective(d, K, model_scaler, stats, options);

  LBFGSpp::LBFGSParam<double> param;
  param.m = 10;
  param.epsilon = options.tol;
  param.epsilon_rel = 0;
  param.max_iterations = options.max_iter;
  param.linesearch = LBFGSpp::LBFGS_LINESEARCH_BACKTRACKING_STRONG_WOLFE;
  param.max_linesearch = 60;

  FitResult result;
  VectorXd theta = VectorXd::Zero(objective.size());
  // L-BFGS's line search gives up when double precision cannot lower the objective any
  // further; then we restart from the best point seen, and stop when a restart makes no
  // progress either (the minimum is reached to machine precision).
  double previous_best = std::numeric_limits<double>::infinity();
  for (int attempt = 0; attempt < 5 && result.iterations < options.max_iter; ++attempt) {
    double fx = 0;
    const int before = objective.evaluations();
    param.max_iterations = options.max_iter - result.iterations;
    LBFGSpp::LBFGSSolver<double, LBFGSpp::LineSearchNocedalWright> solver(param);
    try {
      result.iterations += solver.minimize(objective, theta, fx);
      break;
    } catch (const std::exception& e) {
      result.iterations += std::max(1, (objective.evaluations() - before) / 2);
      logging::debug("L-BFGS stopped early ({}); best objective {:.12g}", e.what(),
                     objective.best_objective());
      theta = objective.best_theta();
      if (objective.best_gradient_norm() <= options.tol ||
          objective.best_objective() >= previous_best * (1 - 1e-15)) {
        result.converged = true;
        break;
      }
      previous_best = objective.best_objective();
    }
  }
  theta = objective.best_theta();
  result.objective = objective.best_objective();
  result.evaluations = objective.evaluations();
  result.gradient_norm = objective.best_gradient_norm();
  result.converged = result.converged || result.gradient_norm <= options.tol;

  MatrixXd U;
  VectorXd c;
  objective.to_model(theta, U, c);
  set_parameters(std::move(U), std::move(c), model_scaler, n_classes);
  return result;
}

void LogisticRegression::set_parameters(MatrixXd coefficients, VectorXd intercepts,
                                        StandardScaler scaler, int n_classes) {
  const Index rows = n_classes == 2 ? 1 : n_classes;
  if (n_classes < 2 || coefficients.rows() != rows || intercepts.size() != rows ||
      scaler.mean.size() != coefficients.cols() || scaler.scale.size() != coefficients.cols()) {
    throw Error(ErrorCode::corrupt,
                fmt::format("inconsistent model shapes: {} classes, coefficients {}x{}, {} intercepts, "
                            "scaler of {} features",
                            n_classes, coefficients.rows(), coefficients.cols(), intercepts.size(),
                            scaler.mean.size()));
  }
  n_classes_ = n_classes;
  coefficients_ = std::move(coefficients);
  intercepts_ = std::move(intercepts);
  scaler_ = std::move(scaler);
  fold_scaler();
}

void LogisticRegression::fold_scaler() {
  raw_coefficients_ = (coefficients_.array().rowwise() / scaler_.scale.transpose().array()).matrix();
  raw_intercepts_ = intercepts_ - raw_coefficients_ * scaler_.mean;
}

void LogisticRegression::predict_proba_row(const double* x, double* out) const {
  const Eigen::Map<const VectorXd> row(x, n_features());
  if (n_classes_ == 2) {
    const double z = raw_coefficients_.row(0).dot(row) + raw_intercepts_[0];
    const double p = z >= 0 ? 1.0 / (1.0 + std::exp(-z)) : std::exp(z) / (1.0 + std::exp(z));
    out[0] = 1.0 - p;
    out[1] = p;
    return;
  }
  Eigen::Map<VectorXd> probs(out, n_classes_);
  probs.noalias() = raw_coefficients_ * row + raw_intercepts_;
  const double top = probs.maxCoeff();
  probs = (probs.array() - top).exp();
  probs /= probs.sum();
}

MatrixXd LogisticRegression::predict_proba(const Eigen::Ref<const data::RowMatrix>& x) const {
  MatrixXd probs(x.rows(), n_classes_);
  Eigen::VectorXd row(n_classes_);
  for (Index i = 0; i < x.rows(); ++i) {
    const Eigen::VectorXd features = x.row(i).transpose();
    predict_proba_row(features.data(), row.data());
    probs.row(i) = row.transpose();
  }
  return probs;
}

double LogisticRegression::objective(const data::DataView& d, double C) const {
  const Partial p = loss_and_gradient(d, raw_coefficients_, raw_intercepts_, 0);
  return p.loss + coefficients_.squaredNorm() / (2.0 * C);
}

}  // namespace mlops::model
