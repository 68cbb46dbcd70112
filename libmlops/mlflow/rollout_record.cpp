#include "libmlops/mlflow/rollout_record.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "libmlops/core/error.hpp"
#include "libmlops/core/text.hpp"

namespace mlops::mlflow {
namespace {

using nlohmann::json;
using registry::Rollout;
using registry::RolloutState;

constexpr std::size_t kMaxRecord = 4000;  // MLflow keeps tag values up to 5,000 characters

// `text` cut to at most `limit` bytes on a UTF-8 sequence boundary.
std::string cut(std::string_view text, std::size_t limit) {
  std::size_t end = 0;
  while (end < text.size()) {
    const std::size_t n = utf8_sequence_length(text.substr(end));
    if (n == 0 || end + n > limit) break;
    end += n;
  }
  return std::string(text.substr(0, end));
}

Error unreadable(const std::string& what) {
  return Error(ErrorCode::corrupt, fmt::format("MLflow's {} tag is not a rollout record: {}", kRolloutTag, what),
               "start the rollout again from the registry (mlops rollout abort NAME, then mlops rollout start), or "
               "delete the tag in MLflow");
}

std::int64_t whole(const json& j, const char* key, std::int64_t least) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer() || it->get<std::int64_t>() < least) {
    throw unreadable(fmt::format("'{}' must be a whole number of at least {}", key, least));
  }
  return it->get<std::int64_t>();
}

std::string text_field(const json& j, const char* key, std::size_t most) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().size() > most ||
      !is_valid_utf8(it->get_ref<const std::string&>())) {
    throw unreadable(fmt::format("'{}' must be a UTF-8 string of at most {} bytes", key, most));
  }
  return it->get<std::string>();
}

void write_record(Client& client, const RolloutRecord& record) {
  client.set_registered_model_tag(record.rollout.name, std::string(kRolloutTag), rollout_record_text(record));
}

RolloutRecord read_or_throw(Client& client, const std::string& name) {
  auto record = read_rollout_record(client, name);
  if (!record) {
    throw Error(ErrorCode::not_found, fmt::format("model '{}' has no rollout in MLflow", name),
                fmt::format("start one: mlops rollout start {} --to VERSION (with MLFLOW_TRACKING_URI set)", name));
  }
  return std::move(*record);
}

void drop_candidate_alias(Client& client, const std::string& name) {
  try {
    client.delete_alias(name, "candidate");  // 200 also when it is gone already
  } catch (const MlflowError& e) {
    if (e.error_code() != "RESOURCE_DOES_NOT_EXIST") throw;
  }
}

}  // namespace

std::string rollout_record_text(const RolloutRecord& record) {
  const Rollout& r = record.rollout;
  json figures = json::parse(r.figures.empty() ? "{}" : r.figures, nullptr, false);
  if (figures.is_discarded()) figures = json::object();
  json j = {{"origin", record.origin},
            {"id", r.id},
            {"name", r.name},
            {"stable_version", r.stable_version},
            {"candidate_version", r.candidate_version},
            {"plan", json::parse(registry::plan_text(r.plan))},
            {"step", r.step},
            {"state", to_string(r.state)},
            {"started_at", r.started_at},
            {"step_started_at", r.step_started_at},
            {"updated_at", r.updated_at},
            {"reason", r.reason},
            {"figures", figures}};
  std::string text = j.dump();
  if (text.size() <= kMaxRecord) return text;
  j["figures"] = json::object();  // the history keeps them; the record keeps what replicas need
  text = j.dump();
  if (text.size() <= kMaxRecord) return text;
  j["reason"] = cut(r.reason, r.reason.size() - std::min(r.reason.size(), text.size() - kMaxRecord + 8));
  return j.dump();
}

RolloutRecord parse_rollout_record(std::string_view text) {
  const json j = json::parse(text, nullptr, false);
  if (!j.is_object()) throw unreadable("not a JSON object");
  RolloutRecord out;
  Rollout& r = out.rollout;
  out.origin = text_field(j, "origin", 200);
  r.id = whole(j, "id", 1);
  r.name = text_field(j, "name", 1000);
  r.stable_version = whole(j, "stable_version", 1);
  r.candidate_version = whole(j, "candidate_version", 1);
  const auto plan = j.find("plan");
  if (plan == j.end() || !plan->is_object()) throw unreadable("'plan' must be an object");
  try {
    r.plan = registry::parse_plan(plan->dump());
  } catch (const Error& e) {
    throw unreadable(e.what());
  }
  const std::int64_t step = whole(j, "step", 0);
  if (step >= static_cast<std::int64_t>(r.plan.steps.size())) throw unreadable("'step' is past the plan's last step");
  r.step = static_cast<std::size_t>(step);
  const auto state = registry::parse_rollout_state(text_field(j, "state", 20));
  if (!state) throw unreadable("'state' must be running, paused, promoted, rolled_back or aborted");
  r.state = *state;
  r.started_at = whole(j, "started_at", 0);
  r.step_started_at = whole(j, "step_started_at", 0);
  r.updated_at = whole(j, "updated_at", 0);
  r.reason = text_field(j, "reason", kMaxRecord);
  const auto figures = j.find("figures");
  r.figures = figures != j.end() && figures->is_object() ? figures->dump() : "{}";
  return out;
}

