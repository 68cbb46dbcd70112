#include "libmlops/badge/badge.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>

#include "tests/support/support.hpp"

using namespace mlops;
using namespace mlops::badge;

namespace {
int run_tool(const std::string& program, const std::vector<std::string>& args, const test::TempDir& dir) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  return test::wait_exit_code(test::spawn_program(program, args, env, dir.path(), dir.file("tool.out"), dir.file("tool.err")));
}
int svg_width(const std::string& svg) {
  const auto at = svg.find("width=\"") + 7;
  return std::stoi(svg.substr(at, svg.find('"', at) - at));
}
}  // namespace

TEST_SUITE("unit/badge") {
  TEST_CASE("text is measured with shields.io's Verdana 11px widths, CJK included") {
    CHECK(text_width("passing") == doctest::Approx(41.75));
    CHECK(text_width("M1 Setup") == doctest::Approx(52.34));
    CHECK(text_width("100%") == doctest::Approx(32.81));
    CHECK(text_width("模型已載入") == doctest::Approx(55));
    CHECK(text_width("\xff") == doctest::Approx(text_width("m")));  // malformed UTF-8: one 'm'
  }

  TEST_CASE("colours: shields names and hex, anything else rejected with the valid names") {
    CHECK(color_hex("brightgreen") == "#44cc11");
    CHECK(color_hex("#ABC") == "#aabbcc");
    CHECK(color_hex("e05d44") == "#e05d44");
    CHECK(test::error_code_of([] { color_hex("greenish"); }) == ErrorCode::invalid_input);
    CHECK(test::error_code_of([] { color_hex("#12345"); }) == ErrorCode::invalid_input);
  }

  TEST_CASE("each half is as wide as its text plus 5 px each side; text is escaped") {
    const std::string svg = render_svg({"M1 Setup", "passing", "brightgreen"});
    CHECK(svg_width(svg) == (52 + 10) + (42 + 10));
    CHECK(svg.find("<title>M1 Setup: passing</title>") != std::string::npos);
    const std::string escaped = render_svg({"a<b", "\"x\" & 'y'", "red"});
    CHECK(escaped.find("a&lt;b") != std::string::npos);
    CHECK(escaped.find("&quot;x&quot; &amp; &apos;y&apos;") != std::string::npos);
    CHECK(svg_width(render_svg({"", "API-Ready", "blue"})) == static_cast<int>(std::lround(text_width("API-Ready"))) + 10);
    const nlohmann::json endpoint = endpoint_json({"overall", "92%", "green"});
    CHECK(endpoint == nlohmann::json{{"schemaVersion", 1}, {"label", "overall"}, {"message", "92%"}, {"color", "green"}});
  }

  TEST_CASE("badges are well-formed SVG (xmllint) and render (rsvg-convert)") {
    test::TempDir dir;
    int n = 0;
    for (const Badge& b : {Badge{"M2 API", "100%", "brightgreen"}, Badge{"模型", "已載入", "#dfb317"},
                           Badge{"", "Model-Loaded", "blue"}, Badge{"a<&>", "'\"", "lightgrey"}}) {
      const std::string file = dir.write(fmt::format("b{}.svg", n++), render_svg(b));
      CAPTURE(file);
      CHECK(run_tool("/usr/bin/xmllint", {"--noout", file}, dir) == 0);
      CHECK(run_tool("/usr/bin/xmllint", {"--xpath", "namespace-uri(/*)", file}, dir) == 0);
      CHECK(test::read_text(dir.file("tool.out")).rfind("http://www.w3.org/2000/svg", 0) == 0);  // browsers need it
      CHECK(run_tool("/usr/bin/rsvg-convert", {"-o", file + ".png", file}, dir) == 0);
      CHECK(test::read_text(file + ".png").substr(1, 3) == "PNG");
    }
  }
}

#include "libmlops/badge/grade_badges.hpp"

