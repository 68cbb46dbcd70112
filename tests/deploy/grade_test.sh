#!/usr/bin/env bash
# Runs the classroom grading script end to end, as the learner template's workflow does,
# against the MLflow test double (MLflow cannot be installed here) on free loopback ports,
# and checks the grade: 100%, every report and badge written, the version in "MLflow".
#   tests/deploy/grade_test.sh BUILD_DIR   (ctest: deploy.classroom)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=tests/deploy/lib.sh
source "$root/tests/deploy/lib.sh"
build="$1"
out=$(mktemp -d)
double_pid=
# shellcheck disable=SC2317  # called by the trap
cleanup() { [ -z "$double_pid" ] || kill "$double_pid" 2>/dev/null || true; rm -rf "$out"; }
trap cleanup EXIT


start_mlflow_double "$build" "$out"

cd "$root"
MLFLOW_TRACKING_URI="$mlflow" GRADE_OUT="$out/grade" GRADE_PORT=$(free_port) GRADE_CRM_PORT=$(free_port) \
  GRADE_PROMETHEUS_PORT=$(free_port) GRADE_TEST_COMMAND="$build/tests/mlops_tests --test-suite='unit/*' --no-intro" \
  GRADE_E2E_COMMAND="$build/tests/mlops_tests --test-suite=integration/course_contract --no-intro" \
  examples/classroom/grade.sh

fail() { echo "grade_test: $*" >&2; exit 1; }
grep -q '"score": 100' "$out/grade/results.json" || fail "score is not 100"
grep -q '## Rubric: 100.0%' "$out/grade/results.md" || fail "no Markdown report"
xmllint --noout "$out/grade/results.xml" || fail "JUnit report is not well-formed"
for badge in overall M1 M3 badge-MLflow-Synced; do
  xmllint --noout "$out/grade/badges/$badge.svg" || fail "badge $badge.svg"
done
# The course's rubric: every criterion but the two graded by hand, and MLflow's UI (the test
# double has none; MLflow's own server, as in integration.course_rubric, does).
failed=$(jq -r '[.modules[] | .id as $m | .criteria[] | select(.earned < .points) | "\($m).\(.id)"] | join(" ")' "$out/grade/course-results.json")
[ "$failed" = "M1.C2 M3.C3 M6.C2" ] || { jq . "$out/grade/course-results.json" >&2; fail "course.yml: short on $failed"; }
curl -fsS "$mlflow/api/2.0/mlflow/registered-models/get?name=ChurnPredictionModel" | grep -q '"current_stage": "Production"' \
  || fail "no Production version in MLflow"
echo "grade_test: 100%, reports, badges and the MLflow version are there"
