#!/usr/bin/env bash
# A class graded: 30 generated learner workspaces (copies of this project — 10 intact, 10
# with a learner's mistakes, 10 hostile) graded one after another with the course rubric
# against running services (mlops serve with the CRM, Prometheus, the MLflow test double):
# total wall time, time and peak RSS per workspace, each workspace's score; then the
# sandbox's cost per `command` check (median of 100, sandboxed vs --no-sandbox).
#   bench/grade_class.sh [path/to/mlops] [build dir, default: the binary's]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=tests/deploy/lib.sh
source tests/deploy/lib.sh
mlops=$(realpath "${1:-build/cli/mlops}")
build=$(realpath "${2:-$(dirname "$mlops")/..}")
work=$(mktemp -d)
pids=()
# shellcheck disable=SC2317  # called by the trap
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

# --- the services every workspace is graded against ------------------------------------
start_mlflow_double "$build" "$work"  # sets $mlflow and $double_pid
pids+=("$double_pid")
# shellcheck disable=SC2154  # $mlflow: set by start_mlflow_double
export MLOPS_HOME="$work/home" MLFLOW_TRACKING_URI="$mlflow"
"$mlops" train --n-samples 1000 --c-param 0.1 --register --stage Production -o "$work/model.json" >/dev/null
"$mlops" mirror >/dev/null
"$mlops" crm --crm "sqlite:$work/crm.db" init --customers 200 >/dev/null
cp .env.example "$work/.env"
port=$(free_port)
prom_port=$(free_port)
"$mlops" --log-level info serve --port "$port" --crm "sqlite:$work/crm.db" 2>"$work/serve.log" &
pids+=("$!")
printf 'global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: mlops-api\n    static_configs: [{targets: ["127.0.0.1:%s"]}]\n' \
  "$port" >"$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn &
pids+=("$!")
for _ in $(seq 1 300); do curl -fsS -o /dev/null "http://127.0.0.1:$port/ready" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "http://127.0.0.1:$port/predict" -H 'Content-Type: application/json' -d '{"features":[5,5,5,5,5,5,5,5,5,5]}'
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$prom_port/api/v1/query?query=sum(prediction_requests_total)" 2>/dev/null | grep -q '"result":\[{' && break
  sleep 0.1
done

# --- the class ---------------------------------------------------------------------------
copy_project() {  # a learner's hand-in: the project's files, no .git or build trees
  mkdir -p "$1"
  for f in "$root"/* "$root"/.[!.]*; do
    case "$(basename "$f")" in .git|.tools|build*) continue ;; esac
    cp -a "$f" "$1/"
  done
  ln -s "$root/.tools" "$1/.tools"
}
laughs() {  # 9^10 strings once its aliases are expanded
  echo 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'
  for i in $(seq 1 9); do p=$((i - 1)); echo "a$i: &a$i [*a$p,*a$p,*a$p,*a$p,*a$p,*a$p,*a$p,*a$p,*a$p]"; done
  echo 'on: push'
}
outside=$work/outside
mkdir -p "$outside" && echo "GRADER_SECRET=hunter2" >"$outside/secret.txt" && chmod 600 "$outside/secret.txt"
for i in $(seq -w 1 30); do
  ws=$work/class/learner-$i
  copy_project "$ws"
  n=$((10#$i))
  if [ "$n" -gt 10 ] && [ "$n" -le 20 ]; then  # a learner's mistakes, one each
    case $((n % 5)) in
      0) rm -f "$ws/compose/Dockerfile" "$ws/.github/workflows/ci.yml" ;;
      1) sed -i 's/prediction_requests_total/requests/' "$ws/dashboards/mlops-overview.json" ;;
      2) rm -rf "$ws/tests/integration" ;;
      3) sed -i 's/--min-accuracy 0.85/--min-accuracy 0.999/' "$ws/Makefile" ;;
      4) sed -i 's/exp_alerts: \[\]  #/exp_alerts: [{exp_labels: {severity: page}}]  #/' "$ws/compose/prometheus/alerts_test.yml" ;;
    esac
  elif [ "$n" -gt 20 ]; then  # hostile
    # shellcheck disable=SC2016  # $$f is make's, not the shell's
    case $((n % 5)) in
      0) laughs >"$ws/.github/workflows/ci.yml" ;;
      1) rm -f "$ws/tests/integration/serve_test.cpp" && ln -s "$outside/secret.txt" "$ws/tests/integration/serve_test.cpp" ;;
      2) sed -i 's|^deps:$|deps:\n\t@for f in /proc/[0-9]*/environ; do tr "\\000" "\\n" < $$f; done 2>/dev/null \| grep -h SECRET \|\| true|' "$ws/Makefile" ;;
      3) sed -i 's|^deps:$|deps:\n\t@setsid sh -c "exec sleep 86400" </dev/null >/dev/null 2>\&1 \&|' "$ws/Makefile" ;;
      4) head -c $((17 << 20)) /dev/zero >"$ws/.github/workflows/ci.yml" ;;
    esac
  fi
