"""Returns as tills use them: several tills returning the last unit of an order at the same moment, over HTTP,
against gunicorn with threads (2 workers x 12 threads) on the test database (PostgreSQL in the PostgreSQL pass).

Each till is its own API client with its own Idempotency-Key, and they start together (a barrier): exactly one
return is taken (201), the others are refused (422 naming the line), nobody gets a 5xx, and the order has one
return, one refund (sent to the provider once, for the unit's price) and one unit back in the ledger. The race is
run several times, with pairs and with eight tills at once. Outcomes are checked in SQL afterwards.
"""

import concurrent.futures
import threading
import uuid
from decimal import Decimal

import pytest

from tests.e2e import test_core_under_load as load
from tests.e2e.conftest import api_call as _call
from tests.e2e.test_core_under_load import _ledger_matches_levels, _no_server_errors

core_app, core = load.core_app, load.core  # that module's fixtures, used here by name

pytestmark = pytest.mark.e2e
SCOPES = ("orders:read", "returns:write")
PAIRS = 10
CROWD = 8


def _tokens(n: int) -> list[str]:
    from app.core.uow import unit_of_work
    from app.extensions import db
    from tests.e2e.conftest import make_api_tokens

    db.session.commit()
    with unit_of_work(writes=True):
        return make_api_tokens(n, SCOPES)


def _one_unit_shipped_and_paid() -> tuple[int, str, int]:
    """A paid order of one unit at 20.00 (no shipping fee), shipped and captured: (order id, sku, product id)."""
    from app.extensions import db
    from tests.core.test_returns import shipped_order

    db.session.commit()
    db.session.connection(execution_options={"sqlite_immediate": True})  # SQLite: the write lock first
    order = shipped_order(quantities=(1,), prices=("20.00",), fee="0.00")
    line = order.lines[0]
    answer = order.id, line.product.sku, line.product_id
    db.session.commit()
    return answer


def _race(server, tokens: list[str], order_id: int, sku: str, store: str) -> list[tuple[int, object]]:
    """Every till returns the order's one unit at once, each with its own client and key."""
    start = threading.Barrier(len(tokens))
    body = {
        "order_id": order_id,
        "location": store,
        "lines": [{"sku": sku, "quantity": 1, "reason": "changed_mind", "condition": "resellable"}],
    }

    def till(token: str):
        start.wait()
        return _call(server, token, "POST", "/api/v1/returns", body, str(uuid.uuid4()))

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        return list(pool.map(till, tokens))


def _outcome(core, order_id: int) -> tuple:
    """(returns, units returned, refund rows, refunded amount, return movements, refund statuses) of an order."""
    core.session.rollback()  # a fresh snapshot
    params = {"o": order_id}
    ids = core.session.execute(core.text("SELECT id FROM customer_return WHERE order_id = :o"), params).scalars()
    numbers = [f"RET-{i:07d}" for i in ids]
    units = core.session.execute(
        core.text(
            "SELECT COALESCE(SUM(l.quantity), 0) FROM return_line l JOIN customer_return r ON r.id = l.return_id"
            " WHERE r.order_id = :o"
        ),
        params,
    ).scalar()
    refunds = core.session.execute(
        core.text("SELECT status, amount FROM payment_transaction WHERE order_id = :o AND kind = 'refund'"), params
    ).all()
    movements = core.session.execute(
        core.text("SELECT COUNT(*) FROM stock_movement WHERE kind = 'return' AND reference IN :numbers").bindparams(
            core.bindparam("numbers", expanding=True)
        ),
        {"numbers": numbers or ["-"]},
    ).scalar()
    refunded = sum((Decimal(amount) for _, amount in refunds), Decimal("0.00"))
    return len(numbers), units, len(refunds), refunded, movements, sorted(status for status, _ in refunds)


def test_tills_returning_the_last_unit_at_once_take_it_back_once_and_refund_it_once(threaded_server, core):
    from app.core.uow import unit_of_work
    from tests.factories import make_location, random_ref

    tokens = _tokens(CROWD)
    core.session.commit()
    with unit_of_work(writes=True):
        store = make_location(code=random_ref("R")[:8]).code
    products = []
    for round_no in range(PAIRS + 1):
        tills = tokens if round_no == PAIRS else tokens[round_no % 4 * 2 : round_no % 4 * 2 + 2]
        order_id, sku, product_id = _one_unit_shipped_and_paid()
        products.append(product_id)
        results = _race(threaded_server, tills, order_id, sku, store)
        _no_server_errors(results, threaded_server)
        statuses = sorted(status for status, _ in results)
        assert statuses == [201] + [422] * (len(tills) - 1), (round_no, results)
        refused = [body for status, body in results if status == 422]
        assert all("lines.0.quantity" in body["fields"] for body in refused), refused
        [taken] = [body for status, body in results if status == 201]
        assert taken["refund"]["amount"] == "20.00" and taken["refund"]["status"] in {"pending", "succeeded"}
        returns, units, refunds, refunded, movements, refund_statuses = _outcome(core, order_id)
        assert (returns, units, refunds, refunded, movements) == (1, 1, 1, Decimal("20.00"), 1), round_no
        assert refund_statuses == ["succeeded"]  # called once, after the winner's commit
    core.session.rollback()
    assert _ledger_matches_levels(products) == []