std::optional<RolloutRecord> read_rollout_record(Client& client, const std::string& name) {
  const RegisteredModel model = client.get_registered_model(name);
  const auto tag = model.tags.find(std::string(kRolloutTag));
  if (tag == model.tags.end()) return std::nullopt;
  RolloutRecord record = parse_rollout_record(tag->second);
  record.rollout.name = name;  // the tag of this model speaks for this model
  return record;
}

Rollout advance_mlflow_rollout(Client& client, const std::string& name, const registry::RolloutDecision& decision) {
  RolloutRecord record = read_or_throw(client, name);
  Rollout& r = record.rollout;
  if (r.state != RolloutState::running || r.step != decision.step) return r;  // decided elsewhere
  const std::int64_t at = registry::decided_at(decision);
  if (r.step + 1 < r.plan.steps.size()) {
    ++r.step;
    r.step_started_at = at;
  } else {
    // Production first: a replica that reads the record before the tag is written still
    // serves the candidate, as the primary or as the canary at 100%.
    const std::string candidate = std::to_string(r.candidate_version);
    client.transition_stage(name, candidate, "Production", true);
    client.set_alias(name, "production", candidate);
    drop_candidate_alias(client, name);
    r.state = RolloutState::promoted;
  }
  r.updated_at = at;
  r.reason = decision.reason;
  r.figures = decision.figures;
  write_record(client, record);
  return r;
}

Rollout roll_back_mlflow_rollout(Client& client, const std::string& name, const registry::RolloutDecision& decision,
                                 bool any_step) {
  RolloutRecord record = read_or_throw(client, name);
  Rollout& r = record.rollout;
  if (!registry::is_active(r.state)) return r;
  if (!any_step && (r.state != RolloutState::running || r.step != decision.step)) return r;
  r.state = RolloutState::rolled_back;
  r.updated_at = registry::decided_at(decision);
  r.reason = decision.reason;
  r.figures = decision.figures;
  write_record(client, record);  // the record first: the other replicas drop the candidate at their next poll
  drop_candidate_alias(client, name);
  return r;
}

bool record_is_ahead(const RolloutRecord& remote, const Rollout& local, const std::string& registry_id) {
  if (remote.origin != registry_id || remote.rollout.id != local.id || !registry::is_active(local.state)) return false;
  return !registry::is_active(remote.rollout.state) || remote.rollout.step > local.step;
}

std::vector<std::string> take_rollout_decisions(registry::RegistryStore& store, Client& client, const std::string& name,
                                                const std::string& remote_name) {
  std::optional<Rollout> local = store.latest_rollout(name);
  if (!local || !registry::is_active(local->state)) return {};
  const auto remote = read_rollout_record(client, remote_name);
  if (!remote || !record_is_ahead(*remote, *local, store.registry_id())) return {};
  const Rollout& there = remote->rollout;
  const registry::Change change{"mlops serve (via MLflow)", ""};
  std::vector<std::string> taken;
  // Each step a replica passed; the last one with its reason, figures and clock.
  while (local->state == RolloutState::running && local->step < there.step) {
    const bool last = local->step + 1 == there.step;
    const registry::RolloutDecision d{local->step, last ? there.reason : "step passed on a replica serving from MLflow",
                                      last ? there.figures : "{}", there.step_started_at};
    const Rollout after = store.advance_rollout(name, d, change);
    if (after.step == local->step) break;
    taken.push_back(fmt::format("step {} -> {}", registry::share_text(local->weight()), registry::share_text(after.weight())));
    local = after;
  }
  if (registry::is_active(there.state) || !registry::is_active(local->state)) return taken;
  const registry::RolloutDecision d{local->step, there.reason, there.figures, there.updated_at};
  if (there.state == RolloutState::promoted) {
    const bool by_analysis = local->state == RolloutState::running && local->step + 1 == local->plan.steps.size();
    by_analysis ? store.advance_rollout(name, d, change) : store.promote_rollout(name, {change.user, there.reason});
  } else {
    store.end_rollout(name, there.state == RolloutState::aborted ? RolloutState::aborted : RolloutState::rolled_back, d,
                      true, change);
  }
  taken.push_back(fmt::format("{}: {}", to_string(there.state), there.reason));
  return taken;
}

}  // namespace mlops::mlflow
