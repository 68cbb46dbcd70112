#!/usr/bin/env bash
# `make demo`'s script in a scratch folder on a free port: it must reach 100% on the modules
# it grades, write the badges, and leave no process behind.
#   tests/deploy/demo_test.sh BUILD_DIR   (ctest: demo)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=tests/deploy/lib.sh
source "$root/tests/deploy/lib.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
port=$(free_port)
DEMO_DIR="$dir" DEMO_PORT="$port" "$root/scripts/demo.sh" "$1/cli/mlops" > "$dir/demo.log" 2>&1 || { cat "$dir/demo.log"; exit 1; }
fail() { cat "$dir/demo.log"; echo "demo_test: $*" >&2; exit 1; }
grep -q 'Done in [0-9]*s: 100.0% on M2,M4,M5' "$dir/demo.log" || fail "no 100% on M2,M4,M5"
grep -q '"update_status":"updated"' "$dir/demo.log" || fail "/crm_segment_update did not update"
grep -q 'Sync run .* read 1001' "$dir/demo.log" || fail "crm-sync did not read every customer"
[ -f "$dir/badges/overall.svg" ] || fail "no badge"
! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || fail "serve is still running on $port"
echo "demo_test: the demo reached 100% in $(grep -o 'Done in [0-9]*s' "$dir/demo.log")"
