#include <doctest/doctest.h>

#include <fstream>

#include "libmlops/config/env_file.hpp"
#include "libmlops/config/settings.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using namespace mlops::config;

TEST_SUITE("unit/config/env_file") {
  TEST_CASE("parses plain, exported, quoted and commented lines") {
    const auto v = parse_env_text(
        "# comment\n\nA=1\nexport B = two \nC='x # not a comment'\nD=\"line\\nnext\"\nE=val # trailing\nA=3\n", "t");
    CHECK(v.at("A") == "3");
    CHECK(v.at("B") == "two");
    CHECK(v.at("C") == "x # not a comment");
    CHECK(v.at("D") == "line\nnext");
    CHECK(v.at("E") == "val");
  }
  TEST_CASE("a malformed line is rejected with its line number") {
    try {
      parse_env_text("A=1\nnot a setting\n", ".env");
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_input);
      CHECK(std::string(e.what()).find(".env:2") != std::string::npos);
    }
    CHECK(test::error_code_of([] { parse_env_text("1A=x", "t"); }) == ErrorCode::invalid_input);
    CHECK(test::error_code_of([] { parse_env_text("A=\"open", "t"); }) == ErrorCode::invalid_input);
  }
}

TEST_SUITE("unit/config/Settings") {
  TEST_CASE("flag beats environment beats .env beats default") {
    test::TempDir dir;
    const std::string env_file = dir.write(".env", "MODEL_NAME=from_file\nMODEL_VERSION=v9\nMODEL_PATH=file.json\n");
    const auto getenv = [](const char* key) -> const char* {
      return std::string(key) == "MODEL_NAME" || std::string(key) == "MODEL_VERSION" ? "from_env" : nullptr;
    };
    const Settings s = load_settings({{"MODEL_NAME", "from_flag"}}, env_file, getenv);
    CHECK(s.get("MODEL_NAME") == "from_flag");
    CHECK(s.source("MODEL_NAME") == Source::flag);
    CHECK(s.get("MODEL_VERSION") == "from_env");
    CHECK(s.get("MODEL_PATH") == "file.json");
    CHECK(s.source("MODEL_PATH") == Source::env_file);
    CHECK(s.get("MLOPS_HOME") == ".mlops");
    CHECK(s.source("MLOPS_HOME") == Source::default_value);
    CHECK(s.db_path() == ".mlops/mlops.db");
  }
  TEST_CASE("numeric settings parse, and a non-number names the key and its source") {
    const auto getenv = [](const char* key) -> const char* {
      return std::string(key) == "MLOPS_PORT" ? "80x0" : std::string(key) == "CRM_TIMEOUT" ? "2.5" : nullptr;
    };
    const Settings s = load_settings({}, std::nullopt, getenv);
    CHECK(s.number("CRM_TIMEOUT") == 2.5);
    CHECK(s.number("CANARY_WEIGHT") == 0.1);
    try {
      s.number("MLOPS_PORT");
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()) == "setting MLOPS_PORT='80x0' (from environment) is not a number");
    }
    CHECK(s.number("CRM_TIMEOUT", 0, 3) == 2.5);
    try {
      s.number("CRM_TIMEOUT", 0, 2);
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()) == "setting CRM_TIMEOUT=2.5 (from environment) is outside 0 to 2");
      CHECK(std::string(e.hint()).find("from 0 to 2") != std::string::npos);
    }
  }
  TEST_CASE("an explicit env file that does not exist is an error") {
    CHECK(test::error_code_of([] { load_settings({}, std::string("/nonexistent/.env")); }) == ErrorCode::not_found);
  }
  TEST_CASE(".env.example documents every known setting") {
    const auto example = parse_env_text(test::read_text(std::string(MLOPS_SOURCE_DIR) + "/.env.example"), ".env.example");
    for (const SettingSpec& spec : known_settings()) {
      CAPTURE(spec.key);
      CHECK(example.count(spec.key) == 1);
    }
  }
}
