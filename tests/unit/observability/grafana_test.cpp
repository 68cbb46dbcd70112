// The Grafana provisioning files and the dashboard agree (Grafana itself cannot run here).
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "tests/support/support.hpp"

TEST_SUITE("unit/observability/grafana") {
  TEST_CASE("the provisioned datasource is the one the dashboard's variable selects") {
    const std::string root = MLOPS_SOURCE_DIR;
    const YAML::Node sources = YAML::LoadFile(root + "/compose/grafana/provisioning/datasources/prometheus.yml");
    const YAML::Node providers = YAML::LoadFile(root + "/compose/grafana/provisioning/dashboards/mlops.yml");
    const auto dashboard = nlohmann::json::parse(mlops::test::read_text(root + "/dashboards/mlops-overview.json"));
    REQUIRE(sources["datasources"].size() == 1);
    const YAML::Node source = sources["datasources"][0];
    CHECK(source["type"].as<std::string>() == "prometheus");
    CHECK(source["url"].as<std::string>() == "http://prometheus:9090");  // the compose service
    const auto& variable = dashboard["templating"]["list"][0];
    CHECK(variable["type"] == "datasource");
    CHECK(variable["query"] == "prometheus");
    CHECK(variable["current"]["value"] == source["uid"].as<std::string>());
    for (const auto& panel : dashboard["panels"]) {
      const std::string title = panel["title"];
      CAPTURE(title);
      if (panel["type"] == "row") continue;  // a row only groups panels
      CHECK(panel["datasource"]["uid"] == "${datasource}");  // every panel follows the variable
    }
    CHECK(providers["providers"][0]["type"].as<std::string>() == "file");
    CHECK(providers["providers"][0]["options"]["path"].as<std::string>() == "/var/lib/grafana/dashboards");
  }
}
