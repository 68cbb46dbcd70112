#!/usr/bin/env bash
# Lesson M1 — the environment: settings in .env, the tools installed, the build, a check.
# 第 1 單元：環境建置 — .env 設定、安裝工具、建置、環境檢查。
# shellcheck source=examples/lessons/lib.sh
source "$(dirname "$0")/lib.sh"

step "Settings live in .env (copied from .env.example once; yours is kept)" \
     "設定寫在 .env（第一次由 .env.example 複製；已存在則保留）"
[ -f .env ] || run "is .env.example in the repository?" -- cp "$root/.env.example" .env
run "check .env's lines look like KEY=value" -- grep -E '^(MODEL_NAME|MODEL_VERSION|CRM_URL)=' .env

step "Install what is missing and build (idempotent: a second run installs nothing)" \
     "安裝缺少的套件並建置（可重複執行）"
run "run 'sudo make deps' if you are not root; see README 'Troubleshooting'" -- make -C "$root" build

step "Ask mlops whether the environment is ready, and what to fix if not" \
     "用 mlops doctor 檢查環境，並列出修正方式"
run "follow the 'fix:' lines above" -- "$mlops" doctor

step "Where every setting comes from (flag > environment > .env > default)" \
     "每個設定的來源（參數 > 環境變數 > .env > 預設值）"
run "settings are read from .env in this folder" -- "$mlops" --version
printf '\nM1 done: .env is set, mlops is built, doctor is happy. Next: examples/lessons/m2_api.sh\n'
