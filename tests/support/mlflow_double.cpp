#include "tests/support/mlflow_double.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include <httplib.h>

namespace mlops::test {
namespace {

using nlohmann::json;
using Tags = std::map<std::string, std::string>;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// An MLflow error: raised inside a handler, answered as {"error_code","message"}.
struct ApiError {
  int status;
  std::string code;
  std::string message;
};
ApiError invalid(const std::string& message) { return {400, "INVALID_PARAMETER_VALUE", message}; }
ApiError missing_param(const std::string& name) {
  return invalid(fmt::format("Missing value for required parameter '{}'. See the API docs for more information about "
                             "request parameters.",
                             name));
}
ApiError not_found(const std::string& message) { return {404, "RESOURCE_DOES_NOT_EXIST", message}; }

json tag_list(const Tags& tags) {
  json list = json::array();
  for (const auto& [k, v] : tags) list.push_back({{"key", k}, {"value", v}});
  return list;
}

// MLflow's name rule for params, metrics and tags.
void check_key(const std::string& key, const char* what) {
  const bool ok = !key.empty() && std::all_of(key.begin(), key.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == ' ' || c == '/';
  });
  if (!ok) {
    throw invalid(fmt::format("Invalid {} name: '{}'. Names may only contain alphanumerics, underscores (_), dashes (-), "
                              "periods (.), spaces ( ), and slashes (/).",
                              what, key));
  }
}

// A value as MLflow's proto parser reads it: strings as they are, numbers as their text.
std::string text_of(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return std::to_string(j.get<long long>());
  if (j.is_number()) return fmt::format("{}", j.get<double>());
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  return "";
}

std::string required(const json& body, const std::string& name) {
  if (!body.contains(name) || body[name].is_null() || text_of(body[name]).empty()) throw missing_param(name);
  return text_of(body[name]);
}

std::string random_hex(std::mt19937_64& rng) {
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

std::optional<std::string> canonical_stage(std::string stage) {
  std::transform(stage.begin(), stage.end(), stage.begin(), [](unsigned char c) { return std::tolower(c); });
  if (stage == "none") return "None";
  if (stage == "staging") return "Staging";
  if (stage == "production") return "Production";
  if (stage == "archived") return "Archived";
  return std::nullopt;
}

// A filter such as "name='m' and tags.`mlops.origin`='x'": clauses joined by AND, each
// `<entity>.<key> = '<value>'` or `<attribute> = '<value>'`.
struct Clause {
  std::string entity;  // tags, params, attribute
  std::string key;
  std::string value;
};
std::vector<Clause> parse_filter(const std::string& filter) {
  std::vector<Clause> clauses;
  std::size_t i = 0;
  const auto skip_space = [&] {
    while (i < filter.size() && std::isspace(static_cast<unsigned char>(filter[i]))) ++i;
  };
  const auto bad = [&] { return invalid(fmt::format("Invalid clause(s) in filter string: '{}'", filter)); };
  while (true) {
    skip_space();
    if (i >= filter.size()) break;
    Clause c;
    std::string ident;
    while (i < filter.size() && filter[i] != '=' && !std::isspace(static_cast<unsigned char>(filter[i]))) {
      if (filter[i] == '`') {
        const std::size_t end = filter.find('`', i + 1);
        if (end == std::string::npos) throw bad();
        ident += filter.substr(i + 1, end - i - 1);
        i = end + 1;
      } else {
        ident += filter[i++];
      }
    }
    const std::size_t dot = ident.find('.');
    const std::string head = dot == std::string::npos ? "" : ident.substr(0, dot);
    if (head == "tags" || head == "tag" || head == "params" || head == "param") {
      c.entity = head.substr(0, 1) == "t" ? "tags" : "params";
      c.key = ident.substr(dot + 1);
    } else {
      c.entity = "attribute";
      c.key = head == "attributes" || head == "attribute" ? ident.substr(dot + 1) : ident;
    }
    skip_space();
    if (i >= filter.size() || filter[i] != '=') throw bad();
    ++i;
    skip_space();
    if (i >= filter.size() || (filter[i] != '\'' && filter[i] != '"')) throw bad();
    const char quote = filter[i];
    const std::size_t end = filter.find(quote, i + 1);
    if (end == std::string::npos) throw bad();
    c.value = filter.substr(i + 1, end - i - 1);
    i = end + 1;
    clauses.push_back(c);
    skip_space();
    if (i >= filter.size()) break;
    std::string word = filter.substr(i, 3);
    std::transform(word.begin(), word.end(), word.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (word != "and") throw bad();
    i += 3;
  }
  return clauses;
}

}  // namespace

struct MlflowDouble::Impl {
  struct Experiment {
    std::string id, name;
    std::int64_t created = 0;
    Tags tags;
    std::string lifecycle = "active";
  };
  struct Metric {
    std::string key;
    double value;
    std::int64_t timestamp, step;
  };
  struct Run {
    std::string id, experiment_id, name, user, status = "RUNNING", lifecycle = "active";
    std::int64_t start = 0, end = 0;
    Tags params, tags;
    std::vector<Metric> metrics;  // the history; runs/get shows the latest per key
  };
  struct Version {
    std::string name, version, source, run_id, description, stage = "None";
    Tags tags;
    std::int64_t created = 0, updated = 0;
  };
  struct Model {
    std::string name, description;
    std::int64_t created = 0, updated = 0;
    Tags tags;
    std::map<std::string, std::string> aliases;  // alias -> version
    int next_version = 1;
    std::map<int, Version> versions;
  };

  mutable std::mutex mu;
  std::vector<Experiment> experiments{{"0", "Default", 0, {}}};
  std::map<std::string, Run> runs;
  std::map<std::string, Model> models;
  std::map<std::string, std::string> artifacts;  // path below the destination -> bytes
  std::vector<std::string> log;
  std::mt19937_64 rng{std::random_device{}()};
  // faults
  int fail_count = 0, fail_status = 500;
  struct Reject {
    std::string path_part, body_part, message;
  };
  std::vector<Reject> rejects;
  std::string hold_part;
  bool holding = false;
  std::condition_variable release;
  std::string token;

  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  int port = 0;

  // ---- the API ---------------------------------------------------------------------------
  Experiment* find_experiment(const std::string& id) {
    for (auto& e : experiments) {
      if (e.id == id) return &e;
    }
    return nullptr;
  }
  Run& run(const std::string& id) {
    auto it = runs.find(id);
    if (it == runs.end()) throw not_found(fmt::format("Run with id={} not found", id));
    return it->second;
  }
  // Writes to a deleted run (or to a run of a deleted experiment) are refused.
  Run& active_run(const std::string& id) {
    Run& r = run(id);
    if (r.lifecycle != "active") {
      throw invalid(fmt::format("The run {} must be in the 'active' state. Current state is {}.", r.id, r.lifecycle));
    }
    return r;
  }
  Model& model(const std::string& name) {
    auto it = models.find(name);
    if (it == models.end()) throw not_found(fmt::format("Registered Model with name={} not found", name));
    return it->second;
  }
  Version& version(const std::string& name, const json& v) {
    if (!v.is_string()) {  // MLflow refuses a numeric version here
      throw invalid(fmt::format("Invalid value {} for parameter 'version' supplied. Hint: Value was of type 'int'. See "
                                "the API docs for more information about request parameters.",
                                v.dump()));
    }
    const std::string text = v.get<std::string>();
    Model* m = models.count(name) ? &models[name] : nullptr;
    const bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
    if (!m || !digits || !m->versions.count(std::stoi(text))) {
      throw not_found(fmt::format("Model Version (name={}, version={}) not found", name, text));
    }
    return m->versions[std::stoi(text)];
  }
  static std::string artifact_uri(const Run& r) {
    return fmt::format("mlflow-artifacts:/{}/{}/artifacts", r.experiment_id, r.id);
  }
  json experiment_json(const Experiment& e) const {
    json j = {{"experiment_id", e.id}, {"name", e.name}, {"artifact_location", "mlflow-artifacts:/" + e.id},
              {"lifecycle_stage", e.lifecycle}, {"last_update_time", e.created}, {"creation_time", e.created}};
    if (!e.tags.empty()) j["tags"] = tag_list(e.tags);
    return j;
  }
  json run_info(const Run& r) const {
    json info = {{"run_uuid", r.id}, {"experiment_id", r.experiment_id}, {"run_name", r.name}, {"user_id", r.user},
                 {"status", r.status}, {"start_time", r.start}, {"artifact_uri", artifact_uri(r)},
                 {"lifecycle_stage", r.lifecycle}, {"run_id", r.id}};
    if (r.end) info["end_time"] = r.end;
    return info;
  }
  json run_json(const Run& r) const {
    json data = json::object();
    std::map<std::string, Metric> latest;
    for (const Metric& m : r.metrics) {
      auto it = latest.find(m.key);
      if (it == latest.end() || std::tie(m.step, m.timestamp) >= std::tie(it->second.step, it->second.timestamp)) {
        latest.insert_or_assign(m.key, m);
      }
    }
    if (!latest.empty()) {
      data["metrics"] = json::array();
      for (const auto& [k, m] : latest) {
        data["metrics"].push_back({{"key", k}, {"value", m.value}, {"timestamp", m.timestamp}, {"step", m.step}});
      }
    }
    if (!r.params.empty()) data["params"] = tag_list(r.params);
    if (!r.tags.empty()) data["tags"] = tag_list(r.tags);
    return {{"info", run_info(r)}, {"data", data}, {"inputs", json::object()}};
  }
  json version_json(const Version& v, bool with_aliases) const {
    json j = {{"name", v.name}, {"version", v.version}, {"creation_timestamp", v.created},
              {"last_updated_timestamp", v.updated}, {"current_stage", v.stage}, {"source", v.source},
              {"status", "READY"}, {"run_link", ""}};
    if (!v.description.empty()) j["description"] = v.description;
    if (!v.run_id.empty()) j["run_id"] = v.run_id;
    if (!v.tags.empty()) j["tags"] = tag_list(v.tags);
    if (with_aliases) {
      json aliases = json::array();
      for (const auto& [alias, version] : models.at(v.name).aliases) {
        if (version == v.version) aliases.push_back(alias);
      }
      if (!aliases.empty()) j["aliases"] = aliases;
    }
    return j;
  }
  json model_json(const Model& m) const {
    json j = {{"name", m.name}, {"creation_timestamp", m.created}, {"last_updated_timestamp", m.updated}};
    if (!m.description.empty()) j["description"] = m.description;
    std::map<std::string, const Version*> latest;  // per stage, the newest
    for (const auto& [n, v] : m.versions) latest[v.stage] = &v;
    if (!latest.empty()) {
      j["latest_versions"] = json::array();
      for (const auto& [stage, v] : latest) j["latest_versions"].push_back(version_json(*v, false));
    }
    if (!m.tags.empty()) j["tags"] = tag_list(m.tags);
    if (!m.aliases.empty()) {
      j["aliases"] = json::array();
      for (const auto& [alias, version] : m.aliases) j["aliases"].push_back({{"alias", alias}, {"version", version}});
    }
    return j;
  }
  static Tags tags_from(const json& body, const char* field = "tags") {
    Tags tags;
    if (body.contains(field) && body[field].is_array()) {
      for (const json& t : body[field]) tags[t.value("key", "")] = text_of(t.value("value", json("")));
    }
    return tags;
  }

  json api(const std::string& method, const std::string& route, const json& body) {
    const std::int64_t now = now_ms();
    if (route == "experiments/get-by-name" && method == "GET") {
      const std::string name = required(body, "experiment_name");
      for (const auto& e : experiments) {
        if (e.name == name) return {{"experiment", experiment_json(e)}};
      }
      throw not_found(fmt::format("Could not find experiment with name '{}'", name));
    }
    if (route == "experiments/get" && method == "GET") {
      const std::string id = required(body, "experiment_id");
      if (auto* e = find_experiment(id)) return {{"experiment", experiment_json(*e)}};
      throw not_found(fmt::format("No Experiment with id={} exists", id));
    }
    if (route == "experiments/create" && method == "POST") {
      const std::string name = required(body, "name");
      for (const auto& e : experiments) {
        if (e.name == name) {
          throw ApiError{400, "RESOURCE_ALREADY_EXISTS",
                         fmt::format("Experiment(name={}) already exists. Error: (raised as a result of Query-invoked "
                                     "autoflush) (sqlite3.IntegrityError) UNIQUE constraint failed: experiments.name",
                                     name)};
        }
      }
      experiments.push_back({std::to_string(experiments.size()), name, now, tags_from(body)});
      return {{"experiment_id", experiments.back().id}};
    }
    if (route == "runs/create" && method == "POST") {
      const std::string exp = body.contains("experiment_id") ? text_of(body["experiment_id"]) : "0";
      const Experiment* e = find_experiment(exp);
      if (!e) throw not_found(fmt::format("No Experiment with id={} exists", exp));
      if (e->lifecycle != "active") {
        throw invalid(fmt::format("The experiment {} must be in the 'active' state. Current state is {}.", exp, e->lifecycle));
      }
      Run r;
      r.id = random_hex(rng);
      r.experiment_id = exp;
      r.name = body.value("run_name", fmt::format("fearless-moose-{}", runs.size() + 1));
      r.user = body.value("user_id", "");
      r.start = body.contains("start_time") ? std::stoll(text_of(body["start_time"])) : now;
      r.tags = tags_from(body);
      r.tags["mlflow.runName"] = r.name;
      runs[r.id] = r;
      return {{"run", run_json(r)}};
    }
    if (route == "runs/get" && method == "GET") return {{"run", run_json(run(required(body, "run_id")))}};
    if (route == "runs/search" && (method == "POST" || method == "GET")) {
      std::vector<std::string> ids;
      if (body.contains("experiment_ids")) {
        for (const json& id : body["experiment_ids"]) ids.push_back(text_of(id));
      }
      const std::vector<Clause> clauses = parse_filter(body.value("filter", ""));
      const std::string view = body.contains("run_view_type") ? text_of(body["run_view_type"]) : "ACTIVE_ONLY";
      std::vector<const Run*> hits;
      for (const auto& [id, r] : runs) {
        if (std::find(ids.begin(), ids.end(), r.experiment_id) == ids.end()) continue;
        if (view != "ALL" && (r.lifecycle == "active") != (view == "ACTIVE_ONLY")) continue;
        const bool match = std::all_of(clauses.begin(), clauses.end(), [&](const Clause& c) {
          const Tags& source = c.entity == "tags" ? r.tags : r.params;
          if (c.entity == "attribute") return c.key == "run_name" ? r.name == c.value : c.key == "status" && r.status == c.value;
          auto it = source.find(c.key);
          return it != source.end() && it->second == c.value;
        });
        if (match) hits.push_back(&r);
      }
      std::sort(hits.begin(), hits.end(), [](const Run* a, const Run* b) { return a->start > b->start; });
      const std::size_t max = body.contains("max_results") ? std::stoul(text_of(body["max_results"])) : 1000;
      if (hits.empty()) return json::object();
      json out = {{"runs", json::array()}};
      for (std::size_t i = 0; i < hits.size() && i < max; ++i) out["runs"].push_back(run_json(*hits[i]));
      return out;
    }
    if (route == "runs/log-batch" && method == "POST") {
      Run& r = active_run(required(body, "run_id"));
      const json params = body.value("params", json::array());
      const json metrics = body.value("metrics", json::array());
      const json tags = body.value("tags", json::array());
      if (params.size() > 100) {
        throw invalid(fmt::format("A batch logging request can contain at most 100 params. Got {} params. Please split up "
                                  "params across multiple requests and try again.",
                                  params.size()));
      }
      if (metrics.size() > 1000) {
        throw invalid(fmt::format("A batch logging request can contain at most 1000 metrics. Got {} metrics. Please "
                                  "split up metrics across multiple requests and try again.",
                                  metrics.size()));
      }
      if (tags.size() > 100) throw invalid(fmt::format("A batch logging request can contain at most 100 tags. Got {} tags.", tags.size()));
      if (params.size() + metrics.size() + tags.size() > 1000) {
        throw invalid("A batch logging request can contain at most 1000 overall param, metric, and tag entries.");
      }
      std::vector<std::map<std::string, std::string>> changed;
      for (const json& p : params) {
        const std::string key = p.value("key", "");
        check_key(key, "parameter");
        const std::string value = text_of(p.value("value", json("")));
        auto it = r.params.find(key);
        if (it != r.params.end() && it->second != value) changed.push_back({{"key", key}, {"old", it->second}, {"new", value}});
      }
      if (!changed.empty()) {
        std::string list;
        for (const auto& c : changed) {
          list += fmt::format("{}{{'key': '{}', 'old_value': '{}', 'new_value': '{}'}}", list.empty() ? "" : ", ",
                              c.at("key"), c.at("old"), c.at("new"));
        }
        throw invalid(fmt::format("Changing param values is not allowed. Params were already logged='[{}]' for run ID='{}'.",
                                  list, r.id));
      }
      for (const json& m : metrics) {
        if (!m.contains("timestamp")) {
          throw invalid(fmt::format("Invalid value [{}] for parameter 'metrics' supplied. Hint: Value was of type 'list'. "
                                    "See the API docs for more information about request parameters.",
                                    m.dump()));
        }
        check_key(m.value("key", ""), "metric");
      }
      for (const json& t : tags) check_key(t.value("key", ""), "tag");
      for (const json& p : params) r.params[p.value("key", "")] = text_of(p.value("value", json("")));
      for (const json& m : metrics) {
        const json& v = m.at("value");
        r.metrics.push_back({m.value("key", ""), v.is_number() ? v.get<double>() : std::stod(text_of(v)),
                             std::stoll(text_of(m["timestamp"])), m.contains("step") ? std::stoll(text_of(m["step"])) : 0});
      }
      for (const json& t : tags) r.tags[t.value("key", "")] = text_of(t.value("value", json("")));
      return json::object();
    }
    if (route == "runs/update" && method == "POST") {
      Run& r = active_run(required(body, "run_id"));
      const std::string status = body.value("status", "");
      if (status == "RUNNING" || status == "SCHEDULED" || status == "FINISHED" || status == "FAILED" || status == "KILLED") {
        r.status = status;  // an unknown status is ignored, as MLflow does
      }
      if (body.contains("end_time")) r.end = std::stoll(text_of(body["end_time"]));
      if (body.contains("run_name")) r.name = body["run_name"].get<std::string>();
      return {{"run_info", run_info(r)}};
    }
    if ((route == "experiments/delete" || route == "experiments/restore") && method == "POST") {
      const std::string id = required(body, "experiment_id");
      Experiment* e = find_experiment(id);
      const bool deleting = route == "experiments/delete";
      // As MLflow: an experiment that is not in the state the call starts from "does not exist".
      if (!e || (e->lifecycle == "active") != deleting) throw not_found(fmt::format("No Experiment with id={} exists", id));
      if (deleting && id == "0") throw invalid("Cannot delete the default experiment '0'. This is an internally reserved experiment.");
      e->lifecycle = deleting ? "deleted" : "active";
      for (auto& [rid, r] : runs) {
        if (r.experiment_id == id) r.lifecycle = e->lifecycle;  // its runs go and come back with it
      }
      return json::object();
    }
    if ((route == "runs/delete" || route == "runs/restore") && method == "POST") {
      run(required(body, "run_id")).lifecycle = route == "runs/delete" ? "deleted" : "active";
      return json::object();
    }
    if (route == "model-versions/delete" && method == "DELETE") {
      const std::string name = required(body, "name");
      Version& v = version(name, json(required(body, "version")));
      models[name].versions.erase(std::stoi(v.version));  // its aliases stay, dangling, as in MLflow 2.9
      return json::object();
    }
    if (route == "registered-models/delete" && method == "DELETE") {
      models.erase(model(required(body, "name")).name);
      return json::object();
    }
    if (route == "registered-models/set-tag" && method == "POST") {
      Model& m = model(required(body, "name"));
      const std::string key = required(body, "key");
      check_key(key, "tag");
      m.tags[key] = text_of(body.value("value", json("")));
      return json::object();
    }
    if (route == "registered-models/create" && method == "POST") {
      const std::string name = required(body, "name");
      if (models.count(name)) {
        throw ApiError{400, "RESOURCE_ALREADY_EXISTS",
                       fmt::format("Registered Model (name={}) already exists. Error: (sqlite3.IntegrityError) UNIQUE "
                                   "constraint failed: registered_models.name",
                                   name)};
      }
      Model m;
      m.name = name;
      m.description = body.value("description", "");
      m.created = m.updated = now;
      m.tags = tags_from(body);
      models[name] = m;
      return {{"registered_model", model_json(m)}};
    }
    if (route == "registered-models/get" && method == "GET") {
      return {{"registered_model", model_json(model(required(body, "name")))}};
    }
    if (route == "model-versions/create" && method == "POST") {
      const std::string name = required(body, "name");
      const std::string source = required(body, "source");
      Model& m = model(name);
      if (source.rfind("mlflow-artifacts:/", 0) != 0 && source.rfind("runs:/", 0) != 0 && source.find("://") == std::string::npos) {
        throw invalid(fmt::format("Invalid model version source: '{}'. To use a local path as a model version source, the "
                                  "run_id request parameter has to be specified and the local path has to be contained "
                                  "within the artifact directory of the run specified by the run_id.",
                                  source));
      }
      Version v;
      v.name = name;
      v.version = std::to_string(m.next_version);
      v.source = source;
      v.run_id = body.value("run_id", "");
      v.description = body.value("description", "");
      v.tags = tags_from(body);
      v.created = v.updated = now;
      m.versions[m.next_version++] = v;
      m.updated = now;
      return {{"model_version", version_json(v, false)}};
    }
    if (route == "model-versions/get" && method == "GET") {
      const std::string name = required(body, "name");
      return {{"model_version", version_json(version(name, json(required(body, "version"))), true)}};
    }
    if (route == "model-versions/get-download-uri" && method == "GET") {
      const std::string name = required(body, "name");
      return {{"artifact_uri", version(name, json(required(body, "version"))).source}};
    }
    if (route == "model-versions/search" && method == "GET") {
      const std::vector<Clause> clauses = parse_filter(body.value("filter", ""));
      std::vector<const Version*> hits;
      for (const auto& [name, m] : models) {
        for (const auto& [n, v] : m.versions) {
          const bool match = std::all_of(clauses.begin(), clauses.end(), [&](const Clause& c) {
            if (c.entity == "tags") return v.tags.count(c.key) && v.tags.at(c.key) == c.value;
            if (c.key == "name") return v.name == c.value;
            if (c.key == "run_id") return v.run_id == c.value;
            throw invalid(fmt::format("Invalid attribute key '{}' specified.", c.key));
          });
          if (match) hits.push_back(&v);
        }
      }
      std::sort(hits.begin(), hits.end(), [](const Version* a, const Version* b) {
        return a->name != b->name ? a->name < b->name : std::stoi(a->version) > std::stoi(b->version);
      });
      const std::size_t max = body.contains("max_results") ? std::stoul(text_of(body["max_results"])) : 10000;
      if (hits.empty()) return json::object();
      json out = {{"model_versions", json::array()}};
      for (std::size_t i = 0; i < hits.size() && i < max; ++i) out["model_versions"].push_back(version_json(*hits[i], false));
      return out;
    }
    if (route == "model-versions/transition-stage" && method == "POST") {
      const std::string name = required(body, "name");
      if (!body.contains("version")) throw missing_param("version");
      Version& v = version(name, body["version"]);
      const auto stage = canonical_stage(required(body, "stage"));
      if (!stage) {
        throw invalid(fmt::format("Invalid Model Version stage: {}. Value must be one of None, Staging, Production, Archived.",
                                  body["stage"].get<std::string>()));
      }
      const bool archive = body.value("archive_existing_versions", false);
      if (archive && *stage != "Staging" && *stage != "Production") {
        throw ApiError{500, "INTERNAL_ERROR",
                       fmt::format("Model version transition cannot archive existing model versions because '{}' is not "
                                   "an Active stage. Valid stages are ['Staging', 'Production']",
                                   *stage)};
      }
      if (archive) {
        for (auto& [n, other] : models[name].versions) {
          if (other.version != v.version && other.stage == *stage) {
            other.stage = "Archived";
            other.updated = now;
          }
        }
      }
      v.stage = *stage;
      v.updated = now;
      return {{"model_version", version_json(v, false)}};
    }
    if (route == "registered-models/alias") {
      const std::string name = required(body, "name");
      const std::string alias = required(body, "alias");
      if (method == "POST") version(name, json(required(body, "version")));  // MLflow looks the version up first
      Model& m = model(name);
      if (method == "POST") {
        const bool ok = std::all_of(alias.begin(), alias.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
        if (!ok) {
          throw invalid(fmt::format("Invalid alias name: '{}'. Names may only contain alphanumerics, underscores (_), and "
                                    "dashes (-).",
                                    alias));
        }
        std::string lower = alias;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (lower == "latest") throw invalid("'latest' alias name (case insensitive) is reserved.");
        if (lower.size() > 1 && lower[0] == 'v' && std::all_of(lower.begin() + 1, lower.end(), [](unsigned char c) { return std::isdigit(c); })) {
          throw invalid(fmt::format("Version alias name '{}' is reserved.", alias));
        }
        m.aliases[alias] = version(name, json(required(body, "version"))).version;
        return json::object();
      }
      if (method == "GET") {
        auto it = m.aliases.find(alias);
        if (it == m.aliases.end()) throw invalid(fmt::format("Registered model alias {} not found.", alias));
        return {{"model_version", version_json(version(name, json(it->second)), true)}};
      }
      if (method == "DELETE") {
        m.aliases.erase(alias);
        return json::object();
      }
    }
    if (route == "model-versions/set-tag" && method == "POST") {
      const std::string name = required(body, "name");
      if (!body.contains("version")) throw missing_param("version");
      Version& v = version(name, json(text_of(body["version"])));
      const std::string key = required(body, "key");
      check_key(key, "tag");
      v.tags[key] = text_of(body.value("value", json("")));
      return json::object();
    }
    if (route == "registered-models/get-latest-versions" && (method == "POST" || method == "GET")) {
      Model& m = model(required(body, "name"));
      std::vector<std::string> stages;
      if (body.contains("stages")) {
        for (const json& s : body["stages"].is_array() ? body["stages"] : json::array({body["stages"]})) {
          const auto stage = canonical_stage(text_of(s));
          if (!stage) {
            throw invalid(fmt::format("Invalid Model Version stage: {}. Value must be one of None, Staging, Production, Archived.",
                                      text_of(s)));
          }
          stages.push_back(*stage);
        }
      }
      std::map<std::string, const Version*> latest;
      for (const auto& [n, v] : m.versions) {
        if (stages.empty() || std::find(stages.begin(), stages.end(), v.stage) != stages.end()) latest[v.stage] = &v;
      }
      if (latest.empty()) return json::object();
      json out = {{"model_versions", json::array()}};
      for (const auto& [stage, v] : latest) out["model_versions"].push_back(version_json(*v, false));
      return out;
    }
    throw std::out_of_range(route);  // not a route of this method: the caller decides 404 or 405
  }

  // ---- HTTP ------------------------------------------------------------------------------
  static bool known_route(const std::string& route) {
    static const std::vector<std::string> routes = {
        "experiments/get-by-name", "experiments/get", "experiments/create", "runs/create", "runs/get", "runs/search",
        "runs/log-batch", "runs/update", "registered-models/create", "registered-models/get", "model-versions/create",
        "model-versions/get", "model-versions/get-download-uri", "model-versions/search", "model-versions/transition-stage",
        "registered-models/alias", "model-versions/set-tag", "registered-models/get-latest-versions",
        "experiments/delete", "experiments/restore", "runs/delete", "runs/restore", "model-versions/delete",
        "registered-models/delete", "registered-models/set-tag"};
    return std::find(routes.begin(), routes.end(), route) != routes.end();
  }

  static void html(httplib::Response& res, int status, const std::string& title) {
    res.status = status;
    res.set_content(fmt::format("<!doctype html>\n<html lang=en>\n<title>{0}</title>\n<h1>{0}</h1>\n", title), "text/html; charset=utf-8");
  }
  static void answer(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(2), "application/json");
  }

  // Faults and auth that apply before any route. Returns true when it answered.
  bool before(const httplib::Request& req, httplib::Response& res, std::unique_lock<std::mutex>& lock) {
    (void)lock;
    log.push_back(req.method + " " + req.path);
    if (!token.empty() && req.get_header_value("Authorization") != "Bearer " + token) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Basic realm=\"mlflow\"");
      res.set_content("You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html on how to "
                      "authenticate.",
                      "text/plain");
      return true;
    }
    if (fail_count > 0) {
      --fail_count;
      answer(res, fail_status, {{"error_code", "INTERNAL_ERROR"}, {"message", "injected failure"}});
      return true;
    }
    for (const Reject& r : rejects) {
      if (req.path.find(r.path_part) != std::string::npos && req.body.find(r.body_part) != std::string::npos) {
        answer(res, 400, {{"error_code", "INVALID_PARAMETER_VALUE"}, {"message", r.message}});
        return true;
      }
    }
    return false;
  }

