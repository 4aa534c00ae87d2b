from decimal import Decimal

import pytest

from app.core import orders, stock
from app.core.api_clients import create_api_client
from app.core.models import ChannelBuffer
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product, ship_draft, stocked


@pytest.fixture
def shop(app, client):
    paris = make_location(code="PAR01", city="Paris", latitude=Decimal("48.8700"), longitude=Decimal("2.3300"))
    versailles = make_location(
        code="VER01", city="Versailles", latitude=Decimal("48.8049"), longitude=Decimal("2.1204")
    )
    lyon = make_location(code="LYO01", city="Lyon", latitude=Decimal("45.7600"), longitude=Decimal("4.8400"))
    shirt = make_product(sku="TSH")
    make_product(sku="JEAN")
    for store in (paris, versailles, lyon):
        stocked(store, shirt, 10)
    stock.set_safety_stock(paris, shirt, 2, actor=ACTOR)
    order, _ = orders.create_order(ship_draft((shirt, 3)), actor=ACTOR)
    orders.assign_fulfilment(order, paris, {order.lines[0]: 3}, actor=ACTOR)
    db.session.add(ChannelBuffer(channel="marketplace", location_id=paris.id, units=4))
    _, token = create_api_client("shop", ["stock:read"], actor=ACTOR)
    db.session.commit()
    return lambda path, **q: client.get(path, query_string=q, headers={"Authorization": f"Bearer {token}"})


def test_availability_applies_reservations_safety_stock_and_channel_buffers(shop):
    web = shop("/api/v1/availability", skus="TSH,JEAN", locations="PAR01,LYO01", channel="web").json
    assert web == [
        {"sku": "JEAN", "location": "LYO01", "available": 0},
        {"sku": "TSH", "location": "LYO01", "available": 10},
        {"sku": "JEAN", "location": "PAR01", "available": 0},
        {"sku": "TSH", "location": "PAR01", "available": 5},
    ]
    marketplace = shop("/api/v1/availability", skus="TSH", locations="PAR01", channel="marketplace").json
    assert marketplace == [{"sku": "TSH", "location": "PAR01", "available": 1}]


def test_unknown_codes_are_named_in_a_422(shop):
    response = shop("/api/v1/availability", skus="TSH,NOPE", locations="XXX")
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"sku:NOPE", "location:XXX"}


def test_nearby_lists_stores_with_stock_in_the_radius_nearest_first(shop):
    rows = shop("/api/v1/availability/nearby", sku="TSH", latitude=48.8566, longitude=2.3522, radius_km=30).json
    assert [(r["location"], r["available"]) for r in rows] == [("PAR01", 5), ("VER01", 10)]
    assert rows[0]["distance_km"] < rows[1]["distance_km"] < 30
    assert shop("/api/v1/availability/nearby", sku="JEAN", latitude=48.85, longitude=2.35).json == []
    bad = shop("/api/v1/availability/nearby", sku="TSH", latitude=123, longitude=2.35)
    assert bad.status_code == 422
    assert "latitude" in bad.json["fields"]


def test_recommendations_are_in_stock_at_the_same_store_same_category_first(app, client):
    store = make_location(code="MIL01")
    shirt = make_product(sku="TSH", category="Clothing")
    for sku, category, units in [
        ("POLO", "Clothing", 2),
        ("SOCK", "Clothing", 9),
        ("MUG", "Home", 20),
        ("GONE", "Clothing", 0),
    ]:
        product = make_product(sku=sku, category=category)
        if units:
            stocked(store, product, units)
    stocked(store, shirt, 1)
    _, token = create_api_client("shop2", ["stock:read"], actor=ACTOR)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    rows = client.get("/api/v1/recommendations", query_string={"sku": "TSH", "location": "MIL01"}, headers=headers).json
    assert [r["sku"] for r in rows] == ["SOCK", "POLO", "MUG"]
    bad = client.get("/api/v1/recommendations", query_string={"sku": "NOPE", "location": "MIL01"}, headers=headers)
    assert bad.status_code == 422
    assert set(bad.json["fields"]) == {"sku"}
