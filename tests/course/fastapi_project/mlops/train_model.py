"""Trains the course's churn model and tracks it in MLflow over its REST API (no mlflow
package needed): a run with its params and accuracy, and a new registered model version.

  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python3 mlops/train_model.py --n_samples 1000 --c_param 0.1
"""
import argparse
import json
import os
import time
import urllib.error
import urllib.request

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

EXPERIMENT = "ai_deployment_tutorial_churn_prediction"
MODEL_NAME = "ChurnPredictionModel"


def mlflow(route, body=None):
    url = os.environ.get("MLFLOW_TRACKING_URI", "http://localhost:5000") + "/api/2.0/mlflow/" + route
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def experiment_id():
    try:
        return mlflow(f"experiments/get-by-name?experiment_name={EXPERIMENT}")["experiment"]["experiment_id"]
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
        return mlflow("experiments/create", {"name": EXPERIMENT})["experiment_id"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n_samples", type=int, default=1000)
    parser.add_argument("--c_param", type=float, default=0.1)
    parser.add_argument("--model_version", default="v1.0.0-auto")
    args = parser.parse_args()

    np.random.seed(42)
    x = np.random.rand(args.n_samples, 10) * 10
    weights = np.array([0.5, -0.3, 0.8, -0.1, 0.2, 0.1, -0.4, 0.6, -0.2, 0.3])
    y = (1 / (1 + np.exp(-(x @ weights - 2.0))) > 0.5).astype(int)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=42)
    model = LogisticRegression(C=args.c_param, random_state=42).fit(x_train, y_train)
    accuracy = float((model.predict(x_test) == y_test).mean())
    os.makedirs("app/models", exist_ok=True)
    joblib.dump(model, "app/models/sample_model.joblib")

    now = int(time.time() * 1000)
    run = mlflow("runs/create", {"experiment_id": experiment_id(), "start_time": now})["run"]["info"]
    params = {"n_samples": args.n_samples, "C": args.c_param, "random_state": 42, "model_version_tag": args.model_version}
    mlflow("runs/log-batch", {"run_id": run["run_id"],
                              "params": [{"key": k, "value": str(v)} for k, v in params.items()],
                              "metrics": [{"key": "accuracy", "value": accuracy, "timestamp": now, "step": 0}]})
    mlflow("runs/update", {"run_id": run["run_id"], "status": "FINISHED", "end_time": int(time.time() * 1000)})
    try:
        mlflow("registered-models/create", {"name": MODEL_NAME})
    except urllib.error.HTTPError as e:
        if e.code != 400:  # RESOURCE_ALREADY_EXISTS
            raise
    version = mlflow("model-versions/create", {"name": MODEL_NAME, "source": f"{run['artifact_uri']}/model", "run_id": run["run_id"]})
    print(f"accuracy {accuracy:.4f}; run {run['run_id']}; {MODEL_NAME} version {version['model_version']['version']}")


if __name__ == "__main__":
    main()
