#include "libmlops/serving/server.hpp"

#include <fmt/format.h>
#include <sys/socket.h>

#include <condition_variable>
#include <csignal>
#include <thread>

#include "libmlops/core/clock.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/log.hpp"
#include "libmlops/serving/detail/state.hpp"

// Last: <resolv.h>, which httplib includes, defines a macro `_res` that breaks Eigen.
#include <httplib.h>

namespace mlops::serving {
namespace detail {

ReloadStatus ServiceState::reload_status() {
  std::lock_guard lock(reload_mutex);
  return last_reload;
}

void ServiceState::publish_models() {
  std::vector<observability::ModelInfo> loaded;
  for (const ModelSlot* slot : {&primary, &canary}) {
    if (auto m = slot->get()) loaded.push_back({m->name, m->label, m->uri, m->artifact.sha256});
  }
  metrics.set_models(loaded);
  metrics.set_drift_source([this] {
    auto m = primary.get();
    return m ? m->drift->snapshot() : std::vector<observability::FeatureDrift>{};
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
    try {
      if (current && !force && !model_changed(*current, sources)) return;
      auto next = load_serving_model(uri, sources);
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
      messages.push_back(fmt::format("{} {} -> {}", role, uri, entry["model_version"].get<std::string>()));
      logging::event(logging::Level::info, "model loaded",
                     {{"role", std::string(role)}, {"uri", uri}, {"model_version", entry["model_version"].get<std::string>()},
                      {"changed", changed ? "true" : "false"}});
    } catch (const Error& e) {
      result["ok"] = false;
      entry["error"] = e.what();
      entry["kept"] = current ? nlohmann::json(current->label) : nlohmann::json(nullptr);
      messages.push_back(fmt::format("{} {} failed: {}{}", role, uri, e.what(), current ? " (kept the old model)" : ""));
      logging::event(logging::Level::error, "model reload failed",
                     {{"role", std::string(role)}, {"uri", uri}, {"error", e.what()},
                      {"kept", current ? current->label : "none"}});
    }
    result["models"].push_back(entry);
  };
  reload_slot(primary, options.model_uri, "primary");
  reload_slot(canary, options.canary_uri, "canary");
  if (!messages.empty() || force) {
    last_reload = {now_ms(), result["ok"].get<bool>(), fmt::format("{}", fmt::join(messages, "; "))};
  }
  publish_models();
  return result;
}

}  // namespace detail

struct Server::Impl {
  explicit Impl(ServerOptions options) : state(std::move(options)) {}
  detail::ServiceState state;
  httplib::Server http;
  int listen_fd = -1;
  std::mutex poll_mutex;
  std::condition_variable poll_wakeup;
  bool stopping = false;
  std::thread poller;

  void poll_registry() {
    const auto interval = std::chrono::duration<double>(state.options.reload_interval);
    std::unique_lock lock(poll_mutex);
    while (!poll_wakeup.wait_for(lock, interval, [this] { return stopping; })) {
      lock.unlock();
      state.reload(false);
      lock.lock();
    }
  }
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  const ServerOptions& o = impl_->state.options;
  auto& http = impl_->http;
  http.set_tcp_nodelay(true);  // otherwise each reply waits ~40 ms for the peer's delayed ACK
  http.set_keep_alive_max_count(100000);
  http.set_keep_alive_timeout(5);
  http.set_payload_max_length(o.max_body_bytes);
  http.set_read_timeout(10, 0);
  http.set_write_timeout(10, 0);
  const int threads = std::max(2, o.threads);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_socket_options([this](int fd) {
    httplib::default_socket_options(fd);
    impl_->listen_fd = fd;  // the listening socket: its backlog is raised after bind()
  });
  detail::install_routes(http, impl_->state);
}

Server::~Server() {
  stop();
  if (impl_->poller.joinable()) impl_->poller.join();
}

int Server::bind() {
  impl_->state.reload(true);
  const ServerOptions& o = impl_->state.options;
  const int port = o.port == 0 ? impl_->http.bind_to_any_port(o.host) : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) {
    throw Error(ErrorCode::unavailable, fmt::format("cannot listen on {}:{}", o.host, o.port),
                "another process may use the port; pick another with --port");
  }
  // cpp-httplib listens with a backlog of 5; bursts of new connections would overflow it
  // and wait a second to retry. Linux lets listen() raise the backlog of a bound socket.
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, SOMAXCONN);
  return port;
}

void Server::run() {
  if (impl_->state.options.reload_interval > 0) impl_->poller = std::thread([this] { impl_->poll_registry(); });
  impl_->http.listen_after_bind();
}

void Server::stop() {
  {
    std::lock_guard lock(impl_->poll_mutex);
    impl_->stopping = true;
  }
  impl_->poll_wakeup.notify_all();
  impl_->http.stop();
}

void serve_until_signal(ServerOptions options, const std::function<void(int port)>& on_listening) {
  // Block the signals in every thread; one thread waits for them and stops the server, so
  // that shutdown runs outside a signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  Server server(std::move(options));
  const int port = server.bind();
  on_listening(port);
  std::thread waiter([&] {
    int received = 0;
    sigwait(&signals, &received);
    if (received != 0) {
      logging::event(logging::Level::info, "shutting down", {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});
      server.stop();
    }
  });
  server.run();
  // run() returned: either a signal stopped it, or it failed; wake the waiter if needed.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
}

}  // namespace mlops::serving
