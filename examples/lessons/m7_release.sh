#!/usr/bin/env bash
# Lesson M7 (advanced) — release safely, the course's three use cases: a canary rollout
# judged step by step, drift made visible, a bad release rolled back automatically.
# 第 7 單元（進階）：安全發布 — 逐步分析的金絲雀發布、看得見的資料漂移、自動回滾壞版本。
# shellcheck source=examples/lessons/lib.sh
source "$(dirname "$0")/lib.sh"
need_mlops
need_model
export MLOPS_RELOAD_INTERVAL=1  # serve reads the registry (and its rollout) every second

latest_version() {
  "$mlops" models show ChurnPredictionModel --json | grep -o '"version": *[0-9]*' | tr -dc '0-9\n' | sort -n | tail -1
}
rollout_state() {
  "$mlops" rollout status ChurnPredictionModel --json | grep -o '"state": *"[a-z_]*"' | head -1 | cut -d'"' -f4
}
# Sends realistic traffic (the CRM's customers) until the rollout is no longer running
# (at most a minute).
drive_rollout() {
  local until=$((SECONDS + 60))
  while [ "$SECONDS" -lt "$until" ] && [ "$(rollout_state)" = running ]; do
    "$mlops" -q gate --url "$api" --data customers.csv --requests 150 --concurrency 4 --p95 10s > /dev/null || true
  done
}
serving_version() { curl -fsS "$api/health" | grep -o '"registry_version": *[0-9]*' | tr -dc '0-9'; }

step "Two candidates, registered only above the accuracy gate (use case 3)" "兩個候選模型，僅在準確率門檻以上才登錄（使用情境三）"
run "a refused model exits 3: lower --min-accuracy or improve the model" -- \
  "$mlops" train --n-samples 1000 --seed 7 --model-version candidate --register --min-accuracy 0.85
good=$(latest_version)
run "see lesson m3" -- "$mlops" train --n-samples 1000 --seed 9 --model-version slow --register --min-accuracy 0.85
bad=$(latest_version)
[ -f crm.db ] || run "see lesson m4" -- "$mlops" crm init --customers 500
run "the customers are the traffic of this lesson" -- "$mlops" crm export customers.csv
# Version $bad answers 300 ms late: a deliberately slow release, as the course's use case 3 has it.
serve_flags=(--inject-fault "$bad:delay=300ms")
start_serve

step "Canary: version $good rolls out 10% → 50% → 100%, judged at each step (use case 1)" \
     "金絲雀：版本 $good 依 10% → 50% → 100% 逐步發布，每一步都比較新舊版本（使用情境一）"
run "one rollout at a time: finish the last one with mlops rollout abort ChurnPredictionModel" -- \
  "$mlops" rollout start ChurnPredictionModel --to "$good" --steps 10,50,100 --interval 2s --min-requests 100
printf 'Watch it live on %s/dashboard (requests per version) while the traffic runs.\n' "$api"
drive_rollout
run "see the decisions and their figures" -- "$mlops" rollout status ChurnPredictionModel
[ "$(rollout_state)" = promoted ] || { printf 'lesson: the healthy candidate was not promoted\n' >&2; exit 1; }

step "Drift made visible: shifted requests push the PSI past 0.2 (use case 2)" "看得見的漂移：偏移的請求讓 PSI 超過 0.2（使用情境二）"
run "gate sends one shifted row 300 times" -- "$mlops" -q gate --url "$api" --requests 300 --p95 10s \
  --body '{"features":[9.5,9.5,9.5,9.5,9.5,9.5,9.5,9.5,9.5,9.5]}'
run "feature_drift_psi above 0.2 fires the FeatureDrift alert in Prometheus" -- \
  sh -c "curl -fsS '$api/metrics' | grep -E '^(feature_drift_psi|ai_feature_mean|feature_training_mean)\{feature=\"feature_1\"'"

step "A slow release is rolled back automatically at its first step (use case 3)" "慢的版本在第一步就被自動回滾（使用情境三）"
run "see above" -- "$mlops" rollout start ChurnPredictionModel --to "$bad" --steps 50,100 --interval 2s --min-requests 30
drive_rollout
run "the reason and the figures are in the history" -- "$mlops" rollout status ChurnPredictionModel
[ "$(rollout_state)" = rolled_back ] || { printf 'lesson: the slow candidate was not rolled back\n' >&2; exit 1; }

step "The course's CI gate: after a deploy, p95 > 200 ms rolls Production back" "課程的 CI 關卡：部署後 p95 超過 200 ms 即回滾 Production"
run "see lesson m3" -- "$mlops" models promote ChurnPredictionModel "$bad" --stage Production --archive-existing
for _ in $(seq 1 50); do [ "$(serving_version)" = "$bad" ] && break; sleep 0.1; done
printf '$ %s gate --url %s --p95 200ms --requests 40 --rollback ChurnPredictionModel\n' "$mlops" "$api"
if "$mlops" gate --url "$api" --p95 200ms --requests 40 --rollback ChurnPredictionModel; then
  printf 'lesson: the gate passed a version that answers in 300 ms\n' >&2
  exit 1
fi
for _ in $(seq 1 50); do [ "$(serving_version)" = "$good" ] && break; sleep 0.1; done
run "the gate passes again on the restored version" -- "$mlops" gate --url "$api" --p95 200ms --requests 40
printf '\nM7 done: version %s promoted by its analysis, drift seen, version %s rolled back twice.\n' "$good" "$bad"
