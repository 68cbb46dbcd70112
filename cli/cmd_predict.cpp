// cli: `mlops predict` — offline prediction for one row or a whole CSV (batch scoring).
#include <fmt/format.h>

#include <charconv>

#include "cli/command.hpp"
#include "cli/mlflow_support.hpp"
#include "cli/output.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/fs.hpp"
#include "libmlops/data/csv.hpp"
#include "libmlops/registry/model_uri.hpp"

namespace mlops::cli {
namespace {

struct PredictOptions {
  std::string model;
  std::string features;
  std::string data;
  std::string output;
};

std::vector<double> parse_features(const std::string& text) {
  std::vector<double> values;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(',', start), text.size());
    std::string cell = text.substr(start, end - start);
    cell.erase(0, cell.find_first_not_of(' '));
    cell.erase(cell.find_last_not_of(' ') + 1);
    double v = 0;
    const auto [ptr, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
    if (cell.empty() || ec != std::errc() || ptr != cell.data() + cell.size() || !std::isfinite(v)) {
      throw Error(ErrorCode::invalid_input,
                  fmt::format("--features value {} ('{}') is not a finite number", values.size() + 1, cell),
                  "pass comma-separated numbers, e.g. --features 1.5,2,3");
    }
    values.push_back(v);
    start = end + 1;
  }
  return values;
}


nlohmann::json prediction_json(const model::ModelArtifact& a, const double* probs) {
  Eigen::Index best = 0;
  for (Eigen::Index k = 1; k < static_cast<Eigen::Index>(a.classes.size()); ++k) {
    if (probs[k] > probs[best]) best = k;
  }
  nlohmann::json by_class = nlohmann::json::object();
  for (std::size_t k = 0; k < a.classes.size(); ++k) by_class[a.classes[k]] = probs[k];
  return {{"prediction", a.class_label(best)}, {"probability", probs[best]}, {"probabilities", by_class}};
}

int run_predict(const PredictOptions& opt, Context& ctx) {
  const config::Settings& s = ctx.settings;
  std::string uri = opt.model.empty() ? registry::default_model_uri(s) : opt.model;
  if (uri.empty()) uri = s.get("MODEL_PATH");  // not there: the error below says so
  registry::ResolvedModel resolved;
  const model::ModelArtifact a = mlflow::load_any_model(uri, model_sources(s), &resolved);
  const auto n_features = static_cast<std::size_t>(a.model.n_features());
  std::vector<double> probs(a.classes.size());
  if (!opt.features.empty()) {
    const std::vector<double> x = parse_features(opt.features);
    if (x.size() != n_features) {
      throw Error(ErrorCode::invalid_input,
                  fmt::format("the model expects {} features ({}), got {}", n_features,
                              fmt::join(a.feature_names, ", "), x.size()),
                  "pass one value per feature, in that order");
    }
    a.model.predict_proba_row(x.data(), probs.data());
    nlohmann::json j = prediction_json(a, probs.data());
    j["model_version"] = a.model_version;
    j["model_uri"] = uri;
    if (ctx.json) {
      print_json(j);
    } else {
      print(fmt::format("prediction {} (probability {:.4f}) from {} {}\n", j["prediction"].dump(),
                        j["probability"].get<double>(), uri, a.model_version));
    }
    return kExitOk;
  }
  const data::FeatureTable table = data::read_feature_csv(opt.data, a.feature_names);
  std::string csv = "row,prediction,probability";
  for (const std::string& c : a.classes) csv += ",p_" + data::csv_escape(c);
  csv += "\n";
  std::vector<Eigen::Index> counts(a.classes.size(), 0);
  for (std::size_t i = 0; i < table.rows; ++i) {
    a.model.predict_proba_row(&table.values[i * n_features], probs.data());
    const auto best = static_cast<std::size_t>(std::max_element(probs.begin(), probs.end()) - probs.begin());
    ++counts[best];
    csv += fmt::format("{},{},{:.6f}", i + 1, data::csv_escape(a.classes[best]), probs[best]);
    for (double p : probs) csv += fmt::format(",{:.6f}", p);
    csv += "\n";
  }
  if (!opt.output.empty()) write_file_atomic(opt.output, csv);
  if (ctx.json) {
    nlohmann::json by_class = nlohmann::json::object();
    for (std::size_t k = 0; k < counts.size(); ++k) by_class[a.classes[k]] = counts[k];
    print_json({{"rows", table.rows}, {"model_uri", uri}, {"model_version", a.model_version},
                {"output", opt.output}, {"predicted_classes", by_class}});
  } else if (opt.output.empty()) {
    print(csv);
  } else {
    print(fmt::format("Scored {} rows with {} {} -> {}\n", table.rows, uri, a.model_version, opt.output));
  }
  return kExitOk;
}

}  // namespace

Command add_predict_command(CLI::App& root, Globals& globals) {
  auto opt = std::make_shared<PredictOptions>();
  CLI::App* app = root.add_subcommand("predict", "Predict offline: one row (--features) or a CSV (--data)");
  app->footer(
      "The model defaults to MODEL_URI, else models:/MODEL_NAME@production when the registry has it, else MODEL_PATH.\n"
      "Example: mlops predict --model models:/ChurnPredictionModel/1 --features 5,1,7,2,3,4,1,8,2,6");
  app->add_option("--model,-m", opt->model, "models:/NAME/VERSION|STAGE|latest, models:/NAME@ALIAS, mlflow:models:/... or a file\n"
                                      "(default: MODEL_URI, else the production alias, else MODEL_PATH)");
  auto* features = app->add_option("--features", opt->features, "Comma-separated feature values of one row");
  auto* data = app->add_option("--data", opt->data, "CSV of rows to score (columns by name, or in order)");
  app->add_option("--output,-o", opt->output, "With --data: write predictions to this CSV")->needs(data);
  features->excludes(data);
  add_json_flag(app, globals);
  return {app, [opt](Context& ctx) {
            if (opt->features.empty() && opt->data.empty()) {
              print_usage_error("give --features V1,V2,... or --data FILE.csv", "predict");
              return kExitUsage;
            }
            return run_predict(*opt, ctx);
          }};
}

}  // namespace mlops::cli
