"""The core as a retailer's systems use it: many API clients at once, over HTTP, against gunicorn with threads.

A second server runs here with the production setting (2 gthread workers x 12 threads, as `make run`) on the
same database as the session's live server, so requests really overlap in the database. Every API caller is
its own client (its own token): one client's requests would otherwise queue behind each other. Outcomes are
checked in SQL afterwards, not only from the HTTP answers: what is reserved, and that every stock row equals
the sum of its ledger.
"""

import concurrent.futures
import random
from decimal import Decimal

import pytest

from app import create_app
from app.core.actor import Actor
from app.core.inventory import stock
from app.core.uow import unit_of_work
from app.extensions import db
from tests.e2e.conftest import (
    DEMO_PASSWORD,
    MANAGER,
    STORE,
    make_api_tokens,
)
from tests.e2e.conftest import api_call as _call
from tests.factories import make_location, make_product, random_ref

pytestmark = pytest.mark.e2e
ACTOR = Actor.system("load-test")
PARIS = {"line1": "1 rue de Rivoli", "postcode": "75001", "city": "Paris", "country": "FR"}


@pytest.fixture(scope="module")
def core_app(database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def core(core_app):
    """An application context on the same database, to set up data through the core and check it in SQL."""
    with core_app.app_context():
        yield db
        db.session.remove()


def _product():
    """A product, written with SQLite's write lock taken first (see _stores)."""
    db.session.commit()
    with unit_of_work(writes=True):
        return make_product()


def _tokens(n: int) -> list[str]:
    """n API clients' tokens, written with SQLite's write lock taken first (see _stores)."""
    db.session.commit()
    with unit_of_work(writes=True):
        return make_api_tokens(n)


def _stores(n: int, units_of=None) -> list:
    """n stores around Paris with room for plenty of work today, optionally stocked with {product: units}."""
    stores = []
    db.session.commit()
    # The write lock first (SQLite): the server may still be writing, and a transaction that read before it
    # writes cannot wait for the lock, it fails at once with "database is locked".
    with unit_of_work(writes=True):
        for i in range(n):
            store = make_location(
                code=random_ref("L")[:8],
                latitude=Decimal("48.80") + Decimal(i) / 50,
                longitude=Decimal("2.30"),
                daily_capacity=10_000,
            )
            for product, units in (units_of or {}).items():
                stock.receive(store, product, units, actor=ACTOR, reference="load test")
            stores.append(store)
    return stores


def _order_body(ref: str, *lines) -> dict:
    return {
        "channel": "web",
        "external_ref": ref,
        "customer": {"name": "Client " + ref},
        "delivery": {"method": "ship", "address": {**PARIS, "latitude": 48.86, "longitude": 2.34}},
        "lines": [{"sku": sku, "quantity": qty} for sku, qty in lines],
    }


def _placed(body: dict) -> int:
    return sum(line["quantity"] for f in body["fulfilments"] for line in f["lines"])


def _ledger_matches_levels(product_ids) -> list:
    """Stock rows of these products whose on hand or reserved figure differs from the sum of their ledger."""
    return db.session.execute(
        db.text(
            "SELECT s.location_id, s.product_id, s.on_hand, s.reserved,"
            " COALESCE(SUM(m.on_hand_delta), 0), COALESCE(SUM(m.reserved_delta), 0)"
            " FROM stock_level s LEFT JOIN stock_movement m"
            " ON m.location_id = s.location_id AND m.product_id = s.product_id"
            " WHERE s.product_id IN :ids GROUP BY s.location_id, s.product_id, s.on_hand, s.reserved"
            " HAVING s.on_hand <> COALESCE(SUM(m.on_hand_delta), 0)"
            " OR s.reserved <> COALESCE(SUM(m.reserved_delta), 0)"
        ).bindparams(db.bindparam("ids", expanding=True)),
        {"ids": list(product_ids)},
    ).all()


def _no_server_errors(results, server) -> None:
    errors = [(status, body) for status, body in results if status >= 500]
    assert not errors, f"{len(errors)} answers were 5xx: {errors[:3]}\n{server.log()[-3000:]}"


def test_fifty_clients_ordering_the_last_eighteen_units_over_six_stores_buy_all_eighteen(threaded_server, core):
    product = _product()
    _stores(6, {product: 3})
    tokens = _tokens(50)
    run, sku = random_ref(), product.sku  # plain values: the threads have no application context

    def order(i):
        return _call(threaded_server, tokens[i], "POST", "/api/v1/orders", _order_body(f"LAST-{run}-{i}", (sku, 1)))

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(order, range(50)))

    _no_server_errors(results, threaded_server)
    assert {status for status, _ in results} == {201}, [r for r in results if r[0] != 201][:3]
    placed = [_placed(body) for _, body in results]
    assert sum(placed) == 18
    assert sorted(placed) == [0] * 32 + [1] * 18
    assert sum(1 for _, body in results if body["unfulfilled"]) == 32
    db.session.rollback()  # a fresh snapshot: SQLite keeps a read transaction's view until it ends
    [(reserved, on_hand, lowest)] = db.session.execute(
        db.text("SELECT SUM(reserved), SUM(on_hand), MIN(on_hand - reserved) FROM stock_level WHERE product_id = :p"),
        {"p": product.id},
    ).all()
    assert (reserved, on_hand, lowest) == (18, 18, 0)
    assert _ledger_matches_levels([product.id]) == []