done

mkdir -p "$work/scratch"
results=()
start_ns=$(date +%s%N)
for ws in "$work"/class/learner-*; do
  name=$(basename "$ws")
  /usr/bin/time -f '%e %M' -o "$work/$name.time" env GRADER_SECRET=hunter2 "$mlops" eval-rubric --rubric rubric/rubric.yml \
    --workspace "$ws" --server "http://127.0.0.1:$port" --prometheus "http://127.0.0.1:$prom_port" --mlflow "$mlflow" \
    --var "env_file=$work/.env" --var "registry=$MLOPS_HOME/mlops.db" --var "crm_db=$work/crm.db" \
    --var "server_log=$work/serve.log" --var "artifact=$work/model.json" \
    --var "test_command=$build/tests/mlops_tests --test-suite=unit/core/* --no-intro" \
    --var "train_command=MLOPS_HOME=$work/scratch/$name MODEL_PATH=$work/scratch/$name.json make train MLOPS=$mlops" \
    --writable "$work/scratch" --readable "$root" --readable "$build" --format json --out "$work/$name.json" 2>/dev/null || true
  read -r secs kb < <(tail -1 "$work/$name.time")  # after "Command exited with non-zero status 1"
  score=$(jq -r '.score' "$work/$name.json")
  results+=("$name $secs $kb $score")
done
total_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
leaked=$(cat "$work"/learner-*.json | grep -c hunter2 || true)
left=$(pgrep -fc 'sleep 86400' || true)

echo "class of 30 graded in $((total_ms / 1000)).$(printf '%03d' $((total_ms % 1000))) s; secret in a report: $leaked; escaped processes left: $left"
printf '| workspaces | kind | wall s (median, max) | peak RSS MB (max) | score %% (min–max) |\n|---|---|---|---|---|\n'
for kind in intact:1:10 mistakes:11:20 hostile:21:30; do
  IFS=: read -r label from to <<<"$kind"
  rows=$(printf '%s\n' "${results[@]}" | awk -v from="$from" -v to="$to" '{ n = substr($1, 9) + 0 } n >= from && n <= to')
  walls=$(awk '{print $2}' <<<"$rows" | sort -n)
  printf '| %d–%d | %s | %s, %s | %.1f | %.1f–%.1f |\n' "$from" "$to" "$label" "$(sed -n "$(( ($(wc -l <<<"$walls") + 1) / 2 ))p" <<<"$walls")" \
    "$(tail -1 <<<"$walls")" "$(awk '$3 > m {m = $3} END {print m / 1024}' <<<"$rows")" \
    "$(awk '{print $4}' <<<"$rows" | sort -n | head -1)" "$(awk '{print $4}' <<<"$rows" | sort -n | tail -1)"
done
printf '%s\n' "${results[@]}" | awk '{printf "%s %.0f%% ", $1, $4} NR % 5 == 0 {print ""}'

# --- the sandbox's cost per command check --------------------------------------------------
{
  echo "modules:"
  echo "  M1:"
  echo "    criteria:"
  for c in $(seq 1 100); do echo "      C$c: {text: t, check: {kind: command, run: 'true'}}"; done
} >"$work/true.yml"
median_ms() {  # the median of the criteria's seconds in a results file, in ms
  jq '[.modules[].criteria[].seconds] | sort | .[length / 2 | floor] * 1000' "$1"
}
"$mlops" eval-rubric --rubric "$work/true.yml" --workspace "$work/scratch" --jobs 1 --format json --out "$work/sandboxed.json" 2>/dev/null
"$mlops" eval-rubric --rubric "$work/true.yml" --workspace "$work/scratch" --jobs 1 --no-sandbox --format json --out "$work/plain.json" 2>/dev/null
printf 'command check "true", median of 100: sandboxed %.2f ms, --no-sandbox %.2f ms\n' "$(median_ms "$work/sandboxed.json")" "$(median_ms "$work/plain.json")"
