#!/usr/bin/env bash
# Checks the module rules of STYLE.md that a compiler does not: third-party headers stay in
# the modules that own them, and no module includes another module's detail/ headers.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
report() { echo "layout: $1"; fail=1; }

while IFS= read -r hit; do report "$hit: sqlite3.h outside libmlops/sqlite"; done \
  < <(grep -rln '#include <sqlite3.h>' libmlops cli | grep -v '^libmlops/sqlite/' || true)
while IFS= read -r hit; do report "$hit: LBFGS outside libmlops/model"; done \
  < <(grep -rln '#include <LBFGS' libmlops cli | grep -v '^libmlops/model/.*\.cpp$' || true)
while IFS= read -r hit; do report "$hit: CLI11 outside cli/"; done \
  < <(grep -rln '#include <CLI/' libmlops || true)
while IFS= read -r hit; do report "$hit: httplib.h in a header"; done \
  < <(grep -rln '#include <httplib.h>' --include='*.hpp' libmlops cli || true)
# detail/ headers are private to their module.
for f in $(grep -rl 'detail/' --include='*.cpp' --include='*.hpp' libmlops cli || true); do
  module=$(echo "$f" | cut -d/ -f2)
  while IFS= read -r inc; do
    target=$(echo "$inc" | sed -E 's|.*"libmlops/([^/]+)/detail/.*|\1|')
    [ "$target" = "$module" ] || report "$f includes $inc"
  done < <(grep -o '#include "libmlops/[^/]*/detail/[^"]*"' "$f" || true)
done
# The library never writes to stdout.
while IFS= read -r hit; do report "$hit: the library prints to stdout"; done \
  < <(grep -rlnE 'std::cout|printf\(|puts\(' libmlops | grep -v 'log.cpp' || true)
[ $fail -eq 0 ] && echo "layout: ok"
exit $fail
