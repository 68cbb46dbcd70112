#!/usr/bin/env bash
# Runs a test suite that needs MLflow's own tracking server (installed by
# scripts/mlflow_server.sh into $MLOPS_REAL_MLFLOW). Without it the suite fails — or, with
# MLOPS_SKIP_REAL_MLFLOW=1, ctest reports it as skipped (exit 77), never as passed.
# usage: real_mlflow.sh TEST_BINARY SUITE
set -u
if [ ! -f "${MLOPS_REAL_MLFLOW:-}/VERSION" ]; then
  if [ "${MLOPS_SKIP_REAL_MLFLOW:-0}" = 1 ]; then
    echo "SKIPPED $2: no real MLflow server installed (MLOPS_SKIP_REAL_MLFLOW=1)"
    exit 77
  fi
  echo "$2 needs MLflow's own server, and none is installed at '${MLOPS_REAL_MLFLOW:-}'." >&2
  echo "Install it with scripts/mlflow_server.sh (from ../shared/mlflow-server; make test does this)," >&2
  echo "or set MLOPS_SKIP_REAL_MLFLOW=1 to skip these tests knowingly." >&2
  exit 1
fi
exec "$1" --test-suite="$2"
