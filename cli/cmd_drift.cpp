// cli: `mlops drift` — an offline data-drift report of a CSV against the model's training
// data: a table, JSON, or an HTML page with inline SVG histograms; exit 4 on dataset drift.
#include <fmt/format.h>

#include <cmath>

#include "cli/command.hpp"
#include "cli/mlflow_support.hpp"
#include "cli/output.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/fs.hpp"
#include "libmlops/core/xml.hpp"
#include "libmlops/model/drift_report.hpp"
#include "libmlops/registry/model_uri.hpp"

namespace mlops::cli {
namespace {

struct DriftOptions {
  std::string data;
  std::string reference;
  std::string model;
  std::string format = "table";
  std::string out;
  model::DriftReportOptions report;
};

nlohmann::json to_json(const model::DriftReport& r, const std::string& uri) {
  nlohmann::json features = nlohmann::json::array();
  for (const auto& f : r.features) {
    features.push_back({{"feature", f.name}, {"reference_mean", f.reference_mean}, {"current_mean", f.current_mean},
                        {"psi", f.psi}, {"ks_statistic", f.ks_statistic}, {"p_value", f.p_value}, {"drifted", f.drifted},
                        {"bin_edges", f.bin_edges}, {"reference_fractions", f.reference_fractions},
                        {"current_fractions", f.current_fractions}});
  }
  const auto& p = r.prediction;
  nlohmann::json prediction = nullptr;
  if (p.available) {
    prediction = {{"classes", p.classes}, {"reference_share", p.reference_share}, {"current_share", p.current_share},
                  {"psi", p.psi}, {"chi_square", p.chi_square}, {"p_value", p.p_value}, {"drifted", p.drifted}};
  }
  return {{"model_uri", uri},
          {"reference", r.reference},
          {"reference_rows", r.reference_rows},
          {"current_rows", r.current_rows},
          {"features", features},
          {"drifted_features", r.drifted_features},
          {"drifted_share", r.drifted_share},
          {"dataset_drift", r.dataset_drift},
          {"prediction_drift", prediction},
          {"alpha", r.options.alpha},
          {"min_psi", r.options.min_psi},
          {"drift_share", r.options.drift_share}};
}

std::string table(const model::DriftReport& r) {
  Table t({"feature", "reference mean", "current mean", "PSI", "KS", "p-value", "drifted"});
  for (const auto& f : r.features) {
    t.add_row({f.name, format_number(f.reference_mean), format_number(f.current_mean), fmt::format("{:.3f}", f.psi),
               fmt::format("{:.3f}", f.ks_statistic), fmt::format("{:.3g}", f.p_value), f.drifted ? "DRIFT" : "-"});
  }
  std::string out = t.render();
  const auto& p = r.prediction;
  if (p.available) {
    out += fmt::format("\nPrediction drift: PSI {:.3f}, chi-square p-value {:.3g}: {}\n", p.psi, p.p_value,
                       p.drifted ? "DRIFT" : "none");
    for (std::size_t c = 0; c < p.classes.size(); ++c) {
      out += fmt::format("  class {}: {:.1f}% of predictions (reference {:.1f}%)\n", p.classes[c], p.current_share[c] * 100,
                         p.reference_share[c] * 100);
    }
  }
  out += fmt::format("\n{} of {} features drifted ({:.0f}%; dataset drift at {:.0f}%): {}\n", r.drifted_features,
                     r.features.size(), r.drifted_share * 100, r.options.drift_share * 100,
                     r.dataset_drift ? "DATASET DRIFT" : "no dataset drift");
  return out;
}

// Paired bars per bin: the reference share (grey) and the current share (orange).
std::string histogram_svg(const std::vector<double>& reference, const std::vector<double>& current,
                          const std::vector<std::string>& labels) {
  const double width = 360, height = 130, top = 8, bottom = 22;
  double peak = 1e-9;
  for (double v : reference) peak = std::max(peak, v);
  for (double v : current) peak = std::max(peak, v);
  const double slot = width / static_cast<double>(std::max<std::size_t>(1, reference.size()));
  std::string svg = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img">)", width, height);
  for (std::size_t b = 0; b < reference.size(); ++b) {
    const double x = slot * static_cast<double>(b);
    for (int side = 0; side < 2; ++side) {
      const double share = side == 0 ? reference[b] : current[b];
      const double h = (height - top - bottom) * share / peak;
      svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}"><title>{}: {:.1f}%</title></rect>)",
                         x + slot * (0.1 + 0.4 * side), height - bottom - h, slot * 0.38, h, side == 0 ? "#9aa5b1" : "#e8833a",
                         side == 0 ? "reference" : "current", share * 100);
    }
    if (b < labels.size()) {
      svg += fmt::format(R"(<text x="{:.1f}" y="{}" font-size="9" text-anchor="middle" fill="#555">{}</text>)", x + slot / 2,
                         height - 8, xml_escape(labels[b]));
    }
  }
  return svg + "</svg>";
}

