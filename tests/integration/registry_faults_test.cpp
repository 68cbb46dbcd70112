// The registry when things go wrong around it: a command killed mid-run, a read-only or
// moved home, a full disk. Real `mlops` processes on real files.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "libmlops/core/fs.hpp"
#include "libmlops/registry/registry_store.hpp"
#include "libmlops/sqlite/database.hpp"
#include "tests/support/support.hpp"

using namespace mlops;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const std::string kFeatures = "5,1,7,2,3,4,1,8,2,6";

std::string scalar_text(const std::string& db_path, const std::string& sql) {
  sqlite::Database db(db_path, 30000, sqlite::Access::read_only);
  sqlite::Statement s(db, sql);
  return s.step() ? s.column_text(0) : "";
}

// The id of a RUNNING run other than `except`, once one appears (up to 30 s); "" if none.
std::string running_run(const std::string& home, const std::string& except) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!fs::exists(home + "/mlops.db")) continue;
    try {
      const std::string id =
          scalar_text(home + "/mlops.db", "SELECT id FROM runs WHERE status = 'RUNNING' AND id != '" + except + "'");
      if (!id.empty()) return id;
    } catch (const Error&) {
      // created but not yet migrated
    }
  }
  return "";
}

// Starts mlops as a user who cannot write the home: `nobody` when the tests run as root (root
// writes through any permission bits), else the current user after the home is made read-only.
int spawn_as_reader(const std::vector<std::string>& args, const std::string& home, const std::string& cwd,
                    const test::TempDir& io) {
  ::chmod(io.path().c_str(), 0777);
  std::vector<std::string> env = {"MLOPS_HOME=" + home, "PATH=/usr/bin:/bin", "LANG=C.UTF-8"};
  if (::geteuid() == 0) {
    std::vector<std::string> full = {"--reuid=65534", "--regid=65534", "--clear-groups", MLOPS_BINARY};
    full.insert(full.end(), args.begin(), args.end());
    return test::spawn_program("/usr/bin/setpriv", full, env, cwd, io.file("out"), io.file("err"));
  }
  return test::spawn_program(MLOPS_BINARY, args, env, cwd, io.file("out"), io.file("err"));
}

test::CliResult run_as_reader(const std::vector<std::string>& args, const std::string& home, const std::string& cwd) {
  test::TempDir io;
  const int pid = spawn_as_reader(args, home, cwd, io);
  return {test::wait_exit_code(pid), test::read_text(io.file("out")), test::read_text(io.file("err"))};
}

// Every file and folder under `root` read-only for everyone, readable (and folders enterable) by all.
void make_read_only(const std::string& root) {
  ::chmod(root.c_str(), 0555);
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    ::chmod(entry.path().c_str(), entry.is_directory() ? 0555 : 0444);
  }
}
void make_writable(const std::string& root) {
  ::chmod(root.c_str(), 0755);
  for (const auto& entry : fs::recursive_directory_iterator(root)) ::chmod(entry.path().c_str(), 0755);
}

}  // namespace

