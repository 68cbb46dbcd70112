#!/usr/bin/env bash
# Builds the request-parsing fuzz target with clang (libFuzzer + ASan + UBSan) and runs it.
#   tests/fuzz/run.sh [SECONDS]     (default 60; the corpus grows in build/fuzz/corpus)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
out=build/fuzz
mkdir -p "$out/corpus"
cp -n tests/fuzz/corpus/* "$out/corpus/" 2>/dev/null || true
clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. \
  -DMLOPS_VERSION_STRING='"fuzz"' tests/fuzz/request_fuzz.cpp libmlops/serving/request.cpp libmlops/core/error.cpp \
  -lfmt -o "$out/request_fuzz"
"$out/request_fuzz" -max_total_time="$seconds" -seed=1 -artifact_prefix="$out/" -print_final_stats=1 "$out/corpus" 2>&1 |
  grep -E "Done|stat::number_of_executed_units|ERROR|crash|SUMMARY" || true
# libFuzzer exits non-zero on a finding; keep its exit status.
test "${PIPESTATUS[0]}" -eq 0