  // After a call was carried out: holds its answer when asked to.
  void after(const httplib::Request& req, std::unique_lock<std::mutex>& lock) {
    if (hold_part.empty() || req.path.find(hold_part) == std::string::npos) return;
    hold_part.clear();
    holding = true;
    release.wait(lock, [this] { return !holding; });
  }

  void handle_api(const httplib::Request& req, httplib::Response& res) {
    std::unique_lock lock(mu);
    if (before(req, res, lock)) return;
    const std::string route = req.path.substr(std::string("/api/2.0/mlflow/").size());
    if (!known_route(route)) {
      html(res, 404, "404 Not Found");
      return;
    }
    json body = json::object();
    if (req.method == "GET") {
      for (const auto& [key, value] : req.params) {
        if (body.contains(key)) {
          if (!body[key].is_array()) body[key] = json::array({body[key]});
          body[key].push_back(value);
        } else {
          body[key] = value;
        }
      }
    } else {
      const std::string type = req.get_header_value("Content-Type");
      if (type.empty()) {
        answer(res, 400, {{"error_code", "INVALID_PARAMETER_VALUE"}, {"message", "Bad Request. Content-Type header is missing."}});
        return;
      }
      if (type.substr(0, type.find(';')) != "application/json") {
        answer(res, 400, {{"error_code", "INVALID_PARAMETER_VALUE"},
                          {"message", "Bad Request. Content-Type must be one of ['application/json']."}});
        return;
      }
      body = json::parse(req.body, nullptr, false);
      if (body.is_discarded() || !body.is_object()) body = json::object();  // as MLflow: then a parameter is missing
    }
    try {
      answer(res, 200, api(req.method, route, body));
      after(req, lock);
    } catch (const ApiError& e) {
      answer(res, e.status, {{"error_code", e.code}, {"message", e.message}});
    } catch (const std::out_of_range&) {
      html(res, 405, "405 Method Not Allowed");
    }
  }

