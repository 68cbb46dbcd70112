"""The original course's serving stack, re-implemented faithfully for bench/serve.sh:
FastAPI + uvicorn + scikit-learn + prometheus_client, one worker, the same routes, the same
metrics middleware (a request counter and a latency histogram), and the same model trained
by scikit-learn on the same synthetic data. Run: MODEL_PATH=m.joblib uvicorn app:app
"""
import os
import time

import joblib
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel

MODEL_VERSION = os.environ.get("MODEL_VERSION", "v1.2.0-stable")
model = joblib.load(os.environ["MODEL_PATH"])

app = FastAPI(title="AI MLOps reference")
REQUESTS = Counter("prediction_requests_total", "Prediction requests", ["model_version", "endpoint", "status"])
LATENCY = Histogram("prediction_latency_seconds", "Prediction latency", ["model_version"])


class Features(BaseModel):
    features: list[float]


@app.middleware("http")
async def metrics_middleware(request: Request, call_next):
    start = time.perf_counter()
    response = await call_next(request)
    if request.url.path == "/predict":
        REQUESTS.labels(MODEL_VERSION, "/predict", str(response.status_code)).inc()
        LATENCY.labels(MODEL_VERSION).observe(time.perf_counter() - start)
    return response


@app.get("/health")
def health():
    return {"status": "ok", "model_loaded": model is not None, "model_version": MODEL_VERSION}


@app.post("/predict")
def predict(body: Features):
    x = np.asarray(body.features, dtype=float).reshape(1, -1)
    probabilities = model.predict_proba(x)[0]
    label = int(model.classes_[int(np.argmax(probabilities))])
    return {"prediction": label, "probability": float(np.max(probabilities)), "model_version": MODEL_VERSION}


@app.get("/metrics")
def metrics():
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
