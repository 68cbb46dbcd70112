#!/usr/bin/env bash
# Lesson M5 — observability: the metrics, Prometheus scraping them, the alert rules, the dashboard.
# 第 5 單元：監控與可觀測性 — 指標、Prometheus 抓取、告警規則、儀表板。
# shellcheck source=examples/lessons/lib.sh
source "$(dirname "$0")/lib.sh"
need_mlops
need_model
start_serve

step "Some traffic, then the metrics serve exposes" "送出一些請求，再查看服務提供的指標"
for _ in $(seq 1 20); do
  curl -fsS -o /dev/null "$api/predict" -H 'Content-Type: application/json' -d '{"features":[1,2,3,4,5,6,7,8,9,10]}'
done
run "GET /metrics is Prometheus' text format" -- sh -c \
  "curl -fsS '$api/metrics' | grep -E '^(prediction_requests_total|prediction_latency_seconds_count|model_loaded)'"

step "The alert rules and their unit tests (promtool)" "告警規則與其單元測試（promtool）"
run "sudo apt-get install prometheus (make deps does)" -- promtool check rules "$root/compose/prometheus/alerts.yml"
run "each alert has a firing and a quiet case" -- promtool test rules "$root/compose/prometheus/alerts_test.yml"

step "Prometheus scraping serve every second, and a PromQL query" "Prometheus 每秒抓取服務指標，並執行 PromQL 查詢"
prom_port=${LESSON_PROMETHEUS_PORT:-9090}
mkdir -p .mlops/lesson-prometheus
printf 'global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: mlops-api\n    static_configs: [{targets: ["127.0.0.1:%s"]}]\n' \
  "$port" > .mlops/lesson-prometheus/prometheus.yml
printf '$ prometheus --config.file=.mlops/lesson-prometheus/prometheus.yml --web.listen-address=127.0.0.1:%s &\n' "$prom_port"
prometheus --config.file=.mlops/lesson-prometheus/prometheus.yml --storage.tsdb.path=.mlops/lesson-prometheus/data \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=error &
pids+=($!)
query="http://127.0.0.1:$prom_port/api/v1/query?query=sum(prediction_requests_total)"
for _ in $(seq 1 100); do curl -fsS "$query" 2>/dev/null | grep -q '"result":\[{' && break; sleep 0.1; done
run "is port $prom_port free? LESSON_PROMETHEUS_PORT=9091 picks another" -- curl -fsS "$query"; echo

step "Dashboards: the built-in page, and Grafana's" "儀表板：內建頁面與 Grafana"
printf 'Open %s/dashboard while serve runs; dashboards/mlops-overview.json is the Grafana dashboard (make up).\n' "$api"
printf '\nM5 done: metrics, Prometheus, alerts. Exercise: make one alert fire in alerts_test.yml.\n'
printf 'Next: examples/lessons/m6_test.sh\n'
