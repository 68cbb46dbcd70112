#!/usr/bin/env bash
# /predict throughput, latency, CPU per request, memory and cold start: mlops serve vs the
# original course's FastAPI stack (bench/reference) vs a bare cpp-httplib floor server.
#   bench/serve.sh [path/to/mlops] [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
mlops=$(realpath "${1:-build/cli/mlops}")
seconds=${2:-10}
py=/usr/bin/python3
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# shellcheck disable=SC2046  # pkg-config prints several flags
g++ -std=c++20 -O2 bench/floor_server.cpp -o "$work/floor" $(pkg-config --cflags --libs cpp-httplib) -lpthread
"$mlops" --home "$work/home" train --n-samples 1000 -C 0.1 --model-version v1.2.0-stable -o "$work/model.json" \
  --register --stage Production >/dev/null
"$py" bench/reference/train.py "$work/model.joblib"

printf '| server | conns | req/s | p99 ms | errors | CPU µs/req | RSS MB after | cold start ms |\n|---|---|---|---|---|---|---|---|\n'
bench_one() {
  local name=$1 port=$2 health=$3
  shift 3
  local start_ns pid cold
  start_ns=$(date +%s%N)
  "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  cold=$(wait_ready_ms "http://127.0.0.1:$port$health" "$start_ns")
  run_wrk "http://127.0.0.1:$port/predict" 16 2 >/dev/null  # warm-up
  for conns in 16 64; do
    local before after result
    before=$(cpu_ticks "$pid")
    result=$(run_wrk "http://127.0.0.1:$port/predict" "$conns" "$seconds")
    after=$(cpu_ticks "$pid")
    read -r rps p99 errors requests <<<"$result"
    local cpu_us=$(( (after - before) * 1000000 / $(getconf CLK_TCK) / requests ))
    printf '| %s | %s | %.0f | %s | %s | %s | %s | %s |\n' "$name" "$conns" "$rps" "$p99" "$errors" "$cpu_us" "$(rss_mb "$pid")" "$cold"
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}
# mlops with its request log on (info level, text) and metrics: what a user runs.
bench_one "mlops serve" 18080 /health "$mlops" --home "$work/home" --log-level info serve --port 18080
bench_one "reference (FastAPI)" 18081 /health env MODEL_PATH="$work/model.joblib" \
  "$py" -m uvicorn --app-dir bench/reference app:app --host 127.0.0.1 --port 18081 --log-level warning
bench_one "floor (bare cpp-httplib)" 18082 /health "$work/floor" 18082
