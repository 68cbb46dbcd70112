# shellcheck shell=bash
# What every lesson script shares: each step printed before it runs, a hint when it fails,
# background services stopped on exit (also on Ctrl-C). Sourced, not run.
# 每個課程腳本共用：執行前先印出步驟、失敗時提示如何修正、結束時停止背景服務。
#   LESSON_DIR   the folder the lesson works in (default: the repository)
#   LESSON_PORT  the port of `mlops serve` (default 8000)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mlops="$root/build/cli/mlops"
cd "${LESSON_DIR:-$root}"
port=${LESSON_PORT:-8000}
api="http://127.0.0.1:$port"
pids=()
bold=$(tput bold 2>/dev/null || true)
plain=$(tput sgr0 2>/dev/null || true)

# shellcheck disable=SC2317  # called by the trap
stop_services() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_services EXIT
trap 'echo; echo "lesson: interrupted"; exit 130' INT TERM

# A heading in English and zh-TW.
step() { printf '\n%s==> %s%s\n    %s\n' "$bold" "$1" "$plain" "$2"; }
# run HINT -- COMMAND...: prints the command, runs it, and on failure says what to fix.
run() {
  local hint=$1; shift; [ "$1" = "--" ] && shift
  printf '$ %s\n' "$*"
  if ! "$@"; then
    printf '\nlesson: FAILED: %s\nhint: %s\n' "$*" "$hint" >&2
    exit 1
  fi
}
# The mlops binary, built if needed (the first lesson builds it).
need_mlops() {
  [ -x "$mlops" ] || run "install what is missing with: make deps" -- make -C "$root" build
}
# A Production model in the registry (trained the course's way if there is none).
need_model() {
  if ! "$mlops" models show ChurnPredictionModel 2>/dev/null | grep -q Production; then
    run "see lesson m3_train.sh" -- "$mlops" train --n-samples 1000 --c-param 0.1 --register --min-accuracy 0.85 \
      --stage Production
  fi
}
# mlops serve in the background on $port (with the flags in serve_flags, if any), its log
# in .mlops/lesson-serve.log.
serve_flags=()
start_serve() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    printf 'lesson: port %s is in use\nhint: stop the other server, or run LESSON_PORT=8010 %s\n' "$port" "$0" >&2
    exit 1
  fi
  mkdir -p .mlops
  printf '$ %s --log-level info serve --port %s %s 2> .mlops/lesson-serve.log &\n' "$mlops" "$port" "${serve_flags[*]}"
  "$mlops" --log-level info serve --port "$port" "${serve_flags[@]}" 2> .mlops/lesson-serve.log &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$api/ready" 2>/dev/null && return 0; sleep 0.1; done
  cat .mlops/lesson-serve.log >&2
  printf 'lesson: serve did not become ready\nhint: read the log above; is a model registered? (lesson m3)\n' >&2
  exit 1
}
