#!/usr/bin/env bash
# The monitoring configuration, checked by the real tools: promtool (Debian `prometheus`)
# for prometheus.yml and the alert rules and their unit tests, amtool (Debian
# `prometheus-alertmanager`) for the Alertmanager routes, TypeScript against
# @grafana/schema for the dashboards. (The Grafana provisioning files are cross-checked
# against the dashboard in unit/observability.)
#   tests/monitoring/check_configs.sh   (ctest: monitoring.configs)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root/compose/prometheus"
promtool check config prometheus.yml
promtool check rules alerts.yml
promtool test rules alerts_test.yml
cd "$root/compose/alertmanager"
amtool check-config alertmanager.yml
# The rollout alerts reach the release-guard route, the rest the default one.
for alert in PredictionLatencyP95High PredictionErrorRatioHigh FeatureDrift; do
  [ "$(amtool config routes test --config.file=alertmanager.yml alertname="$alert" 2>/dev/null)" = release-guard ]
done
[ "$(amtool config routes test --config.file=alertmanager.yml alertname=ModelNotLoaded 2>/dev/null)" = team ]
cd "$root"
node tests/monitoring/check_dashboard.mjs .tools dashboards/*.json