std::string html(const model::DriftReport& r, const std::string& data_path, const std::string& uri) {
  std::string body = fmt::format(
      R"(<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Data drift report</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px;color:#222}}table{{border-collapse:collapse}}td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}}
th:first-child,td:first-child{{text-align:left}}.drift{{color:#b3261e;font-weight:bold}}.ok{{color:#2e7d32}}.cards{{display:flex;flex-wrap:wrap;gap:16px}}
.card{{border:1px solid #ddd;border-radius:6px;padding:8px}}.legend span{{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}}</style></head><body>
<h1>Data drift report / 資料漂移報告</h1>
<p>Current data: <b>{}</b> ({} rows) against <b>{}</b> ({} rows); model <code>{}</code>.</p>
<p id="verdict" class="{}">{} of {} features drifted ({:.0f}%; dataset drift from {:.0f}%): <b>{}</b></p>
<p>A feature drifts when its Kolmogorov–Smirnov p-value is below {} and its PSI above {}. 特徵漂移：KS 檢定 p 值低於 {} 且 PSI 高於 {}。</p>
<table><tr><th>feature</th><th>reference mean</th><th>current mean</th><th>PSI</th><th>KS</th><th>p-value</th><th>drift</th></tr>)",
      xml_escape(data_path), r.current_rows, xml_escape(r.reference), r.reference_rows, xml_escape(uri),
      r.dataset_drift ? "drift" : "ok", r.drifted_features, r.features.size(), r.drifted_share * 100,
      r.options.drift_share * 100, r.dataset_drift ? "dataset drift / 資料集漂移" : "no dataset drift / 無資料集漂移",
      r.options.alpha, r.options.min_psi, r.options.alpha, r.options.min_psi);
  for (const auto& f : r.features) {
    body += fmt::format(R"(<tr><td>{}</td><td>{:.4g}</td><td>{:.4g}</td><td>{:.3f}</td><td>{:.3f}</td><td>{:.3g}</td><td class="{}">{}</td></tr>)",
                        xml_escape(f.name), f.reference_mean, f.current_mean, f.psi, f.ks_statistic, f.p_value,
                        f.drifted ? "drift" : "ok", f.drifted ? "drift" : "-");
  }
  body += R"(</table><h2>Distributions / 分布</h2><p class="legend"><span style="background:#9aa5b1"></span>reference<span style="background:#e8833a"></span>current</p><div class="cards">)";
  for (const auto& f : r.features) {
    std::vector<std::string> labels;
    for (std::size_t b = 0; b + 1 < f.bin_edges.size(); ++b) {
      const double edge = f.bin_edges[b];
      labels.push_back(std::abs(edge) < 1000 ? fmt::format("{:.2f}", edge) : fmt::format("{:.3g}", edge));
    }
    body += fmt::format(R"(<div class="card"><div class="{}">{} — PSI {:.3f}</div>{}</div>)", f.drifted ? "drift" : "",
                        xml_escape(f.name), f.psi, histogram_svg(f.reference_fractions, f.current_fractions, labels));
  }
  body += "</div>";
  if (r.prediction.available) {
    const auto& p = r.prediction;
    body += fmt::format(R"(<h2>Prediction drift / 預測漂移</h2><p class="{}">PSI {:.3f}, chi-square p-value {:.3g}: {}</p>)",
                        p.drifted ? "drift" : "ok", p.psi, p.p_value, p.drifted ? "drift" : "none");
    body += histogram_svg(p.reference_share, p.current_share, p.classes);
  }
  return body + "</body></html>\n";
}

int run_drift(const DriftOptions& opt, Context& ctx) {
  std::string uri = opt.model.empty() ? registry::default_model_uri(ctx.settings) : opt.model;
  if (uri.empty()) uri = ctx.settings.get("MODEL_PATH");
  const model::ModelArtifact m = mlflow::load_any_model(uri, model_sources(ctx.settings));
  const data::FeatureTable current = data::read_feature_csv(opt.data, m.feature_names);
  std::optional<data::FeatureTable> reference;
  if (!opt.reference.empty()) reference = data::read_feature_csv(opt.reference, m.feature_names);
  const model::DriftReport report =
      model::drift_report(m, current, reference ? &*reference : nullptr, opt.reference, opt.report);
  std::string text;
  if (opt.format == "html") {
    text = html(report, opt.data, uri);
  } else if (opt.format == "json" || ctx.json) {
    text = to_json(report, uri).dump(2) + "\n";
  } else {
    text = table(report);
  }
  if (opt.out.empty()) {
    print(text);
  } else {
    write_file_atomic(opt.out, text);
    if (!ctx.quiet) {
      print(fmt::format("{} of {} features drifted{}; report written to {}\n", report.drifted_features, report.features.size(),
                        report.dataset_drift ? " (dataset drift)" : "", opt.out));
    }
  }
  return report.dataset_drift ? kExitDrift : kExitOk;
}

}  // namespace

Command add_drift_command(CLI::App& root, Globals& globals) {
  auto opt = std::make_shared<DriftOptions>();
  CLI::App* app = root.add_subcommand("drift", "Report the data drift of a CSV against the model's training data (exit 4 on drift)");
  app->add_option("--data", opt->data, "The CSV to check (columns named as the model's features)")->required();
  app->add_option("--reference", opt->reference, "Compare with this CSV (e.g. the training data) instead of the\n"
                  "training baseline the model carries");
  app->add_option("--model-uri,--model", opt->model, "The model (default: MODEL_URI, else the production alias, else MODEL_PATH)");
  app->add_option("--format", opt->format, "table, json or html")->capture_default_str()->check(CLI::IsMember({"table", "json", "html"}));
  app->add_option("-o,--out", opt->out, "Write the report to this file instead of stdout");
  app->add_option("--alpha", opt->report.alpha, "A feature drifts when its KS p-value is below this ...")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app->add_option("--min-psi", opt->report.min_psi, "... and its PSI above this")->capture_default_str()->check(CLI::Range(0.0, 100.0));
  app->add_option("--drift-share", opt->report.drift_share, "Dataset drift when at least this share of the features drifted")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app->footer("Exit codes: 0 no dataset drift, 4 dataset drift (for CI), 1 an error.\n"
              "Example: mlops drift --data new.csv --format html -o drift.html");
  add_json_flag(app, globals);
  return {app, [opt](Context& ctx) { return run_drift(*opt, ctx); }};
}

}  // namespace mlops::cli
