#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "libmlops/registry/registry_store.hpp"
#include "tests/support/support.hpp"

using namespace mlops;

TEST_SUITE("integration/registry") {
  TEST_CASE("eight register processes at once make eight consecutive versions, none lost") {
    test::TempDir dir;
    const std::string home = dir.file("home");
    REQUIRE(test::run_cli({"train", "--n-samples", "200", "-o", dir.file("m.json"), "--json"}, home).exit_code == 0);
    std::vector<int> pids;
    for (int i = 0; i < 8; ++i) {
      pids.push_back(test::spawn_cli({"register", "--model", dir.file("m.json"), "--name", "churn", "--json"}, home,
                                     dir.file("out" + std::to_string(i)), dir.file("err" + std::to_string(i))));
    }
    std::set<std::int64_t> versions;
    for (int i = 0; i < 8; ++i) {
      CAPTURE(test::read_text(dir.file("err" + std::to_string(i))));
      CHECK(test::wait_exit_code(pids[static_cast<std::size_t>(i)]) == 0);
      const auto out = nlohmann::json::parse(test::read_text(dir.file("out" + std::to_string(i))));
      versions.insert(out["version"]["version"].get<std::int64_t>());
    }
    CHECK(versions == std::set<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8});
    registry::RegistryStore store(home + "/mlops.db");
    CHECK(store.list_versions("churn").size() == 8);
    CHECK(store.history("churn").size() == 8);
  }
}
