// rubric: runs a `command` check's shell command from an untrusted workspace — inside a
// bubblewrap sandbox (its own PID, IPC and UTS namespaces with a private /proc, the system
// read-only, only the workspace and the named folders writable, nothing but the given
// environment, resource limits) or, when the grader is told to, directly — with its output
// captured and everything it started killed at the timeout.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace mlops::rubric {

// How commands run: what the grader's options (--no-sandbox, --writable, --readable,
// --memory-limit) say, the same for every command check.
struct Sandbox {
  bool enabled = true;                   // false: plain child processes (trusted workspaces only)
  std::vector<std::string> writable;     // more folders commands may write (e.g. a scratch dir)
  std::vector<std::string> readable;     // folders under the sandbox's private /tmp or /run they may read
  unsigned long memory_limit_mb = 4096;  // RLIMIT_DATA of every process a command starts
};

struct CommandSpec {
  std::string command;                   // run by /bin/sh -c
  std::string workspace;                 // the working directory; writable
  std::vector<std::string> environment;  // NAME=value: the whole environment the command sees
  double timeout_seconds = 10;
  Sandbox sandbox;
};

struct CommandOutcome {
  int exit_code = -1;       // 128 + signal when killed by one
  bool timed_out = false;   // killed at the timeout, with everything it started
  std::string out, err;     // the first 64 KB of each
};

// Throws Error{unavailable} when the command cannot be started (no sandbox: see
// sandbox_problem(); no /bin/sh; no pipe).
CommandOutcome run_command(const CommandSpec& spec);

// nullopt when the sandbox works on this machine; else why not, with what to do. Probed
// once per process by starting a sandbox around /bin/true.
std::optional<std::string> sandbox_problem();

}  // namespace mlops::rubric