def test_the_same_sku_on_two_lines_is_served_in_full_from_two_stores_and_partly_when_one_unit_is_left(
    threaded_server, core
):
    product = _product()
    first, second = _stores(2, {product: 1})
    [token] = _tokens(1)
    status, body = _call(
        threaded_server,
        token,
        "POST",
        "/api/v1/orders",
        _order_body(random_ref("TWO-"), (product.sku, 1), (product.sku, 1)),
    )
    assert status == 201, body
    assert _placed(body) == 2 and body["unfulfilled"] == {}
    assert sorted(f["location"] for f in body["fulfilments"]) == sorted([first.code, second.code])

    db.session.rollback()
    with unit_of_work(writes=True):  # the write lock first, as in _stores
        stock.receive(first, product, 1, actor=ACTOR, reference="one more")
    status, body = _call(
        threaded_server,
        token,
        "POST",
        "/api/v1/orders",
        _order_body(random_ref("ONE-"), (product.sku, 1), (product.sku, 1)),
    )
    assert status == 201, body
    assert _placed(body) == 1
    assert body["unfulfilled"] == {"2": 1}
    assert _ledger_matches_levels([product.id]) == []


def test_two_hundred_movement_batches_in_opposite_orders_never_deadlock_into_a_500(threaded_server, core):
    product = _product()
    one, two = _stores(2)
    tokens = _tokens(20)
    pair = [
        {"location": one.code, "sku": product.sku, "delta": 1},
        {"location": two.code, "sku": product.sku, "delta": 1},
    ]

    def batch(i):
        rows = [dict(row) for row in pair]
        if i % 2:
            rows.reverse()
        return _call(
            threaded_server, tokens[i % 20], "POST", "/api/v1/stock/movements", {"movements": rows}, random_ref()
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(batch, range(200)))

    _no_server_errors(results, threaded_server)
    assert {status for status, _ in results} == {200}, [r for r in results if r[0] != 200][:3]
    db.session.rollback()  # a fresh snapshot: SQLite keeps a read transaction's view until it ends
    levels = dict(
        db.session.execute(
            db.text("SELECT location_id, on_hand FROM stock_level WHERE product_id = :p"), {"p": product.id}
        ).all()
    )
    assert levels == {one.id: 200, two.id: 200}
    assert _ledger_matches_levels([product.id]) == []


def test_ten_racing_cancels_of_one_order_answer_the_same_and_release_its_stock_once(threaded_server, core):
    product = _product()
    _stores(2, {product: 2})
    tokens = _tokens(10)
    status, body = _call(
        threaded_server, tokens[0], "POST", "/api/v1/orders", _order_body(random_ref("CAN-"), (product.sku, 3))
    )
    assert status == 201 and _placed(body) == 3 and len(body["fulfilments"]) == 2, body
    order_id = body["id"]

    def cancel(i):
        return _call(
            threaded_server, tokens[i], "POST", f"/api/v1/orders/{order_id}/cancel", {"reason": f"customer {i}"}
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(cancel, range(10)))

    _no_server_errors(results, threaded_server)
    assert {status for status, _ in results} == {200}, results[:3]
    assert {body["status"] for _, body in results} == {"cancelled"}
    db.session.rollback()  # a fresh snapshot: SQLite keeps a read transaction's view until it ends
    assert db.session.execute(
        db.text("SELECT SUM(reserved), SUM(on_hand) FROM stock_level WHERE product_id = :p"), {"p": product.id}
    ).one() == (0, 4)
    releases = db.session.execute(
        db.text("SELECT COUNT(*) FROM stock_movement WHERE product_id = :p AND kind = 'release'"), {"p": product.id}
    ).scalar()
    assert releases == 2  # one per fulfilment, not one per cancel
    assert _ledger_matches_levels([product.id]) == []


