// cli: `mlops eval-rubric` — grade a workspace against the course rubric (M6).
#include <fmt/format.h>

#include <set>
#include <glob.h>

#include <algorithm>


#include "cli/command.hpp"
#include "cli/output.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/fs.hpp"
#include "libmlops/core/text.hpp"
#include "libmlops/rubric/process.hpp"
#include "libmlops/rubric/report.hpp"
#include "libmlops/rubric/runner.hpp"

namespace mlops::cli {
namespace {

struct EvalOptions {
  std::string rubric = "rubric/rubric.yml";
  std::string workspace = ".";
  std::string workspaces;  // a glob: grade every matching folder (a class)
  std::string server, crm, prometheus, mlflow, only, format = "table", out, lang = "en", manual;
  std::vector<std::string> vars;
  std::vector<std::string> also;  // FORMAT=FILE: further reports of the same run
  std::optional<double> fail_under;
  double timeout = 10;
  int jobs = 4;
  bool no_sandbox = false;
  rubric::Sandbox sandbox;
};

// True when a check of the rubric (or one nested in all_of/any_of) runs a command.
bool runs_commands(const rubric::Rubric& r) {
  for (const rubric::Module& m : r.modules) {
    for (const rubric::Criterion& c : m.criteria) {
      if (c.check && c.check->runs_commands()) return true;
    }
  }
  return false;
}

std::string render_table(const rubric::Results& r) {
  const bool zh = r.lang == "zh-TW";
  std::string text;
  for (const rubric::ModuleResult& m : r.modules) {
    text += fmt::format("{} {} — {:.0f}% ({:g}/{:g} points, weight {:g})\n", m.id, m.title, m.score, m.earned, m.points, m.weight);
    Table t({"", zh ? "項目" : "criterion", zh ? "得分" : "points", zh ? "說明" : "detail"});
    for (const rubric::CriterionResult& c : m.criteria) {
      const std::string mark = c.status == "pass" ? "PASS" : c.status == "fail" ? "FAIL" : "HAND";
      t.add_row({mark, c.id + " " + c.text, fmt::format("{:g}/{:g}", c.earned, c.points), c.status == "pass" ? "" : c.reason});
    }
    text += t.render(2) + "\n";
  }
  text += fmt::format("{} {:.1f}% ({} {:g}%): {}\n", zh ? "總分" : "Total", r.score, zh ? "門檻" : "pass mark", r.threshold,
                      r.passed ? (zh ? "通過 PASS" : "PASS") : (zh ? "未通過 FAIL" : "FAIL"));
  return text;
}

// The folders matching a glob, sorted. Error{invalid_input} when none matches.
std::vector<std::string> expand_glob(const std::string& pattern) {
  glob_t g{};
  std::vector<std::string> out;
  if (::glob(pattern.c_str(), GLOB_ONLYDIR | GLOB_MARK, nullptr, &g) == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  if (out.empty()) throw Error(ErrorCode::invalid_input, fmt::format("--workspaces '{}' matches no folder", pattern));
  std::sort(out.begin(), out.end());
  return out;
}

const std::set<std::string> kFormats = {"table", "json", "junit", "markdown", "csv", "gradescope"};

// One report of the results in `format`.
std::string render(const std::string& format, const std::vector<rubric::Results>& all) {
  if (format == "csv") return rubric::to_csv(all);
  if (format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : all) j.push_back(rubric::to_json(r));
    return (all.size() == 1 ? j[0] : j).dump(2) + "\n";
  }
  std::string text;
  for (const auto& r : all) {
    if (all.size() > 1) text += fmt::format("== {} ==\n", r.workspace);
    text += format == "junit"        ? rubric::to_junit(r)
            : format == "markdown"   ? rubric::to_markdown(r)
            : format == "gradescope" ? rubric::to_gradescope(r).dump(2) + "\n"
                                     : render_table(r);
  }
  return text;
}

int run(const EvalOptions& opt, Context& ctx) {
  if (opt.lang != "en" && opt.lang != "zh-TW") throw Error(ErrorCode::invalid_input, "--lang is en or zh-TW");
  const rubric::Rubric rubric = rubric::load_rubric(opt.rubric);
  rubric::RunOptions o;
  o.workspace = opt.workspace;
  o.lang = opt.lang;
  o.timeout_seconds = opt.timeout;
  o.jobs = opt.jobs;
  o.sandbox = opt.sandbox;
  o.sandbox.enabled = !opt.no_sandbox;
  // Said once here; each command check then fails with the same reason.
  if (o.sandbox.enabled && runs_commands(rubric)) {
    if (const auto why = rubric::sandbox_problem()) {
      std::fprintf(stderr, "eval-rubric: command checks will not run: the sandbox cannot start (%s).\n"
                           "hint: --no-sandbox runs them unsandboxed, for workspaces you trust\n", why->c_str());
    }
  }
  o.fail_under = opt.fail_under.value_or(-1);
  if (!opt.manual.empty()) o.manual = rubric::load_manual_scores(opt.manual);
  for (const auto& [name, value] : {std::pair{"server", opt.server}, {"crm", opt.crm}, {"prometheus", opt.prometheus}, {"mlflow", opt.mlflow}}) {
    if (!value.empty()) o.variables[name] = value;
  }
  for (const std::string& v : opt.vars) {
    const std::size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0) throw Error(ErrorCode::invalid_input, fmt::format("--var '{}' is not NAME=VALUE", v));
    o.variables[v.substr(0, eq)] = v.substr(eq + 1);
  }
  for (std::string& id : split_list(opt.only)) {
    if (!id.empty()) o.only.insert(std::move(id));
  }
  std::vector<std::string> workspaces = {opt.workspace};
  if (!opt.workspaces.empty()) workspaces = expand_glob(opt.workspaces);
  const std::string format = ctx.json ? "json" : opt.format;
  std::vector<std::pair<std::string, std::string>> extra_reports;  // format, file
  for (const std::string& also : opt.also) {
    const std::size_t eq = also.find('=');
    const std::string f = also.substr(0, eq);
    if (eq == std::string::npos || eq + 1 == also.size() || !kFormats.count(f)) {
      throw Error(ErrorCode::invalid_input, fmt::format("--also '{}' is not FORMAT=FILE", also),
                  "e.g. --also markdown=results.md --also junit=results.xml");
    }
    extra_reports.emplace_back(f, also.substr(eq + 1));
  }
  if (workspaces.size() > 1 && (format == "junit" || format == "gradescope")) {
    throw Error(ErrorCode::invalid_input, fmt::format("--format {} grades one workspace", format), "use --format csv or json for a class");
  }
  for (const auto& [f, file] : extra_reports) {
    if (workspaces.size() > 1 && (f == "junit" || f == "gradescope")) {
      throw Error(ErrorCode::invalid_input, fmt::format("--also {} grades one workspace", f), "use csv or json for a class");
    }
  }
  std::vector<rubric::Results> all;
  for (const std::string& w : workspaces) {
    o.workspace = w;
    all.push_back(rubric::run_rubric(rubric, o));
  }
  const std::string text = render(format, all);
  for (const auto& [extra_format, file] : extra_reports) {
    write_file_atomic(file, render(extra_format, all));
    if (!ctx.quiet) std::fprintf(stderr, "%s report written to %s\n", extra_format.c_str(), file.c_str());
  }
  const bool passed = std::all_of(all.begin(), all.end(), [](const rubric::Results& r) { return r.passed; });
  if (opt.out.empty()) {
    print(text);
  } else {
    write_file_atomic(opt.out, text);
    if (!ctx.quiet) {
      for (const auto& r : all) std::fprintf(stderr, "%s: %.1f%% (%s)\n", r.workspace.c_str(), r.score, r.passed ? "pass" : "below the pass mark");
      std::fprintf(stderr, "report written to %s\n", opt.out.c_str());
    }
  }
  return passed ? kExitOk : kExitFailure;
}

}  // namespace

