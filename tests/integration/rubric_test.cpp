#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <filesystem>
#include <set>
#include <nlohmann/json.hpp>

#include "libmlops/sqlite/database.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using nlohmann::json;

TEST_SUITE("integration/rubric") {
  TEST_CASE("mlops eval-rubric: exit 0 at the pass mark, 1 below, 2 for a rubric or usage error; JSON report to a file") {
    test::TempDir dir;
    dir.write(".env", "MODEL_VERSION=v1\n");
    dir.write("rubric.yml", R"(
pass_score: 50
modules:
  M1:
    title: {en: Setup, zh-TW: 環境}
    criteria:
      C1: {text: .env, badge: Setup, check: {kind: env_file, keys: [MODEL_VERSION]}}
      C2: {text: Dockerfile, check: {kind: file_exists, path: Dockerfile}}
)");
    const auto run = [&](std::vector<std::string> args) {
      args.insert(args.begin(), {"eval-rubric", "--rubric", dir.file("rubric.yml"), "--workspace", dir.path()});
      return test::run_cli(args, "", dir.path());
    };
    const auto passed = run({"--format", "json", "--out", dir.file("results.json")});
    CHECK(passed.exit_code == 0);
    const json results = json::parse(test::read_text(dir.file("results.json")));
    CHECK(results["schema"] == "mlops.rubric-results/1");
    CHECK(results["score"] == 50);
    CHECK(results["modules"][0]["criteria"][1]["reason"] == "Dockerfile does not exist in the workspace");
    const auto below = run({"--fail-under", "80", "--lang", "zh-TW"});
    CHECK(below.exit_code == 1);
    CHECK(below.out.find("未通過") != std::string::npos);
    CHECK(below.out.find("Dockerfile does not exist") != std::string::npos);
    CHECK(run({"--only", "M7"}).exit_code == 2);
    dir.write("bad.yml", "modules:\n  M1:\n    criteria:\n      C1: {text: a, check: {kind: nope}}\n");
    const auto bad = test::run_cli({"eval-rubric", "--rubric", dir.file("bad.yml")}, "", dir.path());
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("bad.yml:4: unknown check kind 'nope'") != std::string::npos);
  }
}

#include "tests/support/server_process.hpp"

TEST_SUITE("integration/rubric") {
  TEST_CASE("rubric/example.yml grades this repository and a running mlops serve at 100%") {
    test::TempDir dir;
    const std::string home = dir.file("home");
    REQUIRE(test::run_cli({"train", "--n-samples", "300", "--register", "--stage", "Production", "-o", dir.file("m.json")}, home,
                          dir.path()).exit_code == 0);
    test::ServerProcess server(home, {});
    const auto r = test::run_cli({"eval-rubric", "--rubric", std::string(MLOPS_SOURCE_DIR) + "/rubric/example.yml", "--workspace",
                                  MLOPS_SOURCE_DIR, "--server", "http://127.0.0.1:" + std::to_string(server.port()), "--json"},
                                 "", dir.path());
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK(nlohmann::json::parse(r.out)["score"] == 100);

    // The registry check reads the learner's registry.
    const std::string rubric = dir.write("registry.yml", R"(
modules:
  M3:
    criteria:
      C1: {text: production, check: {kind: registry, path: home/mlops.db, model: ChurnPredictionModel, version: 1, stage: Production}}
      C2: {text: alias, check: {kind: registry, path: home/mlops.db, model: ChurnPredictionModel, alias: champion}}
)");
    const auto reg = test::run_cli({"eval-rubric", "--rubric", rubric, "--workspace", dir.path(), "--json"}, "", dir.path());
    const nlohmann::json results = nlohmann::json::parse(reg.out);
    CHECK(results["modules"][0]["criteria"][0]["status"] == "pass");
    CHECK(results["modules"][0]["criteria"][1]["reason"] == "ChurnPredictionModel has no alias @champion");
  }
}

