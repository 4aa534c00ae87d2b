"""Sourcing rules and location settings through the API: same validation and audit as the admin screens."""

import pytest
from sqlalchemy import select

from app.core.integration.api_clients import create_api_client
from app.core.models import AuditEvent
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product


@pytest.fixture
def tokens(app):
    make_location(code="PAR01", name="Paris")
    make_product(sku="TSH-001-M")
    _, writer = create_api_client("erp", ["settings:read", "settings:write"], actor=ACTOR)
    _, reader = create_api_client("bi", ["settings:read"], actor=ACTOR)
    _, orders_only = create_api_client("shop", ["orders:read"], actor=ACTOR)
    db.session.commit()
    return {name: {"Authorization": f"Bearer {t}"} for name, t in [("w", writer), ("r", reader), ("o", orders_only)]}


def test_rules_are_read_and_changed_in_part(client, tokens):
    got = client.get("/api/v1/sourcing/rules", headers=tokens["r"])
    assert got.status_code == 200
    assert got.json["max_splits"] == 2 and got.json["collect_shortage"] == "refuse"
    changed = client.patch("/api/v1/sourcing/rules", json={"collect_shortage": "transfer"}, headers=tokens["w"])
    assert changed.status_code == 200
    assert changed.json["collect_shortage"] == "transfer" and changed.json["max_splits"] == 2
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "sourcing.rules"))
    assert audit.actor == "api:erp" and audit.after == {"collect_shortage": "transfer"}
    expiry = client.patch("/api/v1/sourcing/rules", json={"pickup_expiry": "customer_service"}, headers=tokens["w"])
    assert expiry.status_code == 200 and expiry.json["pickup_expiry"] == "customer_service"
    refused = client.patch("/api/v1/sourcing/rules", json={"pickup_expiry": "keep"}, headers=tokens["w"])
    assert refused.status_code == 422 and "pickup_expiry" in refused.json["fields"]


def test_bad_rules_are_422_naming_each_field(client, tokens):
    response = client.patch(
        "/api/v1/sourcing/rules",
        json={"max_splits": 0, "collect_shortage": "x", "priority_km": "7"},
        headers=tokens["w"],
    )
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"max_splits", "collect_shortage", "priority_km"}
    assert client.get("/api/v1/sourcing/rules", headers=tokens["r"]).json["collect_shortage"] == "refuse"


def test_scopes_are_enforced(client, tokens):
    assert client.get("/api/v1/sourcing/rules").status_code == 401
    assert client.get("/api/v1/sourcing/rules", headers=tokens["o"]).status_code == 403
    refused = client.patch("/api/v1/sourcing/rules", json={"max_splits": 3}, headers=tokens["r"])
    assert refused.status_code == 403 and refused.json["error"] == "forbidden"
    assert client.patch("/api/v1/locations/PAR01", json={"ship_paused": True}, headers=tokens["r"]).status_code == 403


def test_a_location_is_paused_and_its_hours_changed(client, tokens):
    body = {"ship_paused": True, "opening_hours": {"mon": [["10:00", "19:00"]], "sat": [["09:00", "13:00"]]}}
    response = client.patch("/api/v1/locations/PAR01", json=body, headers=tokens["w"])
    assert response.status_code == 200, response.json
    assert response.json["ship_paused"] is True
    assert response.json["opening_hours"]["mon"] == [["10:00", "19:00"]] and response.json["opening_hours"]["sun"] == []
    listed = client.get("/api/v1/locations", headers=tokens["r"]).json
    assert [loc["code"] for loc in listed] == ["PAR01"] and listed[0]["ship_paused"] is True


def test_bad_location_settings_are_422_and_unknown_locations_404(client, tokens):
    shape = client.patch("/api/v1/locations/PAR01", json={"daily_capacity": -1, "x": 1}, headers=tokens["w"])
    assert shape.status_code == 422 and set(shape.json["fields"]) == {"daily_capacity", "x"}
    hours = {"daily_capacity": 10, "opening_hours": {"mon": [["19:00", "09:00"]]}}
    bad = client.patch("/api/v1/locations/PAR01", json=hours, headers=tokens["w"])
    assert bad.status_code == 422 and set(bad.json["fields"]) == {"opening_hours"}
    assert "19:00 must be before 09:00" in bad.json["fields"]["opening_hours"]
    assert client.get("/api/v1/locations/PAR01", headers=tokens["r"]).json["daily_capacity"] == 50
    assert client.get("/api/v1/locations/NOPE", headers=tokens["r"]).status_code == 404
    assert client.patch("/api/v1/locations/NOPE", json={}, headers=tokens["w"]).json["error"] == "not_found"


def test_blocking_a_product_is_idempotent_both_ways(client, tokens):
    url = "/api/v1/locations/PAR01/blocked/TSH-001-M"
    for _ in range(2):
        response = client.put(url, json={"reason": "recall"}, headers=tokens["w"])
        assert response.status_code == 200 and response.json["blocked_skus"] == ["TSH-001-M"]
    for _ in range(2):
        response = client.delete(url, headers=tokens["w"])
        assert response.status_code == 200 and response.json["blocked_skus"] == []
    assert client.put("/api/v1/locations/PAR01/blocked/NOPE", json={}, headers=tokens["w"]).status_code == 404
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("location.%")).order_by(AuditEvent.id)
    ).all()
    assert actions == ["location.block_product", "location.unblock_product"]
