#!/usr/bin/env bash
# `mlops train` against the course's script run with Debian's scikit-learn, on the course's
# data (1,000 rows, C 0.1) and its 200- and 10,000-row variants: the same split, accuracy
# to the last digit, coefficients within scikit-learn's tolerance, the same predictions; and
# scikit-learn models converted into artifacts, registered and scored as scikit-learn does.
#   tests/parity/training_parity_test.sh BUILD_DIR   (ctest: parity.training)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mlops="$1/cli/mlops"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for n in 1000 200 10000; do
  mkdir -p "$work/$n"
  /usr/bin/python3 "$here/course_fit.py" "$n" 0.1 "$work/$n"
  MLOPS_HOME="$work/$n/home" "$mlops" train --n_samples "$n" --c_param 0.1 -o "$work/$n/model.json" --json >"$work/$n/train.json"
  /usr/bin/python3 "$here/compare.py" "$work/$n/sklearn.json" "$work/$n/data.csv" "$work/$n/model.json" "$work/$n/train.json"
done
# A learner's scikit-learn models, converted by examples/tools/sklearn_to_mlops.py and served.
/usr/bin/python3 "$here/converter_check.py" "$work/1000" "$mlops"