TEST_SUITE("integration/rubric") {
  TEST_CASE("report formats: JUnit (well-formed, readable by the junit check), Markdown, Gradescope, CSV for a class") {
    test::TempDir dir;
    dir.write("rubric.yml", R"(
pass_score: 60
modules:
  M1:
    weight: 25
    criteria:
      C1: {text: "env <file>", points: 2, check: {kind: env_file, keys: [MODEL_VERSION]}}
      C2: {text: readme, check: {kind: file_exists, path: README.md}}
  M2:
    weight: 75
    criteria:
      C1: {text: by hand}
)");
    for (const char* learner : {"alice", "bob", "carol"}) dir.write(std::string(learner) + "/.env", "MODEL_VERSION=v1\n");
    dir.write("alice/README.md", "hi");
    dir.write("manual.yml", "M2: {C1: 1}\n");
    const auto grade = [&](std::vector<std::string> args) {
      args.insert(args.begin(), {"eval-rubric", "--rubric", dir.file("rubric.yml"), "--manual", dir.file("manual.yml")});
      return test::run_cli(args, "", dir.path());
    };
    const auto junit = grade({"--workspace", dir.file("bob"), "--format", "junit", "--out", dir.file("bob.xml")});
    CHECK(junit.exit_code == 0);  // 25 * 2/3 + 75 = 91.7
    const std::vector<std::string> env = test::environment();
    CHECK(test::wait_exit_code(test::spawn_program("/usr/bin/xmllint", {"--noout", dir.file("bob.xml")}, env, dir.path(),
                                                   dir.file("x.out"), dir.file("x.err"))) == 0);
    const std::string xml = test::read_text(dir.file("bob.xml"));
    CHECK(xml.find("env &lt;file&gt;") != std::string::npos);
    CHECK(xml.find(R"(<failure message="README.md does not exist in the workspace"/>)") != std::string::npos);

    const auto md = grade({"--workspace", dir.file("alice"), "--format", "markdown"});
    CHECK(md.out.find("## Rubric: 100.0% — ✅ passed") != std::string::npos);

    // One run, several reports: the same results in each.
    const auto many = grade({"--workspace", dir.file("alice"), "--format", "json", "--out", dir.file("a.json"),
                             "--also", "markdown=" + dir.file("a.md"), "--also", "junit=" + dir.file("a.xml")});
    CHECK(many.exit_code == 0);
    CHECK(test::read_text(dir.file("a.md")) == md.out);
    CHECK(test::read_text(dir.file("a.xml")).find("<testsuites") != std::string::npos);
    CHECK(nlohmann::json::parse(test::read_text(dir.file("a.json")))["score"] == 100);
    CHECK(grade({"--also", "pdf=x.pdf"}).exit_code == 2);

    const auto gs = grade({"--workspace", dir.file("bob"), "--format", "gradescope"});
    const nlohmann::json results = nlohmann::json::parse(gs.out);
    double sum = 0;
    for (const auto& t : results["tests"]) sum += t["score"].get<double>();
    CHECK(sum == doctest::Approx(results["score"].get<double>()));
    CHECK(results["max_score"] == 100);

    const auto csv = grade({"--workspaces", dir.path() + "/*/", "--format", "csv", "--fail-under", "95"});
    CHECK(csv.exit_code == 1);  // bob and carol are below 95
    CHECK(csv.out.rfind("workspace,score,passed,M1,M2\n", 0) == 0);
    CHECK(csv.out.find("alice/,100.00,true,100.00,100.00\n") != std::string::npos);
    CHECK(csv.out.find("bob/,91.67,false,66.67,100.00\n") != std::string::npos);
    CHECK(std::count(csv.out.begin(), csv.out.end(), '\n') == 4);
    CHECK(grade({"--workspaces", dir.path() + "/nobody*"}).exit_code == 2);
  }
}

