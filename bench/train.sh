#!/usr/bin/env bash
# mlops train vs scikit-learn's LogisticRegression (lbfgs), same data, same C, fit only timed
# on both sides, objectives checked against the true minimum. See bench/README.md.
#   bench/train.sh [path/to/mlops]        (make bench installs python3-sklearn and hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
mlops=$(realpath "${1:-build/cli/mlops}")
py=/usr/bin/python3            # Debian's python, where python3-sklearn installs
out=bench/out
mkdir -p "$out"
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
C=0.1

cases=("binary_1Mx10 1000000 10 2" "multiclass4_1Mx20 1000000 20 4")
printf '| data | side | fit s | iterations | objective | gap to minimum | peak RSS MB |\n'
printf '|---|---|---|---|---|---|---|\n'
for spec in "${cases[@]}"; do
  read -r name rows features classes <<<"$spec"
  csv="$out/$name.csv"
  if [ ! -f "$csv" ]; then
    echo "generating $csv ..." >&2
    "$py" bench/sklearn_fit.py make-data "$csv" "$rows" "$features" "$classes" 42
  fi
  sk=$("$py" bench/sklearn_fit.py fit "$csv" "$C")
  ours=$(/usr/bin/time -f '%M' -o "$out/rss.txt" "$mlops" --home "$home" train --data "$csv" --target target \
           --test-size 0 -C "$C" -o "$home/m.json" --json)
  ours_rss=$(( $(cat "$out/rss.txt") / 1024 ))
  sk_obj=$(jq -r .objective <<<"$sk")
  our_obj=$(jq -r .objective <<<"$ours")
  ref=$("$py" bench/sklearn_fit.py minimum "$csv" "$C" "$our_obj" "$sk_obj")
  data_mb=$(( rows * features * 8 / 1048576 ))
  printf '| %s (%s MB as doubles) | mlops | %.3f | %s | %.10g | %+.1e | %s |\n' "$name" "$data_mb" \
    "$(jq -r .fit_seconds <<<"$ours")" "$(jq -r .n_iter <<<"$ours")" "$our_obj" "$(jq -r '.gaps[0]' <<<"$ref")" "$ours_rss"
  printf '| | scikit-learn | %.3f | %s | %.10g | %+.1e | %.0f |\n' "$(jq -r .fit_seconds <<<"$sk")" \
    "$(jq -r .n_iter <<<"$sk")" "$sk_obj" "$(jq -r '.gaps[1]' <<<"$ref")" "$(jq -r .peak_rss_mb <<<"$sk")"
  printf '| | ratio | **%.1fx faster** | | | | |\n' \
    "$(jq -n "$(jq .fit_seconds <<<"$sk") / $(jq .fit_seconds <<<"$ours")")"
  echo "  (mlops read the CSV in $(jq -r '.load_seconds' <<<"$ours") s)" >&2
done

# The whole command on the course's 1,000 rows: what a learner waits for.
small="$out/course_1000.csv"
[ -f "$small" ] || "$py" bench/sklearn_fit.py make-data "$small" 1000 10 2 42
cat > "$out/sklearn_course.py" <<'PY'
import sys
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
import joblib
frame = pd.read_csv(sys.argv[1])
y = frame.pop("target")
X_train, X_test, y_train, y_test = train_test_split(frame, y, test_size=0.2, random_state=42)
model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1)).fit(X_train, y_train)
model.score(X_test, y_test)
joblib.dump(model, sys.argv[2])
PY
echo >&2
hyperfine -N --warmup 3 --runs 20 --export-json "$out/course.json" \
  "$mlops --home $home train --n-samples 1000 -C 0.1 -o $home/course.json" \
  "$py $out/sklearn_course.py $small $home/course.joblib" >&2
printf '\n| whole command, course data (1,000 rows) | mean ms | stddev ms |\n|---|---|---|\n'
jq -r '.results[] | "| \(.command | split(" ")[0] | split("/")[-1]) | \(.mean * 1000 | . * 10 | round / 10) | \(.stddev * 1000 | . * 10 | round / 10) |"' "$out/course.json"