Command add_eval_rubric_command(CLI::App& root, Globals& globals) {
  auto opt = std::make_shared<EvalOptions>();
  CLI::App* app = root.add_subcommand("eval-rubric", "Grade a workspace against the course rubric (M6)");
  app->footer(
      "Exit codes: 0 passed, 1 below the pass mark, 2 a usage or rubric error.\n"
      "Command checks run in a bubblewrap sandbox: their own processes and /proc, the system read-only,\n"
      "only the workspace (and --writable folders) writable, PATH/HOME/LANG/TERM and RUBRIC_<VAR> only.\n"
      "Examples: mlops eval-rubric --server http://127.0.0.1:8000\n"
      "          mlops eval-rubric --only M2,M4 --lang zh-TW\n"
      "          mlops eval-rubric --format json --out results.json   (the input of `mlops badge`)\n"
      "          mlops eval-rubric --workspaces 'class/*' --format csv --out grades.csv");
  app->add_option("--rubric", opt->rubric, "Rubric YAML")->capture_default_str();
  app->add_option("--workspace", opt->workspace, "The learner's project folder (checks run there)")->capture_default_str();
  app->add_option("--workspaces", opt->workspaces, "Grade every folder matching a glob, e.g. 'class/*' (with --format csv: a row each)");
  app->add_option("--server", opt->server, "{server}: the learner's mlops serve, e.g. http://127.0.0.1:8000");
  app->add_option("--crm", opt->crm, "{crm}: the CRM service URL");
  app->add_option("--prometheus", opt->prometheus, "{prometheus}: the Prometheus URL");
  app->add_option("--mlflow", opt->mlflow, "{mlflow}: the MLflow tracking URL");
  app->add_option("--var", opt->vars, "Any other rubric variable, NAME=VALUE (repeatable)");
  app->add_option("--only", opt->only, "Only these modules, e.g. M2,M3");
  app->add_option("--format", opt->format, "table, json, junit, markdown, csv or gradescope (results.json)")
      ->check(CLI::IsMember({"table", "json", "junit", "markdown", "csv", "gradescope"}))
      ->capture_default_str();
  app->add_option("--out", opt->out, "Write the report to this file instead of stdout");
  app->add_option("--also", opt->also, "Also write FORMAT=FILE from the same run (repeatable), e.g. --also junit=results.xml");
  app->add_option("--lang", opt->lang, "Texts in en or zh-TW")->capture_default_str();
  app->add_option("--fail-under", opt->fail_under, "Pass mark in percent (default: the rubric's pass_score)");
  app->add_option("--timeout", opt->timeout, "Seconds per check")->capture_default_str()->check(CLI::PositiveNumber);
  app->add_option("--jobs", opt->jobs, "Checks run at once")->capture_default_str()->check(CLI::Range(1, 64));
  app->add_flag("--no-sandbox", opt->no_sandbox,
                "Run command checks without the bubblewrap sandbox: they then see your files, processes and environment "
                "(only for workspaces you trust)");
  app->add_option("--writable", opt->sandbox.writable, "A folder besides the workspace that command checks may write (repeatable)")
      ->check(CLI::ExistingDirectory);
  app->add_option("--readable", opt->sandbox.readable,
                  "A folder under /tmp or /run that command checks may read (repeatable): the sandbox's /tmp and /run "
                  "are its own, so tools the rubric runs from there must be named")
      ->check(CLI::ExistingDirectory);
  app->add_option("--memory-limit", opt->sandbox.memory_limit_mb, "Memory per process a command check starts, in MB")
      ->capture_default_str()->check(CLI::Range(64UL, 1UL << 20));
  app->add_option("--manual", opt->manual, "Points for the criteria graded by hand: YAML {M1: {C2: 3}}");
  add_json_flag(app, globals);
  // A rubric or usage error exits 2, not 1 (which means a grade below the pass mark).
  return {app, [opt](Context& ctx) { return with_usage_errors(ctx, [&] { return run(*opt, ctx); }); }};
}

}  // namespace mlops::cli
