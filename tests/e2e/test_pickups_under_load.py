"""Click & collect as tills and handhelds use it: many API clients at once, over HTTP, against gunicorn with threads.

Twenty orders at one store are accepted, picked and staged by ten clients at once: every one ready, every code
different. Then ten tills try to hand the same order over at once (each with its own Idempotency-Key): it is
collected once, its units leave the ledger once, nobody gets a 5xx. Ten tills typing wrong codes at once lock the
order after five; the right code is then refused too, with 429. Outcomes are checked in SQL afterwards.
"""

import concurrent.futures
import uuid

import pytest

from app.core.actor import Actor
from tests.e2e import test_core_under_load as load
from tests.e2e.conftest import api_call as _call
from tests.e2e.test_core_under_load import _ledger_matches_levels, _no_server_errors, _product, _stores

core_app, core = load.core_app, load.core  # that module's fixtures, used here by name

pytestmark = pytest.mark.e2e
SCOPES = ("orders:read", "orders:write", "fulfilments:write")
ORDERS = 20


def _tokens_with_scopes(n: int) -> list[str]:
    from app.core.uow import unit_of_work
    from app.extensions import db
    from tests.e2e.conftest import make_api_tokens

    db.session.commit()
    with unit_of_work(writes=True):
        return make_api_tokens(n, SCOPES)


def _in_parallel(work, items, workers=10):
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(work, items))


def test_tills_preparing_and_handing_over_at_once_give_unique_codes_and_consume_once(threaded_server, core):
    from app.core.floor import pickups
    from app.core.uow import unit_of_work

    product = _product()
    (store,) = _stores(1, {product: ORDERS * 2})
    with unit_of_work(writes=True):
        store.click_and_collect = True
        store.pickup_bag_scan = False
        pickups.add_slots(store, [f"S-{n:02d}" for n in range(1, 11)], actor=Actor.system("load-test"))
    code, sku, product_id, store_id = store.code, product.sku, product.id, store.id
    tokens = _tokens_with_scopes(10)
    run = uuid.uuid4().hex[:8]

    def order(i):
        body = {
            "channel": "web",
            "external_ref": f"CC-{run}-{i}",
            "customer": {"name": f"Client {i}", "email": f"client{i}@example.fr"},
            "delivery": {"method": "collect", "pickup_location": code},
            "lines": [{"sku": sku, "quantity": 2}],
        }
        return _call(threaded_server, tokens[i % 10], "POST", "/api/v1/orders", body, str(uuid.uuid4()))

    created = _in_parallel(order, range(ORDERS))
    _no_server_errors(created, threaded_server)
    ids = [body["fulfilments"][0]["id"] for status, body in created if status == 201]
    assert len(ids) == ORDERS, created[:3]

    def prepare(n):
        fid, token = ids[n], tokens[n % 10]
        answers = [
            _call(threaded_server, token, "POST", f"/api/v1/fulfilments/{fid}/accept", {}, str(uuid.uuid4())),
            _call(
                threaded_server,
                token,
                "POST",
                f"/api/v1/fulfilments/{fid}/pick",
                {"lines": [{"sku": sku, "quantity": 2}]},
                str(uuid.uuid4()),
            ),
            _call(
                threaded_server,
                token,
                "POST",
                f"/api/v1/fulfilments/{fid}/ready",
                {"slot": f"S-{n % 10 + 1:02d}"},
                str(uuid.uuid4()),
            ),
        ]
        return answers

    prepared = [answer for answers in _in_parallel(prepare, range(ORDERS)) for answer in answers]
    _no_server_errors(prepared, threaded_server)
    assert [status for status, _ in prepared] == [200] * (3 * ORDERS), [b for s, b in prepared if s != 200][:3]
    codes = {body["pickup"]["code"] for status, body in prepared[2::3]}
    assert len(codes) == ORDERS  # unique among the store's open pickups

    # Ten tills hand the first order over at once, each with its own key: collected once.
    first, first_code = ids[0], prepared[2][1]["pickup"]["code"]
    collect = _in_parallel(
        lambda n: _call(
            threaded_server,
            tokens[n],
            "POST",
            f"/api/v1/fulfilments/{first}/collect",
            {"pickup_code": first_code},
            str(uuid.uuid4()),
        ),
        range(10),
    )
    _no_server_errors(collect, threaded_server)
    assert {status for status, _ in collect} <= {200, 409}, collect
    assert any(status == 200 for status, _ in collect)
    shipped = core.session.execute(
        core.text(
            "SELECT COUNT(*), COALESCE(SUM(on_hand_delta), 0) FROM stock_movement"
            " WHERE location_id = :l AND product_id = :p AND kind = 'ship'"
        ),
        {"l": store_id, "p": product_id},
    ).one()
    assert tuple(shipped) == (1, -2)

    # Ten tills type wrong codes for the second order at once: refused, counted, locked after five.
    second, second_code = ids[1], prepared[5][1]["pickup"]["code"]
    wrong = _in_parallel(
        lambda n: _call(
            threaded_server,
            tokens[n],
            "POST",
            f"/api/v1/fulfilments/{second}/collect",
            {"pickup_code": "AAA-AAA"},
            str(uuid.uuid4()),
        ),
        range(10),
    )
    _no_server_errors(wrong, threaded_server)
    assert {status for status, _ in wrong} <= {403, 429}, wrong
    locked = _call(
        threaded_server,
        tokens[0],
        "POST",
        f"/api/v1/fulfilments/{second}/collect",
        {"pickup_code": second_code},
        str(uuid.uuid4()),
    )
    assert locked[0] == 429, locked
    status = core.session.execute(core.text("SELECT status FROM fulfilment WHERE id = :id"), {"id": second}).scalar()
    assert status == "ready_for_pickup"
    assert _ledger_matches_levels([product_id]) == []