  void handle_artifact(const httplib::Request& req, httplib::Response& res) {
    std::unique_lock lock(mu);
    if (before(req, res, lock)) return;
    const std::string path = httplib::detail::decode_url(req.path.substr(std::string("/api/2.0/mlflow-artifacts/artifacts/").size()), false);
    if (path.find("..") != std::string::npos || path.empty() || path.front() == '/') {
      answer(res, 400, {{"error_code", "INVALID_PARAMETER_VALUE"}, {"message", "Invalid path: " + path}});
      return;
    }
    if (req.method == "PUT") {
      artifacts[path] = req.body;
      answer(res, 200, json::object());
      after(req, lock);
      return;
    }
    auto it = artifacts.find(path);
    if (it == artifacts.end()) {
      answer(res, 500, {{"error_code", "INTERNAL_ERROR"},
                        {"message", fmt::format("The following failures occurred while downloading one or more artifacts "
                                                "from ./mlartifacts: {{'{0}': \"FileNotFoundError(2, 'No such file or "
                                                "directory')\"}}",
                                                path)}});
      return;
    }
    const std::string name = path.substr(path.rfind('/') + 1);
    res.set_header("Content-Disposition", "attachment; filename=" + name);
    res.set_content(it->second, "application/octet-stream");
  }

  void listen() {
    server = std::make_unique<httplib::Server>();
    server->set_tcp_nodelay(true);  // as production servers do; else small answers wait for delayed ACKs
    const auto api_handler = [this](const httplib::Request& req, httplib::Response& res) { handle_api(req, res); };
    const auto artifact_handler = [this](const httplib::Request& req, httplib::Response& res) { handle_artifact(req, res); };
    server->Get("/api/2.0/mlflow/.*", api_handler);
    server->Post("/api/2.0/mlflow/.*", api_handler);
    server->Delete("/api/2.0/mlflow/.*", api_handler);
    server->Patch("/api/2.0/mlflow/.*", api_handler);
    server->Put("/api/2.0/mlflow/.*", api_handler);
    server->Get("/api/2.0/mlflow-artifacts/artifacts/.*", artifact_handler);
    server->Put("/api/2.0/mlflow-artifacts/artifacts/.*", artifact_handler);
    server->Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("OK", "text/plain"); });
    if (port == 0) {
      port = server->bind_to_any_port("127.0.0.1");
    } else if (!server->bind_to_port("127.0.0.1", port)) {
      throw std::runtime_error(fmt::format("MLflow double cannot listen on port {} again", port));
    }
    if (port <= 0) throw std::runtime_error("MLflow double cannot listen");
    thread = std::thread([this] { server->listen_after_bind(); });
    while (!server->is_running()) std::this_thread::yield();
  }

  void shutdown() {
    {
      std::lock_guard lock(mu);
      holding = false;
      hold_part.clear();
    }
    release.notify_all();
    if (server) server->stop();
    if (thread.joinable()) thread.join();
    server.reset();
  }
};

