// registry: a progressive rollout of one model — the plan (steps of candidate traffic, the
// interval, the analysis thresholds) and where it stands. Held in the registry, so every
// `serve` replica reading it follows the same rollout; the replicas analyse their traffic
// and record the decisions (see serving/rollout_follower.hpp).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlops::registry {

struct RolloutPlan {
  std::vector<double> steps = {0.1, 0.25, 0.5, 1.0};  // the candidate's share at each step, rising to 1
  double interval_seconds = 60;     // the least time at a step before it may advance
  double max_error_ratio = 0.01;    // candidate 5xx share judged above this: roll back
  double max_p95_seconds = 0.2;     // candidate p95 latency judged above this: roll back
  double max_psi = 0.2;             // candidate's largest feature PSI above this: roll back
  std::int64_t min_requests = 200;  // candidate requests a step needs before any judgment
};

// Throws Error{invalid_input} naming the field: steps empty, not rising, outside (0, 1] or
// not ending at 1; a negative interval or threshold; min_requests < 1.
void check_plan(const RolloutPlan& plan);
// The plan as the registry stores it (JSON), and back: parse_plan throws Error{invalid_input}
// naming what is missing or wrong (check_plan included).
std::string plan_text(const RolloutPlan& plan);
RolloutPlan parse_plan(std::string_view text);

enum class RolloutState { running, paused, promoted, rolled_back, aborted };
std::string_view to_string(RolloutState state);
std::optional<RolloutState> parse_rollout_state(std::string_view text);
std::string share_text(double share);  // 0.25 -> "25%"
inline bool is_active(RolloutState s) { return s == RolloutState::running || s == RolloutState::paused; }

struct Rollout {
  std::int64_t id = 0;
  std::string name;
  std::int64_t stable_version = 0;
  std::int64_t candidate_version = 0;
  RolloutPlan plan;
  std::size_t step = 0;  // index into plan.steps
  RolloutState state = RolloutState::running;
  std::int64_t started_at = 0;       // ms since the epoch
  std::int64_t step_started_at = 0;  // when the current step began (or was resumed)
  std::int64_t updated_at = 0;
  std::string reason;   // why it is where it is (the last decision)
  std::string figures;  // JSON: the analysis figures of the last decision

  // The candidate's share of traffic now: the step's while active, else 0.
  double weight() const { return is_active(state) ? plan.steps.at(step) : 0.0; }
};

// A decision on a step as the analysis made it: the step it judged (so that two replicas
// deciding at once do not both act), why, and the figures.
struct RolloutDecision {
  std::size_t step = 0;
  std::string reason;
  std::string figures;  // JSON
  std::int64_t at = 0;  // ms since the epoch; 0 = now (a decision taken from MLflow keeps its time)
};
std::int64_t decided_at(const RolloutDecision& decision);  // decision.at, or now when 0
// Whether `after` is this decision's own result (its time and reason), not another
// replica's that came first: the rollout is then as the decision left it.
inline bool made_by(const Rollout& after, const RolloutDecision& decision) {
  return decision.at != 0 && after.updated_at == decision.at && after.reason == decision.reason;
}

}  // namespace mlops::registry
