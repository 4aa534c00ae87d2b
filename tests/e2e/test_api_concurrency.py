"""50 concurrent POST /api/v1/orders over HTTP, against the real gunicorn server, for the last 10 units."""

import concurrent.futures
import uuid

import pytest

from tests.e2e.conftest import api_call as _call
from tests.e2e.conftest import cli_api_client, make_api_tokens

pytestmark = pytest.mark.e2e
STOCK = {"PAR01": 4, "LYO01": 3, "MIL01": 3}


def test_fifty_concurrent_orders_for_the_last_ten_units_reserve_exactly_ten(live_server, database_url, query):
    base = str(live_server)
    token = cli_api_client(database_url, f"load-{uuid.uuid4().hex[:8]}")
    sku = query(
        "SELECT p.sku FROM product p WHERE NOT EXISTS (SELECT 1 FROM stock_level s WHERE s.product_id = p.id"
        " AND (s.reserved > 0 OR s.safety_stock > 0)) ORDER BY p.sku LIMIT 1"
    )[0][0]
    for (code,) in query("SELECT code FROM location ORDER BY code"):
        status, _ = _call(
            base, token, "PUT", f"/api/v1/stock/{code}/{sku}", {"on_hand": STOCK.get(code, 0)}, str(uuid.uuid4())
        )
        assert status == 200

    run = uuid.uuid4().hex[:8]
    # Five web shops' clients, ten orders each: one client's 50 orders in a second would meet its own write limit
    # (API_WRITE_RATE_LIMIT, 50 a second), which is not what this test is about.
    from app import create_app

    maker = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with maker.app_context():
        from app.extensions import db

        shops = make_api_tokens(5)
        db.engine.dispose()

    def order(i):
        body = {
            "channel": "web",
            "external_ref": f"LOAD-{run}-{i}",
            "customer": {"name": f"Client {i}"},
            "delivery": {
                "method": "ship",
                "address": {
                    "line1": "1 rue de Rivoli",
                    "postcode": "75001",
                    "city": "Paris",
                    "country": "FR",
                    "latitude": 48.86,
                    "longitude": 2.34,
                },
            },
            "lines": [{"sku": sku, "quantity": 1}],
        }
        return _call(base, shops[i % len(shops)], "POST", "/api/v1/orders", body)

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(order, range(50)))

    assert {status for status, _ in results} <= {201, 409, 422}, results
    placed = sum(
        line["quantity"]
        for status, body in results
        if status == 201
        for f in body["fulfilments"]
        for line in f["lines"]
    )
    assert placed == 10
    assert (
        sum(1 for status, body in results if status == 201 and body["unfulfilled"])
        == sum(1 for status, _ in results if status == 201) - 10
    )
    [(reserved, lowest)] = query(
        "SELECT SUM(s.reserved), MIN(s.on_hand - s.reserved) FROM stock_level s JOIN product p ON p.id = s.product_id"
        " WHERE p.sku = :sku",
        sku=sku,
    )
    assert reserved == 10
    assert lowest >= 0
