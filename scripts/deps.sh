#!/usr/bin/env bash
# Installs the Debian packages mlops needs to build and test, and nothing that is already
# there. Idempotent; runs apt-get as root directly or through sudo. Prints what it installs.
set -euo pipefail

packages=(
  g++ cmake make pkg-config
  libcli11-dev libeigen3-dev liblbfgspp-dev libfmt-dev libsqlite3-dev nlohmann-json3-dev doctest-dev
)
# Extra groups: `deps.sh bench` adds what bench/ compares against.
for group in "$@"; do
  case "$group" in
    bench) packages+=(python3-sklearn python3-numpy hyperfine time) ;;
    *) echo "deps.sh: unknown group '$group' (known: bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

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
echo "deps: installed ${#missing[@]} package(s)"