def test_mixed_load_of_orders_counts_and_cancels_from_many_clients_keeps_the_ledger_exact(threaded_server, core):
    products = [_product() for _ in range(3)]
    stores = _stores(4, {p: 5 for p in products})
    tokens = _tokens(24)
    codes, skus = [s.code for s in stores], [p.sku for p in products]
    rng = random.Random(9)
    created: list[int] = []

    def work(i):
        token = tokens[i % len(tokens)]
        kind = i % 4
        if kind == 0 and created:
            return _call(
                threaded_server, token, "POST", f"/api/v1/orders/{rng.choice(created)}/cancel", {"reason": "mix"}
            )
        if kind == 1:
            path = f"/api/v1/stock/{rng.choice(codes)}/{rng.choice(skus)}"
            return _call(threaded_server, token, "PUT", path, {"on_hand": 6}, random_ref())
        lines = [(sku, 1) for sku in rng.sample(skus, rng.randint(1, 3))]
        status, body = _call(threaded_server, token, "POST", "/api/v1/orders", _order_body(random_ref("MIX-"), *lines))
        if status == 201:
            created.append(body["id"])
        return status, body

    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(work, range(160)))

    _no_server_errors(results, threaded_server)
    assert {status for status, _ in results} <= {200, 201, 409}
    db.session.rollback()  # a fresh snapshot: SQLite keeps a read transaction's view until it ends
    assert _ledger_matches_levels([p.id for p in products]) == []
    orphan = db.session.execute(
        db.text(
            "SELECT COUNT(*) FROM reservation r JOIN fulfilment_line l ON l.id = r.fulfilment_line_id"
            " JOIN fulfilment f ON f.id = l.fulfilment_id WHERE r.quantity > 0 AND f.status IN ('cancelled', 'rejected')"
        )
    ).scalar()
    assert orphan == 0  # nothing reserved for closed work


def _signed_in(base: str, email: str):
    """A cookie-keeping opener signed in through the real form, and a CSRF token for its session."""
    import http.cookiejar
    import re
    import urllib.parse

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', opener.open(base + "/login").read().decode()).group(1)
    form = urllib.parse.urlencode({"email": email, "password": DEMO_PASSWORD, "csrf_token": token}).encode()
    home = opener.open(base + "/login", data=form).read().decode()
    # Signing in starts a new session with a new CSRF token: the one from the login page no longer counts.
    return opener, re.search(r'name="csrf_token"[^>]*value="([^"]+)"', home).group(1)


def test_a_store_rejection_racing_an_api_cancel_never_answers_500_and_leaves_nothing_reserved(threaded_server, core):
    import urllib.parse

    from app.core.models import Location

    product = _product()
    db.session.commit()
    with unit_of_work(writes=True):  # the write lock first, as in _stores
        store = db.session.scalar(db.select(Location).where(Location.code == STORE))
        stock.receive(store, product, 12, actor=ACTOR, reference="race")
    sku, [token] = product.sku, _tokens(1)
    opener, csrf = _signed_in(threaded_server, MANAGER)
    pairs = []
    for _ in range(12):
        status, body = _call(
            threaded_server, token, "POST", "/api/v1/orders", _order_body(random_ref("RACE-"), (sku, 1))
        )
        assert status == 201 and body["fulfilments"][0]["location"] == STORE, (body, threaded_server.log()[-3000:])
        pairs.append((body["id"], body["fulfilments"][0]["id"]))

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

    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        rejects = [pool.submit(reject, f) for _, f in pairs]
        cancels = [pool.submit(cancel, o) for o, _ in pairs]
        results = [f.result() for f in rejects + cancels]

    _no_server_errors(results, threaded_server)
    assert {status for status, _ in results} <= {200, 409}, results
    assert [status for status, _ in results[12:]] == [200] * 12  # a cancel always wins or comes after
    db.session.rollback()
    statuses = (
        db.session.execute(
            db.text("SELECT DISTINCT status FROM customer_order WHERE id IN :ids").bindparams(
                db.bindparam("ids", expanding=True)
            ),
            {"ids": [o for o, _ in pairs]},
        )
        .scalars()
        .all()
    )
    assert statuses == ["cancelled"]
    assert db.session.execute(
        db.text("SELECT reserved, on_hand FROM stock_level WHERE product_id = :p"), {"p": product.id}
    ).all() == [(0, 12)]
    assert _ledger_matches_levels([product.id]) == []
