"""The payments ledger under racing requests, over HTTP, against gunicorn with threads (2 workers x 12 threads):
whatever the interleaving, an order's authorisation is voided once, never beyond what was authorised, and the
provider is called after the commit that decided it. Checked in SQL afterwards, not only from the answers."""

import concurrent.futures
import urllib.error
import urllib.parse

import pytest

from app import create_app
from app.core.models import Location
from app.extensions import db
from tests.e2e.conftest import MANAGER, STORE
from tests.e2e.conftest import api_call as _call
from tests.e2e.test_core_under_load import (
    ACTOR,
    _no_server_errors,
    _order_body,
    _placed,
    _product,
    _signed_in,
    _stores,
    _tokens,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def core_app(database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def core(core_app):
    """An application context on the server's database, to set up data through the core and check it in SQL."""
    with core_app.app_context():
        yield db
        db.session.remove()


def _paid(ref: str, sku: str, quantity: int, price: str, fee: str, reference: str = "auth-load") -> dict:
    body = _order_body(ref, (sku, quantity))
    body["lines"][0]["unit_price"] = price
    amount = f"{float(price) * quantity + float(fee):.2f}"
    body["payment"] = {"provider": "test", "reference": reference, "amount": amount, "currency": "EUR"}
    body["shipping_fee"] = fee
    return body


def _ledger(db, order_ids) -> dict:
    """{order id: [(kind, amount as a string, status)]}, oldest first."""
    db.session.rollback()  # a fresh snapshot: SQLite keeps a read transaction's view until it ends
    rows = db.session.execute(
        db.text(
            "SELECT order_id, kind, amount, status FROM payment_transaction WHERE order_id IN :ids ORDER BY id"
        ).bindparams(db.bindparam("ids", expanding=True)),
        {"ids": list(order_ids)},
    ).all()
    found = {order_id: [] for order_id in order_ids}
    for order_id, kind, amount, status in rows:
        found[order_id].append((kind, f"{amount:.2f}", status))
    return found


def test_ten_racing_cancels_of_a_paid_order_void_its_authorisation_once(threaded_server, core):
    product = _product()
    _stores(2, {product: 2})
    tokens = _tokens(10)
    body = _paid(f"PAYCAN-{product.sku}", product.sku, 3, "19.90", "4.90")  # authorised 64.60
    status, created = _call(threaded_server, tokens[0], "POST", "/api/v1/orders", body)
    assert status == 201 and _placed(created) == 3 and len(created["fulfilments"]) == 2, created
    order_id = created["id"]

    def cancel(i):
        return _call(
            threaded_server, tokens[i], "POST", f"/api/v1/orders/{order_id}/cancel", {"reason": f"customer {i}"}
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(cancel, range(10)))

    _no_server_errors(results, threaded_server)
    assert {status for status, _ in results} == {200}, results[:3]
    # One void of the whole authorisation, confirmed by the provider at the end of the request that wrote it.
    assert _ledger(core, [order_id])[order_id] == [
        ("authorisation", "64.60", "succeeded"),
        ("void", "64.60", "succeeded"),
    ]
    status, payments = _call(threaded_server, tokens[0], "GET", f"/api/v1/orders/{order_id}/payments")
    assert status == 200
    assert (payments["authorised"], payments["voided"], payments["captured"]) == ("64.60", "64.60", "0.00")


def test_store_rejections_racing_api_cancels_of_paid_orders_void_each_once(threaded_server, core):
    """Nothing else holds the product: a rejection leaves nothing to re-source and voids, as a cancel does; the
    two meet on the order's lock and the second finds nothing left to void."""
    product = _product()
    core.session.commit()
    from app.core.inventory import stock
    from app.core.uow import unit_of_work

    with unit_of_work(writes=True):  # the write lock first, as in _stores
        store = core.session.scalar(core.select(Location).where(Location.code == STORE))
        # The e2e tests share the demo database: earlier ones may have used up the store's capacity for today.
        store.daily_capacity, store.ship_paused = max(store.daily_capacity, 10_000), False
        stock.receive(store, product, 8, actor=ACTOR, reference="payments race")
    sku, [token] = product.sku, _tokens(1)
    opener, csrf = _signed_in(threaded_server, MANAGER)
    pairs = []
    for i in range(8):
        body = _paid(f"PAYRACE-{sku}-{i}", sku, 1, "12.00", "3.00")  # authorised 15.00
        status, created = _call(threaded_server, token, "POST", "/api/v1/orders", body)
        assert status == 201 and created["fulfilments"][0]["location"] == STORE, created
        pairs.append((created["id"], created["fulfilments"][0]["id"]))

    def reject(fulfilment_id):
        form = {"csrf_token": csrf, "scope": "all", "reason": "too_busy", "note": "", "version": "1", "confirm": "1"}
        url = f"{threaded_server}/stores/{STORE}/fulfilments/{fulfilment_id}/reject"
        try:
            with opener.open(url, data=urllib.parse.urlencode(form).encode(), timeout=120) as response:
                return response.status, ""
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")[:300]

    def cancel(order_id):
        return _call(threaded_server, token, "POST", f"/api/v1/orders/{order_id}/cancel", {"reason": "customer"})

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        rejects = [pool.submit(reject, f) for _, f in pairs]
        cancels = [pool.submit(cancel, o) for o, _ in pairs]
        results = [f.result() for f in rejects + cancels]

    _no_server_errors(results, threaded_server)
    assert {status for status, _ in results} <= {200, 409}, results
    ledgers = _ledger(core, [o for o, _ in pairs])
    for order_id, rows in ledgers.items():
        assert rows == [("authorisation", "15.00", "succeeded"), ("void", "15.00", "succeeded")], (order_id, rows)
