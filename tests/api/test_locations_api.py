"""PUT /api/v1/locations/{code}: a retailer's systems create and change stores and warehouses, and close them."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core.integration.api_clients import create_api_client
from app.core.models import AuditEvent, Location
from app.core.ordering import orders, sourcing
from app.extensions import db
from tests.factories import ACTOR, make_product, ship_draft, stocked

LYON = {
    "name": "Lyon Part-Dieu",
    "type": "store",
    "timezone": "Europe/Paris",
    "address": {"line1": "17 rue du Dr Bouchut", "line2": "Niveau 2", "postcode": "69003", "city": "Lyon"},
    "opening_hours": {"mon": [["10:00", "19:00"]], "sat": [["10:00", "20:00"]]},
    "ships": True,
    "click_and_collect": True,
    "returns": False,
    "capacity_per_day": 80,
}


@pytest.fixture
def tokens(app):
    _, writer = create_api_client("erp", ["settings:read", "settings:write"], actor=ACTOR)
    _, reader = create_api_client("bi", ["settings:read"], actor=ACTOR)
    db.session.commit()
    return {name: {"Authorization": f"Bearer {t}"} for name, t in [("w", writer), ("r", reader)]}


def _audits(action: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def test_a_new_code_creates_the_location_placed_at_its_postcode_area_and_a_repeat_changes_nothing(client, tokens):
    created = client.put("/api/v1/locations/LYO02", json=LYON, headers=tokens["w"])
    assert created.status_code == 201, created.json
    body = created.json
    assert body["code"] == "LYO02" and body["name"] == "Lyon Part-Dieu" and body["type"] == "store"
    assert body["address"] == {
        "line1": "17 rue du Dr Bouchut",
        "line2": "Niveau 2",
        "postcode": "69003",
        "city": "Lyon",
        "country": "FR",
    }
    assert 45.5 < body["latitude"] < 46.0 and 4.6 < body["longitude"] < 5.1  # the Rhône's area centre
    assert body["ships"] is True and body["returns"] is False and body["active"] is True
    assert body["capacity_per_day"] == 80 and body["daily_capacity"] == 80
    assert body["opening_hours"]["sat"] == [["10:00", "20:00"]] and body["opening_hours"]["sun"] == []
    assert body["open_work"] == {"fulfilments": 0, "by_status": {}}
    assert _audits("location.create") == 1

    again = client.put("/api/v1/locations/LYO02", json=LYON, headers=tokens["w"])
    assert again.status_code == 200 and again.json == body
    assert _audits("location.update") == 0  # the same values: nothing changed, nothing recorded

    got = client.get("/api/v1/locations/LYO02", headers=tokens["r"])
    assert got.status_code == 200 and got.json == body


def test_fields_left_out_keep_their_value_and_given_coordinates_win(client, tokens):
    client.put("/api/v1/locations/LYO02", json=LYON, headers=tokens["w"])
    changed = client.put(
        "/api/v1/locations/LYO02",
        json={"capacity_per_day": 120, "latitude": 45.7605, "longitude": 4.8597},
        headers=tokens["w"],
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["capacity_per_day"] == 120 and changed.json["name"] == "Lyon Part-Dieu"
    assert (changed.json["latitude"], changed.json["longitude"]) == (45.7605, 4.8597)
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "location.update"))
    assert audit.actor == "api:erp" and audit.before["daily_capacity"] == 80 and audit.after["daily_capacity"] == 120
    location = db.session.scalar(select(Location).where(Location.code == "LYO02"))
    assert location.latitude == Decimal("45.760500")
    back = client.put("/api/v1/locations/LYO02", json={"latitude": None, "longitude": None}, headers=tokens["w"])
    assert back.status_code == 200 and 45.5 < back.json["latitude"] < 46.0  # null: the postcode area's again
    assert back.json["latitude"] != 45.7605


def test_a_warehouse_in_italy_without_a_known_postcode_has_no_coordinates_until_given(client, tokens):
    body = {"name": "Magazzino", "type": "warehouse", "timezone": "Europe/Rome", "address": {"country": "it"}}
    created = client.put("/api/v1/locations/WH-IT1", json=body, headers=tokens["w"])
    assert created.status_code == 201, created.json
    assert created.json["type"] == "warehouse" and created.json["address"]["country"] == "IT"
    assert created.json["latitude"] is None and created.json["longitude"] is None
    moved = client.put("/api/v1/locations/WH-IT1", json={"address": {"postcode": "20121"}}, headers=tokens["w"])
    assert 45.0 < moved.json["latitude"] < 46.0  # Milan's area, from the new postcode


@pytest.mark.parametrize(
    ("code", "body", "fields"),
    [
        ("NEW01", {"type": "store"}, {"name"}),
        ("NEW01", {"name": "X", "timezone": "Mars/Olympus"}, {"timezone"}),
        ("NEW01", {"name": "X", "type": "shop"}, {"type"}),
        ("NEW01", {"name": "X", "address": {"country": "F1"}}, {"address.country"}),
        ("NEW01", {"name": "X", "latitude": 45.1}, {"latitude"}),
        ("NEW01", {"name": "X", "latitude": 95, "longitude": 4}, {"latitude"}),
        ("NEW01", {"name": "X", "capacity_per_day": -1}, {"capacity_per_day"}),
        ("NEW01", {"name": "X", "opening_hours": {"mon": [["19:00", "10:00"]]}}, {"opening_hours"}),
        ("NEW01", {"name": "X", "colour": "red"}, {"colour"}),
        ("new01", {"name": "X"}, {"code"}),
        ("A" * 17, {"name": "X"}, {"code"}),
    ],
)
def test_bad_values_are_422_by_field_and_create_nothing(client, tokens, code, body, fields):
    response = client.put(f"/api/v1/locations/{code}", json=body, headers=tokens["w"])
    assert response.status_code == 422, response.json
    assert set(response.json["fields"]) == fields, response.json
    assert response.json["message"]
    assert db.session.scalar(select(func.count()).select_from(Location)) == 0


def test_messages_are_in_the_callers_language(client, tokens):
    response = client.put(
        "/api/v1/locations/NEW01",
        json={"name": "X", "timezone": "Mars/Olympus"},
        headers={**tokens["w"], "Accept-Language": "fr"},
    )
    assert response.status_code == 422
    assert "fuseau" in response.json["fields"]["timezone"].lower()


def test_only_a_settings_writer_creates_locations(client, tokens):
    assert client.put("/api/v1/locations/LYO02", json=LYON).status_code == 401
    refused = client.put("/api/v1/locations/LYO02", json=LYON, headers=tokens["r"])
    assert refused.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Location)) == 0


def test_closing_a_location_stops_new_work_and_says_what_is_still_open(client, tokens):
    client.put("/api/v1/locations/LYO02", json=LYON, headers=tokens["w"])
    store = db.session.scalar(select(Location).where(Location.code == "LYO02"))
    product = make_product()
    stocked(store, product, 5)
    first = orders.create_order(ship_draft((product, 1)), actor=ACTOR)[0]
    sourcing.source_order(first, actor=ACTOR)
    db.session.commit()

    closed = client.put("/api/v1/locations/LYO02", json={"active": False}, headers=tokens["w"])
    assert closed.status_code == 200, closed.json
    assert closed.json["active"] is False
    assert closed.json["open_work"] == {"fulfilments": 1, "by_status": {"created": 1}}

    later = orders.create_order(ship_draft((product, 1)), actor=ACTOR)[0]
    decision = sourcing.source_order(later, actor=ACTOR)
    assert decision.unfulfilled == {"1": 1}  # the closed store's stock is not offered any more
    listed = client.get("/api/v1/locations", headers=tokens["r"]).json
    assert [(loc["code"], loc["open_work"]["fulfilments"]) for loc in listed] == [("LYO02", 1)]


def test_carriers_collection_times_are_set_cleared_and_checked(client, tokens):
    from app.core.floor import carriers

    carriers.ensure_builtin_carriers()
    db.session.commit()
    created = client.put("/api/v1/locations/LYO02", json={**LYON, "carriers": {"CX": "17:30"}}, headers=tokens["w"])
    assert created.status_code == 201, created.json
    assert created.json["carriers"] == {"CX": "17:30"}
    both = client.put("/api/v1/locations/LYO02", json={"carriers": {"CL": "16:00"}}, headers=tokens["w"])
    assert both.json["carriers"] == {"CL": "16:00", "CX": "17:30"}
    cleared = client.put("/api/v1/locations/LYO02", json={"carriers": {"CX": None}}, headers=tokens["w"])
    assert cleared.json["carriers"] == {"CL": "16:00"}
    bad = client.put("/api/v1/locations/LYO02", json={"carriers": {"ZZ": "17:00", "CL": "5pm"}}, headers=tokens["w"])
    assert bad.status_code == 422 and set(bad.json["fields"]) == {"carriers.ZZ", "carriers.CL"}
    assert client.get("/api/v1/locations/LYO02", headers=tokens["r"]).json["carriers"] == {"CL": "16:00"}