MlflowDouble::MlflowDouble(int port) : impl_(std::make_unique<Impl>()) {
  impl_->port = port;
  impl_->listen();
}
MlflowDouble::~MlflowDouble() { impl_->shutdown(); }

std::string MlflowDouble::url() const { return fmt::format("http://127.0.0.1:{}", impl_->port); }
int MlflowDouble::port() const { return impl_->port; }
void MlflowDouble::stop() { impl_->shutdown(); }
void MlflowDouble::restart() {
  impl_->shutdown();
  impl_->listen();
}

void MlflowDouble::fail_next(int n, int status) {
  std::lock_guard lock(impl_->mu);
  impl_->fail_count = n;
  impl_->fail_status = status;
}

void MlflowDouble::reject(const std::string& path_part, const std::string& body_part, const std::string& message) {
  std::lock_guard lock(impl_->mu);
  impl_->rejects.push_back({path_part, body_part, message});
}

void MlflowDouble::hold_after(const std::string& path_part) {
  std::lock_guard lock(impl_->mu);
  impl_->hold_part = path_part;
}

void MlflowDouble::clear_faults() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->fail_count = 0;
    impl_->rejects.clear();
    impl_->hold_part.clear();
    impl_->holding = false;
  }
  impl_->release.notify_all();
}

