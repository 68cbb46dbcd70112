#include "libmlops/rubric/runner.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "libmlops/core/error.hpp"

namespace mlops::rubric {

Results run_rubric(const Rubric& rubric, const RunOptions& o) {
  for (const std::string& id : o.only) {
    const bool known = std::any_of(rubric.modules.begin(), rubric.modules.end(), [&](const Module& m) { return m.id == id; });
    if (!known) throw Error(ErrorCode::invalid_input, fmt::format("--only {}: the rubric has no module {}", id, id));
  }
  for (const auto& [key, points] : o.manual) {
    bool known = false;
    for (const Module& m : rubric.modules) {
      for (const Criterion& c : m.criteria) known = known || key == m.id + "." + c.id;
    }
    if (!known) throw Error(ErrorCode::invalid_input, fmt::format("manual score for {}: the rubric has no such criterion", key));
  }
  CheckContext context;
  context.workspace = std::filesystem::absolute(o.workspace).string();
  context.variables = rubric.variables;
  context.variables["workspace"] = context.workspace;
  for (const auto& [k, v] : o.variables) context.variables[k] = v;
  context.timeout_seconds = o.timeout_seconds;
  context.sandbox = o.sandbox;

  Results results;
  results.rubric = rubric.path;
  results.workspace = context.workspace;
  results.lang = o.lang;
  struct Job {
    const Check* check;
    CriterionResult* result;
  };
  std::vector<Job> jobs;
  for (const Module& m : rubric.modules) {
    if (!o.only.empty() && !o.only.count(m.id)) continue;
    ModuleResult mr{m.id, m.title.in(o.lang), m.weight, 0, 0, 0, {}};
    for (const Criterion& c : m.criteria) {
      CriterionResult cr{c.id, c.text.in(o.lang), c.badge, c.points, 0, "", "", 0};
      if (!c.check) {
        cr.status = "manual";
        const auto given = o.manual.find(m.id + "." + c.id);
        cr.earned = given == o.manual.end() ? 0 : std::clamp(given->second, 0.0, c.points);
        cr.reason = given == o.manual.end() ? "graded by hand: no score given (--manual scores.yml)"
                                            : fmt::format("graded by hand: {} of {}", cr.earned, c.points);
      }
      mr.criteria.push_back(cr);
    }
    results.modules.push_back(std::move(mr));
  }
  // Pointers into results are stable from here on.
  for (std::size_t i = 0, mi = 0; i < rubric.modules.size(); ++i) {
    const Module& m = rubric.modules[i];
    if (!o.only.empty() && !o.only.count(m.id)) continue;
    for (std::size_t j = 0; j < m.criteria.size(); ++j) {
      if (m.criteria[j].check) jobs.push_back({m.criteria[j].check.get(), &results.modules[mi].criteria[j]});
    }
    ++mi;
  }
  std::atomic<std::size_t> next{0};
  const auto worker = [&] {
    for (std::size_t k = next++; k < jobs.size(); k = next++) {
      const auto start = std::chrono::steady_clock::now();
      // Whatever a check throws becomes its criterion's reason: the report is always written.
      CheckResult r;
      try {
        r = jobs[k].check->run(context);
      } catch (const std::bad_alloc&) {
        r = {false, "the check ran out of memory (what it read is too large, or built to expand)"};
      } catch (const std::exception& e) {
        r = {false, fmt::format("the check failed: {}", e.what())};
      } catch (...) {
        r = {false, "the check failed"};
      }
      CriterionResult& cr = *jobs[k].result;
      cr.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      cr.status = r.passed ? "pass" : "fail";
      cr.earned = r.passed ? cr.points : 0;
      cr.reason = r.reason;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < std::max(1, o.jobs) && static_cast<std::size_t>(t) < jobs.size(); ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();

  double weights = 0, weighted = 0;
  for (ModuleResult& m : results.modules) {
    for (const CriterionResult& c : m.criteria) {
      m.points += c.points;
      m.earned += c.earned;
    }
    m.score = m.points > 0 ? 100 * m.earned / m.points : 0;
    weights += m.weight;
    weighted += m.weight * m.score;
  }
  results.score = weights > 0 ? weighted / weights : 0;
  results.threshold = o.fail_under >= 0 ? o.fail_under : rubric.pass_score;
  results.passed = results.score + 1e-9 >= results.threshold;
  return results;
}

nlohmann::json to_json(const Results& r) {
  nlohmann::json modules = nlohmann::json::array();
  for (const ModuleResult& m : r.modules) {
    nlohmann::json criteria = nlohmann::json::array();
    for (const CriterionResult& c : m.criteria) {
      criteria.push_back({{"id", c.id}, {"text", c.text}, {"badge", c.badge}, {"points", c.points}, {"earned", c.earned},
                          {"status", c.status}, {"reason", c.reason}, {"seconds", c.seconds}});
    }
    modules.push_back({{"id", m.id}, {"title", m.title}, {"weight", m.weight}, {"points", m.points}, {"earned", m.earned},
                       {"score", m.score}, {"criteria", criteria}});
  }
  return {{"schema", "mlops.rubric-results/1"}, {"rubric", r.rubric}, {"workspace", r.workspace}, {"lang", r.lang},
          {"score", r.score}, {"threshold", r.threshold}, {"passed", r.passed}, {"modules", modules}};
}

std::map<std::string, double> load_manual_scores(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw Error(ErrorCode::invalid_input, fmt::format("cannot read manual scores {}", path));
  } catch (const YAML::ParserException& e) {
    throw Error(ErrorCode::invalid_input, fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
  }
  std::map<std::string, double> out;
  if (!root.IsMap()) throw Error(ErrorCode::invalid_input, fmt::format("{}: manual scores are {{MODULE: {{CRITERION: points}}}}", path));
  for (const auto& module : root) {
    if (!module.second.IsMap()) {
      throw Error(ErrorCode::invalid_input, fmt::format("{}:{}: {} maps criteria to points", path, module.second.Mark().line + 1,
                                                        module.first.as<std::string>()));
    }
    for (const auto& c : module.second) {
      try {
        out[module.first.as<std::string>() + "." + c.first.as<std::string>()] = c.second.as<double>();
      } catch (const YAML::Exception&) {
        throw Error(ErrorCode::invalid_input, fmt::format("{}:{}: points must be a number", path, c.second.Mark().line + 1));
      }
    }
  }
  return out;
}

}  // namespace mlops::rubric
