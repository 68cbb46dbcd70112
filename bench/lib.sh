# shellcheck shell=bash
# Helpers shared by the serving benchmarks (sourced).

# Waits until URL answers 200; prints the milliseconds since START_NS. Fails after 30 s.
wait_ready_ms() {
  local url=$1 start_ns=$2
  for _ in $(seq 1 30000); do
    if curl -sf -o /dev/null "$url"; then
      echo $(( ($(date +%s%N) - start_ns) / 1000000 ))
      return 0
    fi
    sleep 0.001
  done
  echo "not ready: $url" >&2
  return 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# wrk for SECONDS at CONNS connections on URL; prints "req/s p99_ms errors requests".
run_wrk() {
  local url=$1 conns=$2 seconds=$3 out
  out=$(wrk -t2 -c"$conns" -d"${seconds}s" --latency -s "$(dirname "${BASH_SOURCE[0]}")/post.lua" "$url")
  local rps p99 requests non2xx sockerr
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  sockerr=$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10}' <<<"$out")
  echo "$rps $p99 $(( ${non2xx:-0} + ${sockerr:-0} )) $requests"
}
