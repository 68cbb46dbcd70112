#!/usr/bin/python3
"""scikit-learn's side of bench/train.sh, and the referee for both sides' objectives.

  sklearn_fit.py make-data OUT.csv ROWS FEATURES CLASSES SEED
      writes the course's synthetic data (numpy's generator, as `mlops train` generates it)
  sklearn_fit.py fit DATA.csv C
      standardises (untimed), times LogisticRegression(C, lbfgs).fit, prints JSON with the
      fit seconds, iterations, objective and peak RSS
  sklearn_fit.py minimum DATA.csv C OBJECTIVE...
      polishes scikit-learn's answer with Newton steps and prints each objective's gap
"""
import json
import resource
import sys
import time

import numpy as np


WEIGHTS = np.array([0.5, -0.3, 0.8, -0.1, 0.2, 0.1, -0.4, 0.6, -0.2, 0.3])


def make_data(out, rows, features, classes, seed):
    np.random.seed(seed)
    X = np.random.rand(rows, features) * 10
    W = np.array([[WEIGHTS[(j + k) % 10] for j in range(features)] for k in range(classes)])
    if classes == 2:
        y = (1 / (1 + np.exp(-(X @ W[0] - 2.0))) > 0.5).astype(int)
    else:
        y = np.argmax(X @ W.T, axis=1)
    header = ",".join([f"feature_{j + 1}" for j in range(features)] + ["target"])
    data = np.hstack([X, y[:, None]])
    fmt = ["%.17g"] * features + ["%d"]
    np.savetxt(out, data, delimiter=",", header=header, comments="", fmt=fmt)


def load(path):
    import pandas as pd
    frame = pd.read_csv(path)
    y = frame.pop("target").to_numpy()
    return frame.to_numpy(dtype=float), y


def standardize(X):
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1
    X -= mean
    X /= scale
    return X


def objective(W, b, X, y, C, classes):
    """Sum of log-losses + ||W||^2 / (2C) (W: K x p; K = 1 for binary)."""
    Z = X @ W.T + b
    if len(classes) == 2:
        z = Z[:, 0]
        yy = (y == classes[1]).astype(float)
        loss = np.sum(np.logaddexp(0, z) - yy * z)
    else:
        from scipy.special import logsumexp
        idx = np.searchsorted(classes, y)
        loss = np.sum(logsumexp(Z, axis=1) - Z[np.arange(len(y)), idx])
    return loss + np.sum(W * W) / (2 * C)


def fit(path, C):
    from sklearn.linear_model import LogisticRegression
    X, y = load(path)
    X = standardize(X)
    clf = LogisticRegression(C=C)
    start = time.perf_counter()
    clf.fit(X, y)
    seconds = time.perf_counter() - start
    f = objective(clf.coef_, clf.intercept_, X, y, C, clf.classes_)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"fit_seconds": seconds, "n_iter": int(np.max(clf.n_iter_)), "objective": float(f),
                      "peak_rss_mb": rss_mb}))


def minimum(path, C, objectives):
    """Newton's method on the full problem from scikit-learn's tight answer."""
    from scipy.special import softmax
    from sklearn.linear_model import LogisticRegression
    X, y = load(path)
    X = standardize(X)
    classes = np.unique(y)
    clf = LogisticRegression(C=C, tol=1e-10, max_iter=1000).fit(X, y)
    W, b = clf.coef_.copy(), clf.intercept_.copy()
    K, p = W.shape
    n = len(y)
    Xb = np.hstack([X, np.ones((n, 1))])
    Y = (y[:, None] == classes[None, :]).astype(float)
    for _ in range(8):
        theta = np.hstack([W, b[:, None]])
        Z = Xb @ theta.T
        if K == 1:
            s = 1 / (1 + np.exp(-Z[:, 0]))
            r = (s - Y[:, 1])[:, None]
            H = (Xb * (s * (1 - s))[:, None]).T @ Xb
        else:
            P = softmax(Z, axis=1)
            r = P - Y
            H = np.zeros((K * (p + 1), K * (p + 1)))
            for a in range(K):
                for c in range(a, K):
                    w = P[:, a] * ((a == c) - P[:, c])
                    block = (Xb * w[:, None]).T @ Xb
                    H[a * (p + 1):(a + 1) * (p + 1), c * (p + 1):(c + 1) * (p + 1)] = block
                    H[c * (p + 1):(c + 1) * (p + 1), a * (p + 1):(a + 1) * (p + 1)] = block.T
        G = r.T @ Xb
        G[:, :p] += W / C
        for a in range(K):
            idx = np.arange(a * (p + 1), a * (p + 1) + p)
            H[idx, idx] += 1 / C
        step = np.linalg.solve(H, G.ravel()).reshape(K, p + 1)
        W, b = W - step[:, :p], b - step[:, p]
        if np.abs(G).max() < 1e-9:
            break
    f_min = objective(W, b, X, y, C, classes)
    print(json.dumps({"minimum": float(f_min),
                      "gaps": [(float(o) - f_min) / f_min for o in objectives]}))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "make-data":
        make_data(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    elif command == "fit":
        fit(sys.argv[2], float(sys.argv[3]))
    elif command == "minimum":
        minimum(sys.argv[2], float(sys.argv[3]), [float(v) for v in sys.argv[4:]])
    else:
        sys.exit(f"unknown command {command}")
