#!/usr/bin/python3
"""Compares `mlops train` with the course's scikit-learn fit (course_fit.py's output).

  compare.py SKLEARN_JSON DATA_CSV MODEL_JSON TRAIN_JSON

Asserts: the same test accuracy to the last digit; coefficients within the course fit's
own distance from the exact optimum (scikit-learn's lbfgs stops at tol 1e-4) and close to
the exact optimum itself; the same predicted class on every row, except where the course's
fit is within its own error of the boundary. Prints one line of figures; exit 1 on a miss.
"""
import json
import sys

import numpy as np


def main():
    sk = json.load(open(sys.argv[1], encoding="utf-8"))
    data = np.loadtxt(sys.argv[2], delimiter=",", skiprows=1)
    model = json.load(open(sys.argv[3], encoding="utf-8"))
    trained = json.load(open(sys.argv[4], encoding="utf-8"))
    x = data[:, :-1]
    failures = []

    if model["scaler"] is not None:
        failures.append("the model standardises its features: scikit-learn's LogisticRegression does not")
    coef = np.array(model["coefficients"][0])
    intercept = model["intercepts"][0]
    ours = x @ coef + intercept
    course = np.array(sk["course"]["decision"])
    exact = np.array(sk["reference"]["decision"])

    if trained["metrics"]["accuracy"] != sk["accuracy"]:
        failures.append(f"accuracy {trained['metrics']['accuracy']} != scikit-learn's {sk['accuracy']}")
    if trained["metrics"]["samples"] != len(sk["test_index"]):
        failures.append(f"{trained['metrics']['samples']} test rows, scikit-learn holds out {len(sk['test_index'])}")

    course_error = np.abs(np.array(sk["course"]["coef"]) - np.array(sk["reference"]["coef"])).max()
    our_error = np.abs(coef - np.array(sk["reference"]["coef"])).max()
    if our_error > max(course_error, 1e-6):
        failures.append(f"coefficients {our_error:.3g} from the optimum, scikit-learn's own fit {course_error:.3g}")

    # Rows the course's fit cannot place for sure: within its own error of the boundary.
    margin = np.abs(course - exact) * 1.01 + 1e-9
    decided = np.abs(course) > margin
    disagree = np.flatnonzero(decided & ((ours > 0) != (course > 0)))
    if disagree.size:
        failures.append(f"{disagree.size} rows predicted otherwise, e.g. row {disagree[0]}: ours {ours[disagree[0]]:.6g}, "
                        f"scikit-learn {course[disagree[0]]:.6g}")

    print(f"rows {len(x)}: accuracy {trained['metrics']['accuracy']} (scikit-learn {sk['accuracy']}), "
          f"coefficients {our_error:.2g} from the exact optimum (scikit-learn's fit {course_error:.2g}), "
          f"same class on {int(decided.sum()) - disagree.size} of {int(decided.sum())} decided rows "
          f"({len(x) - int(decided.sum())} within scikit-learn's tolerance of the boundary)")
    for f in failures:
        print("parity: " + f, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
