#!/usr/bin/python3
"""A learner's scikit-learn models through examples/tools/sklearn_to_mlops.py: each is
converted, registered with `mlops register`, and scored by `mlops predict` on every row of
the data — the probabilities must be scikit-learn's.

  converter_check.py DATA_DIR MLOPS   (DATA_DIR holds course_fit.py's data.csv)
"""
import csv
import os
import subprocess
import sys

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERTER = os.path.join(HERE, "..", "..", "examples", "tools", "sklearn_to_mlops.py")


def main():
    folder, mlops = sys.argv[1], sys.argv[2]
    data = os.path.join(folder, "data.csv")
    table = np.loadtxt(data, delimiter=",", skiprows=1)
    x, y = table[:, :-1], table[:, -1].astype(int)
    env = dict(os.environ, MLOPS_HOME=os.path.join(folder, "converted-home"))
    models = {"plain": LogisticRegression(C=0.1), "pipeline": make_pipeline(StandardScaler(), LogisticRegression(C=0.1))}
    failed = False
    for version, (name, model) in enumerate(models.items(), start=1):
        model.fit(x, y)
        joblib.dump(model, os.path.join(folder, f"{name}.joblib"))
        artifact = os.path.join(folder, f"{name}.json")
        subprocess.run([sys.executable, CONVERTER, os.path.join(folder, f"{name}.joblib"), "--data", data, "--target", "target",
                        "-o", artifact], check=True)
        subprocess.run([mlops, "register", "--model", artifact], check=True, env=env, stdout=subprocess.DEVNULL)
        scored = os.path.join(folder, f"{name}-scored.csv")
        subprocess.run([mlops, "predict", "--model", f"models:/ChurnPredictionModel/{version}", "--data", data, "-o", scored],
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(scored, encoding="utf-8") as f:
            ours = np.array([float(row["p_1"]) for row in csv.DictReader(f)])
        theirs = model.predict_proba(x)[:, 1]
        gap = float(np.abs(ours - theirs).max())
        same = int(((ours > 0.5) == (theirs > 0.5)).sum())
        print(f"converted {name}: registered as version {version}; {same} of {len(x)} rows the same class, "
              f"probabilities within {gap:.1g} (printed to 6 digits)")
        if gap > 1e-6 or same != len(x):
            failed = True
    # Anything else is refused with a reason, not converted.
    joblib.dump({"not": "a model"}, os.path.join(folder, "garbage.joblib"))
    refused = subprocess.run([sys.executable, CONVERTER, os.path.join(folder, "garbage.joblib"), "--data", data, "--target", "target",
                              "-o", os.path.join(folder, "garbage.json")], capture_output=True, text=True)
    print(f"a dict instead of a model: exit {refused.returncode}, {refused.stderr.strip()}")
    if refused.returncode != 2 or "is not a LogisticRegression" not in refused.stderr or os.path.exists(os.path.join(folder, "garbage.json")):
        failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
