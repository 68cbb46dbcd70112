#!/usr/bin/python3
"""Converts a fitted scikit-learn LogisticRegression — alone or after a StandardScaler in a
Pipeline — saved with joblib or pickle, into an mlops model artifact that `mlops register`,
`mlops predict` and `mlops serve` take. Needs scikit-learn (Debian: python3-sklearn).
把 scikit-learn 訓練好的 LogisticRegression（joblib/pickle）轉成 mlops 模型檔。

  examples/tools/sklearn_to_mlops.py model.joblib --data train.csv --target target -o model.json
  mlops register --model model.json

--data is the CSV the model is evaluated on (header row; the model's features and the
target column): the artifact carries its metrics and the feature baseline that drift is
measured against, so give the training data or a held-out sample of it. Only load a pickle
you trust: unpickling runs code.
"""
import argparse
import datetime
import hashlib
import json
import pickle
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, precision_score, recall_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

FORMAT = "mlops.logistic_regression/1"


def fail(message):
    print(f"sklearn_to_mlops: {message}", file=sys.stderr)
    sys.exit(2)


def load(path):
    if path.endswith((".pkl", ".pickle")):
        with open(path, "rb") as f:
            return pickle.load(f)
    import joblib  # noqa: PLC0415 (scikit-learn depends on it)
    return joblib.load(path)


def unpack(model):
    """(scaler or None, LogisticRegression) from a model or a [StandardScaler,] LogisticRegression pipeline."""
    if isinstance(model, LogisticRegression):
        return None, model
    if isinstance(model, Pipeline):
        steps = [step for _, step in model.steps if step != "passthrough"]
        if len(steps) == 2 and isinstance(steps[0], StandardScaler) and isinstance(steps[1], LogisticRegression):
            return steps[0], steps[1]
        if len(steps) == 1 and isinstance(steps[0], LogisticRegression):
            return None, steps[0]
    fail(f"{type(model).__name__} is not a LogisticRegression or a StandardScaler + LogisticRegression pipeline")


def read_csv(path, target, features):
    with open(path, encoding="utf-8") as f:
        header = f.readline().strip().split(",")
    if target not in header:
        fail(f"{path} has no column '{target}' (columns: {', '.join(header)})")
    names = features or [h for h in header if h != target]
    missing = [n for n in names if n not in header]
    if missing:
        fail(f"{path} lacks the model's features {', '.join(missing)}")
    table = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
    x = np.column_stack([table[n].astype(float) for n in names])
    return names, x, table[target]