TEST_SUITE("integration/registry") {
  TEST_CASE("a run whose process was killed is marked FAILED on the next open, its temp files removed") {
    test::TempDir dir;
    const std::string home = dir.file("home");
    // Big enough that training takes seconds; the run exists (RUNNING) before training starts.
    const int pid = test::spawn_cli({"train", "--n-samples", "3000000", "-o", dir.file("m.json"), "--register"}, home,
                                    dir.file("out"), dir.file("err"), {}, dir.path());
    const std::string run_id = running_run(home, "");
    REQUIRE_MESSAGE(!run_id.empty(), test::read_text(dir.file("err")));
    ::kill(pid, SIGKILL);
    CHECK(test::wait_exit_code(pid) != 0);
    // What a write cut off by the kill leaves behind.
    const std::string orphan = home + "/artifacts/" + run_id + "/model.json.tmp-Ab12Cd";
    fs::create_directories(fs::path(orphan).parent_path());
    write_file_atomic(orphan, "{\"half\":");

    // Commands that only look leave the registry as it is.
    auto r = test::run_cli({"runs", "show", run_id, "--json"}, home, dir.path());
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(json::parse(r.out)["status"] == "RUNNING");
    // The next command that writes finds the run's process gone.
    r = test::run_cli({"train", "--n-samples", "200", "-o", dir.file("small.json")}, home, dir.path());
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    r = test::run_cli({"runs", "show", run_id, "--json"}, home, dir.path());
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const json run = json::parse(r.out);
    CHECK(run["status"] == "FAILED");
    CHECK(contains(run["tags"]["mlops.failure"], "ended before it finished"));
    CHECK(!fs::exists(orphan));
    // MLflow hears of it too: the outbox holds the FAILED finish for the run.
    CHECK(scalar_text(home + "/mlops.db",
                      "SELECT COUNT(*) FROM outbox WHERE kind = 'run_finished' AND payload LIKE '%" + run_id +
                          "%' AND payload LIKE '%FAILED%'") == "1");
    // A run still running in another process is left alone by the next command that writes.
    const int live = test::spawn_cli({"train", "--n-samples", "3000000", "-o", dir.file("big.json")}, home, dir.file("out2"),
                                     dir.file("err2"), {}, dir.path());
    const std::string live_run = running_run(home, run_id);
    REQUIRE_MESSAGE(!live_run.empty(), test::read_text(dir.file("err2")));
    r = test::run_cli({"train", "--n-samples", "200", "-o", dir.file("small2.json")}, home, dir.path());
    REQUIRE(r.exit_code == 0);
    CHECK(scalar_text(home + "/mlops.db", "SELECT status FROM runs WHERE id = '" + live_run + "'") == "RUNNING");
    CHECK(scalar_text(home + "/mlops.db", "SELECT COUNT(*) FROM runs WHERE status = 'FAILED'") == "1");
    CHECK(test::wait_exit_code(live) == 0);
    CHECK(scalar_text(home + "/mlops.db", "SELECT status FROM runs WHERE id = '" + live_run + "'") == "FINISHED");
  }

  TEST_CASE("a read-only home: models, runs, mirror status, predict and serve work; a write says why") {
    test::TempDir dir;
    ::chmod(dir.path().c_str(), 0755);
    const std::string home = dir.file("home");
    auto r = test::run_cli({"train", "--n-samples", "300", "-o", dir.file("m.json"), "--register", "--stage", "Production"},
                           home, dir.path());
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const std::string before = test::read_text(home + "/mlops.db");
    make_read_only(home);
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"models", "list"},
                                               {"models", "show", "ChurnPredictionModel", "--json"},
                                               {"models", "history", "ChurnPredictionModel"},
                                               {"runs", "list"},
                                               {"mirror", "status"},
                                               {"predict", "--model", "models:/ChurnPredictionModel/1", "--features", kFeatures},
                                               {"predict", "--features", kFeatures}}) {
      r = run_as_reader(args, home, dir.path());
      CHECK_MESSAGE(r.exit_code == 0, fmt::format("{}: {}", fmt::join(args, " "), r.err));
      CHECK(!contains(r.err, "readonly"));
    }
    // serve too: it loads the production model and answers, reading the registry only.
    {
      test::TempDir io;
      const int pid = spawn_as_reader({"serve", "--port", "0"}, home, dir.path(), io);
      int port = 0;
      for (int i = 0; i < 200 && port == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        const std::string out = test::read_text(io.file("out"));
        if (const auto at = out.find("127.0.0.1:"); at != std::string::npos) port = std::atoi(out.c_str() + at + 10);
      }
      REQUIRE_MESSAGE(port > 0, test::read_text(io.file("err")));
      const std::string ready = test::raw_http(port, "GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      ::kill(pid, SIGTERM);
      CHECK(test::wait_exit_code(pid) == 0);
      CHECK(ready.rfind("HTTP/1.1 200", 0) == 0);
      CHECK_MESSAGE(!contains(test::read_text(io.file("err")), "readonly"), test::read_text(io.file("err")));
      CHECK(!contains(test::read_text(io.file("err")), "error"));
    }
    // A command that writes says why it cannot, without "attempt to write a readonly database".
    r = run_as_reader({"models", "promote", "ChurnPredictionModel", "1", "--stage", "Staging"}, home, dir.path());
    CHECK(r.exit_code != 0);
    CHECK_MESSAGE(contains(r.err, "writable"), r.err);
    make_writable(home);
    CHECK(test::read_text(home + "/mlops.db") == before);
  }

  TEST_CASE("a home moved elsewhere keeps working: artifact paths are stored relative to it") {
    test::TempDir dir;
    const std::string home = dir.file("a/home");
    auto r = test::run_cli({"train", "--n-samples", "300", "-o", dir.file("m.json"), "--register"}, home, dir.path());
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(scalar_text(home + "/mlops.db", "SELECT source FROM model_versions") .rfind("artifacts/", 0) == 0);
    const std::string moved = dir.file("b/home");
    fs::create_directories(dir.file("b"));
    fs::rename(home, moved);
    fs::remove_all(dir.file("a"));
    r = test::run_cli({"predict", "--model", "models:/ChurnPredictionModel/1", "--features", kFeatures}, moved, dir.path());
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    r = test::run_cli({"models", "show", "ChurnPredictionModel", "--json"}, moved, dir.path());
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.out, moved + "/artifacts/"));
  }

  TEST_CASE("a full disk during register says so, and loses and half-writes nothing") {
    test::TempDir dir;
    const std::string mount_point = dir.file("small-disk");
    fs::create_directories(mount_point);
    // A real full file system: a 1 MiB tmpfs (needs root, as the tests run in CI).
    REQUIRE_MESSAGE(::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=1m") == 0,
                    "mounting a small tmpfs needs root (CAP_SYS_ADMIN): ", std::strerror(errno));
    struct Unmount {
      std::string path;
      ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{mount_point};
    const std::string home = mount_point + "/home";
    const std::string model = dir.file("m.json");  // trained outside, registered again and again inside
    auto r = test::run_cli({"train", "--n-samples", "300", "-o", model}, dir.file("elsewhere"), dir.path());
    REQUIRE(r.exit_code == 0);
    int registered = 0;
    std::string failure;
    for (int i = 0; i < 400 && failure.empty(); ++i) {
      r = test::run_cli({"register", "--model", model, "--version-tag", fmt::format("v{}", i)}, home, dir.path());
      if (r.exit_code == 0) {
        ++registered;
      } else {
        failure = r.err;
      }
    }
    REQUIRE_MESSAGE(!failure.empty(), "the disk never filled up");
    CHECK(registered > 0);
    CHECK_MESSAGE((contains(failure, "disk is full") || contains(failure, "No space left on device")), failure);
    CHECK_MESSAGE(contains(failure, "free some space"), failure);
    CHECK(!contains(failure, "disk I/O error"));
    // Every registered version is there, whole; nothing half-made.
    registry::RegistryStore store(home + "/mlops.db", registry::RegistryStore::Mode::read_only);
    const auto versions = store.list_versions("ChurnPredictionModel");
    CHECK(static_cast<int>(versions.size()) == registered);
    for (const auto& v : versions) CHECK(fs::exists(v.source));
  }
}
