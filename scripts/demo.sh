#!/usr/bin/env bash
# The course path on the embedded defaults, each step printed before it runs.
set -euo pipefail
mlops=${1:-build/cli/mlops}
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "M3: train the course's model and register it above the 0.85 accuracy gate"
run "$mlops" train --n_samples 1000 --c_param 0.1 --model_version v1.2.0-stable \
  --register --min-accuracy 0.85 --stage Production --archive-existing

step "M3: the registry"
run "$mlops" models list
run "$mlops" models history ChurnPredictionModel

step "M2 preview: one offline prediction from models:/ChurnPredictionModel@production"
run "$mlops" predict --features 5.2,1.3,7.7,2.0,3.1,4.4,1.0,8.2,2.5,6.0

printf '\nDone. Next: mlops runs list, mlops models show ChurnPredictionModel\n'
