#include "libmlops/serving/server.hpp"

#include <fmt/format.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/log.hpp"
#include "libmlops/core/text.hpp"
#include "libmlops/http/json_server.hpp"
#include "libmlops/model/drift_report.hpp"
#include "libmlops/registry/registry_store.hpp"
#include "libmlops/serving/detail/state.hpp"

namespace mlops::serving {
namespace detail {

ReloadStatus ServiceState::reload_status() {
  std::lock_guard lock(status_mutex);
  return last_reload;
}

void ServiceState::publish_models() {
  std::vector<observability::ModelInfo> loaded;
  for (const ModelSlot* slot : {&primary, &canary}) {
    if (auto m = slot->get()) {
      observability::ModelInfo info{m->name, m->label, m->uri, m->artifact.sha256, {}};
      const std::vector<double> shares = model::test_prediction_shares(m->artifact);
      for (std::size_t c = 0; c < shares.size(); ++c) info.class_training_share[m->artifact.classes[c]] = shares[c];
      loaded.push_back(std::move(info));
    }
  }
  metrics.set_models(loaded);
  metrics.set_drift_source([this] {
    std::vector<observability::VersionDrift> out;
    for (const ModelSlot* slot : {&primary, &canary}) {
      if (auto m = slot->get()) out.push_back({m->label, m->drift->snapshot()});
    }
    return out;
  });
}

nlohmann::json ServiceState::reload(bool force) {
  std::lock_guard lock(reload_mutex);
  nlohmann::json result = {{"ok", true}, {"models", nlohmann::json::array()}};
  std::vector<std::string> messages;
  const ModelSources sources{options.db_path, options.mlflow, options.mlflow_cache_dir};
  const auto reload_slot = [&](ModelSlot& slot, const std::string& uri, std::string_view role) {
    if (uri.empty()) return;
    const auto current = slot.get();
    nlohmann::json entry = {{"role", role}, {"uri", uri}};
    std::string& last_error = slot_errors[std::string(role)];
    try {
      if (current && !force && !model_changed(*current, sources)) {
        if (!last_error.empty()) {  // the source answers again: say so once, in /health too
          last_error.clear();
          messages.push_back(fmt::format("{} {}: reachable again, {} kept", role, uri, current->label));
          logging::event(logging::Level::info, "model source reachable again",
                         {{"role", std::string(role)}, {"uri", uri}, {"model_version", current->label}});
        }
        return;
      }
      auto next = load_serving_model(uri, sources, options.drift_window);
      if (role == "canary") {
        auto primary_model = primary.get();
        if (primary_model && primary_model->label == next->label) {
          std::const_pointer_cast<LoadedModel>(next)->label += "+canary";  // keep metrics apart
        }
      }
      const bool changed = !current || current->artifact.sha256 != next->artifact.sha256;
      entry["model_version"] = next->label;
      entry["registry_version"] = next->registry_version;
      entry["changed"] = changed;
      slot.set(std::move(next));
      last_error.clear();
      messages.push_back(fmt::format("{} {} -> {}", role, uri, entry["model_version"].get<std::string>()));
      logging::event(logging::Level::info, "model loaded",
                     {{"role", std::string(role)}, {"uri", uri}, {"model_version", entry["model_version"].get<std::string>()},
                      {"changed", changed ? "true" : "false"}});
    } catch (const Error& e) {
      result["ok"] = false;
      entry["error"] = e.what();
      entry["kept"] = current ? nlohmann::json(current->label) : nlohmann::json(nullptr);
      messages.push_back(fmt::format("{} {} failed: {}{}", role, uri, e.what(), current ? " (kept the old model)" : ""));
      // The same failure every poll is logged once (then at debug), not every interval.
      const bool repeated = last_error == e.what();
      last_error = e.what();
      logging::event(repeated ? logging::Level::debug : logging::Level::error,
                     repeated ? "model reload still failing" : "model reload failed",
                     {{"role", std::string(role)}, {"uri", uri}, {"error", e.what()},
                      {"kept", current ? current->label : "none"}});
    }
    result["models"].push_back(entry);
  };
  reload_slot(primary, options.model_uri, "primary");
  reload_slot(canary, options.canary_uri, "canary");
  if (messages.empty() && !force) return result;  // nothing changed: nothing to publish
  {
    std::lock_guard status_lock(status_mutex);
    last_reload = {now_ms(), result["ok"].get<bool>(), fmt::format("{}", fmt::join(messages, "; "))};
  }
  publish_models();
  return result;
}

void ServiceState::publish_mirror_backlog() {
  if (options.mlflow.tracking_uri.empty()) return;  // without MLflow the outbox grows by design
  std::error_code ec;
  if (!std::filesystem::exists(options.db_path, ec)) return;
  try {
    registry::RegistryStore store(options.db_path, registry::RegistryStore::Mode::read_only);
    metrics.set_gauge("mlflow_mirror_pending_events", "Registry changes waiting to be mirrored to MLflow",
                      static_cast<double>(store.outbox_counts().pending));
  } catch (const Error& e) {
    logging::event(logging::Level::warn, "cannot read the mirror outbox", {{"error", e.what()}});
  }
}

}  // namespace detail

FaultInjection parse_fault_injection(std::string_view spec) {
  const auto bad = [&](const std::string& what) {
    return Error(ErrorCode::invalid_input, fmt::format("--inject-fault '{}': {}", spec, what),
                 "write VERSION:errors=RATIO,delay=TIME, e.g. 3:errors=0.1 or 3:delay=300ms");
  };
  FaultInjection f;
  const std::size_t colon = spec.find(':');
  if (colon == std::string_view::npos) throw bad("no ':' after the version");
  const std::string version(spec.substr(0, colon));
  if (version.empty() || version.size() > 9 || version.find_first_not_of("0123456789") != std::string::npos ||
      std::stoll(version) < 1) {
    throw bad(fmt::format("the version '{}' is not a registry version number", version));
  }
  f.version = std::stoll(version);
  std::string_view rest = spec.substr(colon + 1);
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view part = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const std::size_t eq = part.find('=');
    const std::string key(part.substr(0, eq));
    const std::string value(eq == std::string_view::npos ? "" : part.substr(eq + 1));
    if (key == "delay") {
      const auto seconds = parse_duration(value);
      if (!seconds || *seconds > 10) throw bad(fmt::format("delay '{}' is not a duration of at most 10 s, e.g. 300ms", value));
      f.delay_seconds = *seconds;
    } else if (key == "errors") {
      char* end = nullptr;
      const double ratio = std::strtod(value.c_str(), &end);
      if (value.empty() || end != value.c_str() + value.size() || !(ratio >= 0 && ratio <= 1)) {
        throw bad(fmt::format("errors '{}' is not a ratio from 0 to 1, e.g. 0.1", value));
      }
      f.error_ratio = ratio;
    } else {
      throw bad(fmt::format("unknown part '{}' (errors=RATIO or delay=TIME)", part));
    }
  }
  if (!f.active()) throw bad("neither errors nor delay is above 0");
  return f;
}

