#!/usr/bin/env bash
# Runs one lesson script twice in a scratch folder on free ports — it must succeed both
# times (lessons are idempotent), reach its "done" line, and leave no server behind.
#   tests/deploy/lesson_test.sh m2_api   (ctest: lessons.m2_api)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=tests/deploy/lib.sh
source "$root/tests/deploy/lib.sh"
lesson=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
port=$(free_port)
prom_port=$(free_port)
for attempt in 1 2; do
  if ! LESSON_DIR="$dir" LESSON_PORT=$port LESSON_PROMETHEUS_PORT=$prom_port \
       "$root/examples/lessons/$lesson.sh" > "$dir/run$attempt.log" 2>&1; then
    cat "$dir/run$attempt.log"
    echo "lesson_test: $lesson failed on run $attempt" >&2
    exit 1
  fi
  grep -q "^M[1-7] done" "$dir/run$attempt.log" || { cat "$dir/run$attempt.log"; echo "lesson_test: no 'done' line" >&2; exit 1; }
done
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "lesson_test: a server still listens on $port after $lesson" >&2
  exit 1
fi
echo "lesson_test: $lesson ran twice: $(grep -c '^==>\|==>' "$dir/run1.log") steps"
