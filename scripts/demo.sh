#!/usr/bin/env bash
# `make demo`: the course path on the embedded defaults, each step printed before it runs.
# train + register (accuracy gate) → crm init → serve (background) → /predict and
# /crm_segment_update → crm-sync → /metrics → Prometheus → eval-rubric → badge.
# Stops everything it started, also on Ctrl-C. DEMO_PORT sets serve's port (default 8000);
# DEMO_DIR the folder it works in (default: the repository, so `mlops models list` and
# friends see the demo's registry, CRM and badges afterwards).
# 課程流程示範：訓練登錄 → CRM → 服務 → 預測與分群更新 → 批次同步 → 監控 → 評分 → 徽章。
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mlops=$(cd "$root" && realpath "${1:-build/cli/mlops}")
cd "${DEMO_DIR:-$root}"
bold=$(tput bold 2>/dev/null || true)
plain=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '$ %s\n' "$*"; "$@"; }
pids=()
work=$(mktemp -d)
# shellcheck disable=SC2317  # called by the trap
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap stop_all EXIT
trap 'echo; echo "demo: interrupted, stopping what it started"; exit 130' INT TERM
wait_for() {  # URL [seconds]
  for _ in $(seq 1 $(( ${2:-20} * 10 ))); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "demo: $1 did not answer" >&2
  return 1
}
free_port() {
  while true; do
    local port; port=$(shuf -i 20000-32000 -n 1)
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}
port=${DEMO_PORT:-8000}
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "demo: port $port is in use; stop what uses it or run DEMO_PORT=8010 make demo" >&2
  exit 1
fi
api="http://127.0.0.1:$port"
start=$(date +%s)

step "M1: settings"
[ -f .env ] || run cp "$root/.env.example" .env
run "$mlops" doctor || true

step "M3: train the course's model and register it above the 0.85 accuracy gate"
run "$mlops" train --n_samples 1000 --c_param 0.1 --model_version v1.2.0-stable \
  --register --min-accuracy 0.85 --stage Production --archive-existing
run "$mlops" models list

step "M4: the embedded CRM (crm.db)"
rm -f crm.db
run "$mlops" crm init --customers 1000

step "M2: serve in the background on $api"
printf '$ %s --log-level info serve --port %s 2> .mlops/demo-serve.log &\n' "$mlops" "$port"
"$mlops" --log-level info serve --port "$port" 2> .mlops/demo-serve.log &
pids+=($!)
wait_for "$api/ready"
run curl -sS "$api/health"; echo

step "M2: a prediction"
run curl -sS "$api/predict" -H 'Content-Type: application/json' \
  -d '{"features":[5.2,1.3,7.7,2.0,3.1,4.4,1.0,8.2,2.5,6.0]}'; echo

step "M4: predict a customer's segment and write it to the CRM"
run curl -sS -X POST "$api/crm_segment_update?customer_id=CUST_TEST_007"; echo
run "$mlops" crm show CUST_TEST_007

step "M4: sync every customer's segment in one batch"
run "$mlops" crm-sync

step "M5: the metrics Prometheus scrapes"
printf '$ curl -sS %s/metrics | grep -E "^(prediction_requests_total|crm_segment_updates_total)"\n' "$api"
curl -sS "$api/metrics" | grep -E '^(prediction_requests_total|crm_segment_updates_total)'
modules=M2,M4
prom_args=()
if command -v prometheus >/dev/null; then
  prom_port=$(free_port)
  step "M5: Prometheus on :$prom_port scraping serve every second"
  printf 'global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: mlops-api\n    static_configs: [{targets: ["127.0.0.1:%s"]}]\n' \
    "$port" > "$work/prometheus.yml"
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=error &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$prom_port/api/v1/query?query=sum(prediction_requests_total)" 2>/dev/null \
      | grep -q '"result":\[{' && break
    sleep 0.1
  done
  modules=M2,M4,M5
  prom_args=(--prometheus "http://127.0.0.1:$prom_port")
fi

step "M6: grade the running services with the course rubric ($modules)"
run "$mlops" eval-rubric --rubric "$root/rubric/rubric.yml" --workspace "$root" --only "$modules" \
  --server "$api" "${prom_args[@]}" --var "server_log=$PWD/.mlops/demo-serve.log" --var "crm_db=$PWD/crm.db" \
  --format json --out results.json --also table=.mlops/demo-results.txt || true
cat .mlops/demo-results.txt
run "$mlops" badge --results results.json --config "$root/rubric/badges.yml" --out badges

course_modules=M2
[ ${#prom_args[@]} -eq 0 ] || course_modules=M2,M5
step "M6: the same services by the original course's rubric, rubric/course.yml ($course_modules)"
run "$mlops" eval-rubric --rubric "$root/rubric/course.yml" --workspace "$root" --only "$course_modules" \
  --server "$api" "${prom_args[@]}" || true

score=$(grep -o '"score": *[0-9.]*' results.json | head -1 | tr -dc '0-9.')
printf '\n%sDone in %ss: %s%% on %s.%s Badges in badges/ (open badges/overall.svg).\n' \
  "$bold" "$(( $(date +%s) - start ))" "$score" "$modules" "$plain"
echo "Next: the lessons in examples/lessons/ (M1-M6), make serve, make up (Docker), mlops --help."
echo "M1 and M6 run make deps / make test, M3's MLflow check needs MLFLOW_TRACKING_URI: mlops eval-rubric grades them all."