struct Server::Impl {
  explicit Impl(ServerOptions options) : state(std::move(options)), http(state.options.service) {}
  detail::ServiceState state;
  http::JsonServer http;
  std::mutex poll_mutex;
  std::condition_variable poll_wakeup;
  bool stopping = false;
  std::thread poller;

  // Housekeeping off the request path: the registry check for a new model every
  // reload_interval, and the mirror backlog gauge every few seconds.
  void poll() {
    using namespace std::chrono;
    const double interval = state.options.reload_interval;
    const auto tick = duration<double>(interval > 0 ? std::min(interval, 5.0) : 5.0);
    auto next_reload = steady_clock::now() + duration_cast<steady_clock::duration>(duration<double>(interval));
    std::unique_lock lock(poll_mutex);
    while (!poll_wakeup.wait_for(lock, tick, [this] { return stopping; })) {
      lock.unlock();
      state.publish_mirror_backlog();
      if (interval > 0 && steady_clock::now() >= next_reload) {
        state.reload(false);
        next_reload = steady_clock::now() + duration_cast<steady_clock::duration>(duration<double>(interval));
      }
      if (interval > 0) state.follow_rollout();
      lock.lock();
    }
  }
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  auto& state = impl_->state;
  impl_->http.on_request([&state](const http::Request& req, const http::Response& res, double seconds) {
    state.metrics.record_http(http::method_label(req.method), req.route, res.status, seconds);
  });
  detail::install_prediction_routes(impl_->http, state);
  detail::install_operations_routes(impl_->http, state);
}

Server::~Server() {
  stop();
  if (impl_->poller.joinable()) impl_->poller.join();
}

void Server::stop() {
  {
    std::lock_guard lock(impl_->poll_mutex);
    impl_->stopping = true;
  }
  impl_->poll_wakeup.notify_all();
  impl_->http.shutdown(impl_->state.options.shutdown_timeout);
}

void Server::reload() { impl_->state.reload(true); }

void Server::serve_until_signal(const std::function<void(int port)>& on_listening) {
  http::block_service_signals();  // before the poller starts, so that it never takes one
  impl_->state.reload(true);
  impl_->state.publish_mirror_backlog();
  impl_->poller = std::thread([this] { impl_->poll(); });
  http::serve_until_signal(impl_->http, on_listening, [this] { reload(); }, impl_->state.options.shutdown_timeout);
  stop();
}

void serve_until_signal(ServerOptions options, const std::function<void(int port)>& on_listening) {
  Server(std::move(options)).serve_until_signal(on_listening);
}

}  // namespace mlops::serving
