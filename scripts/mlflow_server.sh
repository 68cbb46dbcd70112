#!/usr/bin/env bash
# Installs the real MLflow 2.9 tracking server that the mirror tests run against into
# DEST (default build/mlflow-server), from ../shared/mlflow-server (or MLOPS_MLFLOW_SERVER_SRC).
# Idempotent: does nothing when DEST holds an install made from the same setup files.
# Without the source folder it says so and exits 0: ctest's integration.mirror_real then
# fails unless MLOPS_SKIP_REAL_MLFLOW=1 (never a silent skip).
set -euo pipefail
cd "$(dirname "$0")/.."
# The shared folder sits beside the project (../shared); a clone made deeper finds it by
# looking up the parent folders.
SRC="${MLOPS_MLFLOW_SERVER_SRC:-}"
if [ -z "$SRC" ]; then
  SRC=../shared/mlflow-server
  dir="$(pwd)"
  while [ "$dir" != / ]; do
    dir="$(dirname "$dir")"
    if [ -x "$dir/shared/mlflow-server/setup.sh" ]; then SRC="$dir/shared/mlflow-server"; break; fi
  done
fi
DEST="$(mkdir -p "${1:-build/mlflow-server}" && cd "${1:-build/mlflow-server}" && pwd)"
if [ ! -x "$SRC/setup.sh" ]; then
  echo "mlflow-server: no $SRC/setup.sh here; the mirror's real-MLflow tests will fail (set MLOPS_SKIP_REAL_MLFLOW=1 to skip them)" >&2
  exit 0
fi
stamp="$(cat "$SRC"/setup.sh "$SRC"/start.sh "$SRC"/*.tar.gz 2>/dev/null | sha256sum | cut -c1-16)"
if [ -f "$DEST/VERSION" ] && [ "$(cat "$DEST/.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
echo "mlflow-server: installing MLflow's own tracking server into $DEST (once)"
bash "$SRC/setup.sh" "" "$DEST"
echo "$stamp" > "$DEST/.stamp"
