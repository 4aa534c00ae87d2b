import pytest
from sqlalchemy import func, select

from app.core.integration.api_clients import create_api_client
from app.core.inventory import stock
from app.core.models import StockMovement
from app.core.ordering import orders
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product, ship_draft, stocked


@pytest.fixture
def sync(app, client):
    store, product = make_location(code="PAR01"), make_product(sku="TSH-001-M")
    _, token = create_api_client("erp", ["stock:read", "stock:write"], actor=ACTOR)
    db.session.commit()

    def call(method, path, key=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {})}
        return client.open(path, method=method, headers=headers, **kwargs)

    call.store, call.product = store, product
    return call


def _movements():
    return db.session.scalar(select(func.count()).select_from(StockMovement))


def test_an_absolute_count_sets_on_hand_and_a_resend_changes_nothing(sync):
    first = sync("PUT", "/api/v1/stock/PAR01/TSH-001-M", key="count-1", json={"on_hand": 12})
    assert first.status_code == 200
    assert (first.json["on_hand"], first.json["available"], first.json["warning"]) == (12, 12, None)
    again = sync("PUT", "/api/v1/stock/PAR01/TSH-001-M", key="count-1", json={"on_hand": 12})
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _movements() == 1
    conflict = sync("PUT", "/api/v1/stock/PAR01/TSH-001-M", key="count-1", json={"on_hand": 3})
    assert conflict.status_code == 409
    assert conflict.json["error"] == "idempotency_conflict"


def test_a_count_below_the_reservations_keeps_them_and_says_so(sync):
    stocked(sync.store, sync.product, 5)
    order, _ = orders.create_order(ship_draft((sync.product, 4)), actor=ACTOR)
    orders.assign_fulfilment(order, sync.store, {order.lines[0]: 4}, actor=ACTOR)
    db.session.commit()
    response = sync("PUT", "/api/v1/stock/PAR01/TSH-001-M", key="count-2", json={"on_hand": 1})
    assert response.status_code == 200
    assert (response.json["on_hand"], response.json["reserved"], response.json["uncovered_reserved"]) == (4, 4, 3)
    assert "3" in response.json["warning"]
    assert stock.ledger_totals(sync.store.id, sync.product.id) == (4, 4)


def test_a_state_change_without_an_idempotency_key_is_refused(sync):
    response = sync("PUT", "/api/v1/stock/PAR01/TSH-001-M", json={"on_hand": 2})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["fields"]
    assert _movements() == 0


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/v1/stock/NOPE/TSH-001-M", {"on_hand": 1}, 404),
        ("/api/v1/stock/PAR01/NOPE", {"on_hand": 1}, 404),
        ("/api/v1/stock/PAR01/TSH-001-M", {"on_hand": -1}, 422),
        ("/api/v1/stock/PAR01/TSH-001-M", {"on_hand": "7"}, 422),
        ("/api/v1/stock/PAR01/TSH-001-M", {}, 422),
    ],
)
def test_bad_counts_are_refused_and_change_nothing(sync, path, body, status):
    response = sync("PUT", path, key="bad", json=body)
    assert response.status_code == status
    assert set(response.json) == {"error", "message", "fields"}
    assert _movements() == 0


def test_a_batch_of_movements_is_all_or_nothing_and_names_each_bad_line(sync):
    other = make_product(sku="JEAN-32")
    db.session.commit()
    good = [{"location": "PAR01", "sku": "TSH-001-M", "delta": 10}, {"location": "PAR01", "sku": "JEAN-32", "delta": 3}]
    bad = [
        *good,
        {"location": "PAR01", "sku": "NOPE", "delta": 1},
        {"location": "XXX", "sku": "JEAN-32", "delta": 1},
        {"location": "PAR01", "sku": "JEAN-32", "delta": -50, "reason": "theft"},
    ]
    refused = sync("POST", "/api/v1/stock/movements", key="batch-1", json={"movements": bad})
    assert refused.status_code == 422
    assert set(refused.json["fields"]) == {"movements.2.sku", "movements.3.location"}
    assert _movements() == 0
    below_zero = sync("POST", "/api/v1/stock/movements", key="batch-2", json={"movements": [bad[4]]})
    assert below_zero.status_code == 422
    assert set(below_zero.json["fields"]) == {"movements.0.delta"}
    applied = sync("POST", "/api/v1/stock/movements", key="batch-3", json={"movements": good})
    assert applied.json == {"applied": 2}
    replay = sync("POST", "/api/v1/stock/movements", key="batch-3", json={"movements": good})
    assert replay.json == {"applied": 2}
    assert stock.ledger_totals(sync.store.id, other.id) == (3, 0)
    assert _movements() == 2


def test_reading_stock_needs_the_read_scope_and_writes_nothing(sync, client):
    read = sync("GET", "/api/v1/stock/PAR01/TSH-001-M")
    assert read.status_code == 200
    assert read.json["on_hand"] == 0
    assert _movements() == 0
    assert client.get("/api/v1/stock/PAR01/TSH-001-M").status_code == 401
