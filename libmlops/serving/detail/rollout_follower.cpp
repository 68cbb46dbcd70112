// serving (internal): following the primary model's rollout. Every replica reads the
// rollout each poll — from the local registry, or from MLflow's record of it when the
// primary is served from MLflow — serves its candidate at the step's weight and analyses
// its own traffic of the step; a decision (the next step, promotion, rollback) is written
// conditional on the step it judged (a registry transaction; in MLflow, read again just
// before writing), and every replica applies it at its next poll.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/log.hpp"
#include "libmlops/mlflow/remote_model.hpp"
#include "libmlops/mlflow/rollout_record.hpp"
#include "libmlops/serving/detail/state.hpp"

namespace mlops::serving::detail {
namespace {

observability::AnalysisThresholds thresholds(const registry::RolloutPlan& p) {
  return {p.max_error_ratio, p.max_p95_seconds, p.max_psi, p.min_requests};
}

const registry::Change kServeChange{"mlops serve", ""};

class RegistrySource final : public RolloutSource {
 public:
  explicit RegistrySource(const std::string& db_path) : store_(db_path) {}
  std::optional<registry::Rollout> latest(const std::string& name) override { return store_.latest_rollout(name); }
  registry::Rollout advance(const std::string& name, const registry::RolloutDecision& d) override {
    return store_.advance_rollout(name, d, kServeChange);
  }
  registry::Rollout roll_back(const std::string& name, const registry::RolloutDecision& d, bool any_step) override {
    return store_.end_rollout(name, registry::RolloutState::rolled_back, d, any_step, kServeChange);
  }
  std::string candidate_uri(const registry::Rollout& r) const override {
    return fmt::format("models:/{}/{}", r.name, r.candidate_version);
  }
  std::string_view where() const override { return "registry"; }

 private:
  registry::RegistryStore store_;
};

class MlflowSource final : public RolloutSource {
 public:
  explicit MlflowSource(const mlflow::Connection& connection) : client_(connection) {}
  std::optional<registry::Rollout> latest(const std::string& name) override {
    const auto record = mlflow::read_rollout_record(client_, name);
    return record ? std::optional(record->rollout) : std::nullopt;
  }
  registry::Rollout advance(const std::string& name, const registry::RolloutDecision& d) override {
    return mlflow::advance_mlflow_rollout(client_, name, d);
  }
  registry::Rollout roll_back(const std::string& name, const registry::RolloutDecision& d, bool any_step) override {
    return mlflow::roll_back_mlflow_rollout(client_, name, d, any_step);
  }
  std::string candidate_uri(const registry::Rollout& r) const override {
    return fmt::format("mlflow:models:/{}/{}", r.name, r.candidate_version);
  }
  std::string_view where() const override { return "mlflow"; }

 private:
  mlflow::Client client_;
};

}  // namespace

RolloutSource* ServiceState::rollout_source_for(const LoadedModel& model) {
  // A fixed canary (--canary-uri) is not a rollout's to move, nor is a model from a file.
  if (!options.canary_uri.empty() || model.registry_version == 0) return nullptr;
  if (mlflow::is_mlflow_uri(model.uri)) {
    if (options.mlflow.tracking_uri.empty()) return nullptr;
    if (!rollout_source || rollout_source->where() != "mlflow") rollout_source = std::make_unique<MlflowSource>(options.mlflow);
    return rollout_source.get();
  }
  std::error_code ec;
  if (options.db_path.empty() || !std::filesystem::exists(options.db_path, ec)) return nullptr;
  if (!rollout_source || rollout_source->where() != "registry") rollout_source = std::make_unique<RegistrySource>(options.db_path);
  return rollout_source.get();
}

void ServiceState::record_outcome(const LoadedModel& model, int status, double seconds) {
  if (!rollout_active.load(std::memory_order_relaxed)) return;
  const auto candidate = canary.get();
  (candidate.get() == &model ? candidate_traffic : stable_traffic).record(seconds, status >= 500);
}

void ServiceState::follow_rollout() {
  const auto primary_model = primary.get();
  if (!primary_model) return;
  std::lock_guard lock(rollout_mutex);
  try {
    RolloutSource* source = rollout_source_for(*primary_model);
    if (!source) return;
    if (const auto r = source->latest(primary_model->name)) apply_rollout(*r, *primary_model);
    follow_error.clear();
  } catch (const Error& e) {
    rollout_source.reset();  // opened again at the next poll
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
      canary.set(load_serving_model(rollout_source->candidate_uri(r), sources, options.drift_window));
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
  const registry::RolloutDecision decision{r.step, fmt::format("{}: {}", verdict.reason, verdict.detail), verdict.figures.dump(),
                                           now_ms()};
  if (verdict.outcome == observability::Verdict::Outcome::breach) {
    canary_weight.store(0);  // here at once; the other replicas at their next poll
    const registry::Rollout after = rollout_source->roll_back(r.name, decision, false);
    if (registry::made_by(after, decision)) {  // not another replica's rollback, read back
      metrics.record_rollout_decision("rollback", verdict.reason);
      logging::event(logging::Level::error, "rollout rolled back",
                     {{"model", r.name}, {"rollout", std::to_string(r.id)}, {"candidate_version", std::to_string(r.candidate_version)},
                      {"step", registry::share_text(r.weight())}, {"reason", verdict.reason}, {"detail", verdict.detail}});
    }
    return apply_rollout(after, primary_model);
  }
  const double elapsed = static_cast<double>(now_ms() - r.step_started_at) / 1000.0;
  if (verdict.outcome != observability::Verdict::Outcome::healthy || elapsed < r.plan.interval_seconds) return;
  const registry::Rollout after = rollout_source->advance(r.name, decision);
  if (registry::made_by(after, decision)) {
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
  // The served model's rollout is where it is followed from; another model's, in the registry.
  const auto primary_model = primary.get();
  const bool served = primary_model && primary_model->name == model_name;
  RolloutSource* source = served ? rollout_source_for(*primary_model) : nullptr;
  std::unique_ptr<RolloutSource> other;
  std::error_code ec;
  if (!served && !options.db_path.empty() && std::filesystem::exists(options.db_path, ec)) {
    other = std::make_unique<RegistrySource>(options.db_path);
    source = other.get();
  }
  if (!source) return std::nullopt;
  const auto r = source->latest(model_name);
  if (!r || !registry::is_active(r->state)) return std::nullopt;
  const registry::Rollout after = source->roll_back(model_name, {r->step, reason, figures}, true);
  if (served) apply_rollout(after, *primary_model);
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
                           {"analysis", last_analysis},
                           {"source", rollout_source ? std::string(rollout_source->where()) : ""}};
  std::lock_guard lock(status_mutex);
  rollout_status = std::move(status);
}

nlohmann::json ServiceState::rollout_health() {
  std::lock_guard lock(status_mutex);
  return rollout_status;
}

}  // namespace mlops::serving::detail
