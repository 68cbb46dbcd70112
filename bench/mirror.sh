#!/usr/bin/env bash
# The MLflow mirror: how fast a backlog drains, and what mirroring adds to a command.
# Against the MLflow test double (build/tests/mlflow-double: in-memory, loopback), so the
# numbers are mlops's own cost plus HTTP round trips, not a real MLflow's database time.
#   bench/mirror.sh [path/to/mlops] [versions, default 200]
set -euo pipefail
cd "$(dirname "$0")/.."
mlops=$(realpath "${1:-build/cli/mlops}")
double=$(realpath "$(dirname "$mlops")/../tests/mlflow-double")
versions=${2:-200}
work=$(mktemp -d)
pid=
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  [ ! -x "$work/real/stop.sh" ] || "$work/real/stop.sh" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$double" > "$work/double.out" &
pid=$!
for _ in $(seq 1 100); do grep -q listening "$work/double.out" 2>/dev/null && break; sleep 0.05; done
url=$(grep -o 'http://[0-9.:]*' "$work/double.out")
now() { date +%s.%N; }

echo "backlog: $versions train --register + promote, with MLflow unset" >&2
for i in $(seq 1 "$versions"); do
  "$mlops" --home "$work/home" train --n-samples 300 --seed "$i" --register -o "$work/m.json" >/dev/null
  "$mlops" --home "$work/home" models promote ChurnPredictionModel "$i" --stage Production --archive-existing >/dev/null
done
events=$("$mlops" --home "$work/home" mirror status --json | jq .pending)
cp -a "$work/home" "$work/home-real"  # the same backlog, for MLflow's own server below
start=$(now)
MLFLOW_TRACKING_URI=$url "$mlops" --home "$work/home" mirror >/dev/null
drain=$(echo "$(now) - $start" | bc)

# The same backlog into MLflow's own 2.9 server (SQLite store, 4 gunicorn workers as
# `mlflow server` starts), when scripts/mlflow_server.sh has installed it.
real_drain=
server="$(dirname "$mlops")/../mlflow-server"
if [ -f "$server/VERSION" ]; then
  mkdir "$work/real"
  ln -s "$(realpath "$server/src")" "$work/real/src"
  ln -s "$(realpath "$server/stubs")" "$work/real/stubs"
  cp "$server/start.sh" "$server/stop.sh" "$server/VERSION" "$work/real/"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  MLFLOW_PORT=$port "$work/real/start.sh" >&2
  start=$(now)
  MLFLOW_TRACKING_URI=http://127.0.0.1:$port "$mlops" --home "$work/home-real" mirror >/dev/null
  real_drain=$(echo "$(now) - $start" | bc)
  "$work/real/stop.sh" >&2
fi

# One command with and without its mirror (median of 21 runs each).
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
time_train() {
  for _ in $(seq 1 21); do
    local s; s=$(now)
    env "$@" "$mlops" --home "$work/home2" train --n-samples 1000 --register --stage Production -o "$work/m2.json" >/dev/null 2>&1
    echo "($(now) - $s) * 1000" | bc
  done | median
}
plain=$(time_train MLFLOW_TRACKING_URI=)
mirrored=$(time_train MLFLOW_TRACKING_URI="$url")

# Markdown with backticks: not shell expansions.
# shellcheck disable=SC2016
{
echo "| what | number |"
echo "|---|---|"
printf '| backlog drained by `mlops mirror` | %s events in %.2f s = %.0f events/s |\n' "$events" "$drain" "$(echo "$events / $drain" | bc -l)"
[ -z "$real_drain" ] || printf '| the same backlog drained into MLflow 2.9'"'"'s own server | %s events in %.2f s = %.0f events/s |\n' "$events" "$real_drain" "$(echo "$events / $real_drain" | bc -l)"
printf '| `train --register --stage Production`, no MLflow (median of 21) | %.1f ms |\n' "$plain"
printf '| the same, mirrored to MLflow right after (median of 21) | %.1f ms |\n' "$mirrored"
}
