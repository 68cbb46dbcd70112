"""The service's tests: unit tests through FastAPI's TestClient, and one integration test
against the CRM mock (marked external; CRM_MOCK_URL and CRM_HOST name it)."""
import os

import pytest
import requests
from fastapi.testclient import TestClient

from app.main import app

client = TestClient(app)
ROW = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def test_root_is_healthy():
    answer = client.get("/")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_metrics_named_as_the_course_asks():
    text = client.get("/metrics").text
    for name in ("http_requests_total", "ai_model_loaded", "ai_prediction_requests_total"):
        assert name in text


def test_a_row_gets_an_integer_class():
    answer = client.post("/predict", json={"features": ROW})
    assert answer.status_code == 200
    assert isinstance(answer.json()["prediction"], int)


def test_two_features_are_refused():
    assert client.post("/predict", json={"features": [1.0, 2.0]}).status_code == 422


@pytest.mark.external
def test_the_crm_receives_the_segment():
    crm = os.environ.get("CRM_MOCK_URL", "http://crm_mock:8001")
    answer = client.post("/crm_segment_update?customer_id=CUST_TEST_007")
    assert answer.status_code == 200
    decision = answer.json()["segment_ai_decision"]
    assert requests.get(f"{crm}/customer/CUST_TEST_007", timeout=5).json()["segment"] == decision
