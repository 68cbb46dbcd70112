#!/usr/bin/env bash
# ctest serving.mlflow_differential: `mlops serve` against MLflow 2.9's own scoring server
# (tests/serving/mlflow_differential.py), for a binary and a three-class model. Needs the
# MLflow source installed by scripts/mlflow_server.sh (and Debian's python3-sklearn, which
# its setup installs); without it the test fails, or is skipped (77) with MLOPS_SKIP_REAL_MLFLOW=1.
#   tests/serving/differential_test.sh BUILD_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "$1" && pwd)"
server="${MLOPS_REAL_MLFLOW:-$build/mlflow-server}"
if [ ! -f "$server/VERSION" ]; then
  if [ "${MLOPS_SKIP_REAL_MLFLOW:-0}" = 1 ]; then echo "SKIPPED: no MLflow installed (MLOPS_SKIP_REAL_MLFLOW=1)"; exit 77; fi
  echo "needs MLflow's source at $server: run scripts/mlflow_server.sh (make test does), or set MLOPS_SKIP_REAL_MLFLOW=1" >&2
  exit 1
fi
work=$(mktemp -d)
serve_pid=
# shellcheck disable=SC2317  # called by the trap
cleanup() { [ -z "$serve_pid" ] || kill "$serve_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mlops="$build/cli/mlops"
for classes in 2 3; do
  echo "== a $classes-class model"
  "$mlops" --home "$work/home" train --n-samples 600 --classes "$classes" -o "$work/m$classes.json" >/dev/null
  "$mlops" --home "$work/home" serve --port 0 --model-uri "$work/m$classes.json" --reload-interval 0 \
    > "$work/serve.out" 2> "$work/serve.err" &
  serve_pid=$!
  url=
  for _ in $(seq 1 100); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.out" || true)
    [ -n "$url" ] && curl -fsS -o /dev/null "$url/ready" 2>/dev/null && break
    sleep 0.1
  done
  [ -n "$url" ] || { cat "$work/serve.err"; echo "mlops serve did not start" >&2; exit 1; }
  PYTHONPATH="$server/src:$server/stubs" /usr/bin/python3 -W ignore "$root/tests/serving/mlflow_differential.py" \
    "$url" "$work/m$classes.json" 2> >(grep -v "WARNING\|warn" >&2)
  kill "$serve_pid"
  wait "$serve_pid" 2>/dev/null || true
  serve_pid=
done
