"""The CRM mock: customers with a segment, features for the model, and the update route."""
import random

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

CUSTOMERS = {
    "CUST001": {"name": "Alice", "segment": "High-Value", "risk_score": 0.15},
    "CUST_TEST_007": {"name": "TestUser", "segment": "Pre-Test", "risk_score": 0.3},
}

app = FastAPI(title="CRM mock")


class SegmentUpdate(BaseModel):
    user_id: str
    ai_segment: str


@app.get("/health")
def health():
    return {"service": "CRM mock", "status": "Ready"}


@app.get("/customer/{user_id}/features")
def features(user_id: str):
    rng = random.Random(sum(map(ord, user_id)))  # the same features for the same customer
    values = [rng.uniform(0.1, 10.0) for _ in range(10)]
    return {"user_id": user_id, "feature_count": len(values), "features": values}


@app.get("/customer/{user_id}")
def customer(user_id: str):
    if user_id not in CUSTOMERS:
        raise HTTPException(404, f"no customer {user_id}")
    return {"user_id": user_id, **CUSTOMERS[user_id]}


@app.post("/crm_segment_update")
def update(body: SegmentUpdate):
    old = CUSTOMERS.setdefault(body.user_id, {"name": body.user_id, "segment": None, "risk_score": 0.0})["segment"]
    CUSTOMERS[body.user_id]["segment"] = body.ai_segment
    return {"status": "success", "user_id": body.user_id, "old_segment": old, "new_segment": body.ai_segment}
