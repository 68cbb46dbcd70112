#!/usr/bin/env python3
"""Differential test: MLflow 2.9's own scoring server against `mlops serve`.

The same model — an mlops artifact, rebuilt as the scikit-learn pipeline it is
(StandardScaler + LogisticRegression with the artifact's numbers) and saved with
mlflow.sklearn.save_model with its signature — is served by MLflow's scoring server
(its Flask app, in process) and by `mlops serve` (over HTTP). One corpus of requests goes
to both: status codes must be equal, predictions equal, MLflow error codes equal (message
texts may differ). Then MLflow's own ScoringServerClient is pointed at `mlops serve`.

usage: mlflow_differential.py MLOPS_URL ARTIFACT.json
(PYTHONPATH must hold MLflow's source, as scripts/mlflow_server.sh installs it.)
"""
import json
import sys
import tempfile
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import mlflow.pyfunc
import mlflow.sklearn
from mlflow.models import infer_signature
from mlflow.pyfunc import scoring_server
from mlflow.pyfunc.scoring_server.client import ScoringServerClient


def sklearn_model(artifact):
    """The artifact's model as scikit-learn's own objects, fitted state set from its numbers."""
    names = artifact["feature_names"]
    p = len(names)
    steps = []
    if artifact.get("scaler"):
        scaler = StandardScaler()
        scaler.mean_ = np.array(artifact["scaler"]["mean"], dtype=float)
        scaler.scale_ = np.array(artifact["scaler"]["scale"], dtype=float)
        scaler.var_ = scaler.scale_ ** 2
        scaler.n_features_in_ = p
        scaler.feature_names_in_ = np.array(names, dtype=object)
        scaler.n_samples_seen_ = 1
        steps.append(("scaler", scaler))
    model = LogisticRegression(multi_class="multinomial" if len(artifact["classes"]) > 2 else "auto")
    model.coef_ = np.array(artifact["coefficients"], dtype=float)
    model.intercept_ = np.array(artifact["intercepts"], dtype=float)
    model.classes_ = np.array(artifact["classes"])
    model.n_features_in_ = p
    if not steps:
        model.feature_names_in_ = np.array(names, dtype=object)
    steps.append(("model", model))
    return Pipeline(steps)


