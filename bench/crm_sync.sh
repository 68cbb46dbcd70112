#!/usr/bin/env bash
# Segment sync throughput, side by side in one run:
#   1. `mlops crm-sync` over the embedded CRM, 1,000,000 customers (every one changes);
#   2. `mlops crm-sync` over HTTP against `mlops crm serve`, 10,000 customers (batch API);
#   3. the original course's way: one POST /crm_segment_update per customer through
#      `mlops serve` (which fetches the features from the same CRM service and writes back),
#      one call after another on a kept-alive connection, on the same 10,000 customers.
#   bench/crm_sync.sh [path/to/mlops] [embedded customers, default 1000000] [http customers, default 10000]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
mlops=$(realpath "${1:-build/cli/mlops}")
embedded_n=${2:-1000000}
http_n=${3:-10000}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
home="$work/home"
cd "$work"

"$mlops" --home "$home" train --n-samples 1000 --register --stage Production -o model.json >/dev/null
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
rate_of() { jq -r '.read / .seconds | floor'; }

echo "embedded: crm init --customers $embedded_n" >&2
"$mlops" --home "$home" crm --crm sqlite:fresh.db init --customers "$embedded_n" >/dev/null
embedded_rates=()
for run in 1 2 3; do
  cp fresh.db crm.db
  rm -f crm.db-wal crm.db-shm "$home"/crm_sync.db*
  embedded_rates+=("$("$mlops" --home "$home" --quiet crm-sync --crm sqlite:crm.db --json | rate_of)")
  echo "embedded run $run: ${embedded_rates[-1]} customers/s" >&2
done
embedded=$(printf '%s\n' "${embedded_rates[@]}" | median)
# A second sync with the same model: nothing changes, every customer is read and decided.
resync=$("$mlops" --home "$home" --quiet crm-sync --crm sqlite:crm.db --json | rate_of)

# HTTP: the CRM service over a 10,000-customer store, reset before each way.
"$mlops" --home "$home" crm --crm sqlite:http_fresh.db init --customers "$http_n" >/dev/null
start_crm() {
  cp http_fresh.db http.db
  rm -f http.db-wal http.db-shm
  "$mlops" --home "$home" crm --crm sqlite:http.db serve --port 18090 >crm.log 2>&1 &
  crm_pid=$!
  pids+=("$crm_pid")
  wait_ready_ms http://127.0.0.1:18090/health "$(date +%s%N)" >/dev/null
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

start_crm
serial_rate=$("$mlops" --home "$home" --quiet crm-sync --crm http://127.0.0.1:18090 --concurrency 1 --json | rate_of)
stop "$crm_pid"
start_crm
http_report=$("$mlops" --home "$home" --quiet crm-sync --crm http://127.0.0.1:18090 --json)
http_rate=$(rate_of <<<"$http_report")
stop "$crm_pid"

start_crm
"$mlops" --home "$home" serve --port 18091 --crm http://127.0.0.1:18090 >serve.log 2>&1 &
serve_pid=$!
pids+=("$serve_pid")
wait_ready_ms http://127.0.0.1:18091/health "$(date +%s%N)" >/dev/null
# One curl process, one connection, one call per customer in id order (as a Python loop with
# requests.Session would do); only the ids come from the CRM's own listing.
"$mlops" --home "$home" crm --crm sqlite:http_fresh.db list --limit "$http_n" --json | jq -r '.customers[].user_id' |
  awk '{printf "url = \"http://127.0.0.1:18091/crm_segment_update?customer_id=%s\"\noutput = \"/dev/null\"\n", $1}' >calls.cfg
start_ns=$(date +%s%N)
curl -s -X POST -w '%{http_code}\n' -K calls.cfg >codes.txt
course_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
calls=$(wc -l <codes.txt)
ok=$(grep -c '^200$' codes.txt || true)
course_rate=$(( calls * 1000 / course_ms ))
left=$("$mlops" --home "$home" crm --crm sqlite:http.db list --segment Unassigned --limit 1000000 --json | jq '.customers | length')
updated=$(( http_n + 1 - left ))
stop "$serve_pid"
stop "$crm_pid"

printf '| way | customers | customers/s |\n|---|---|---|\n'
printf '| embedded crm-sync, every segment changes (median of 3) | %s | %s |\n' "$embedded_n" "$embedded"
printf '| embedded crm-sync, nothing changes | %s | %s |\n' "$embedded_n" "$resync"
printf '| HTTP crm-sync against mlops crm serve, --concurrency 1 | %s | %s |\n' "$(jq .read <<<"$http_report")" "$serial_rate"
printf '| HTTP crm-sync against mlops crm serve, --concurrency 4 (default) | %s | %s |\n' "$(jq .read <<<"$http_report")" "$http_rate"
printf '| one POST /crm_segment_update per customer (%s of %s answered 200, %s segments written) | %s | %s |\n' \
  "$ok" "$calls" "$updated" "$calls" "$course_rate"
printf "\nHTTP crm-sync / per-customer calls: %.1fx\n" "$(echo "$http_rate / $course_rate" | bc -l)"
