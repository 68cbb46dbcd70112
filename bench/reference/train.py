"""Trains the reference model exactly as the course did: scikit-learn, C=0.1, 1,000 rows."""
import sys

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

np.random.seed(42)
X = np.random.rand(1000, 10) * 10
w = np.array([0.5, -0.3, 0.8, -0.1, 0.2, 0.1, -0.4, 0.6, -0.2, 0.3])
y = (1 / (1 + np.exp(-(X @ w - 2.0))) > 0.5).astype(int)
joblib.dump(make_pipeline(StandardScaler(), LogisticRegression(C=0.1)).fit(X, y), sys.argv[1])