def call_mlops(url, content_type, body):
    request = urllib.request.Request(url + "/invocations", data=body.encode(), method="POST",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def error_code(text):
    try:
        return json.loads(text).get("error_code")
    except (ValueError, AttributeError):
        return None  # a plain-text answer (415)


def main():
    url, artifact_path = sys.argv[1], sys.argv[2]
    artifact = json.load(open(artifact_path))
    names = artifact["feature_names"]
    pipeline = sklearn_model(artifact)
    # Rows across the feature range, low corners included, so that every class is predicted.
    rng = np.random.default_rng(7)
    rows = [[round(float(v), 3) for v in row] for row in rng.uniform(0, 10, (10, len(names)))]
    rows += [[0.0] * len(names), [0.5] * len(names), [9.5] * len(names)]
    frame = pd.DataFrame(rows, columns=names)
    with tempfile.TemporaryDirectory() as folder:
        mlflow.sklearn.save_model(pipeline, folder + "/model", signature=infer_signature(frame, pipeline.predict(frame)))
        app = scoring_server.init(mlflow.pyfunc.load_model(folder + "/model"))
    client = app.test_client()

    split = {"columns": names, "data": rows}
    reordered = {"columns": names[::-1], "data": [r[::-1] for r in rows]}
    records = [dict(zip(names, r)) for r in rows]
    csv = ",".join(names) + "\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n"
    missing = [{k: v for k, v in rec.items() if k != names[0]} for rec in records]
    corpus = [
        ("dataframe_split", "application/json", json.dumps({"dataframe_split": split})),
        ("dataframe_split, columns reordered", "application/json", json.dumps({"dataframe_split": reordered})),
        ("dataframe_records", "application/json", json.dumps({"dataframe_records": records})),
        ("instances as records", "application/json", json.dumps({"instances": records})),
        ("inputs as records", "application/json", json.dumps({"inputs": records})),
        ("instances as rows", "application/json", json.dumps({"instances": rows})),
        ("inputs as rows", "application/json", json.dumps({"inputs": rows})),
        ("inputs as columns", "application/json", json.dumps({"inputs": {n: [r[j] for r in rows] for j, n in enumerate(names)}})),
        ("dataframe_split without columns", "application/json", json.dumps({"dataframe_split": {"data": rows}})),
        ("params beside the data", "application/json", json.dumps({"dataframe_split": split, "params": {"k": 1}})),
        ("content type with charset", "application/json; charset=utf-8", json.dumps({"dataframe_records": records})),
        ("text/csv", "text/csv", csv),
        ("text/csv, columns reordered", "text/csv",
         ",".join(names[::-1]) + "\n" + "\n".join(",".join(str(v) for v in r[::-1]) for r in rows) + "\n"),
        # Errors.
        ("two keys", "application/json", json.dumps({"dataframe_records": records, "instances": records})),
        ("no key", "application/json", json.dumps({"params": {"k": 1}})),
        ("empty object", "application/json", "{}"),
        ("not JSON", "application/json", "{bad"),
        ("a missing column", "application/json", json.dumps({"dataframe_records": missing})),
        ("a non-numeric value", "application/json",
         json.dumps({"dataframe_records": [dict(records[0], **{names[1]: "high"})]})),
        ("csv: a non-numeric value", "text/csv", ",".join(names) + "\n" + ",".join(["x"] * len(names)) + "\n"),
        ("csv: empty body", "text/csv", ""),
        ("csv: a missing column", "text/csv", ",".join(names[1:]) + "\n" + ",".join(["1"] * (len(names) - 1)) + "\n"),
        ("wrong content type", "text/plain", csv),
    ]
    # Where the two differ on purpose, exactly so (both statuses are checked): MLflow 2.9 answers
    # some client mistakes with 500 INTERNAL_ERROR, mlops with 400 BAD_REQUEST; and with a
    # signature naming its columns MLflow refuses rows given by position, which mlops takes
    # in the model's feature order (as MLflow does for a model without a signature).
    deliberate = {
        "inputs as records": (500, 400),
        "a missing column": (500, 400),
        "csv: a missing column": (500, 400),
        "instances as rows": (500, 200),
        "inputs as rows": (500, 200),
        "dataframe_split without columns": (500, 200),
    }
    failures = []
    for label, content_type, body in corpus:
        want = client.post("/invocations", data=body, content_type=content_type)
        want_text = want.get_data(as_text=True)
        got_status, got_text = call_mlops(url, content_type, body)
        line = f"{label:40} MLflow {want.status_code}  mlops {got_status}"
        if label in deliberate:
            print(line + "  (a deliberate difference)")
            if (want.status_code, got_status) != deliberate[label]:
                failures.append(f"{line}: expected MLflow {deliberate[label][0]} and mlops {deliberate[label][1]}")
            continue
        if got_status != want.status_code:
            failures.append(f"{line}: status differs\n    MLflow: {want_text[:300]}\n    mlops:  {got_text[:300]}")
        elif want.status_code == 200 and json.loads(got_text) != json.loads(want_text):
            failures.append(f"{line}: predictions differ\n    MLflow: {want_text[:300]}\n    mlops:  {got_text[:300]}")
        elif want.status_code != 200 and error_code(got_text) != error_code(want_text):
            failures.append(f"{line}: error code {error_code(got_text)} != {error_code(want_text)}")
        print(line)
    for path in ("/ping", "/version"):
        want = client.get(path)
        with urllib.request.urlopen(url + path, timeout=10) as r:
            got = r.status
        print(f"GET {path:36} MLflow {want.status_code}  mlops {got}")
        if got != want.status_code:
            failures.append(f"GET {path}: {got} != {want.status_code}")

    # MLflow's own client, unchanged, against mlops serve.
    host, port = url.split("//")[1].split(":")
    remote = ScoringServerClient(host, int(port))
    remote.wait_server_ready(timeout=10)
    expected = list(pipeline.predict(frame))
    answer = remote.invoke(frame).get_predictions()
    if len(set(expected)) < 2:
        failures.append(f"the corpus rows all predict {expected[0]}: they test too little")
    got = list(answer.iloc[:, 0]) if hasattr(answer, "iloc") else list(answer)
    print(f"ScoringServerClient.invoke(DataFrame) -> {got}")
    if [int(v) for v in got] != [int(v) for v in expected]:
        failures.append(f"ScoringServerClient: {got} != scikit-learn's {expected}")

    if failures:
        print("\n".join(["", "DIFFERENCES:"] + failures))
        return 1
    print(f"mlops serve and MLflow's scoring server agree on {len(corpus)} requests, /ping, /version and the client")
    return 0


if __name__ == "__main__":
    sys.exit(main())
