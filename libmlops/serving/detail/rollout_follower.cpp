// serving (internal): following the primary model's rollout. Every replica reads the
// rollout from the registry each poll, serves its candidate at the step's weight and
// analyses its own traffic of the step; a decision (the next step, promotion, rollback) is
// a registry transaction conditional on the step it judged, so two replicas deciding at
// once act once, and every replica applies it at its next poll.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/log.hpp"
#include "libmlops/mlflow/remote_model.hpp"
#include "libmlops/serving/detail/state.hpp"

namespace mlops::serving::detail {
namespace {

observability::AnalysisThresholds thresholds(const registry::RolloutPlan& p) {
  return {p.max_error_ratio, p.max_p95_seconds, p.max_psi, p.min_requests};
}

const registry::Change kServeChange{"mlops serve", ""};

}  // namespace

void ServiceState::record_outcome(const LoadedModel& model, int status, double seconds) {
  if (!rollout_active.load(std::memory_order_relaxed)) return;
  const auto candidate = canary.get();
  (candidate.get() == &model ? candidate_traffic : stable_traffic).record(seconds, status >= 500);
}

void ServiceState::follow_rollout() {
  // Rollouts move the local registry's versions; a fixed canary (--canary-uri) or a model
  // from MLflow or a file is not the registry's to move.
  if (!options.canary_uri.empty() || options.db_path.empty()) return;
  const auto primary_model = primary.get();
  if (!primary_model || primary_model->registry_version == 0 || mlflow::is_mlflow_uri(primary_model->uri)) return;
  std::error_code ec;
  if (!std::filesystem::exists(options.db_path, ec)) return;
  std::lock_guard lock(rollout_mutex);
  try {
    if (!rollout_store) rollout_store = std::make_unique<registry::RegistryStore>(options.db_path);
    if (const auto r = rollout_store->latest_rollout(primary_model->name)) apply_rollout(*r, *primary_model);
    follow_error.clear();
  } catch (const Error& e) {
    rollout_store.reset();  // opened again at the next poll
    if (follow_error != e.what()) {
      logging::event(logging::Level::error, "cannot follow the rollout", {{"model", primary_model->name}, {"error", e.what()}});
    }
    follow_error = e.what();
  }
}

void ServiceState::apply_rollout(const registry::Rollout& r, const LoadedModel& primary_model) {
  const bool moved = !followed || followed->id != r.id || followed->step != r.step || followed->state != r.state;
  if (moved) {  // a new rollout, step or state: the analysis starts a fresh window
    stable_traffic.reset();
    candidate_traffic.reset();
    last_analysis.clear();
    if (followed || registry::is_active(r.state)) {
      logging::event(logging::Level::info, "rollout followed",
                     {{"model", r.name}, {"rollout", std::to_string(r.id)}, {"state", std::string(to_string(r.state))},
                      {"candidate_version", std::to_string(r.candidate_version)}, {"weight", registry::share_text(r.weight())},
                      {"reason", r.reason}});
    }
  }
  followed = r;
  publish_rollout_status();
  if (registry::is_active(r.state)) {
    const auto candidate = canary.get();
    if (!candidate || candidate->name != r.name || candidate->registry_version != r.candidate_version) {
      const ModelSources sources{options.db_path, options.mlflow, options.mlflow_cache_dir};
      canary.set(load_serving_model(fmt::format("models:/{}/{}", r.name, r.candidate_version), sources, options.drift_window));
      candidate_traffic.reset();
      publish_models();
    }
    canary_weight.store(r.weight());
    rollout_active.store(true);
    metrics.set_rollout(r.name, to_string(r.state), r.weight());
    if (r.state == registry::RolloutState::running) analyse_step(r, primary_model);
    return;
  }
  // Ended. Promoted: the registry's Production is the candidate now, and the primary's
  // next reload serves it — reload first, so that no request falls back to the old version.
  if (r.state == registry::RolloutState::promoted && primary_model.registry_version != r.candidate_version) {
    reload(false);
  }
  canary_weight.store(0);
  rollout_active.store(false);
  if (canary.get()) {
    canary.set(nullptr);
    publish_models();
  }
  metrics.set_rollout(r.name, to_string(r.state), 0);
}

void ServiceState::analyse_step(const registry::Rollout& r, const LoadedModel& primary_model) {
  const auto candidate = canary.get();
  observability::TrafficFigures stable_figures = stable_traffic.figures();
  observability::TrafficFigures candidate_figures = candidate_traffic.figures();
  double furthest = -1e300;  // the feature whose PSI is furthest above its noise floor
  for (const auto& d : candidate->drift->snapshot()) {
    candidate_figures.psi_pending = !d.reported;
    const double noise = observability::psi_noise_floor(d.count, d.bins);
    if (d.reported && d.psi - noise > furthest) {
      furthest = d.psi - noise;
      candidate_figures.max_psi = d.psi;
      candidate_figures.psi_noise = noise;
      candidate_figures.psi_feature = d.name;
    }
  }
  const observability::Verdict verdict = observability::analyse(stable_figures, candidate_figures, thresholds(r.plan));
  last_analysis = verdict.detail;
  publish_rollout_status();
  const registry::RolloutDecision decision{r.step, fmt::format("{}: {}", verdict.reason, verdict.detail), verdict.figures.dump()};
  if (verdict.outcome == observability::Verdict::Outcome::breach) {
    canary_weight.store(0);  // here at once; the other replicas at their next poll
    const registry::Rollout after =
        rollout_store->end_rollout(r.name, registry::RolloutState::rolled_back, decision, false, kServeChange);
    if (after.state == registry::RolloutState::rolled_back && after.id == r.id) {
      metrics.record_rollout_decision("rollback", verdict.reason);
      logging::event(logging::Level::error, "rollout rolled back",
                     {{"model", r.name}, {"rollout", std::to_string(r.id)}, {"candidate_version", std::to_string(r.candidate_version)},
                      {"step", registry::share_text(r.weight())}, {"reason", verdict.reason}, {"detail", verdict.detail}});
    }
    return apply_rollout(after, primary_model);
  }
  const double elapsed = static_cast<double>(now_ms() - r.step_started_at) / 1000.0;
  if (verdict.outcome != observability::Verdict::Outcome::healthy || elapsed < r.plan.interval_seconds) return;
  const registry::Rollout after = rollout_store->advance_rollout(r.name, decision, kServeChange);
  if (after.id == r.id && (after.step != r.step || after.state != r.state)) {
    const bool promoted = after.state == registry::RolloutState::promoted;
    metrics.record_rollout_decision(promoted ? "promote" : "step", "healthy");
    logging::event(logging::Level::info, promoted ? "rollout promoted" : "rollout step passed",
                   {{"model", r.name}, {"rollout", std::to_string(r.id)}, {"candidate_version", std::to_string(r.candidate_version)},
                    {"from", registry::share_text(r.weight())}, {"to", promoted ? "100% (promoted)" : registry::share_text(after.weight())},
                    {"detail", verdict.detail}});
  }
  apply_rollout(after, primary_model);
}

std::optional<registry::Rollout> ServiceState::roll_back_now(const std::string& model_name, const std::string& reason,
                                                             const std::string& figures) {
  std::lock_guard lock(rollout_mutex);
  if (followed && followed->name == model_name && registry::is_active(followed->state)) canary_weight.store(0);
  std::error_code ec;
  if (!std::filesystem::exists(options.db_path, ec)) return std::nullopt;
  if (!rollout_store) rollout_store = std::make_unique<registry::RegistryStore>(options.db_path);
  registry::RegistryStore& store = *rollout_store;
  const auto r = store.latest_rollout(model_name);
  if (!r || !registry::is_active(r->state)) return std::nullopt;
  const registry::Rollout after =
      store.end_rollout(model_name, registry::RolloutState::rolled_back, {r->step, reason, figures}, true, kServeChange);
  if (const auto primary_model = primary.get(); primary_model && primary_model->name == model_name) {
    apply_rollout(after, *primary_model);
  }
  return after;
}

void ServiceState::publish_rollout_status() {
  const registry::Rollout& r = *followed;
  nlohmann::json status = {{"id", r.id},
                           {"model", r.name},
                           {"state", to_string(r.state)},
                           {"stable_version", r.stable_version},
                           {"candidate_version", r.candidate_version},
                           {"step", r.step + 1},
                           {"steps", r.plan.steps.size()},
                           {"weight", r.weight()},
                           {"reason", r.reason},
                           {"analysis", last_analysis}};
  std::lock_guard lock(status_mutex);
  rollout_status = std::move(status);
}

nlohmann::json ServiceState::rollout_health() {
  std::lock_guard lock(status_mutex);
  return rollout_status;
}

}  // namespace mlops::serving::detail
