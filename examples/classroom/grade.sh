#!/usr/bin/env bash
# Grades this repository with the course rubric, as GitHub Classroom's autograding would:
# builds, trains and registers (mirrored to MLflow), seeds the CRM, starts `mlops serve`
# and a Prometheus scraping it, runs `mlops eval-rubric`, and draws the badges.
# 用課程評分規準評分此專案：建置、訓練並登錄（同步至 MLflow）、啟動服務與 Prometheus、評分並產生徽章。
#   MLFLOW_TRACKING_URI=http://127.0.0.1:5000 examples/classroom/grade.sh
# Writes results.json, results.md, results.xml (JUnit), results.txt, course-results.* and badges/ into
# GRADE_OUT (default: the repository). Exit 0 when the score reaches the rubric's
# pass_score, 1 below it. Stops everything it started, also on Ctrl-C.
# GRADE_TEST_COMMAND replaces the rubric's test command (default: make test), GRADE_E2E_COMMAND
# the course rubric's integration tests; GRADE_PORT, GRADE_CRM_PORT and GRADE_PROMETHEUS_PORT
# the ports (8000, 8001, 9090). The course's own rubric (rubric/course.yml) grades it too, into
# course-results.*: shown, not the exit status (its layout and test-isolation items are manual).
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { printf '\n==> %s\n' "$*"; }
pids=()
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -z "${work:-}" ] || rm -rf "$work"
}
trap cleanup EXIT INT TERM
# Polls a URL until it answers (at most $2 seconds).
wait_for() {
  for _ in $(seq 1 $(( ${2:-30} * 10 ))); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "grade: $1 did not answer in ${2:-30} s" >&2
  return 1
}

mlflow=${MLFLOW_TRACKING_URI:-http://127.0.0.1:5000}
port=${GRADE_PORT:-8000}
crm_port=${GRADE_CRM_PORT:-8001}
prom_port=${GRADE_PROMETHEUS_PORT:-9090}
out=$(mkdir -p "${GRADE_OUT:-.}" && cd "${GRADE_OUT:-.}" && pwd)
work=$(mktemp -d)
export MLOPS_HOME="$out/.mlops" MLFLOW_TRACKING_URI="$mlflow"

say "build (installs what is missing)"
make build
mlops=$PWD/build/cli/mlops
[ -f "$out/.env" ] || cp .env.example "$out/.env"

say "MLflow at $mlflow"
wait_for "$mlflow/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default" 60

say "M3: train, register in Production (mirrored to MLflow)"
"$mlops" train --n-samples 1000 --c-param 0.1 --register --min-accuracy 0.85 --stage Production --archive-existing \
  -o "$out/models/sample_model.json"
"$mlops" mirror

say "M4: the CRM (SQLite, served over HTTP on :$crm_port as the course's CRM mock is)"
rm -f "$out/crm.db"
"$mlops" crm --crm "sqlite:$out/crm.db" init --customers 200
"$mlops" crm --crm "sqlite:$out/crm.db" serve --port "$crm_port" 2> "$out/crm.log" &
pids+=($!)
wait_for "http://127.0.0.1:$crm_port/health"

say "M2: serve on :$port"
"$mlops" --log-level info serve --port "$port" --crm "http://127.0.0.1:$crm_port" 2> "$out/serve.log" &
pids+=($!)
wait_for "http://127.0.0.1:$port/ready"

say "M5: Prometheus on :$prom_port scraping it"
cat > "$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: mlops-api
    static_configs: [{targets: ['127.0.0.1:$port']}]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn &
pids+=($!)
curl -fsS -o /dev/null "http://127.0.0.1:$port/predict" -H 'Content-Type: application/json' \
  -d '{"features":[5,5,5,5,5,5,5,5,5,5]}'
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$prom_port/api/v1/query?query=sum(prediction_requests_total)" 2>/dev/null \
    | grep -q '"result":\[{' && break
  sleep 0.1
done

say "M6: eval-rubric"
status=0
"$mlops" eval-rubric --rubric rubric/rubric.yml --server "http://127.0.0.1:$port" \
  --prometheus "http://127.0.0.1:$prom_port" --mlflow "$mlflow" \
  --var "env_file=$out/.env" --var "registry=$MLOPS_HOME/mlops.db" --var "crm_db=$out/crm.db" \
  --var "server_log=$out/serve.log" --var "artifact=$out/models/sample_model.json" \
  --var "test_command=${GRADE_TEST_COMMAND:-make test}" \
  --var "train_command=MLOPS_HOME=$work/rubric-home MODEL_PATH=$work/rubric-model.json make train MLOPS=$mlops" \
  --writable "$work" \
  --format json --out "$out/results.json" \
  --also "markdown=$out/results.md" --also "junit=$out/results.xml" --also "table=$out/results.txt" || status=$?
cat "$out/results.txt"
"$mlops" badge --results "$out/results.json" --config rubric/badges.yml --out "$out/badges"

say "The original course's rubric (rubric/course.yml) on the same project and services"
"$mlops" eval-rubric --rubric rubric/course.yml --server "http://127.0.0.1:$port" --crm "http://127.0.0.1:$crm_port" \
  --prometheus "http://127.0.0.1:$prom_port" --mlflow "$mlflow" \
  --var "unit_test_command=${GRADE_TEST_COMMAND:-make test}" \
  --var "e2e_test_command=${GRADE_E2E_COMMAND:-ctest --test-dir build -R 'integration[.](crm|course_contract)$'}" \
  --format json --out "$out/course-results.json" --also "markdown=$out/course-results.md" \
  --also "table=$out/course-results.txt" || true
cat "$out/course-results.txt"
score() { jq -r '.score * 10 | round / 10' "$1"; }
say "score: $(score "$out/results.json")% (rubric/rubric.yml, the grade); $(score "$out/course-results.json")% by the course's rubric"
exit "$status"
