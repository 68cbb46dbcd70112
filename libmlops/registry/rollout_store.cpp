// registry: the rollout rows of RegistryStore (declared in registry_store.hpp). Each change
// is one transaction with its audit row and outbox events, like every registry change.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/registry/detail/journal.hpp"
#include "libmlops/registry/registry_store.hpp"
#include "libmlops/sqlite/database.hpp"

namespace mlops::registry {

namespace {

using nlohmann::json;
using sqlite::Statement;

constexpr std::string_view kColumns =
    "id, name, stable_version, candidate_version, plan, step, state, started_at, step_started_at, updated_at, reason, "
    "figures";

RolloutPlan plan_from(const std::string& text, std::int64_t id) {
  try {
    return parse_plan(text);
  } catch (const Error& e) {
    throw Error(ErrorCode::corrupt, fmt::format("rollout {} has an unreadable plan: {}", id, e.what()),
                "abort it (mlops rollout abort NAME) and start a new one");
  }
}

Rollout read_rollout(const Statement& s) {
  Rollout r;
  r.id = s.column_int64(0);
  r.name = s.column_text(1);
  r.stable_version = s.column_int64(2);
  r.candidate_version = s.column_int64(3);
  r.plan = plan_from(s.column_text(4), r.id);
  r.step = static_cast<std::size_t>(std::max<std::int64_t>(0, s.column_int64(5)));
  if (r.step >= r.plan.steps.size()) r.step = r.plan.steps.size() - 1;
  r.state = parse_rollout_state(s.column_text(6)).value_or(RolloutState::aborted);
  r.started_at = s.column_int64(7);
  r.step_started_at = s.column_int64(8);
  r.updated_at = s.column_int64(9);
  r.reason = s.column_text(10);
  r.figures = s.column_text(11);
  return r;
}

}  // namespace

std::string plan_text(const RolloutPlan& p) {
  return json{{"steps", p.steps},
              {"interval_seconds", p.interval_seconds},
              {"max_error_ratio", p.max_error_ratio},
              {"max_p95_seconds", p.max_p95_seconds},
              {"max_psi", p.max_psi},
              {"min_requests", p.min_requests}}
      .dump();
}

RolloutPlan parse_plan(std::string_view text) {
  RolloutPlan p;
  try {
    const json j = json::parse(text);
    p.steps = j.at("steps").get<std::vector<double>>();
    p.interval_seconds = j.at("interval_seconds").get<double>();
    p.max_error_ratio = j.at("max_error_ratio").get<double>();
    p.max_p95_seconds = j.at("max_p95_seconds").get<double>();
    p.max_psi = j.at("max_psi").get<double>();
    p.min_requests = j.at("min_requests").get<std::int64_t>();
  } catch (const json::exception& e) {
    throw Error(ErrorCode::invalid_input, fmt::format("not a rollout plan: {}", e.what()), "");
  }
  check_plan(p);
  return p;
}

std::int64_t decided_at(const RolloutDecision& decision) { return decision.at ? decision.at : now_ms(); }

std::string share_text(double share) { return fmt::format("{:g}%", share * 100); }

void check_plan(const RolloutPlan& p) {
  const auto bad = [](const std::string& what, const std::string& hint) { return Error(ErrorCode::invalid_input, what, hint); };
  if (p.steps.empty() || p.steps.size() > 100) {
    throw bad(fmt::format("a rollout needs 1 to 100 steps, not {}", p.steps.size()), "e.g. --steps 10,25,50,100");
  }
  double previous = 0;
  for (double s : p.steps) {
    if (!(s > previous && s <= 1)) {
      throw bad(fmt::format("rollout steps must rise within (0, 100]%: {} after {}", share_text(s), share_text(previous)),
                "e.g. --steps 10,25,50,100");
    }
    previous = s;
  }
  if (p.steps.back() != 1) throw bad("the last rollout step must be 100%", "e.g. --steps 10,25,50,100");
  for (const auto& [name, value] : {std::pair{"interval", p.interval_seconds}, {"max error ratio", p.max_error_ratio},
                                    {"max p95", p.max_p95_seconds}, {"max PSI", p.max_psi}}) {
    if (!(value >= 0 && std::isfinite(value))) throw bad(fmt::format("rollout {} must be 0 or more, not {}", name, value), "");
  }
  if (p.max_error_ratio > 1) throw bad(fmt::format("max error ratio {} is above 1", p.max_error_ratio), "e.g. 0.01 for 1%");
  if (p.min_requests < 1) throw bad(fmt::format("min requests must be 1 or more, not {}", p.min_requests), "");
}

std::string_view to_string(RolloutState state) {
  switch (state) {
    case RolloutState::running: return "running";
    case RolloutState::paused: return "paused";
    case RolloutState::promoted: return "promoted";
    case RolloutState::rolled_back: return "rolled_back";
    case RolloutState::aborted: return "aborted";
  }
  return "aborted";
}

std::optional<RolloutState> parse_rollout_state(std::string_view text) {
  for (auto s : {RolloutState::running, RolloutState::paused, RolloutState::promoted, RolloutState::rolled_back,
                 RolloutState::aborted}) {
    if (text == to_string(s)) return s;
  }
  return std::nullopt;
}

Rollout RegistryStore::start_rollout(const std::string& name, std::int64_t candidate, const RolloutPlan& plan,
                                     const Change& change) {
  check_plan(plan);
  {
    sqlite::Transaction tx(*db_);
    list_versions(name);  // Error{not_found} naming what to run when there is no such model
    get_version(name, candidate);
    auto stable = find_by_alias(name, "production");
    if (!stable) stable = find_latest_in_stage(name, Stage::production);
    if (!stable) {
      throw Error(ErrorCode::not_found, fmt::format("model '{}' has no Production version to roll out from", name),
                  fmt::format("promote one first: mlops models promote {} VERSION --stage Production", name));
    }
    if (stable->version == candidate) {
      throw Error(ErrorCode::invalid_input, fmt::format("version {} of '{}' is already the Production version", candidate, name),
                  "roll out a newer version: mlops rollout start NAME --to VERSION");
    }
    if (auto active = latest_rollout(name); active && is_active(active->state)) {
      throw Error(ErrorCode::conflict,
                  fmt::format("model '{}' already has a {} rollout to version {}", name, to_string(active->state),
                              active->candidate_version),
                  fmt::format("finish it first: mlops rollout promote|abort {}", name));
    }
    const std::int64_t now = now_ms();
    Statement s(*db_,
                "INSERT INTO rollouts(name, stable_version, candidate_version, plan, started_at, step_started_at, updated_at,"
                " reason) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5, ?6)");
    s.bind(1, name).bind(2, stable->version).bind(3, candidate).bind(4, plan_text(plan)).bind(5, now);
    s.bind(6, change.reason.empty() ? "started" : change.reason).step();
    set_alias_locked(name, "candidate", candidate, change);
    detail::append_audit(*db_, {name, candidate, "rollout_start", std::to_string(stable->version), share_text(plan.steps[0]), ""},
                         change);
    detail::append_outbox(*db_, "rollout_changed", {{"name", name}});
    tx.commit();
  }
  return *latest_rollout(name);
}

std::optional<Rollout> RegistryStore::latest_rollout(const std::string& name) {
  Statement s(*db_, fmt::format("SELECT {} FROM rollouts WHERE name = ?1 ORDER BY id DESC LIMIT 1", kColumns));
  s.bind(1, name);
  if (!s.step()) return std::nullopt;
  return read_rollout(s);
}

std::vector<Rollout> RegistryStore::list_rollouts(const std::string& name) {
  Statement s(*db_, fmt::format("SELECT {} FROM rollouts WHERE name = ?1 ORDER BY id DESC", kColumns));
  s.bind(1, name);
  std::vector<Rollout> out;
  while (s.step()) out.push_back(read_rollout(s));
  return out;
}

Rollout RegistryStore::active_rollout_locked(const std::string& name) {
  auto r = latest_rollout(name);
  if (!r || !is_active(r->state)) {
    throw Error(ErrorCode::not_found, fmt::format("model '{}' has no active rollout", name),
                fmt::format("start one: mlops rollout start {} --to VERSION; see mlops rollout status {}", name, name));
  }
  return *r;
}

void RegistryStore::finish_rollout_locked(const Rollout& r, RolloutState to, const RolloutDecision& decision,
                                          const Change& change) {
  const std::int64_t now = decided_at(decision);
  if (to == RolloutState::promoted) set_stage_locked(r.name, r.candidate_version, Stage::production, true, change);
  Statement alias(*db_, "SELECT 1 FROM aliases WHERE name = ?1 AND alias = 'candidate' AND version = ?2");
  alias.bind(1, r.name).bind(2, r.candidate_version);
  if (alias.step()) {
    Statement drop(*db_, "DELETE FROM aliases WHERE name = ?1 AND alias = 'candidate'");
    drop.bind(1, r.name).step();
    detail::append_audit(*db_, {r.name, r.candidate_version, "alias_delete", "candidate", "", ""}, change);
    detail::append_outbox(*db_, "alias_deleted", {{"name", r.name}, {"alias", "candidate"}});
  }
  Statement s(*db_, "UPDATE rollouts SET state = ?2, updated_at = ?3, reason = ?4, figures = ?5 WHERE id = ?1");
  s.bind(1, r.id).bind(2, to_string(to)).bind(3, now).bind(4, decision.reason);
  s.bind(5, decision.figures.empty() ? "{}" : decision.figures).step();
  detail::append_audit(*db_,
                       {r.name, r.candidate_version, fmt::format("rollout_{}", to_string(to)),
                        share_text(r.plan.steps[r.step]), to == RolloutState::promoted ? "100%" : "0%", decision.figures},
                       Change{change.user, decision.reason});
  detail::append_outbox(*db_, "rollout_changed", {{"name", r.name}});
}

Rollout RegistryStore::advance_rollout(const std::string& name, const RolloutDecision& decision, const Change& change) {
  {
    sqlite::Transaction tx(*db_);
    const Rollout r = active_rollout_locked(name);
    if (r.state != RolloutState::running || r.step != decision.step) return r;  // decided elsewhere
    if (r.step + 1 < r.plan.steps.size()) {
      Statement s(*db_,
                  "UPDATE rollouts SET step = ?2, step_started_at = ?3, updated_at = ?3, reason = ?4, figures = ?5"
                  " WHERE id = ?1");
      s.bind(1, r.id).bind(2, static_cast<std::int64_t>(r.step + 1)).bind(3, decided_at(decision)).bind(4, decision.reason);
      s.bind(5, decision.figures.empty() ? "{}" : decision.figures).step();
      detail::append_audit(*db_,
                           {name, r.candidate_version, "rollout_step", share_text(r.plan.steps[r.step]),
                            share_text(r.plan.steps[r.step + 1]), decision.figures},
                           Change{change.user, decision.reason});
      detail::append_outbox(*db_, "rollout_changed", {{"name", name}});
    } else {
      finish_rollout_locked(r, RolloutState::promoted, decision, change);
    }
    tx.commit();
  }
  return *latest_rollout(name);
}

Rollout RegistryStore::end_rollout(const std::string& name, RolloutState to, const RolloutDecision& decision,
                                   bool any_step, const Change& change) {
  if (to != RolloutState::rolled_back && to != RolloutState::aborted) {
    throw Error(ErrorCode::internal, "end_rollout ends a rollout as rolled_back or aborted");
  }
  {
    sqlite::Transaction tx(*db_);
    const Rollout r = active_rollout_locked(name);
    if (!any_step && (r.state != RolloutState::running || r.step != decision.step)) return r;
    finish_rollout_locked(r, to, decision, change);
    tx.commit();
  }
  return *latest_rollout(name);
}

Rollout RegistryStore::promote_rollout(const std::string& name, const Change& change) {
  {
    sqlite::Transaction tx(*db_);
    const Rollout r = active_rollout_locked(name);
    finish_rollout_locked(r, RolloutState::promoted, {r.step, change.reason.empty() ? "promoted by hand" : change.reason, "{}"},
                          change);
    tx.commit();
  }
  return *latest_rollout(name);
}

Rollout RegistryStore::pause_rollout(const std::string& name, const Change& change) {
  return set_rollout_running(name, false, change);
}

Rollout RegistryStore::resume_rollout(const std::string& name, const Change& change) {
  return set_rollout_running(name, true, change);
}

Rollout RegistryStore::set_rollout_running(const std::string& name, bool running, const Change& change) {
  const RolloutState to = running ? RolloutState::running : RolloutState::paused;
  {
    sqlite::Transaction tx(*db_);
    const Rollout r = active_rollout_locked(name);
    if (r.state == to) return r;
    // Resumed, the step's clock starts again: its analysis window is the traffic after the pause.
    const std::int64_t now = now_ms();
    Statement s(*db_, "UPDATE rollouts SET state = ?2, step_started_at = ?3, updated_at = ?4, reason = ?5 WHERE id = ?1");
    s.bind(1, r.id).bind(2, to_string(to)).bind(3, running ? now : r.step_started_at).bind(4, now);
    s.bind(5, !change.reason.empty() ? change.reason : running ? "resumed by hand" : "paused by hand").step();
    detail::append_audit(*db_, {name, r.candidate_version, running ? "rollout_resumed" : "rollout_paused",
                                std::string(to_string(r.state)), std::string(to_string(to)), ""},
                         change);
    detail::append_outbox(*db_, "rollout_changed", {{"name", name}});
    tx.commit();
  }
  return *latest_rollout(name);
}

}  // namespace mlops::registry
