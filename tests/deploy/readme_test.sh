#!/usr/bin/env bash
# The READMEs' commands, run as a reader would: the Quick start (`make demo`; `make test` is
# what .ci/run calls, not rerun here), then every ```sh block of README.md and
# README.zh-TW.md in order, in a scratch folder, with the ports made free, MLflow's URL
# pointed at the MLflow test double, servers started in the background (and stopped), and
# RUN_ID filled in. A command that fails fails the test.
#   tests/deploy/readme_test.sh BUILD_DIR   (ctest: deploy.readme)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=tests/deploy/lib.sh
source "$root/tests/deploy/lib.sh"
build="$1"
work=$(mktemp -d)
double_pid=
# shellcheck disable=SC2317  # called by the trap
cleanup() { [ -z "$double_pid" ] || kill "$double_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
blocks() {  # FILE: the ```sh blocks, one after another
  awk '/^```sh/{f=1; next} /^```/{f=0} f' "$1"
}

quick=$(awk '/^## Quick start/{q=1} q && /^```sh/{f=1; next} f && /^```/{exit} f' "$root/README.md" | sed 's/ *#.*//')
[ "$quick" = $'make demo\nmake test' ] || { echo "readme_test: the Quick start is not 'make demo' and 'make test': $quick" >&2; exit 1; }
grep -qx 'make test' "$root/.ci/run" || { echo "readme_test: .ci/run does not call make test" >&2; exit 1; }
# The configuration table documents every setting of .env.example.
for key in $(grep -o '^[A-Z_]*=' "$root/.env.example" | tr -d =); do
  grep -q "\`$key\`" "$root/README.md" || { echo "readme_test: README.md's settings table lacks $key" >&2; exit 1; }
done
echo "== make demo"
mkdir "$work/demo"
DEMO_DIR="$work/demo" DEMO_PORT=$(free_port) make -C "$root" demo > "$work/demo.log" 2>&1 || { cat "$work/demo.log"; exit 1; }
grep 'Done in' "$work/demo.log"

for readme in README.md README.zh-TW.md; do
  echo "== $readme"
  dir="$work/${readme%.md}"
  mkdir "$dir"
  # Each README is a learner's own project: its own registry and its own MLflow (a second
  # registry's model of the same name would rightly be refused by a shared one).
  [ -z "$double_pid" ] || { kill "$double_pid"; wait "$double_pid" 2>/dev/null || true; }
  start_mlflow_double "$build" "$dir"
  for f in build tests rubric compose dashboards examples; do ln -s "$root/$f" "$dir/$f"; done
  # Copies, not links: the grader reads no file that leads outside the graded workspace.
  for f in .env.example README.md README.zh-TW.md; do cp "$root/$f" "$dir/$f"; done
  port=$(free_port)
  {
    cat <<PREAMBLE
set -euo pipefail
export MLOPS_PORT=$port
bg_pid=
# shellcheck disable=SC2317
stop_bg() { [ -z "\$bg_pid" ] || { kill "\$bg_pid"; wait "\$bg_pid" 2>/dev/null || true; bg_pid=; }; }
trap stop_bg EXIT
start_bg() {
  stop_bg
  echo "+ \$* &"
  "\$@" > bg.log 2>&1 &
  bg_pid=\$!
  for _ in \$(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/ready" 2>/dev/null && return 0; sleep 0.1; done
  cat bg.log; echo "readme_test: \$* did not become ready" >&2; return 1
}
last_run() { build/cli/mlops crm-sync list --json | grep -o '"run_id": *"[0-9a-f]*"' | head -1 | grep -o '[0-9a-f]\{8,\}'; }
set -x
PREAMBLE
    # $(last_run) is expanded by the generated script, not here.
    # shellcheck disable=SC2016
    blocks "$root/$readme" | awk '/^make (demo|test)/{next} {print}' \
      | sed -e "s#localhost:8000#127.0.0.1:$port#g; s#127.0.0.1:8000#127.0.0.1:$port#g; s#--port 8000#--port $port#g" \
            -e "s#http://127.0.0.1:5000#$mlflow#g" -e 's#RUN_ID#"$(last_run)"#g' \
            -e 's#^build/cli/mlops serve \(.*\)$#start_bg build/cli/mlops serve \1#' \
            -e 's#^\(start_bg .*\)  *\# .*$#\1#'
  } > "$dir/readme.sh"
  (cd "$dir" && bash readme.sh) > "$dir/run.log" 2>&1 || { tail -40 "$dir/run.log"; echo "readme_test: a command of $readme failed (above)" >&2; exit 1; }
  echo "$(grep -c '^+ ' "$dir/run.log") commands of $readme ran"
done
echo "readme_test: the Quick start and every README command ran"
