#!/usr/bin/env bash
# Lesson M4 — CRM integration: segment one customer through the API, then all of them in a batch.
# 第 4 單元：CRM 整合 — 透過 API 更新單一客戶分群，再批次更新全部客戶。
# shellcheck source=examples/lessons/lib.sh
source "$(dirname "$0")/lib.sh"
need_mlops
need_model

step "The embedded CRM (crm.db), created once with 1000 customers" "內建 CRM（crm.db），首次建立 1000 位客戶"
[ -f crm.db ] || run "is the folder writable?" -- "$mlops" crm init --customers 1000
run "CUST_TEST_007 is the course's test customer" -- "$mlops" crm show CUST_TEST_007

step "Predict CUST_TEST_007's segment and write it to the CRM" "預測 CUST_TEST_007 的分群並寫回 CRM"
start_serve
run "see .mlops/lesson-serve.log" -- curl -fsS -X POST "$api/crm_segment_update?customer_id=CUST_TEST_007&force=true"; echo
run "the CRM now holds the segment, and its history who set it" -- "$mlops" crm show CUST_TEST_007
run "each step is in serve's log" -- grep -E 'crm (features fetched|write).*CUST_TEST_007' .mlops/lesson-serve.log

step "Every customer in one batch: first a dry run, then for real" "一次處理所有客戶：先試跑，再正式執行"
run "crm-sync --help lists the options" -- "$mlops" crm-sync --dry-run
run "crm-sync is resumable: --resume RUN_ID" -- "$mlops" crm-sync
run "every run is recorded" -- "$mlops" crm-sync list

step "Undo the last sync (its ledger knows every change)" "復原上一次同步（紀錄檔保有每一筆變更）"
last=$("$mlops" crm-sync list --json | grep -o '"run_id": *"[0-9a-f]*"' | grep -v dry | head -1 | grep -o '[0-9a-f]\{8,\}')
run "rollback takes a run id from crm-sync list" -- "$mlops" crm-sync rollback "$last"
printf '\nM4 done: one customer through the API, all of them in a batch, and an undo.\n'
printf 'Exercise: examples/segment_policy.yml with --policy. Next: examples/lessons/m5_monitor.sh\n'
