"""Shelf places and the store's walk through the API: what a retailer's systems send for the pick path."""

import pytest
from sqlalchemy import func, select

from app.core.integration.api_clients import create_api_client
from app.core.models import ShelfLocation
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product


@pytest.fixture
def tokens(app):
    make_location(code="PAR01", name="Paris")
    for sku in ("PULL-M", "PULL-L", "JEAN-32"):
        make_product(sku=sku)
    _, writer = create_api_client("erp", ["settings:read", "settings:write"], actor=ACTOR)
    _, reader = create_api_client("bi", ["settings:read"], actor=ACTOR)
    db.session.commit()
    return {name: {"Authorization": f"Bearer {t}"} for name, t in [("w", writer), ("r", reader)]}


def test_a_product_is_placed_moved_and_a_repeat_changes_nothing(client, tokens):
    created = client.put("/api/v1/locations/PAR01/shelves/PULL-M", json={"shelf": "a3-12-2"}, headers=tokens["w"])
    assert created.status_code == 201, created.json
    assert created.json == {
        "sku": "PULL-M",
        "shelf": "A3-12-2",
        "aisle": "A3",
        "bay": "12",
        "level": "2",
        "sequence": 0,
    }
    again = client.put("/api/v1/locations/PAR01/shelves/PULL-M", json={"shelf": "A3-12-2"}, headers=tokens["w"])
    assert again.status_code == 200 and again.json == created.json
    moved = client.put(
        "/api/v1/locations/PAR01/shelves/PULL-M", json={"shelf": "B1-4", "sequence": 7}, headers=tokens["w"]
    )
    assert moved.status_code == 200 and moved.json["shelf"] == "B1-4" and moved.json["sequence"] == 7
    assert db.session.scalar(select(func.count()).select_from(ShelfLocation)) == 1


@pytest.mark.parametrize(
    ("url", "body", "status", "fields"),
    [
        ("/api/v1/locations/PAR01/shelves/PULL-M", {"shelf": "A3/12"}, 422, {"shelf"}),
        ("/api/v1/locations/PAR01/shelves/PULL-M", {"shelf": "A3-1", "sequence": -1}, 422, {"sequence"}),
        ("/api/v1/locations/PAR01/shelves/PULL-M", {}, 422, {"shelf"}),
        ("/api/v1/locations/NOPE/shelves/PULL-M", {"shelf": "A3-1"}, 404, set()),
        ("/api/v1/locations/PAR01/shelves/NOPE", {"shelf": "A3-1"}, 404, set()),
    ],
)
def test_bad_places_are_refused_and_change_nothing(client, tokens, url, body, status, fields):
    response = client.put(url, json=body, headers=tokens["w"])
    assert response.status_code == status, response.json
    assert set(response.json["fields"]) == fields
    assert db.session.scalar(select(func.count()).select_from(ShelfLocation)) == 0


def test_the_places_are_listed_a_page_at_a_time_and_searched(client, tokens):
    for sku, shelf in (("PULL-M", "A3-12-2"), ("PULL-L", "A3-13"), ("JEAN-32", "C1-1")):
        client.put(f"/api/v1/locations/PAR01/shelves/{sku}", json={"shelf": shelf}, headers=tokens["w"])
    first = client.get("/api/v1/locations/PAR01/shelves?limit=2", headers=tokens["r"]).json
    assert [i["sku"] for i in first["items"]] == ["JEAN-32", "PULL-L"] and first["next_cursor"] == "PULL-L"
    rest = client.get(f"/api/v1/locations/PAR01/shelves?limit=2&cursor={first['next_cursor']}", headers=tokens["r"])
    assert [i["sku"] for i in rest.json["items"]] == ["PULL-M"] and rest.json["next_cursor"] is None
    found = client.get("/api/v1/locations/PAR01/shelves?q=c1", headers=tokens["r"]).json
    assert [i["sku"] for i in found["items"]] == ["JEAN-32"]


def test_the_walk_is_read_and_set_and_checked(client, tokens):
    assert client.get("/api/v1/locations/PAR01/walk", headers=tokens["r"]).json == {"aisles": []}
    set_ = client.put("/api/v1/locations/PAR01/walk", json={"aisles": ["c", "a3", "B"]}, headers=tokens["w"])
    assert set_.status_code == 200 and set_.json == {"aisles": ["C", "A3", "B"]}
    bad = client.put("/api/v1/locations/PAR01/walk", json={"aisles": ["C", "C"]}, headers=tokens["w"])
    assert bad.status_code == 422 and set(bad.json["fields"]) == {"aisles.1"}
    assert client.get("/api/v1/locations/PAR01/walk", headers=tokens["r"]).json == {"aisles": ["C", "A3", "B"]}


def test_only_a_settings_writer_places_products(client, tokens):
    refused = client.put("/api/v1/locations/PAR01/shelves/PULL-M", json={"shelf": "A3-1"}, headers=tokens["r"])
    assert refused.status_code == 403
    assert client.put("/api/v1/locations/PAR01/walk", json={"aisles": []}, headers=tokens["r"]).status_code == 403
    assert client.get("/api/v1/locations/PAR01/shelves").status_code == 401
