#!/usr/bin/env bash
# Lesson M6 — testing and acceptance: the tests, then the course rubric on the running project.
# 第 6 單元：測試與驗收 — 執行測試，再以課程評分規準評分運行中的專案。
# shellcheck source=examples/lessons/lib.sh
source "$(dirname "$0")/lib.sh"
need_mlops
need_model

step "The fast tests (the full suite is make test)" "快速測試（完整測試為 make test）"
run "a failing test names its module: fix it and rerun" -- "$root/build/tests/mlops_tests" --test-suite='unit/*' --no-intro

step "Grade the running service with the course rubric (M2 and M4 here)" "以課程評分規準評分運行中的服務（此處為 M2 與 M4）"
[ -f crm.db ] || run "see lesson m4" -- "$mlops" crm init --customers 200
start_serve
grade=("$mlops" eval-rubric --rubric "$root/rubric/rubric.yml" --workspace "$root" --only "M2,M4" --server "$api"
       --var "server_log=$PWD/.mlops/lesson-serve.log" --var "crm_db=$PWD/crm.db"
       --format json --out results.json --also table=.mlops/lesson-results.txt)
printf '$ %s\n' "${grade[*]}"
status=0
"${grade[@]}" || status=$?
cat .mlops/lesson-results.txt  # shown also when it fails: each FAIL line says why
if [ "$status" -ne 0 ]; then
  printf '\nlesson: the grade is below the pass mark (exit %s)\nhint: fix what the FAIL lines above name\n' "$status" >&2
  exit 1
fi
run "zh-TW: the same table for the class" -- "$mlops" eval-rubric --rubric "$root/rubric/rubric.yml" \
  --workspace "$root" --only M2 --server "$api" --lang zh-TW

step "The original course's rubric on the same service (rubric/course.yml, M2)" "原課程評分規準評分同一服務（rubric/course.yml，M2）"
run "course.yml checks the course's contract: GET /, /predict, 422, the Dockerfile's user" -- \
  "$mlops" eval-rubric --rubric "$root/rubric/course.yml" --workspace "$root" --only M2 --server "$api" --lang zh-TW

step "Badges for the README" "README 用的徽章"
run "badge reads results.json" -- "$mlops" badge --results results.json --config "$root/rubric/badges.yml" --out badges
printf '\nM6 done: tests pass and the rubric grades the project. The full grade, as CI runs it:\n'
printf '  examples/classroom/grade.sh   (needs MLFLOW_TRACKING_URI for M3)\n'
