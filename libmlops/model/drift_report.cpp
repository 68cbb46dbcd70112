#include "libmlops/model/drift_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "libmlops/core/error.hpp"
#include "libmlops/observability/drift.hpp"

namespace mlops::model {

double ks_p_value(double d, double n_effective) {
  if (n_effective <= 0 || d <= 0) return 1;
  const double root = std::sqrt(n_effective);
  const double lambda = (root + 0.12 + 0.11 / root) * d;
  if (lambda < 0.2) return 1;
  double sum = 0;
  for (int j = 1; j <= 100; ++j) {
    const double term = std::exp(-2.0 * j * j * lambda * lambda);
    sum += (j % 2 ? 2 : -2) * term;
    if (term < 1e-12) break;
  }
  return std::clamp(sum, 0.0, 1.0);
}

namespace {

// The regularized lower incomplete gamma P(a, x) (Numerical Recipes' series and continued
// fraction), for the chi-square tail.
double gamma_p(double a, double x) {
  if (x <= 0) return 0;
  const double log_front = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1) {
    double term = 1 / a, sum = term;
    for (int n = 1; n < 1000 && std::abs(term) > std::abs(sum) * 1e-15; ++n) {
      term *= x / (a + n);
      sum += term;
    }
    return std::min(1.0, sum * std::exp(log_front));
  }
  double b = x + 1 - a, c = 1e300, d = 1 / b, h = d;
  for (int i = 1; i < 1000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (std::abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < 1e-15) break;
  }
  return std::max(0.0, 1 - std::exp(log_front) * h);
}

std::vector<double> bin_fractions(const FeatureBaseline& b, const std::vector<double>& column) {
  std::vector<double> f(b.fractions.size(), 0.0);
  for (double v : column) f[bin_of(b, v)] += 1;
  for (double& x : f) x /= static_cast<double>(std::max<std::size_t>(1, column.size()));
  return f;
}

std::vector<double> column_of(const data::FeatureTable& t, std::size_t j, std::size_t width) {
  std::vector<double> out(t.rows);
  for (std::size_t r = 0; r < t.rows; ++r) out[r] = t.values[r * width + j];
  return out;
}

double mean_of(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// Two-sample KS statistic of sorted samples.
double ks_two_sample(const std::vector<double>& a, const std::vector<double>& b) {
  std::size_t i = 0, j = 0;
  double d = 0;
  while (i < a.size() && j < b.size()) {
    const double v = std::min(a[i], b[j]);
    while (i < a.size() && a[i] <= v) ++i;
    while (j < b.size() && b[j] <= v) ++j;
    d = std::max(d, std::abs(static_cast<double>(i) / static_cast<double>(a.size()) -
                             static_cast<double>(j) / static_cast<double>(b.size())));
  }
  return d;
}

// The largest gap of the cumulative shares at the bin edges.
double ks_binned(const std::vector<double>& reference, const std::vector<double>& current) {
  double a = 0, b = 0, d = 0;
  for (std::size_t i = 0; i + 1 < reference.size(); ++i) {
    a += reference[i];
    b += current[i];
    d = std::max(d, std::abs(a - b));
  }
  return d;
}

std::vector<double> predicted_shares(const ModelArtifact& m, const data::FeatureTable& t, std::size_t width) {
  const std::size_t k = m.classes.size();
  std::vector<double> share(k, 0.0), probs(k);
  for (std::size_t r = 0; r < t.rows; ++r) {
    m.model.predict_proba_row(&t.values[r * width], probs.data());
    share[static_cast<std::size_t>(std::max_element(probs.begin(), probs.end()) - probs.begin())] += 1;
  }
  for (double& s : share) s /= static_cast<double>(std::max<std::size_t>(1, t.rows));
  return share;
}

}  // namespace

std::vector<double> test_prediction_shares(const ModelArtifact& m) {
  const auto& confusion = m.metrics.confusion;
  if (confusion.size() != m.classes.size() || m.metrics.samples <= 0) return {};
  std::vector<double> share(m.classes.size(), 0.0);
  for (const auto& row : confusion) {
    for (std::size_t c = 0; c < row.size() && c < share.size(); ++c) share[c] += static_cast<double>(row[c]);
  }
  for (double& s : share) s /= static_cast<double>(m.metrics.samples);
  return share;
}

double chi_square_p_value(double x, double dof) {
  if (dof <= 0) return 1;
  return std::clamp(1 - gamma_p(dof / 2, x / 2), 0.0, 1.0);
}

DriftReport drift_report(const ModelArtifact& m, const data::FeatureTable& current, const data::FeatureTable* reference,
                         const std::string& reference_name, const DriftReportOptions& options) {
  const std::size_t width = m.feature_names.size();
  if (current.rows == 0) throw Error(ErrorCode::invalid_input, "the data to check has no rows");
  if (current.values.size() != current.rows * width || (reference && reference->values.size() != reference->rows * width)) {
    throw Error(ErrorCode::invalid_input, fmt::format("the data's columns do not match the model's {} features", width));
  }
  if (reference && reference->rows == 0) throw Error(ErrorCode::invalid_input, "the reference data has no rows");
  if (m.baseline.size() != width) {
    throw Error(ErrorCode::invalid_input, "the model carries no training baseline to compare with",
                "retrain it with this mlops, or give --reference TRAINING.csv");
  }
  DriftReport report;
  report.options = options;
  report.reference = reference ? reference_name : "training baseline";
  report.current_rows = current.rows;
  report.reference_rows = reference ? reference->rows : static_cast<std::size_t>(m.data.value("rows", 0));
  for (std::size_t j = 0; j < width; ++j) {
    const FeatureBaseline& b = m.baseline[j];
    FeatureDriftResult f;
    f.name = m.feature_names[j];
    f.bin_edges = b.bin_edges;
    std::vector<double> now = column_of(current, j, width);
    f.current_mean = mean_of(now);
    f.current_fractions = bin_fractions(b, now);
    if (reference) {
      std::vector<double> before = column_of(*reference, j, width);
      f.reference_mean = mean_of(before);
      f.reference_fractions = bin_fractions(b, before);
      std::sort(now.begin(), now.end());
      std::sort(before.begin(), before.end());
      f.ks_statistic = ks_two_sample(before, now);
      const double n = static_cast<double>(now.size()), r = static_cast<double>(before.size());
      f.p_value = ks_p_value(f.ks_statistic, n * r / (n + r));
    } else {
      f.reference_mean = b.mean;
      f.reference_fractions = b.fractions;
      f.ks_statistic = ks_binned(b.fractions, f.current_fractions);
      f.p_value = ks_p_value(f.ks_statistic, static_cast<double>(now.size()));
    }
    f.psi = observability::psi(f.reference_fractions, f.current_fractions);
    f.drifted = f.p_value < options.alpha && f.psi > options.min_psi;
    report.drifted_features += f.drifted;
    report.features.push_back(std::move(f));
  }
  report.drifted_share = static_cast<double>(report.drifted_features) / static_cast<double>(width);
  report.dataset_drift = report.drifted_share >= options.drift_share;

  PredictionDriftResult& p = report.prediction;
  p.classes = m.classes;
  p.current_share = predicted_shares(m, current, width);
  if (reference) {
    p.reference_share = predicted_shares(m, *reference, width);
  } else {
    p.reference_share = test_prediction_shares(m);
  }
  if (!p.reference_share.empty()) {
    p.available = true;
    p.psi = observability::psi(p.reference_share, p.current_share);
    const double n = static_cast<double>(current.rows);
    for (std::size_t c = 0; c < p.classes.size(); ++c) {
      const double expected = std::max(1e-4, p.reference_share[c]) * n;  // floored as in psi: a class never seen stays finite
      const double observed = p.current_share[c] * n;
      p.chi_square += (observed - expected) * (observed - expected) / expected;
    }
    p.p_value = chi_square_p_value(p.chi_square, static_cast<double>(p.classes.size()) - 1);
    p.drifted = p.p_value < options.alpha && p.psi > options.min_psi;
  }
  return report;
}

}  // namespace mlops::model