void MlflowDouble::require_token(const std::string& token) {
  std::lock_guard lock(impl_->mu);
  impl_->token = token;
}

int MlflowDouble::calls(const std::string& part) const {
  std::lock_guard lock(impl_->mu);
  return static_cast<int>(std::count_if(impl_->log.begin(), impl_->log.end(),
                                        [&](const std::string& line) { return line.find(part) != std::string::npos; }));
}

json MlflowDouble::state() const {
  std::lock_guard lock(impl_->mu);
  json out = {{"experiments", json::array()}, {"runs", json::array()}, {"models", json::array()}, {"artifacts", json::object()}};
  for (const auto& e : impl_->experiments) out["experiments"].push_back(impl_->experiment_json(e));
  for (const auto& [id, r] : impl_->runs) {
    json run = impl_->run_json(r);
    run["params"] = r.params;
    run["tags"] = r.tags;
    json metrics = json::object();
    for (const auto& m : r.metrics) metrics[m.key] = m.value;
    run["metrics"] = metrics;
    run["metric_points"] = r.metrics.size();
    out["runs"].push_back(run);
  }
  for (const auto& [name, m] : impl_->models) {
    json model = impl_->model_json(m);
    model["aliases"] = m.aliases;
    model["versions"] = json::array();
    for (const auto& [n, v] : m.versions) {
      json version = impl_->version_json(v, false);
      version["tags"] = v.tags;
      model["versions"].push_back(version);
    }
    out["models"].push_back(model);
  }
  for (const auto& [path, bytes] : impl_->artifacts) out["artifacts"][path] = bytes;
  return out;
}

}  // namespace mlops::test
