// mlflow: a rollout as MLflow holds it, for replicas that serve their model from MLflow
// (`mlflow:models:/NAME@production`, as compose and Kubernetes do). The mirror writes the
// local registry's rollout to the registered model's tag `mlops.rollout` (JSON, with
// MLflow's model name and version numbers) beside its `candidate` alias; every such replica
// reads it each poll and writes its decisions there (a step passed, promotion, rollback);
// the registry takes those decisions back (take_rollout_decisions) before `mlops rollout`
// shows or changes the rollout.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libmlops/mlflow/client.hpp"
#include "libmlops/registry/registry_store.hpp"

namespace mlops::mlflow {

inline constexpr std::string_view kRolloutTag = "mlops.rollout";

struct RolloutRecord {
  registry::Rollout rollout;  // name and versions as MLflow numbers them; id: the registry's rollout id
  std::string origin;         // the registry it was started in (its registry_id)
};

// The tag's text (at most 4,000 characters: the figures, then the reason, are shortened to
// fit MLflow's 5,000), and back. parse_rollout_record treats the text as untrusted: anything
// missing, out of range or not a plan is Error{corrupt} saying what.
std::string rollout_record_text(const RolloutRecord& record);
RolloutRecord parse_rollout_record(std::string_view text);

// The model's record, nullopt when it has none. Error{corrupt} for an unreadable tag,
// MlflowError / Error{unavailable|timeout} as the client's calls.
std::optional<RolloutRecord> read_rollout_record(Client& client, const std::string& name);

// A replica's decisions, with the meaning of RegistryStore::advance_rollout / end_rollout:
// acted on only while the record is still running at decision.step (read again just
// before writing). MLflow has no conditional write, so two replicas deciding within the
// same few milliseconds may both write — the same step, or a rollback, which the mirror and
// the other replicas never undo. Promotion moves MLflow's `production` alias and stage to
// the candidate (the stable is archived) and removes `candidate`; a rollback removes
// `candidate` and leaves `production` where it was. Return the record as it is afterwards.
registry::Rollout advance_mlflow_rollout(Client& client, const std::string& name, const registry::RolloutDecision& decision);
registry::Rollout roll_back_mlflow_rollout(Client& client, const std::string& name, const registry::RolloutDecision& decision,
                                           bool any_step);

// True when `remote` is the same rollout as `local` (same registry, same id) and a replica
// has taken it further than the registry knows: ended it, or passed a later step.
bool record_is_ahead(const RolloutRecord& remote, const registry::Rollout& local, const std::string& registry_id);

// Brings the registry's active rollout of local model `name` (`remote_name` in MLflow) up to
// MLflow's record of it: each step a replica passed, then its promotion or rollback, with
// the replica's reason, figures and times. Returns one line per decision taken (none when
// MLflow has nothing newer).
std::vector<std::string> take_rollout_decisions(registry::RegistryStore& store, Client& client, const std::string& name,
                                                const std::string& remote_name);

}  // namespace mlops::mlflow
