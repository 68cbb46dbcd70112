#!/usr/bin/env bash
# Builds the fuzz targets with clang (libFuzzer + ASan + UBSan) and runs each for SECONDS:
#   request_fuzz  the prediction request parsers (JSON or CSV body -> rows)
#   http_fuzz     the whole HTTP path: raw bytes -> parser, router, routes, errors, log, rendering
#   tests/fuzz/run.sh [SECONDS]     (default 60 each; corpora grow in build/fuzz/)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
out=build/fuzz
# shellcheck disable=SC2054  # the commas are part of one -fsanitize flag
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. -I/usr/include/eigen3 -DMLOPS_VERSION_STRING='"fuzz"')
mkdir -p "$out/request_corpus" "$out/http_corpus"
cp -n tests/fuzz/corpus/* "$out/request_corpus/" 2>/dev/null || true
cp -n tests/fuzz/http_corpus/* "$out/http_corpus/" 2>/dev/null || true
clang++ "${flags[@]}" tests/fuzz/request_fuzz.cpp libmlops/serving/request.cpp libmlops/data/csv.cpp \
  libmlops/core/error.cpp -lfmt -o "$out/request_fuzz" &
clang++ "${flags[@]}" tests/fuzz/http_fuzz.cpp libmlops/http/json_server.cpp libmlops/http/message.cpp libmlops/http/detail/request_parser.cpp \
  libmlops/serving/request.cpp libmlops/data/csv.cpp libmlops/core/error.cpp libmlops/core/log.cpp libmlops/core/text.cpp \
  libmlops/core/clock.cpp -lfmt -lpthread -o "$out/http_fuzz" &
# Each wait on its own line: a failed build must fail the run, not fuzz a stale binary.
wait %1
wait %2
status=0
for target in request http; do
  echo "fuzz: ${target}_fuzz for ${seconds} s"
  # -close_fd_mask=2: the request log goes to stderr; keep libFuzzer's own report readable.
  "$out/${target}_fuzz" -max_total_time="$seconds" -seed=1 -artifact_prefix="$out/${target}-" -print_final_stats=1 \
    -close_fd_mask=2 -max_len=8192 "$out/${target}_corpus" >"$out/${target}.log" 2>&1 || status=1
  grep -E "Done|stat::number_of_executed_units|ERROR|crash|SUMMARY|deadly" "$out/${target}.log" || true
done
# libFuzzer exits non-zero on a finding: the run fails with it.
exit $status
