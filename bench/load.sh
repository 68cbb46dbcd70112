#!/usr/bin/env bash
# Reliability under load: 60 s of wrk at 64 connections on /predict. Passes when there are
# no non-2xx answers, no socket errors, and RSS grows less than 10 % from second 10 to 60.
#   bench/load.sh [path/to/mlops] [seconds, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
mlops=$(realpath "${1:-build/cli/mlops}")
seconds=${2:-60}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$mlops" --home "$work/home" train --n-samples 1000 --register --stage Production -o "$work/m.json" >/dev/null
"$mlops" --home "$work/home" serve --port 18090 >/dev/null 2>"$work/serve.log" &
pid=$!
wait_ready_ms http://127.0.0.1:18090/ready "$(date +%s%N)" >/dev/null
run_wrk http://127.0.0.1:18090/predict 64 "$seconds" >"$work/wrk.txt" &
wrk_pid=$!
sleep 10
rss10=$(rss_mb "$pid")
wait "$wrk_pid"
rss_end=$(rss_mb "$pid")
read -r rps p99 errors requests <"$work/wrk.txt"
growth=$(awk -v a="$rss10" -v b="$rss_end" 'BEGIN {printf "%.1f", (b - a) / a * 100}')
echo "| seconds | requests | req/s | p99 ms | non-2xx + socket errors | RSS at 10 s MB | RSS at end MB | growth % |"
echo "|---|---|---|---|---|---|---|---|"
echo "| $seconds | $requests | $rps | $p99 | $errors | $rss10 | $rss_end | $growth |"
if [ "$errors" -ne 0 ] || awk -v g="$growth" 'BEGIN {exit !(g >= 10)}'; then
  echo "load: FAILED (errors or RSS growth)" >&2
  exit 1
fi
echo "load: ok"
