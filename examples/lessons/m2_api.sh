#!/usr/bin/env bash
# Lesson M2 — serving: start the API, ask it for health and predictions, see its errors.
# 第 2 單元：模型服務 — 啟動 API、查詢健康狀態與預測、觀察錯誤回應。
# shellcheck source=examples/lessons/lib.sh
source "$(dirname "$0")/lib.sh"
need_mlops
need_model

step "Start the prediction service in the background" "在背景啟動預測服務"
start_serve

step "GET /health: is a model loaded, which version?" "GET /health：模型是否已載入、版本為何"
run "is serve running? see .mlops/lesson-serve.log" -- curl -fsS "$api/health"; echo

step "POST /predict with the 10 features in order" "POST /predict，依序送出 10 個特徵"
run "the body must be JSON with 10 numbers" -- curl -fsS "$api/predict" -H 'Content-Type: application/json' \
  -d '{"features":[5.2,1.3,7.7,2.0,3.1,4.4,1.0,8.2,2.5,6.0]}'; echo

step "The same by feature name, and a batch of two rows" "以特徵名稱送出，以及一次送兩筆"
run "names are feature_1..feature_10" -- curl -fsS "$api/predict" -H 'Content-Type: application/json' -d \
  '{"features":{"feature_1":5.2,"feature_2":1.3,"feature_3":7.7,"feature_4":2.0,"feature_5":3.1,"feature_6":4.4,"feature_7":1.0,"feature_8":8.2,"feature_9":2.5,"feature_10":6.0}}'; echo
run "instances is a list of rows" -- curl -fsS "$api/predict" -H 'Content-Type: application/json' \
  -d '{"instances":[[1,2,3,4,5,6,7,8,9,10],[9,8,7,6,5,4,3,2,1,0]]}'; echo

step "A wrong request gets a 422 that says what is wrong" "錯誤的請求會得到說明原因的 422"
code=$(curl -sS -o .mlops/lesson-422.json -w '%{http_code}' "$api/predict" -H 'Content-Type: application/json' \
  -d '{"features":[1,2,3]}')
printf '$ curl ... -d %s  ->  HTTP %s\n' "'{\"features\":[1,2,3]}'" "$code"
cat .mlops/lesson-422.json; echo
[ "$code" = 422 ] || { echo "lesson: expected 422, got $code" >&2; exit 1; }

step "The whole API is described in OpenAPI 3" "完整 API 以 OpenAPI 3 描述"
run "GET /openapi.json" -- sh -c "curl -fsS '$api/openapi.json' | head -c 300"; echo
printf '\nM2 done: the API answers /health and /predict. Exercise: call /invocations (MLflow format).\n'
printf 'Next: examples/lessons/m3_train.sh\n'
