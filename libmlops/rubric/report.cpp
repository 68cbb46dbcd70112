#include "libmlops/rubric/report.hpp"

#include <fmt/format.h>

#include "libmlops/core/xml.hpp"
#include "libmlops/data/csv.hpp"

namespace mlops::rubric {
namespace {

std::string cell(std::string s) {  // a Markdown table cell
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else {
      out += c == '\n' ? ' ' : c;
    }
  }
  return out;
}

// Weight of a module in the total, as a share of 1.
double share(const Results& r, const ModuleResult& m) {
  double weights = 0;
  for (const ModuleResult& each : r.modules) weights += each.weight;
  return weights > 0 ? m.weight / weights : 0;
}

}  // namespace

std::string to_junit(const Results& r) {
  int tests = 0, failures = 0, skipped = 0;
  std::string suites;
  for (const ModuleResult& m : r.modules) {
    int f = 0, s = 0;
    std::string cases;
    double seconds = 0;
    for (const CriterionResult& c : m.criteria) {
      seconds += c.seconds;
      cases += fmt::format(R"(    <testcase classname="{}" name="{}" time="{:.3f}")", xml_escape(m.id), xml_escape(c.id + " " + c.text), c.seconds);
      if (c.status == "fail") {
        ++f;
        cases += fmt::format(">\n      <failure message=\"{}\"/>\n    </testcase>\n", xml_escape(c.reason));
      } else if (c.status == "manual") {
        ++s;
        cases += fmt::format(">\n      <skipped message=\"{}\"/>\n    </testcase>\n", xml_escape(c.reason));
      } else {
        cases += "/>\n";
      }
    }
    suites += fmt::format(R"(  <testsuite name="{}" tests="{}" failures="{}" errors="0" skipped="{}" time="{:.3f}">)" "\n{}  </testsuite>\n",
                          xml_escape(m.id + " " + m.title), m.criteria.size(), f, s, seconds, cases);
    tests += static_cast<int>(m.criteria.size());
    failures += f;
    skipped += s;
  }
  return fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">\n{}</testsuites>\n",
                     xml_escape(fmt::format("rubric {} ({:.1f}%)", r.rubric, r.score)), tests, failures, skipped, suites);
}

std::string to_markdown(const Results& r) {
  std::string md = fmt::format("## Rubric: {:.1f}% — {}\n\n", r.score, r.passed ? "✅ passed" : "❌ below the pass mark");
  md += fmt::format("Pass mark {:g}% · rubric `{}`\n\n", r.threshold, r.rubric);
  for (const ModuleResult& m : r.modules) {
    md += fmt::format("### {} {} — {:.0f}%\n\n| | criterion | points | detail |\n|---|---|---|---|\n", m.id, cell(m.title), m.score);
    for (const CriterionResult& c : m.criteria) {
      const char* mark = c.status == "pass" ? "✅" : c.status == "fail" ? "❌" : "✍️";
      md += fmt::format("| {} | {} {} | {:g}/{:g} | {} |\n", mark, c.id, cell(c.text), c.earned, c.points,
                        c.status == "pass" ? "" : cell(c.reason));
    }
    md += "\n";
  }
  return md;
}

std::string to_csv(const std::vector<Results>& rs) {
  std::vector<std::string> modules;
  for (const Results& r : rs) {
    for (const ModuleResult& m : r.modules) {
      if (std::find(modules.begin(), modules.end(), m.id) == modules.end()) modules.push_back(m.id);
    }
  }
  std::string out = "workspace,score,passed";
  for (const auto& id : modules) {
    out += ',';
    out += data::csv_escape(id);
  }
  out += "\n";
  for (const Results& r : rs) {
    out += fmt::format("{},{:.2f},{}", data::csv_escape(r.workspace), r.score, r.passed ? "true" : "false");
    for (const auto& id : modules) {
      std::string score;
      for (const ModuleResult& m : r.modules) {
        if (m.id == id) score = fmt::format("{:.2f}", m.score);
      }
      out += ',';
      out += score;
    }
    out += "\n";
  }
  return out;
}

nlohmann::json to_gradescope(const Results& r) {
  nlohmann::json tests = nlohmann::json::array();
  for (const ModuleResult& m : r.modules) {
    const double module_max = 100 * share(r, m);
    for (const CriterionResult& c : m.criteria) {
      const double max = m.points > 0 ? module_max * c.points / m.points : 0;
      tests.push_back({{"name", fmt::format("{} {} {}", m.id, c.id, c.text)},
                       {"score", m.points > 0 ? module_max * c.earned / m.points : 0},
                       {"max_score", max},
                       {"status", c.status == "pass" ? "passed" : "failed"},
                       {"output", c.reason},
                       {"visibility", "visible"}});
    }
  }
  return {{"score", r.score}, {"max_score", 100}, {"output", fmt::format("Rubric {}: {:.1f}%", r.rubric, r.score)},
          {"stdout_visibility", "visible"}, {"tests", tests}};
}

}  // namespace mlops::rubric