TEST_SUITE("integration/rubric") {
  TEST_CASE("mlops badge: a badge per module and overall coloured by badges.yml, one per passed criterion; valid SVG") {
    test::TempDir dir;
    dir.write(".env", "MODEL_VERSION=v1\n");
    dir.write("rubric.yml", R"(
modules:
  M1:
    title: {en: Setup, zh-TW: 環境}
    criteria:
      C1: {text: env, badge: Setup, check: {kind: env_file, keys: [MODEL_VERSION]}}
      C2: {text: docker, badge: Docker-Ready, check: {kind: file_exists, path: Dockerfile}}
  M2:
    criteria:
      C1: {text: api, badge: API-Ready, check: {kind: file_exists, path: .env}}
)");
    dir.write("badges.yml", "thresholds:\n  - {min: 100, color: brightgreen}\n  - {min: 50, color: '#abcdef'}\n  - {min: 0, color: red}\n"
                            "overall_label: {en: Course, zh-TW: 課程}\n");
    REQUIRE(test::run_cli({"eval-rubric", "--rubric", dir.file("rubric.yml"), "--workspace", dir.path(), "--lang", "zh-TW",
                           "--format", "json", "--out", dir.file("results.json")}, "", dir.path()).exit_code == 1);
    const auto r = test::run_cli({"badge", "--results", dir.file("results.json"), "--config", dir.file("badges.yml"), "--out",
                                  dir.file("badges"), "--json"}, "", dir.path());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto endpoint = [&](const std::string& stem) { return nlohmann::json::parse(test::read_text(dir.file("badges/" + stem + ".json"))); };
    CHECK(endpoint("overall") == nlohmann::json{{"schemaVersion", 1}, {"label", "課程"}, {"message", "75%"}, {"color", "#abcdef"}});
    CHECK(endpoint("M1")["message"] == "50%");
    CHECK(endpoint("M2")["color"] == "brightgreen");
    CHECK(endpoint("badge-Setup")["message"] == "Setup");
    CHECK(endpoint("badge-API-Ready")["label"] == "");
    CHECK(!std::filesystem::exists(dir.file("badges/badge-Docker-Ready.svg")));  // not passed
    CHECK(test::read_text(dir.file("badges/README.md")).find("![課程: 75%](") != std::string::npos);
    const std::vector<std::string> env = test::environment();
    for (const char* stem : {"overall", "M1", "M2", "badge-Setup", "badge-API-Ready"}) {
      const std::string svg = dir.file(std::string("badges/") + stem + ".svg");
      CAPTURE(svg);
      CHECK(test::wait_exit_code(test::spawn_program("/usr/bin/xmllint", {"--noout", svg}, env, dir.path(), dir.file("o"), dir.file("e"))) == 0);
      CHECK(test::wait_exit_code(test::spawn_program("/usr/bin/rsvg-convert", {"-o", svg + ".png", svg}, env, dir.path(), dir.file("o"),
                                                     dir.file("e"))) == 0);
    }
    dir.write("nope.json", "{\"score\": 3}");
    const auto bad = test::run_cli({"badge", "--results", dir.file("nope.json")}, "", dir.path());
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("is not mlops.rubric-results/1") != std::string::npos);
  }
}

namespace {

// A file's bytes and modification time, to prove grading left it alone.
std::pair<std::string, std::filesystem::file_time_type> fingerprint(const std::string& path) {
  return {test::read_text(path), std::filesystem::last_write_time(path)};
}

}  // namespace