def baseline(x, names, bins=10):
    """Per feature: mean, std and decile bins with the share of rows in each — as mlops train computes them."""
    out = []
    for j, name in enumerate(names):
        column = np.sort(x[:, j])
        n = len(column)
        edges = []
        for q in range(bins + 1):
            edge = float(column[int(np.floor(q / bins * (n - 1) + 0.5))])
            if not edges or edge > edges[-1]:
                edges.append(edge)
        if len(edges) == 1:
            edges.append(edges[0])
        counts = np.bincount(np.searchsorted(np.array(edges[1:-1]), x[:, j], side="right"), minlength=len(edges) - 1)
        out.append({"name": name, "mean": float(column.mean()), "std": float(column.std()),
                    "bin_edges": edges, "fractions": (counts / n).tolist()})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the fitted model (joblib, or .pkl/.pickle)")
    parser.add_argument("--data", required=True, help="CSV to evaluate on: the model's features and the target")
    parser.add_argument("--target", required=True, help="the CSV's label column")
    parser.add_argument("-o", "--output", required=True, help="the artifact to write (JSON)")
    parser.add_argument("--name", default="ChurnPredictionModel", help="registered model name")
    parser.add_argument("--model-version", default="v1.0.0-sklearn", help="version tag")
    args = parser.parse_args()

    scaler, lr = unpack(load(args.model))
    if not hasattr(lr, "coef_"):
        fail("the LogisticRegression is not fitted")
    classes = lr.classes_.tolist()
    if len(classes) > 2 and getattr(lr, "multi_class", "auto") == "ovr":
        fail("a one-vs-rest model: mlops serves multinomial (softmax) models; refit with multi_class='multinomial'")
    if lr.penalty not in ("l2", "none", None):
        fail(f"penalty '{lr.penalty}': mlops serves L2-penalised (or unpenalised) models")
    known = list(getattr(lr, "feature_names_in_", getattr(scaler, "feature_names_in_", []) if scaler else []))
    names, x, y = read_csv(args.data, args.target, [str(n) for n in known])
    if x.shape[1] != lr.coef_.shape[1]:
        fail(f"the model has {lr.coef_.shape[1]} features, {args.data} {x.shape[1]}")
    # Labels are integers (also when fitted as floats 0.0/1.0) or strings, as mlops train reads them.
    integer = all(float(c).is_integer() for c in classes) if all(isinstance(c, (int, float)) for c in classes) else False
    classes = [int(c) for c in classes] if integer else [str(c) for c in classes]
    y = y.astype(float).astype(int) if integer else y.astype(str)
    labels = np.array(classes)
    model = scaler and Pipeline([("scaler", scaler), ("lr", lr)]) or lr
    proba = model.predict_proba(x)
    predicted = labels[proba.argmax(axis=1)]
    average = "binary" if len(classes) == 2 else "macro"
    positive = {"pos_label": classes[1]} if len(classes) == 2 else {}
    metrics = {
        "samples": int(len(y)),
        "accuracy": float(accuracy_score(y, predicted)),
        "precision": float(precision_score(y, predicted, average=average, zero_division=0, **positive)),
        "recall": float(recall_score(y, predicted, average=average, zero_division=0, **positive)),
        "f1": float(f1_score(y, predicted, average=average, zero_division=0, **positive)),
        "log_loss": float(log_loss(y, proba, labels=labels)),
        "confusion_matrix": confusion_matrix(y, predicted, labels=labels).tolist(),
        "roc_auc": float(roc_auc_score(y, proba[:, 1])) if len(classes) == 2 and len(set(y.tolist())) == 2 else None,
    }
    artifact = {
        "format": FORMAT,
        "name": args.name,
        "model_version": args.model_version,
        "created_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "run_id": "",
        "feature_names": names,
        "classes": classes,
        "scaler": None if scaler is None else {
            "mean": (scaler.mean_ if scaler.with_mean else np.zeros(x.shape[1])).tolist(),
            "scale": (scaler.scale_ if scaler.with_std else np.ones(x.shape[1])).tolist()},
        "coefficients": lr.coef_.tolist(),
        "intercepts": np.atleast_1d(lr.intercept_).tolist(),
        "params": {"C": float(lr.C), "max_iter": int(lr.max_iter), "tol": float(lr.tol), "solver": lr.solver,
                   "penalty": str(lr.penalty), "standardize": scaler is not None, "n_features": int(x.shape[1]),
                   "n_classes": len(classes), "n_samples": int(len(y)), "source": "scikit-learn"},
        "metrics": metrics,
        "metrics_split": "given",
        "fit": {"objective": 0.0, "iterations": int(np.max(lr.n_iter_)), "evaluations": int(np.max(lr.n_iter_)),
                "converged": bool(np.max(lr.n_iter_) < lr.max_iter), "gradient_norm": 0.0},
        "data": {"source": args.data, "rows": int(len(y)), "cols": int(x.shape[1]), "target": args.target},
        "baseline": baseline(x, names),
    }
    # mlops checks this: the SHA-256 of the artifact without it, keys sorted, no spaces.
    body = json.dumps(artifact, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    artifact["checksum"] = "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(artifact, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    print(f"{args.output}: {len(classes)} classes, {x.shape[1]} features, accuracy {metrics['accuracy']:.4f} on {args.data}")


if __name__ == "__main__":
    main()