TEST_SUITE("unit/badge") {
  TEST_CASE("names from learners: a safe, unique file stem for any name; labels without control bytes; Markdown escaped") {
    CHECK(file_stem("API-Ready") == "API-Ready");
    CHECK(file_stem("部署") != file_stem("測試"));
    CHECK(file_stem("部署").find('/') == std::string::npos);
    CHECK(file_stem("../../etc/passwd").find('/') == std::string::npos);
    CHECK(file_stem("..") != "..");
    CHECK(file_stem(std::string(240, 'L')).size() <= 51);
    CHECK(file_stem(".hidden").front() != '.');
    CHECK(badge_text("bell\a\x1b[31mred\xc2\x85!") == "bell[31mred!");
    CHECK(badge_text("bad \xff\xfe utf8") == "bad  utf8");
    CHECK(badge_text(std::string(200, 'x')).size() == 80);
    CHECK(badge_text("部署") == "部署");
    CHECK(markdown_text("x](javascript:alert(1)) <img>") == "x\\]\\(javascript:alert\\(1\\)\\) \\<img\\>");
  }

  TEST_CASE("grade_badges: overall, per module, per passed criterion; garbage results are refused, not crashed") {
    const nlohmann::json results = {{"schema", "mlops.rubric-results/1"}, {"score", 85}, {"lang", "zh-TW"},
                                    {"modules", {{{"id", "M1"}, {"title", "環境"}, {"score", 50},
                                                  {"criteria", {{{"status", "pass"}, {"badge", "Setup"}}, {{"status", "fail"}, {"badge", "Env"}}}}}}}};
    const auto badges = grade_badges(results, BadgeConfig{});
    REQUIRE(badges.size() == 3);
    CHECK(badges[0].stem == "overall");
    CHECK(badges[0].badge.label == "MLOps 課程");
    CHECK(badges[0].badge.color == "green");
    CHECK(badges[1].badge.message == "50%");
    CHECK(badges[1].badge.color == "red");
    CHECK(badges[2].stem == "badge-Setup");
    for (const char* garbage : {R"({"schema":"mlops.rubric-results/1"})", R"({"schema":"mlops.rubric-results/1","score":"x","modules":[]})",
                                R"({"schema":"mlops.rubric-results/1","score":1,"modules":[{"id":3}]})", R"([1,2])",
                                R"({"schema":"other","score":1,"modules":[]})"}) {
      CHECK_MESSAGE(test::error_code_of([&] { grade_badges(nlohmann::json::parse(garbage), BadgeConfig{}); }) == ErrorCode::invalid_input, garbage);
    }
  }

  TEST_CASE("badges.yml: defaults when missing; wrong types, colours or sizes refused with file:line") {
    test::TempDir dir;
    CHECK(load_badge_config(dir.file("none.yml")).criterion_color == "blue");
    dir.write("ok.yml", "thresholds: [{min: 90, color: green}, {min: 0, color: '#f00'}]\noverall_label: {en: Course, zh-TW: 課程}\n");
    const BadgeConfig ok = load_badge_config(dir.file("ok.yml"));
    CHECK(ok.color_for(95) == "green");
    CHECK(ok.color_for(10) == "#f00");
    CHECK(ok.overall_label_zh == "課程");
    for (const char* bad : {"thresholds: [{min: high, color: green}]\n", "thresholds: {min: 1}\n", "thresholds: [{min: 1, color: plaid}]\n",
                            "criterion_color: [a]\n", "thresholds: [[1, 2]]\n", "{{{\n"}) {
      dir.write("bad.yml", bad);
      CHECK_MESSAGE(test::error_code_of([&] { load_badge_config(dir.file("bad.yml")); }) == ErrorCode::invalid_input, bad);
    }
    dir.write("big.yml", std::string(300u << 10, '#'));
    CHECK(test::error_code_of([&] { load_badge_config(dir.file("big.yml")); }) == ErrorCode::invalid_input);
  }
}