TEST_SUITE("integration/rubric") {
  TEST_CASE("a hostile workspace: a YAML bomb, symlinks out, a FIFO — each criterion fails with why, nothing outside is touched") {
    test::TempDir outside;
    test::TempDir ws;
    // Outside the workspace: a secret file and two databases the grader must not change.
    outside.write("secret.txt", "GRADER_SECRET=hunter2\n");
    ::chmod(outside.file("secret.txt").c_str(), 0600);
    REQUIRE(test::run_cli({"train", "--n-samples", "200", "--register", "-o", outside.file("m.json")}, outside.file("home"), outside.path())
                .exit_code == 0);
    {
      sqlite::Database db(outside.file("other.db"));
      db.exec("PRAGMA journal_mode = DELETE; CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    }
    const auto secret_before = fingerprint(outside.file("secret.txt"));
    const auto other_before = fingerprint(outside.file("other.db"));
    const auto registry_before = fingerprint(outside.file("home/mlops.db"));
    // The workspace: links to them, a billion-laughs CI file, a FIFO where a file should be.
    std::filesystem::create_directories(ws.file(".mlops"));
    std::filesystem::create_directories(ws.file(".github/workflows"));
    std::filesystem::create_symlink(outside.file("home/mlops.db"), ws.file(".mlops/mlops.db"));
    std::filesystem::create_symlink(outside.file("other.db"), ws.file("app.db"));
    std::filesystem::create_symlink(outside.file("secret.txt"), ws.file("notes.txt"));
    // a1 … a9 each hold nine of the level below: 9^10 strings once expanded.
    std::string fixed = "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
    for (int i = 1; i < 10; ++i) {
      std::string refs;
      for (int k = 0; k < 9; ++k) refs += fmt::format("{}*a{}", k ? "," : "", i - 1);
      fixed += fmt::format("a{}: &a{} [{}]\n", i, i, refs);
    }
    ws.write(".github/workflows/ci.yml", fixed + "on: push\n");
    REQUIRE(::mkfifo(ws.file("fifo.log").c_str(), 0644) == 0);
    ws.write("rubric.yml", R"(
pass_score: 100
modules:
  M1:
    title: hostile
    criteria:
      C1: {text: ci, check: {kind: yaml, path: .github/workflows/ci.yml, fields: [{path: on, exists: true}]}}
      C2: {text: registry, check: {kind: registry, path: .mlops/mlops.db, model: ChurnPredictionModel}}
      C3: {text: app db, check: {kind: sqlite, path: app.db, query: "SELECT COUNT(*) FROM t", equals: "1"}}
      C4: {text: notes, check: {kind: file_contains, path: notes.txt, regex: SECRET}}
      C5: {text: fifo, check: {kind: file_contains, path: fifo.log, regex: x}}
      C6: {text: fine, check: {kind: file_exists, path: rubric.yml}}
)");
    const auto r = test::run_cli({"eval-rubric", "--rubric", ws.file("rubric.yml"), "--workspace", ws.path(), "--format", "json",
                                  "--timeout", "20"},
                                 "", ws.path());
    CHECK(r.exit_code == 1);  // graded, below the mark — not crashed
    CHECK(r.max_rss_kb < 256 * 1024);  // the bomb was not expanded (it names 3.5 billion nodes)
    const json report = json::parse(r.out);
    std::map<std::string, std::string> reasons;
    for (const json& m : report["modules"]) {
      for (const json& c : m["criteria"]) reasons[c["id"]] = c["status"].get<std::string>() + ": " + c["reason"].get<std::string>();
    }
    INFO(r.out);
    CHECK(reasons["C1"].find("fail: ") == 0);
    CHECK(reasons["C1"].find("aliases are expanded") != std::string::npos);
    for (const char* id : {"C2", "C3", "C4"}) CHECK(reasons[id].find("outside the workspace") != std::string::npos);
    CHECK(reasons["C5"].find("not a regular file") != std::string::npos);
    CHECK(reasons["C6"].find("pass") == 0);
    CHECK(r.out.find("hunter2") == std::string::npos);
    CHECK(fingerprint(outside.file("secret.txt")) == secret_before);
    CHECK(fingerprint(outside.file("other.db")) == other_before);
    CHECK(fingerprint(outside.file("home/mlops.db")) == registry_before);
    CHECK(!std::filesystem::exists(outside.file("other.db-wal")));
  }

  TEST_CASE("hostile command checks in the sandbox: no secret seen, nothing outlives the check, nothing written outside, memory bounded") {
    test::TempDir outside;
    test::TempDir scratch;
    test::TempDir tools;  // like a build tree under /tmp: read-only when named with --readable
    test::TempDir ws;
    outside.write("marker", "the grader's own temporary file");
    tools.write("tool.txt", "tool\n");
    // A unique sleep, to find the one this test's escapee would leave behind.
    const std::string sleeper = fmt::format("sleep {}", 70000 + ::getpid() % 10000);
    ws.write("rubric.yml", fmt::format(R"(
pass_score: 100
modules:
  M1:
    title: hostile
    criteria:
      # passes only if the grader's environment can be read from /proc
      C1: {{text: snoop, check: {{kind: command, run: "for f in /proc/[0-9]*/environ; do tr '\\000' '\\n' < $f; done 2>/dev/null | grep GRADER_SECRET"}}}}
      C2: {{text: escape, check: {{kind: command, run: "setsid sh -c 'exec {}' </dev/null >/dev/null 2>&1 & sleep 0.5; echo started", stdout: started}}}}
      C3: {{text: write, check: {{kind: command, run: "echo in > inside.txt && echo out > {}/written"}}}}
      C4: {{text: scratch, check: {{kind: command, run: "echo ok > {}/ok"}}}}
      C5: {{text: memory, check: {{kind: command, run: "dd if=/dev/zero of=/dev/null bs=512M count=1"}}}}
      C6: {{text: readable, check: {{kind: command, run: "cat {}/tool.txt && ! touch {}/tool.txt"}}}}
      C7: {{text: private tmp, check: {{kind: command, run: "test ! -e {}/marker"}}}}
)", sleeper, outside.path(), scratch.path(), tools.path(), tools.path(), outside.path()));
    // The processes running the escapee's command line; ended when `end` is set.
    const auto sleepers = [&](bool end) {
      int n = 0;
      for (const auto& p : std::filesystem::directory_iterator("/proc")) {
        std::string cmdline = test::read_text(p.path().string() + "/cmdline");
        std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
        if (cmdline.find(sleeper) == std::string::npos) continue;  // `sh -c exec sleep N`, then `sleep N`
        ++n;
        if (end) ::kill(std::stoi(p.path().filename().string()), SIGKILL);
      }
      return n;
    };
    const std::vector<std::string> secret = {"GRADER_SECRET=hunter2", "MLFLOW_TRACKING_TOKEN=tok-hunter2"};
    const auto r = test::run_cli({"eval-rubric", "--rubric", ws.file("rubric.yml"), "--workspace", ws.path(), "--format", "json",
                                  "--out", ws.file("results.json"), "--also", "markdown=" + ws.file("results.md"), "--also",
                                  "junit=" + ws.file("results.xml"), "--also", "table=" + ws.file("results.txt"), "--writable",
                                  scratch.path(), "--readable", tools.path(), "--memory-limit", "256"},
                                 "", ws.path(), secret);
    CHECK(r.exit_code == 1);
    const json report = json::parse(test::read_text(ws.file("results.json")));
    std::map<std::string, std::string> reasons;
    for (const json& c : report["modules"][0]["criteria"]) reasons[c["id"]] = c["status"].get<std::string>() + ": " + c["reason"].get<std::string>();
    INFO(report.dump(2));
    CHECK(reasons["C1"].find("fail: ") == 0);  // the secret is nowhere to be read
    for (const char* file : {"results.json", "results.md", "results.xml", "results.txt"}) {
      CHECK_MESSAGE(test::read_text(ws.file(file)).find("hunter2") == std::string::npos, file);
    }
    CHECK(reasons["C2"].find("pass: ") == 0);
    CHECK(sleepers(false) == 0);  // the escapee died with its sandbox
    CHECK(test::read_text(ws.file("inside.txt")) == "in\n");  // the workspace is writable…
    CHECK(!std::filesystem::exists(outside.file("written")));  // …the rest is not
    CHECK(reasons["C4"].find("pass: ") == 0);  // --writable
    CHECK(test::read_text(scratch.file("ok")) == "ok\n");
    CHECK(reasons["C5"].find("fail: ") == 0);  // 512 MB past --memory-limit 256
    CHECK(reasons["C5"].find("memory") != std::string::npos);
    CHECK(reasons["C6"].find("pass: ") == 0);  // --readable: seen, not written
    CHECK(test::read_text(tools.file("tool.txt")) == "tool\n");
    CHECK(reasons["C7"].find("pass: ") == 0);  // the grader's /tmp is not the sandbox's

    // Unsandboxed — what --no-sandbox gives up, shown by the same checks.
    const auto unsafe = test::run_cli({"eval-rubric", "--rubric", ws.file("rubric.yml"), "--workspace", ws.path(), "--only", "M1",
                                       "--format", "json", "--no-sandbox"}, "", ws.path(), secret);
    const json unsafe_report = json::parse(unsafe.out);
    CHECK(unsafe_report["modules"][0]["criteria"][0]["status"] == "pass");  // the grader's environment was readable
    CHECK(std::filesystem::exists(outside.file("written")));
    // Unsandboxed, the escapee outlives the grader (found within 5 s, then ended here).
    bool outlived = false;
    for (int i = 0; i < 500 && !outlived; ++i) {
      outlived = sleepers(true) > 0;
      if (!outlived) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(outlived);
  }

  TEST_CASE("without a sandbox to start, command checks are refused (said once) unless --no-sandbox; other checks still run") {
    test::TempDir ws;
    ws.write("rubric.yml", "modules:\n  M1:\n    criteria:\n"
                           "      C1: {text: a, check: {kind: command, run: 'true'}}\n"
                           "      C2: {text: b, check: {kind: all_of, checks: [{kind: command, run: 'true'}]}}\n"
                           "      C3: {text: c, check: {kind: file_exists, path: rubric.yml}}\n");
    const std::vector<std::string> no_bwrap = {"MLOPS_BWRAP=" + ws.file("no-such-bwrap")};
    const auto r = test::run_cli({"eval-rubric", "--rubric", ws.file("rubric.yml"), "--workspace", ws.path(), "--format", "json"}, "",
                                 ws.path(), no_bwrap);
    CHECK(r.exit_code == 1);
    std::size_t said = 0;
    for (std::size_t at = r.err.find("the sandbox cannot start"); at != std::string::npos; at = r.err.find("the sandbox cannot start", at + 1)) ++said;
    CHECK_MESSAGE(said == 1, r.err);
    CHECK(r.err.find("--no-sandbox") != std::string::npos);
    const json report = json::parse(r.out);
    for (int i : {0, 1}) CHECK(report["modules"][0]["criteria"][i]["reason"].get<std::string>().find("not run: the sandbox cannot start") == 0);
    CHECK(report["modules"][0]["criteria"][2]["status"] == "pass");
    const auto trusted = test::run_cli({"eval-rubric", "--rubric", ws.file("rubric.yml"), "--workspace", ws.path(), "--no-sandbox"}, "",
                                       ws.path(), no_bwrap);
    CHECK_MESSAGE(trusted.exit_code == 0, std::string(trusted.out + trusted.err));
  }

  TEST_CASE("hostile badge names: control bytes stripped, every name its own file, Markdown escaped") {
    test::TempDir dir;
    const std::string long_name(240, 'L');
    const json results = {
        {"schema", "mlops.rubric-results/1"}, {"score", 100}, {"lang", "en"},
        {"modules",
         {{{"id", "M1"}, {"title", "t\u0007\u001b[31m"}, {"score", 100},
           {"criteria",
            {{{"status", "pass"}, {"badge", "部署"}},
             {{"status", "pass"}, {"badge", "測試"}},
             {{"status", "pass"}, {"badge", long_name}},
             {{"status", "pass"}, {"badge", "bell\u0007\u0085tab\tend"}},
             {{"status", "pass"}, {"badge", "x](javascript:alert(1)) <img src=x onerror=alert(1)>"}},
             {{"status", "pass"}, {"badge", "../../escape"}}}}}}}};
    dir.write("results.json", results.dump());
    const auto r = test::run_cli({"badge", "--results", dir.file("results.json"), "--out", dir.file("badges"), "--json"}, "", dir.path());
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const json out = json::parse(r.out);
    std::set<std::string> files;
    for (const json& b : out["badges"]) {
      const std::string file = b["file"];
      files.insert(file);
      CHECK(std::filesystem::path(file).parent_path() == std::filesystem::path(dir.file("badges")));  // nothing escapes the folder
      CHECK(std::filesystem::path(file).filename().string().size() < 80);
      CHECK(std::filesystem::exists(file));
      for (const char* field : {"label", "message"}) {
        const std::string text = b[field];
        CHECK(std::none_of(text.begin(), text.end(), [](unsigned char ch) { return ch < 0x20 || ch == 0x7F; }));
      }
      const std::vector<std::string> env = test::environment();
      CHECK(test::wait_exit_code(test::spawn_program("/usr/bin/xmllint", {"--noout", file}, env, dir.path(), dir.file("o"), dir.file("e"))) == 0);
    }
    CHECK(files.size() == out["badges"].size());  // 部署 and 測試 no longer share a file
    const std::string markdown = test::read_text(dir.file("badges/README.md"));
    std::string link = "<";
    link += dir.file("badges");
    link += '/';
    for (std::size_t at = markdown.find('<'); at != std::string::npos; at = markdown.find('<', at + 1)) {
      const bool ours = markdown.compare(at, link.size(), link) == 0;
      CHECK_MESSAGE((ours || markdown[at - 1] == '\\'), markdown.substr(at, 20));  // our link targets, or escaped
    }
    CHECK(markdown.find("](javascript:") == std::string::npos);
  }

  TEST_CASE("a rubric with a wrong type or built to expand is refused with file:line, exit 2") {
    test::TempDir dir;
    const auto grade = [&](const std::string& rubric) {
      dir.write("r.yml", rubric);
      return test::run_cli({"eval-rubric", "--rubric", dir.file("r.yml"), "--workspace", dir.path()}, "", dir.path());
    };
    auto r = grade("modules:\n  M1:\n    criteria:\n      C1: {text: t, check: {kind: command, run: 'true', exit_code: zero}}\n");
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find("r.yml:4:") != std::string::npos, r.err);
    CHECK(r.err.find("wrong type") != std::string::npos);
    CHECK(r.err.find("internal error") == std::string::npos);
    r = grade("variables: {x: [1, 2]}\nmodules:\n  M1:\n    criteria:\n      C1: {text: t, check: {kind: file_exists, path: a}}\n");
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find("r.yml:1:") != std::string::npos, r.err);
    std::string laughs = "x0: &x0 [a, a, a, a, a, a, a, a, a]\n";
    for (int i = 1; i < 10; ++i) laughs += fmt::format("x{0}: &x{0} [*x{1}, *x{1}, *x{1}, *x{1}, *x{1}, *x{1}, *x{1}, *x{1}, *x{1}]\n", i, i - 1);
    r = grade(laughs + "modules:\n  M1:\n    criteria:\n      C1: {text: t, check: {kind: all_of, checks: [*x9]}}\n");
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find("aliases are expanded") != std::string::npos, r.err);
    r = grade(std::string(5u << 20, '#'));
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("larger than 4 MB") != std::string::npos);
  }
}
