"""The AI service: the course's model behind FastAPI, with its metrics and its CRM flow."""
import os
import time

import joblib
import requests
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel

FEATURES = 10
MODEL_VERSION = os.environ.get("MODEL_VERSION", "v0.0.0-unloaded")
CRM_HOST = os.environ.get("CRM_HOST", "http://crm_mock:8001")

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "endpoint", "status_code"])
HTTP_SECONDS = Histogram("http_request_duration_seconds", "HTTP request time", ["method", "endpoint"])
PREDICTIONS = Counter("ai_prediction_requests_total", "Prediction requests")
PREDICTION_ERRORS = Counter("ai_prediction_errors_total", "Failed predictions")
MODEL_LOADED = Gauge("ai_model_loaded", "1 when the model is loaded", ["model_version"])

try:
    MODEL = joblib.load(os.environ.get("MODEL_PATH", "app/models/sample_model.joblib"))
except (OSError, ValueError):
    MODEL = None
MODEL_LOADED.labels(model_version=MODEL_VERSION).set(1 if MODEL is not None else 0)

app = FastAPI(title="AI service")


class Features(BaseModel):
    features: list[float]


@app.middleware("http")
async def count_requests(request: Request, call_next):
    started = time.perf_counter()
    response = await call_next(request)
    HTTP_SECONDS.labels(request.method, request.url.path).observe(time.perf_counter() - started)
    HTTP_REQUESTS.labels(request.method, request.url.path, response.status_code).inc()
    return response


@app.get("/")
def health():
    return {"status": "ok", "service": "AI service", "model_loaded": MODEL is not None, "model_version": MODEL_VERSION}


def predict_class(features):
    PREDICTIONS.inc()
    if len(features) != FEATURES:
        raise HTTPException(422, f"expected {FEATURES} features, got {len(features)}")
    if MODEL is None:
        PREDICTION_ERRORS.inc()
        raise HTTPException(503, "no model loaded")
    return int(MODEL.predict([features])[0])


@app.post("/predict")
def predict(body: Features):
    return {"prediction": predict_class(body.features), "model_version": MODEL_VERSION}


@app.post("/crm_segment_update")
def crm_segment_update(customer_id: str):
    try:
        answer = requests.get(f"{CRM_HOST}/customer/{customer_id}/features", timeout=5)
        answer.raise_for_status()
        segment = "Churn_Risk_AI" if predict_class(answer.json()["features"]) == 1 else "Normal_Segment_AI"
        written = requests.post(f"{CRM_HOST}/crm_segment_update", json={"user_id": customer_id, "ai_segment": segment}, timeout=5)
        written.raise_for_status()
    except requests.RequestException as e:
        raise HTTPException(502, f"the CRM failed: {e}") from e
    return {"customer_id": customer_id, "status": "Success", "segment_ai_decision": segment, "crm_mock_response": written.json()}


@app.get("/metrics")
def metrics():
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
