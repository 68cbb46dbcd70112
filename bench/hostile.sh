#!/usr/bin/env bash
# mlops serve under hostile clients: while SLOW slowloris connections (one header line a
# second, never finished) and IDLE idle keep-alive connections are open, a second client's
# /live and /predict latency and success; the server's peak RSS; and how long SIGTERM takes
# with the hostile connections still open.
#   bench/hostile.sh [path/to/mlops] [seconds, default 20] [slow, default 1000] [idle, default 2000]
# SERVE_ARGS adds flags to `mlops serve` (e.g. SERVE_ARGS="--threads 512").
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
mlops=$(realpath "${1:-build/cli/mlops}")
seconds=${2:-20}
slow=${3:-1000}
idle=${4:-2000}
py=/usr/bin/python3
port=18090
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$mlops" --home "$work/home" train --n-samples 1000 -C 0.1 -o "$work/model.json" --register --stage Production >/dev/null
start_ns=$(date +%s%N)
read -r -a serve_args <<<"${SERVE_ARGS:-}"
"$mlops" --home "$work/home" --log-level info serve --port "$port" "${serve_args[@]}" 2>"$work/serve.log" >/dev/null &
server=$!
pids+=("$server")
wait_ready_ms "http://127.0.0.1:$port/ready" "$start_ns" >/dev/null

# The hostile side, in its own process, held for longer than the probe runs.
"$py" bench/hostile.py hold "$port" "$slow" "$idle" $((seconds + 15)) >"$work/hold.log" &
pids+=("$!")
for _ in $(seq 1 600); do grep -q holding "$work/hold.log" && break; sleep 0.1; done
grep -q holding "$work/hold.log" || { echo "the hostile connections did not open" >&2; exit 1; }

( while kill -0 "$server" 2>/dev/null; do awk '/VmRSS/ {print $2}' "/proc/$server/status" 2>/dev/null; sleep 0.2; done ) \
  >"$work/rss.log" &
pids+=("$!")
body='{"features":[5.2,1.3,7.7,2.0,3.1,4.4,1.0,8.2,2.5,6.0]}'
probe=$("$py" bench/hostile.py probe "$port" "$seconds" "$body")
open=$(find "/proc/$server/fd" -mindepth 1 | wc -l)

term_ns=$(date +%s%N)
kill -TERM "$server"
status=0
wait "$server" || status=$?
term_ms=$(( ($(date +%s%N) - term_ns) / 1000000 ))
peak=$(sort -n "$work/rss.log" | tail -1)

echo "hostile: $slow slowloris + $idle idle keep-alive connections; $(head -1 "$work/hold.log")"
echo "server file descriptors open during the probe: $open"
printf '| route | requests | success %% | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n'
for route in /live /predict; do
  jq -r --arg r "$route" '.[$r] | "| \($r) | \(.requests) | \(.success_pct) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) |"' <<<"$probe"
done
printf 'peak RSS: %.1f MB; SIGTERM to exit: %d ms (exit code %d)\n' "$(bc -l <<<"${peak:-0} / 1024")" "$term_ms" "$status"
