#include "tests/support/real_mlflow.hpp"

#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include <httplib.h>  // last: its <resolv.h> defines a macro `_res` that breaks Eigen

namespace mlops::test {
namespace {

using nlohmann::json;

int run_script(const std::string& script, const std::vector<std::string>& env, const std::string& log) {
  std::vector<std::string> full = env;
  for (const char* key : {"PATH", "HOME", "LANG"}) {
    if (const char* v = std::getenv(key)) full.push_back(fmt::format("{}={}", key, v));
  }
  const int pid = spawn_program("/bin/bash", {script}, full, "/", log, log + ".err");
  return wait_exit_code(pid);
}

}  // namespace

std::string real_mlflow_install() {
  const char* dir = std::getenv("MLOPS_REAL_MLFLOW");
  if (!dir || !*dir || !std::filesystem::exists(std::string(dir) + "/VERSION")) return "";
  return dir;
}

RealMlflow::RealMlflow() {
  const std::string install = real_mlflow_install();
  if (install.empty()) {
    throw std::runtime_error("no real MLflow server is installed (MLOPS_REAL_MLFLOW); `make test` installs it "
                             "from ../shared/mlflow-server");
  }
  // One folder per server: its own database, artifacts and pid file; the code is shared.
  namespace fs = std::filesystem;
  for (const char* part : {"src", "stubs"}) fs::create_directory_symlink(fs::path(install) / part, fs::path(dir_.path()) / part);
  for (const char* file : {"start.sh", "stop.sh", "VERSION"}) fs::copy_file(fs::path(install) / file, fs::path(dir_.path()) / file);
  port_ = free_port();
  start();
}

RealMlflow::~RealMlflow() {
  try {
    stop();
  } catch (...) {
  }
}

void RealMlflow::start() {
  const int code = run_script(dir_.file("start.sh"), {fmt::format("MLFLOW_PORT={}", port_), "MLFLOW_WORKERS=2",
                                                      "MLFLOW_START_TIMEOUT=90"},
                              dir_.file("start.out"));
  if (code != 0) {
    throw std::runtime_error(fmt::format("the real MLflow server did not start (exit {}): {} {}", code,
                                         read_text(dir_.file("start.out")), read_text(dir_.file("start.out.err"))));
  }
}

std::string RealMlflow::url() const { return fmt::format("http://127.0.0.1:{}", port_); }

void RealMlflow::stop() { run_script(dir_.file("stop.sh"), {}, dir_.file("stop.out")); }

void RealMlflow::restart() { start(); }

void RealMlflow::kill() {
  const std::string pid = read_text(dir_.file("mlflow.pid"));
  const int group = std::atoi(pid.c_str());
  if (group > 1) ::kill(-group, SIGKILL);
  stop();  // reaps the pid file; the group is gone
}

RealMlflow::Answer RealMlflow::call(const std::string& method, const std::string& route, const json& body) const {
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(30, 0);
  const std::string path = "/api/2.0/mlflow/" + route;
  const auto send = [&]() -> httplib::Result {
    if (method == "GET") {
      httplib::Params params;
      for (const auto& [key, value] : body.items()) params.emplace(key, value.is_string() ? value.get<std::string>() : value.dump());
      return client.Get(path, params, httplib::Headers{});
    }
    if (method == "DELETE") return client.Delete(path, body.dump(), "application/json");
    if (method == "PATCH") return client.Patch(path, body.dump(), "application/json");
    return client.Post(path, body.dump(), "application/json");
  };
  const httplib::Result r = send();
  if (!r) throw std::runtime_error(fmt::format("MLflow at {} did not answer {} {}", url(), method, route));
  json parsed = json::parse(r->body, nullptr, false);
  return {r->status, parsed.is_discarded() ? json() : std::move(parsed)};
}

json RealMlflow::state() const {
  json out = {{"experiments", json::array()}, {"runs", json::array()}, {"models", json::array()}};
  const Answer experiments = call("POST", "experiments/search", {{"max_results", 1000}, {"view_type", "ALL"}});
  std::vector<std::string> ids;
  for (const json& e : experiments.body.value("experiments", json::array())) {
    out["experiments"].push_back({{"experiment_id", e["experiment_id"]}, {"name", e["name"]}, {"lifecycle_stage", e["lifecycle_stage"]}});
    ids.push_back(e["experiment_id"]);
  }
  const auto to_map = [](const json& list) {
    json m = json::object();
    for (const json& kv : list) m[kv.value("key", "")] = kv.value("value", json());
    return m;
  };
  const Answer runs = call("POST", "runs/search", {{"experiment_ids", ids}, {"max_results", 1000}, {"run_view_type", "ALL"}});
  for (const json& r : runs.body.value("runs", json::array())) {
    json metrics = json::object();
    for (const json& m : r["data"].value("metrics", json::array())) metrics[m["key"].get<std::string>()] = m["value"];
    out["runs"].push_back({{"info", r["info"]},
                           {"params", to_map(r["data"].value("params", json::array()))},
                           {"metrics", metrics},
                           {"tags", to_map(r["data"].value("tags", json::array()))}});
  }
  const Answer models = call("GET", "registered-models/search", {{"max_results", 1000}});
  for (const json& m : models.body.value("registered_models", json::array())) {
    json model = {{"name", m["name"]}, {"tags", to_map(m.value("tags", json::array()))}, {"aliases", json::object()}};
    for (const json& a : m.value("aliases", json::array())) model["aliases"][a["alias"].get<std::string>()] = a["version"];
    const std::string filter = fmt::format("name='{}'", m["name"].get<std::string>());
    const Answer versions = call("GET", "model-versions/search", {{"filter", filter}, {"max_results", 1000}});
    json list = versions.body.value("model_versions", json::array());
    for (json& v : list) v["tags"] = to_map(v.value("tags", json::array()));
    std::sort(list.begin(), list.end(), [](const json& a, const json& b) {
      return std::stoll(a["version"].get<std::string>()) < std::stoll(b["version"].get<std::string>());
    });
    model["versions"] = list;
    out["models"].push_back(model);
  }
  return out;
}

}  // namespace mlops::test
