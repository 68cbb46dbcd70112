#!/usr/bin/python3
"""The course's training (mlops/train_model.py) with Debian's scikit-learn, for the parity test.

  course_fit.py N_SAMPLES C OUT_DIR

Writes OUT_DIR/data.csv (feature_1..feature_10 and target, every row, as the course
generates them) and OUT_DIR/sklearn.json: the split (train_test_split(test_size=0.2,
random_state=42)), the course's fit (LogisticRegression(C, random_state=42), scikit-learn's
defaults: lbfgs, tol 1e-4, max_iter 100) and a reference fit of the same model to a far
tighter tolerance, with decision values on every row — so the test can tell which rows the
course's own fit puts within its tolerance of the boundary.
"""
import json
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split


def course_data(n_samples, n_features=10):
    # mlops/train_model.py's generate_data(), with numpy arrays instead of a DataFrame.
    np.random.seed(42)
    x = np.random.rand(n_samples, n_features) * 10
    weights = np.array([0.5, -0.3, 0.8, -0.1, 0.2, 0.1, -0.4, 0.6, -0.2, 0.3])
    probabilities = 1 / (1 + np.exp(-(np.dot(x, weights) - 2.0)))
    return x, (probabilities > 0.5).astype(int)


def fitted(model):
    return {"coef": model.coef_[0].tolist(), "intercept": float(model.intercept_[0]), "n_iter": int(model.n_iter_[0])}


def main():
    n_samples, c, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    x, y = course_data(n_samples)
    train_idx, test_idx = train_test_split(np.arange(n_samples), test_size=0.2, random_state=42)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the course's fit may stop at max_iter: that is the point
        course = LogisticRegression(C=c, random_state=42).fit(x[train_idx], y[train_idx])
    # lbfgs stops on a relative objective change of 64 eps whatever its tol: Newton steps go further.
    reference = LogisticRegression(C=c, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(x[train_idx], y[train_idx])
    header = ",".join([f"feature_{i + 1}" for i in range(x.shape[1])] + ["target"])
    np.savetxt(f"{out}/data.csv", np.column_stack([x, y]), delimiter=",", header=header, comments="", fmt="%.17g")
    result = {
        "train_index": train_idx.tolist(),
        "test_index": test_idx.tolist(),
        "labels": y.tolist(),
        "accuracy": float((course.predict(x[test_idx]) == y[test_idx]).mean()),
        "course": fitted(course) | {"decision": course.decision_function(x).tolist()},
        "reference": fitted(reference) | {"decision": reference.decision_function(x).tolist()},
    }
    with open(f"{out}/sklearn.json", "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
