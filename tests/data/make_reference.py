#!/usr/bin/python3
"""Regenerates the logistic-regression reference fixtures in this folder.

Run with Debian's python3 (apt install python3-sklearn): /usr/bin/python3 make_reference.py
Writes <dataset>.csv (scikit-learn's bundled copies of the UCI datasets) and reference.json:
for each dataset, mode (raw or standardised features) and C, the true minimum of
  sum of log-losses + ||W||^2 / (2C)   (intercepts unpenalised, as LogisticRegression),
found as scikit-learn's lbfgs answer polished by Newton steps until the gradient vanishes,
plus the objective scikit-learn itself stops at with its defaults (tol=1e-4, max_iter=100).
"""
import json
import warnings

import numpy as np
from scipy.special import logsumexp
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

warnings.filterwarnings("ignore")


def objective(theta, X, Y, C, K):
    """f, gradient, Hessian of the full (softmax, or sigmoid when K == 1) problem."""
    n, p = X.shape
    Xb = np.hstack([X, np.ones((n, 1))])
    W = theta.reshape(K, p + 1)
    if K == 1:
        z = Xb @ W[0]
        y = Y[:, 1] if Y.shape[1] == 2 else Y[:, 0]
        f = np.sum(np.logaddexp(0, z) - y * z) + W[0, :p] @ W[0, :p] / (2 * C)
        s = 1 / (1 + np.exp(-z))
        g = Xb.T @ (s - y)
        g[:p] += W[0, :p] / C
        H = (Xb * (s * (1 - s))[:, None]).T @ Xb
        H[np.arange(p), np.arange(p)] += 1 / C
        return f, g, H
    Z = Xb @ W.T
    lse = logsumexp(Z, axis=1)
    f = np.sum(lse - np.sum(Z * Y, axis=1)) + np.sum(W[:, :p] ** 2) / (2 * C)
    P = np.exp(Z - lse[:, None])
    G = (P - Y).T @ Xb
    G[:, :p] += W[:, :p] / C
    d = K * (p + 1)
    H = np.zeros((d, d))
    for a in range(K):
        for b in range(K):
            w = P[:, a] * ((a == b) - P[:, b])
            H[a * (p + 1):(a + 1) * (p + 1), b * (p + 1):(b + 1) * (p + 1)] = (Xb * w[:, None]).T @ Xb
    for a in range(K):
        idx = np.arange(a * (p + 1), a * (p + 1) + p)
        H[idx, idx] += 1 / C
    return f, G.ravel(), H


def minimum(X, y, C, classes):
    K = 1 if len(classes) == 2 else len(classes)
    Y = (y[:, None] == classes[None, :]).astype(float)
    clf = LogisticRegression(C=C, tol=1e-12, max_iter=100000).fit(X, y)
    theta = np.hstack([clf.coef_, clf.intercept_[:, None]]).ravel()
    f, g, H = objective(theta, X, Y, C, K)
    for _ in range(50):
        step = np.linalg.lstsq(H, g, rcond=None)[0]
        t = 1.0
        while t > 1e-12:
            f_new, g_new, H_new = objective(theta - t * step, X, Y, C, K)
            if f_new <= f:
                break
            t /= 2
        if f_new > f:
            break
        theta, f, g, H = theta - t * step, f_new, g_new, H_new
    default = LogisticRegression(C=C).fit(X, y)
    theta0 = np.hstack([default.coef_, default.intercept_[:, None]]).ravel()
    return f, float(np.linalg.norm(g)), objective(theta0, X, Y, C, K)[0]


def main():
    loaders = {"breast_cancer": datasets.load_breast_cancer, "iris": datasets.load_iris,
               "wine": datasets.load_wine, "digits": datasets.load_digits}
    reference = []
    for name, load in loaders.items():
        bunch = load()
        X, y = bunch.data.astype(float), bunch.target
        names = [f"f{j + 1}" for j in range(X.shape[1])]
        with open(f"{name}.csv", "w") as out:
            out.write(",".join(names + ["target"]) + "\n")
            for row, label in zip(X, y):
                out.write(",".join(repr(float(v)) for v in row) + f",{label}\n")
        classes = np.unique(y)
        for mode in ("raw", "standardized"):
            Xm = StandardScaler().fit_transform(X) if mode == "standardized" else X
            for C in (0.1, 1.0):
                f, gnorm, f_sklearn = minimum(Xm, y, C, classes)
                reference.append({"dataset": name, "mode": mode, "C": C, "classes": len(classes),
                                  "minimum": f, "gradient_norm_at_minimum": gnorm,
                                  "sklearn_default_objective": f_sklearn})
                print(name, mode, C, f, gnorm, (f_sklearn - f) / f)
    with open("reference.json", "w") as out:
        json.dump(reference, out, indent=1)


if __name__ == "__main__":
    main()
