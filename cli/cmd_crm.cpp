// cli: `mlops crm` — create, inspect, import and export the embedded CRM.
#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "libmlops/core/error.hpp"
#include "libmlops/core/log.hpp"
#include "libmlops/crm/crm_service.hpp"
#include "libmlops/crm/sqlite_crm_store.hpp"

namespace mlops::cli {
namespace {

struct CrmOptions {
  std::optional<std::string> url;
  std::int64_t customers = 1000;
  std::uint32_t seed = 42;
  std::string id, segment, file;
  int limit = 20;
  std::string host = "127.0.0.1";
  int port = 8001;
  std::optional<std::string> api_key;
  std::size_t max_body_bytes = 1 << 20;
  double shutdown_timeout = 10;
};

std::unique_ptr<crm::SqliteCrmStore> open_embedded(const CrmOptions& opt, const Context& ctx) {
  const std::string url = opt.url.value_or(ctx.settings.get("CRM_URL"));
  if (url.rfind("sqlite:", 0) != 0) {
    throw Error(ErrorCode::invalid_input, fmt::format("'mlops crm' manages the embedded CRM; CRM_URL is {}", url),
                "pass --crm sqlite:crm.db");
  }
  return std::make_unique<crm::SqliteCrmStore>(url.substr(7));
}

nlohmann::json to_json(const crm::Customer& c, const std::vector<std::string>& names) {
  nlohmann::json features = nlohmann::json::object();
  for (std::size_t j = 0; j < c.features.size() && j < names.size(); ++j) features[names[j]] = c.features[j];
  return {{"user_id", c.id},
          {"name", c.name},
          {"segment", c.segment},
          {"segment_model_version", c.segment_model_version},
          {"segment_updated_at", c.segment_updated_at},
          {"risk_score", c.risk_score},
          {"features", features}};
}

int show(const CrmOptions& opt, Context& ctx) {
  auto store = open_embedded(opt, ctx);
  const auto customer = store->find_customer(opt.id);
  if (!customer) {
    throw Error(ErrorCode::not_found, fmt::format("no customer with id '{}' in the CRM", opt.id),
                "run `mlops crm list` to see customer ids");
  }
  const auto names = store->feature_names();
  const auto history = store->history(opt.id, 10);
  if (ctx.json) {
    nlohmann::json j = to_json(*customer, names);
    j["history"] = nlohmann::json::array();
    for (const auto& h : history) {
      j["history"].push_back({{"old_segment", h.old_segment}, {"new_segment", h.new_segment},
                              {"model_version", h.model_version}, {"source", h.source}, {"at", h.at}});
    }
    print_json(j);
    return kExitOk;
  }
  Table t({"field", "value"});
  t.add_row({"id", customer->id});
  t.add_row({"name", customer->name});
  t.add_row({"segment", customer->segment});
  t.add_row({"set by", customer->segment_model_version.empty() ? "-" : customer->segment_model_version});
  t.add_row({"set at", format_time(customer->segment_updated_at)});
  t.add_row({"risk score", fmt::format("{:.4f}", customer->risk_score)});
  for (std::size_t j = 0; j < names.size(); ++j) t.add_row({names[j], fmt::format("{:.4f}", customer->features[j])});
  print(t.render());
  if (!history.empty()) {
    Table h({"when", "from", "to", "model_version", "source"});
    for (const auto& e : history) h.add_row({format_time(e.at), e.old_segment, e.new_segment, e.model_version, e.source});
    print("\nSegment history:\n" + h.render());
  }
  return kExitOk;
}

int list(const CrmOptions& opt, Context& ctx) {
  auto store = open_embedded(opt, ctx);
  const auto customers = store->list(opt.segment, opt.limit);
  if (ctx.json) {
    const auto names = store->feature_names();
    nlohmann::json j = nlohmann::json::array();
    for (const auto& c : customers) j.push_back(to_json(c, names));
    print_json({{"customers", j}, {"total", store->count()}});
    return kExitOk;
  }
  Table t({"id", "name", "segment", "set by", "set at"});
  for (const auto& c : customers) {
    t.add_row({c.id, c.name, c.segment, c.segment_model_version.empty() ? "-" : c.segment_model_version,
               format_time(c.segment_updated_at)});
  }
  print(t.render() + fmt::format("({} of {} customers)\n", customers.size(), store->count()));
  return kExitOk;
}

int report(Context& ctx, const std::string& what, std::int64_t rows, const std::string& where) {
  if (ctx.json) {
    print_json({{"action", what}, {"customers", rows}, {"path", where}});
  } else {
    print(fmt::format("{} {} customers ({})\n", what, rows, where));
  }
  return kExitOk;
}

}  // namespace

Command add_crm_command(CLI::App& root, Globals& globals) {
  auto opt = std::make_shared<CrmOptions>();
  CLI::App* app = root.add_subcommand("crm", "Create, inspect, import and export the embedded CRM (M4)");
  app->require_subcommand(1);
  app->add_option("--crm", opt->url, "CRM URL, sqlite:PATH (CRM_URL, default sqlite:crm.db)");
  CLI::App* init = app->add_subcommand("init", "Create and seed the CRM (CUST001..., plus CUST_TEST_007)");
  init->add_option("--customers", opt->customers, "Customers to create")->capture_default_str()->check(CLI::Range(1, 100000000));
  init->add_option("--seed", opt->seed, "Seed of the features (drawn like the training data)")->capture_default_str();
  CLI::App* show_cmd = app->add_subcommand("show", "Show one customer: features, segment and its history");
  show_cmd->add_option("id", opt->id, "Customer id, e.g. CUST_TEST_007")->required();
  CLI::App* list_cmd = app->add_subcommand("list", "List customers");
  list_cmd->add_option("--segment", opt->segment, "Only this segment");
  list_cmd->add_option("--limit", opt->limit, "At most this many")->capture_default_str()->check(CLI::PositiveNumber);
  CLI::App* import_cmd = app->add_subcommand("import", "Add or update customers from a CSV (id,name,features...[,segment])");
  import_cmd->add_option("file", opt->file, "CSV file")->required();
  CLI::App* export_cmd = app->add_subcommand("export", "Write every customer to a CSV");
  export_cmd->add_option("file", opt->file, "CSV file")->required();
  CLI::App* serve = app->add_subcommand("serve", "Serve the CRM over HTTP: the course's CRM API plus batch endpoints");
  serve->add_option("--host", opt->host, "Listen address")->capture_default_str();
  serve->add_option("--port,-p", opt->port, "Port, 0 = any free port")->capture_default_str()->check(CLI::Range(0, 65535));
  serve->add_option("--api-key", opt->api_key, "Require this key on the writing routes (MLOPS_API_KEY)");
  serve->add_option("--max-body-bytes", opt->max_body_bytes, "Largest request body (413 above)")->capture_default_str()->check(CLI::Range(64, 1 << 30));
  serve->add_option("--shutdown-timeout", opt->shutdown_timeout, "Seconds SIGTERM waits for requests in flight")->capture_default_str()->check(CLI::Range(0.0, 3600.0));
  serve->footer("Routes: GET /customer/{id}/features, GET /customer/{id}, POST /crm_segment_update,\n"
                "GET /customers?after=ID&limit=N, POST /customers/segments, GET /health, GET /metrics.\n"
                "The POST routes need the API key when MLOPS_API_KEY (or --api-key) is set. SIGTERM drains.");
  for (CLI::App* sub : {init, show_cmd, list_cmd, import_cmd, export_cmd}) add_json_flag(sub, globals);
  return {app, [=](Context& ctx) {
            if (serve->parsed()) {
              auto store = open_embedded(*opt, ctx);  // validates CRM_URL
              crm::CrmServiceOptions o;
              o.service.host = opt->host;
              o.service.port = opt->port;
              o.service.api_key = opt->api_key.value_or(ctx.settings.get("MLOPS_API_KEY"));
              o.service.max_body_bytes = opt->max_body_bytes;
              o.shutdown_timeout = opt->shutdown_timeout;
              o.db_path = opt->url.value_or(ctx.settings.get("CRM_URL")).substr(7);
              if (ctx.settings.source("MLOPS_LOG") == config::Source::default_value) logging::set_level(logging::Level::info);
              crm::serve_crm_until_signal(o, [&](int port) {
                print(fmt::format("mlops crm serve: listening on http://{}:{} ({} customers)\n", o.service.host, port, store->count()));
              });
              return kExitOk;
            }
            if (show_cmd->parsed()) return show(*opt, ctx);
            if (list_cmd->parsed()) return list(*opt, ctx);
            auto store = open_embedded(*opt, ctx);
            const std::string url = opt->url.value_or(ctx.settings.get("CRM_URL"));
            if (init->parsed()) return report(ctx, "Created", store->seed(opt->customers, opt->seed), url);
            if (import_cmd->parsed()) return report(ctx, "Imported", store->import_csv(opt->file), opt->file);
            return report(ctx, "Exported", store->export_csv(opt->file), opt->file);
          }};
}

}  // namespace mlops::cli
