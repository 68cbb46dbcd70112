#!/usr/bin/env bash
# Lesson M3 — training and versions: train, register behind an accuracy gate, promote, roll back.
# 第 3 單元：模型訓練與版本管理 — 訓練、以準確率門檻登錄、升級、回滾。
# shellcheck source=examples/lessons/lib.sh
source "$(dirname "$0")/lib.sh"
need_mlops

step "Train the course's model; register it only above 0.85 accuracy" "訓練課程模型；準確率高於 0.85 才登錄"
run "exit 3 means the accuracy gate refused it: try --c-param 1.0" -- \
  "$mlops" train --n_samples 1000 --c_param 0.1 --model_version v1.2.0-stable --register --min-accuracy 0.85

step "A second version with other parameters" "以不同參數訓練第二個版本"
run "see mlops train --help" -- "$mlops" train --n-samples 2000 --c-param 1.0 --model-version v1.3.0 --register

step "The registry: versions, and the runs that made them" "模型登錄庫：版本與產生它們的訓練紀錄"
run "mlops models list shows every model" -- "$mlops" models show ChurnPredictionModel
run "mlops runs list shows every run" -- "$mlops" runs list --limit 5

step "Promote the newest version to Production (the old one is archived)" "將最新版本升為 Production（舊版封存）"
latest=$("$mlops" models show ChurnPredictionModel --json | grep -o '"version": *[0-9]*' | tr -dc '0-9\n' | sort -n | tail -1)
run "the version must exist" -- "$mlops" models promote ChurnPredictionModel "$latest" --stage Production \
  --archive-existing --reason "lesson m3"

step "Roll back to the previous Production version, and read the audit" "回滾至前一個 Production 版本並查看稽核紀錄"
if "$mlops" models history ChurnPredictionModel | grep -q 'Production'; then
  "$mlops" models rollback ChurnPredictionModel --reason "lesson m3: practise a rollback" \
    || echo "(no earlier Production version yet: run this lesson again to practise a rollback)"
fi
run "history is append-only" -- "$mlops" models history ChurnPredictionModel

if [ -n "${MLFLOW_TRACKING_URI:-}" ]; then
  step "Mirrored to MLflow at $MLFLOW_TRACKING_URI" "已同步至 MLflow"
  run "is MLflow running? mlops mirror retries what is pending" -- "$mlops" mirror status
else
  printf '\n(Set MLFLOW_TRACKING_URI to see these versions in MLflow: README "MLflow".)\n'
fi
printf '\nM3 done: versions are registered, promoted and rolled back. Next: examples/lessons/m4_crm.sh\n'
