"""Customer service through the API (issue 15): every action of the console is an /api/v1 call with an
Idempotency-Key, on the same core operation (app.core.service.actions). State, stock, payments and events after each;
a repeat with the same key answers the same and changes nothing; refusals are 409 service_refused with a sentence,
bad bodies 422 with their fields, never a 500."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.api import idempotency
from app.core import payments
from app.core.floor import pickups
from app.core.integration.api_clients import create_api_client
from app.core.inventory import stock
from app.core.models import (
    AuditEvent,
    Fulfilment,
    Order,
    OutboundEmail,
    OutboxEvent,
    PaymentTransaction,
)
from app.core.models import FulfilmentStatus as S
from app.core.ordering import orders, sourcing
from app.core.service import actions, story
from app.extensions import db
from tests.core.test_payments import _after_commit, _order, _picked_at, _ship
from tests.core.test_pickups import _ready
from tests.factories import ACTOR, collect_draft, make_location, make_product, ship_draft, stocked

D = Decimal
HUGE = 10**30


@pytest.fixture
def api(app, client):
    """Three API clients: customer service's tool, the web shop (orders:write), a reader; and how to call them."""
    _, cs = create_api_client("crm", ["orders:read", "customer_service:write"], actor=ACTOR)
    _, shop = create_api_client("webshop", ["orders:read", "orders:write"], actor=ACTOR)
    _, reader = create_api_client("reporting", ["orders:read"], actor=ACTOR)
    _, pos = create_api_client("pos", ["orders:read", "fulfilments:write"], actor=ACTOR)
    db.session.commit()
    keys = iter(range(1, 10_000))

    def post(path, body, *, key="new", token=cs, **kwargs):
        headers = {"Authorization": f"Bearer {token}"}
        if key is not None:
            headers["Idempotency-Key"] = f"key-{next(keys)}" if key == "new" else key
        return client.post(f"/api/v1{path}", json=body, headers=headers, **kwargs)

    def get(path, *, token=reader, **query):
        return client.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, query_string=query)

    def patch(path, body, *, token=cs):
        return client.patch(f"/api/v1{path}", json=body, headers={"Authorization": f"Bearer {token}"})

    return {"post": post, "get": get, "patch": patch, "cs": cs, "shop": shop, "reader": reader, "pos": pos}


def _events(order_id, action):
    return db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.subject_type == "customer_order",
            AuditEvent.subject_id == str(order_id),
            AuditEvent.action == action,
        )
    ).all()


def _outbox(order_id, kind):
    return db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.type == kind, OutboxEvent.order_id == order_id)
    ).all()


def _store(code, lat, lon, **kwargs):
    return make_location(code=code, latitude=D(str(lat)), longitude=D(str(lon)), **kwargs)


def _ship_order(*lines):
    draft = ship_draft(*lines)
    draft.ship_to.update(latitude=D("48.8686"), longitude=D("2.3314"))
    return orders.create_order(draft, actor=ACTOR)[0]


def _fresh(model, ident):
    return db.session.get(model, ident, populate_existing=True)


def _replayed(first, again):
    assert again.status_code == first.status_code == 200, (first.json, again.json)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json == first.json


def _invalid(answer, *fields):
    assert answer.status_code == 422, answer.json
    assert answer.json["error"] == "invalid" and answer.json["message"]
    for field in fields:
        assert field in answer.json["fields"], (field, answer.json)


def _refused(answer, words):
    assert answer.status_code == 409, answer.json
    assert answer.json["error"] == "service_refused" and words in answer.json["message"], answer.json


# --- notes -----------------------------------------------------------------------------------------------------


def test_a_note_goes_on_the_timeline_once_and_a_repeat_answers_the_same(api):
    order = _ship_order((make_product(), 1))
    db.session.commit()
    post = api["post"]
    first = post(f"/orders/{order.id}/notes", {"note": "Customer  called about the delivery"}, key="n-1")
    assert first.status_code == 200, first.json
    assert first.json["id"] == order.id and first.json["lines"][0]["cancelled"] == 0
    _replayed(first, post(f"/orders/{order.id}/notes", {"note": "Customer  called about the delivery"}, key="n-1"))
    (event,) = _events(order.id, "order.cs_note")
    assert (event.actor, event.after) == ("api:crm", {"note": "Customer called about the delivery"})
    timeline = api["get"](f"/orders/{order.id}/timeline").json
    assert timeline[-1]["action"] == "order.cs_note"
    # the same key with another body is a conflict; a blank or missing note, or no key, changes nothing
    conflict = post(f"/orders/{order.id}/notes", {"note": "something else"}, key="n-1")
    assert conflict.status_code == 409 and conflict.json["error"] == "idempotency_conflict"
    _invalid(post(f"/orders/{order.id}/notes", {"note": "   "}), "note")
    _invalid(post(f"/orders/{order.id}/notes", {}), "note")
    _invalid(post(f"/orders/{order.id}/notes", {"note": 12}), "note")
    _invalid(post(f"/orders/{order.id}/notes", {"note": "x" * 5000}), "note")
    _invalid(post(f"/orders/{order.id}/notes", {"note": "fine"}, key=None), "Idempotency-Key")
    assert len(_events(order.id, "order.cs_note")) == 1


# --- e-mails ---------------------------------------------------------------------------------------------------


def test_the_emails_are_listed_and_one_is_resent_once_until_it_goes(api):
    _, _products, fulfilment, _slot = _ready()
    order_id = fulfilment.order_id
    db.session.commit()
    listed = api["get"](f"/orders/{order_id}/emails")
    assert listed.status_code == 200, listed.json
    (email,) = listed.json
    assert (email["kind"], email["status"], email["to"], email["sent_at"]) == (
        "pickup_ready",
        "pending",
        "giulia@example.it",
        None,
    )
    assert email["subject"] and email["id"]
    url = f"/orders/{order_id}/emails/{email['id']}/resend"
    _refused(api["post"](url, {"note": "customer lost it"}), "still waiting to be sent")
    original = db.session.get(OutboundEmail, email["id"])
    original.status, original.sent_at = "sent", datetime.now(UTC)
    db.session.commit()
    first = api["post"](url, {"note": "customer lost it"}, key="r-1")
    assert first.status_code == 200, first.json
    copy = first.json["email"]
    assert copy["id"] != email["id"] and copy["status"] == "pending" and copy["kind"] == "pickup_ready"
    assert first.json["id"] == order_id
    _replayed(first, api["post"](url, {"note": "customer lost it"}, key="r-1"))
    _refused(api["post"](url, {"note": "again"}), "still waiting to be sent")  # the copy waits: not a second one
    assert db.session.scalar(select(func.count(OutboundEmail.id)).where(OutboundEmail.order_id == order_id)) == 2
    (event,) = _events(order_id, "message.resent")
    assert event.after["copy"] == copy["id"] and event.after["note"] == "customer lost it"
    assert [e["id"] for e in api["get"](f"/orders/{order_id}/emails").json] == [email["id"], copy["id"]]
    # no such e-mail of this order, however large its id
    for missing in (copy["id"] + 1000, HUGE):
        answer = api["post"](f"/orders/{order_id}/emails/{missing}/resend", {"note": "x"})
        assert answer.status_code == 404 and answer.json["error"] == "not_found"


# --- cancelling lines ------------------------------------------------------------------------------------------


def test_cancelling_units_releases_their_stock_voids_their_value_and_a_repeat_changes_nothing(api):
    order, products = _order(quantities=(3, 1), prices=("10.00", "5.00"), fee="4.90")
    store = _store("PAR", 48.87, 2.33)
    for product in products:
        stocked(store, product, 5)
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 3, order.lines[1]: 1}, actor=ACTOR)
    orders.accept_fulfilment(fulfilment, actor=ACTOR)
    order_id, fulfilment_id = order.id, fulfilment.id
    db.session.commit()
    url = f"/orders/{order_id}/lines/cancel"
    body = {
        "lines": [{"line_no": 1, "quantity": 2}, {"line_no": 2, "quantity": 1}],
        "note": "customer changed their mind",
    }
    first = api["post"](url, body, key="c-1")
    assert first.status_code == 200, first.json
    assert first.json["cancelled"] == {"1": 2, "2": 1}
    assert [(line["quantity"], line["cancelled"]) for line in first.json["lines"]] == [(3, 2), (1, 1)]
    assert first.json["status"] == "open"
    (shown,) = first.json["fulfilments"]
    assert [line["quantity"] for line in shown["lines"]] == [1] and shown["status"] == S.ACCEPTED
    assert stock.available_to_promise(store, products[0]) == 4 and stock.available_to_promise(store, products[1]) == 5
    voids = [t for t in payments.transactions(_fresh(Order, order_id)) if t.kind == "void"]
    assert [t.amount for t in voids] == [D("25.00")]  # 2 x 10.00 + 5.00; the fee stays for the parcel
    assert [e.payload["lines"] for e in _outbox(order_id, "order.lines_cancelled")] == [{"1": 2, "2": 1}]
    assert _events(order_id, "order.cs_lines_cancelled")[0].actor == "api:crm"
    # the same request again: the same answer, nothing more cancelled, voided or written
    _replayed(first, api["post"](url, body, key="c-1"))
    assert [line.cancelled for line in _fresh(Order, order_id).lines] == [2, 1]
    assert len([t for t in payments.transactions(_fresh(Order, order_id)) if t.kind == "void"]) == 1
    # another request for more than is left is refused, with the line and what is left
    more = api["post"](url, {"lines": [{"line_no": 1, "quantity": 2}], "note": "more"})
    _refused(more, "at most 1 can still be cancelled")
    assert _fresh(Order, order_id).lines[0].cancelled == 2
    assert [line.quantity for line in _fresh(Fulfilment, fulfilment_id).lines] == [1]


def test_cancelling_the_last_units_cancels_the_order_and_work_under_way_only_whole(api):
    order, products = _order(quantities=(3,), prices=("10.00",), fee="4.90")
    store = _store("PAR", 48.87, 2.33)
    stocked(store, products[0], 5)
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 3}, actor=ACTOR)
    orders.transition(fulfilment, S.ACCEPTED, actor=ACTOR)
    orders.transition(fulfilment, S.PICKING, actor=ACTOR)
    order_id = order.id
    db.session.commit()
    url = f"/orders/{order_id}/lines/cancel"
    _refused(api["post"](url, {"lines": [{"line_no": 1, "quantity": 1}], "note": "one less"}), "already preparing")
    assert _fresh(Order, order_id).lines[0].cancelled == 0
    done = api["post"](url, {"lines": [{"line_no": 1, "quantity": 3}], "note": "duplicate order"})
    assert done.status_code == 200, done.json
    assert done.json["status"] == "cancelled" and done.json["fulfilments"][0]["status"] == S.CANCELLED
    assert payments.totals(_fresh(Order, order_id)).capturable == D("0.00")
    assert _outbox(order_id, "order.cancelled")
    _refused(api["post"](url, {"lines": [{"line_no": 1, "quantity": 1}], "note": "again"}), "no longer in progress")


def test_bad_cancel_bodies_are_refused_with_their_fields_and_change_nothing(api):
    order = _ship_order((make_product(), 3))
    db.session.commit()
    url = f"/orders/{order.id}/lines/cancel"
    note = {"note": "x"}
    _invalid(api["post"](url, {"lines": [{"line_no": 9, "quantity": 1}], **note}), "lines")
    _invalid(api["post"](url, {"lines": [{"line_no": 1, "quantity": 1}] * 2, **note}), "lines")
    _invalid(api["post"](url, {"lines": [{"line_no": 1, "quantity": "1"}], **note}), "lines.0.quantity")
    _invalid(api["post"](url, {"lines": [{"line_no": 1, "quantity": 0}], **note}), "lines.0.quantity")
    _invalid(api["post"](url, {"lines": [{"line_no": 1, "quantity": HUGE}], **note}), "lines.0.quantity")
    _invalid(api["post"](url, {"lines": [{"line_no": HUGE, "quantity": 1}], **note}), "lines.0.line_no")
    _invalid(api["post"](url, {"lines": [{"line_no": 1.5, "quantity": 1}], **note}), "lines.0.line_no")
    _invalid(api["post"](url, {"lines": [], **note}), "lines")
    _invalid(api["post"](url, {"lines": {"1": 1}, **note}), "lines")
    _invalid(api["post"](url, note), "lines")
    _invalid(api["post"](url, {"lines": [{"line_no": 1, "quantity": 1}]}), "note")
    _invalid(api["post"](url, {"lines": [{"line_no": 1, "quantity": 1}], "note": " "}), "note")
    assert api["post"](url, [1, 2]).status_code == 422
    not_json = api["post"](url, None, data="lines=1", content_type="application/json")
    assert not_json.status_code == 400 and not_json.json["error"] == "bad_request"
    assert _fresh(Order, order.id).lines[0].cancelled == 0 and not _events(order.id, "order.cs_lines_cancelled")


# --- the address and the pickup store --------------------------------------------------------------------------


ADDRESS = {"line1": "3 rue Neuve", "line2": "", "postcode": "69002", "city": "Lyon", "country": "fr"}


def test_the_address_changes_before_packing_only(api):
    product = make_product()
    store = _store("PAR", 48.87, 2.33)
    stocked(store, product, 5)
    order = _ship_order((product, 1))
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 1}, actor=ACTOR)
    order_id = order.id
    db.session.commit()
    url = f"/orders/{order_id}/address"
    bad = api["post"](url, {**ADDRESS, "country": "France", "city": " ", "note": "moved"})
    _invalid(bad, "country", "city")
    _invalid(api["post"](url, {"line1": "x", "note": "moved"}), "postcode", "city", "country")
    _invalid(api["post"](url, {**ADDRESS, "postcode": "1" * 40, "note": "moved"}), "postcode")
    _invalid(api["post"](url, {**ADDRESS, "city": ["Lyon"], "note": "moved"}), "city")
    first = api["post"](url, {**ADDRESS, "note": "customer moved"}, key="a-1")
    assert first.status_code == 200, first.json
    changed = _fresh(Order, order_id)
    assert (changed.ship_line1, changed.ship_city, changed.ship_country) == ("3 rue Neuve", "Lyon", "FR")
    _replayed(first, api["post"](url, {**ADDRESS, "note": "customer moved"}, key="a-1"))
    assert api["post"](url, {**ADDRESS, "note": "the same again"}).status_code == 200  # nothing changes
    assert len(_events(order_id, "order.cs_address_changed")) == 1
    assert len(_outbox(order_id, "order.address_changed")) == 1
    mails = db.session.scalars(
        select(OutboundEmail).where(OutboundEmail.order_id == order_id, OutboundEmail.kind == "order_changed")
    ).all()
    assert len(mails) == 1 and "3 rue Neuve" in mails[0].body
    _ship(_pick_all(_fresh(Fulfilment, fulfilment.id)))
    db.session.commit()
    _refused(api["post"](url, {**ADDRESS, "line1": "1 rue Vieille", "note": "again"}), "can no longer change")
    assert _fresh(Order, order_id).ship_line1 == "3 rue Neuve"


def _pick_all(fulfilment):
    for status in (S.ACCEPTED, S.PICKING, S.PICKED):
        orders.transition(fulfilment, status, actor=ACTOR)
    return fulfilment


def test_the_pickup_store_changes_and_open_work_travels_to_it(api):
    product = make_product()
    paris = _store("PAR", 48.87, 2.33)
    _store("LYO", 45.76, 4.84)
    _store("WHS", 45.0, 4.0, click_and_collect=False)
    stocked(paris, product, 5)
    order = orders.create_order(collect_draft(paris, (product, 1)), actor=ACTOR)[0]
    orders.assign_fulfilment(order, paris, {order.lines[0]: 1}, actor=ACTOR)
    shipped = _ship_order((product, 1))
    order_id, shipped_id = order.id, shipped.id
    db.session.commit()
    url = f"/orders/{order_id}/pickup-store"
    _invalid(api["post"](url, {"location": "NOPE", "note": "x"}), "location")
    _invalid(api["post"](url, {"location": "WHS", "note": "x"}), "location")
    _invalid(api["post"](url, {"location": "", "note": "x"}), "location")
    _invalid(api["post"](url, {"location": 7, "note": "x"}), "location")
    first = api["post"](url, {"location": "LYO", "note": "closer to work"}, key="p-1")
    assert first.status_code == 200, first.json
    assert first.json["fulfilments"][0]["transfer_to"] == "LYO"
    assert _fresh(Order, order_id).pickup_location.code == "LYO"
    _replayed(first, api["post"](url, {"location": "LYO", "note": "closer to work"}, key="p-1"))
    assert len(_events(order_id, "order.cs_pickup_store_changed")) == 1
    assert [e.payload["pickup_location"] for e in _outbox(order_id, "order.pickup_store_changed")] == ["LYO"]
    back = api["post"](url, {"location": "PAR", "note": "back home"})
    assert back.status_code == 200 and back.json["fulfilments"][0]["transfer_to"] is None
    _refused(api["post"](f"/orders/{shipped_id}/pickup-store", {"location": "LYO", "note": "x"}), "delivered")
    _refused(api["post"](f"/orders/{order_id}/address", {**ADDRESS, "note": "x"}), "collected in store")


# --- goodwill refunds ------------------------------------------------------------------------------------------


@pytest.fixture
def shipped(api):
    """A paid order (2 x 40.00), shipped and captured."""
    order, _ = _order(quantities=(2,), prices=("40.00",), fee=None)
    _ship(_picked_at(order, make_location(), {order.lines[0]: 2}))
    _after_commit()
    return order.id


def _goodwill(order_id):
    return actions.goodwill_refunds(_fresh(Order, order_id))


def test_a_goodwill_refund_within_the_limit_once_per_key(api, shipped):
    url = f"/orders/{shipped}/goodwill-refunds"
    over = api["post"](url, {"amount": "60.00", "note": "late delivery"})
    _invalid(over, "amount")
    assert "at most €50.00" in over.json["message"]
    first = api["post"](url, {"amount": "15", "note": "late delivery"}, key="g-1")
    assert first.status_code == 200, first.json
    refund = first.json["refund"]
    assert (refund["kind"], refund["amount"]) == ("refund", "15.00") and first.json["id"] == shipped
    _replayed(first, api["post"](url, {"amount": "15", "note": "late delivery"}, key="g-1"))
    (txn,) = _goodwill(shipped)
    assert txn.id == refund["id"] and txn.idempotency_key == f"goodwill-O{shipped}-1"
    assert txn.status == "succeeded"  # the provider was called once the request committed
    assert payments.totals(_fresh(Order, shipped)).refunded == D("15.00")
    (event,) = _events(shipped, "order.cs_goodwill")
    assert (event.actor, event.after["note"], event.after["amount"]) == ("api:crm", "late delivery", "15.00")
    left = api["post"](url, {"amount": "40.00", "note": "more"})
    _invalid(left, "amount")
    assert "€35.00 is left" in left.json["message"]
    second = api["post"](url, {"amount": "35.00", "note": "and the rest"}, key="g-2")  # another key: another refund
    assert second.status_code == 200 and second.json["refund"]["id"] != refund["id"]
    assert [t.amount for t in _goodwill(shipped)] == [D("15.00"), D("35.00")]


def test_bad_goodwill_amounts_are_refused_and_an_unpaid_order_has_nothing_to_refund(api, shipped):
    url = f"/orders/{shipped}/goodwill-refunds"
    for amount in ("abc", 15, "-5", "1e3", "10.123", "123456789.00", str(HUGE), None, "", "NaN", "Infinity"):
        _invalid(api["post"](url, {"amount": amount, "note": "sorry"}), "amount")
    _invalid(api["post"](url, {"amount": "0", "note": "sorry"}), "amount")  # the core: above zero
    _invalid(api["post"](url, {"note": "sorry"}), "amount")
    _invalid(api["post"](url, {"amount": "5"}), "note")
    assert _goodwill(shipped) == []
    unpaid = _ship_order((make_product(), 1))
    db.session.commit()
    _refused(api["post"](f"/orders/{unpaid.id}/goodwill-refunds", {"amount": "5", "note": "x"}), "not paid through")
    order, _ = _order(quantities=(1,), prices=("10.00",), fee=None)  # paid, nothing captured yet
    db.session.commit()
    _refused(api["post"](f"/orders/{order.id}/goodwill-refunds", {"amount": "5", "note": "x"}), "Nothing paid")


def test_a_repeat_sent_while_the_first_was_under_way_answers_the_first_refund(api, shipped, monkeypatch):
    """Two requests with one key sent together both find no answer stored; the second waits for the order's lock
    while the first refunds and commits. Simulated: the first has committed, the second's lookup before the view
    missed it. Once it holds the lock it answers the first refund instead of making a second (or refusing one
    beyond the limit)."""
    url = f"/orders/{shipped}/goodwill-refunds"
    first = api["post"](url, {"amount": "40.00", "note": "lost parcel"}, key="same")
    assert first.status_code == 200, first.json
    missed = []

    def stored_too_early(key):
        missed.append(key)
        return None

    monkeypatch.setattr(idempotency, "_stored", stored_too_early)
    again = api["post"](url, {"amount": "40.00", "note": "lost parcel"}, key="same")
    assert missed == ["same"]
    _replayed(first, again)
    assert [t.amount for t in _goodwill(shipped)] == [D("40.00")]
    assert len(_events(shipped, "order.cs_goodwill")) == 1


def test_the_same_goodwill_refund_sent_at_once_from_several_agents_is_made_once(app, api, shipped):
    """Really at once: each request in its own thread and session, one Idempotency-Key. The first refunds; the
    others wait for the order's lock and answer its refund (without the check after the lock they would refund
    again, or be refused beyond the limit)."""
    agents = 4
    barrier = threading.Barrier(agents)
    answers, lock = [], threading.Lock()

    def agent():
        with app.app_context():
            barrier.wait()
            response = app.test_client().post(
                f"/api/v1/orders/{shipped}/goodwill-refunds",
                json={"amount": "40.00", "note": "lost parcel"},
                headers={"Authorization": f"Bearer {api['cs']}", "Idempotency-Key": "one-gesture"},
            )
            with lock:
                answers.append((response.status_code, (response.json.get("refund") or {}).get("id")))
            db.session.remove()

    threads = [threading.Thread(target=agent) for _ in range(agents)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    db.session.expire_all()
    (refund,) = _goodwill(shipped)
    assert answers == [(200, refund.id)] * agents
    assert refund.amount == D("40.00") and len(_events(shipped, "order.cs_goodwill")) == 1


# --- complaints and resolving ----------------------------------------------------------------------------------


def test_the_web_shop_flags_a_complaint_and_customer_service_resolves_it(api):
    order = _ship_order((make_product(), 1))
    db.session.commit()
    flag = f"/orders/{order.id}/complaint"
    resolve = f"/orders/{order.id}/resolve"
    first = api["post"](flag, {"note": "parcel arrived open"}, key="f-1", token=api["shop"])
    assert first.status_code == 200 and first.json["needs_customer_service"] is True
    _replayed(first, api["post"](flag, {"note": "parcel arrived open"}, key="f-1", token=api["shop"]))
    assert api["post"](flag, {"note": "parcel arrived open"}).status_code == 200  # flagged already: nothing more
    assert len(_events(order.id, "order.complaint")) == 1
    assert [e.payload["reason"] for e in _outbox(order.id, "order.needs_customer_service")] == ["complaint"]
    queue = api["get"]("/orders/exceptions").json["items"]
    assert [(x["order_id"], x["reason"], x["reference"]) for x in queue] == [
        (order.id, "complaint", _fresh(Order, order.id).reference)
    ]
    flagged = api["get"]("/orders", needs_customer_service="true").json["items"]
    assert [o["id"] for o in flagged] == [order.id]
    assert api["post"](resolve, {"note": "refund made"}, token=api["shop"]).status_code == 403  # not the shop's
    done = api["post"](resolve, {"note": "replacement sent"}, key="s-1")
    assert done.status_code == 200 and done.json["needs_customer_service"] is False
    _replayed(done, api["post"](resolve, {"note": "replacement sent"}, key="s-1"))
    assert api["post"](resolve, {"note": "nothing to do"}).status_code == 200  # not flagged: nothing changes
    assert len(_events(order.id, "order.cs_resolved")) == 1
    assert len(_outbox(order.id, "order.resolved")) == 1
    assert api["get"]("/orders/exceptions").json["items"] == []
    assert api["post"](flag, {"note": "x"}, token=api["reader"]).status_code == 403
    assert api["post"](flag, {"note": "x"}, token=api["pos"]).status_code == 403


def test_the_exception_queue_lists_late_orders_that_the_flag_filter_does_not(api):
    product = make_product()
    store = _store("PAR", 48.87, 2.33)
    nothing = _ship_order((product, 1))
    sourcing.source_order(nothing, actor=ACTOR)  # no stock anywhere: flagged, unfulfilled
    stocked(store, product, 5)
    late = _ship_order((product, 1))
    fulfilment = orders.assign_fulfilment(late, store, {late.lines[0]: 1}, actor=ACTOR)
    fulfilment.ready_by = datetime.now(UTC) - timedelta(hours=story.LATE_HOURS + 2)
    db.session.commit()
    answer = api["get"]("/orders/exceptions")
    assert answer.status_code == 200, answer.json
    items = {x["order_id"]: x for x in answer.json["items"]}
    assert {i: x["reason"] for i, x in items.items()} == {nothing.id: "unfulfilled", late.id: "late"}
    assert items[late.id]["hours_late"] >= story.LATE_HOURS + 1 and items[nothing.id]["hours_late"] == 0
    assert items[late.id]["status"] == "open" and items[late.id]["since"]
    flagged = api["get"]("/orders", needs_customer_service="true").json["items"]
    assert [o["id"] for o in flagged] == [nothing.id]  # a late order is not flagged
    assert [x["order_id"] for x in api["get"]("/orders/exceptions", limit=1).json["items"]] == [late.id]
    for limit in ("0", "201", "x", str(HUGE)):
        _invalid(api["get"]("/orders/exceptions", limit=limit), "limit")
    assert api["get"]("/orders/exceptions", token=api["pos"]).status_code == 200
    assert client_without_token(api).status_code == 401


def client_without_token(api):
    return api["get"]("/orders/exceptions", token="nope")


# --- re-shipping and re-routing --------------------------------------------------------------------------------


def test_a_lost_parcel_is_sent_again_at_no_charge_once(api):
    order, products = _order(quantities=(2,), prices=("10.00",), fee="4.90")
    paris, lyon = _store("PAR", 48.87, 2.33), _store("LYO", 45.76, 4.84)
    first = _ship(_picked_at(order, paris, {order.lines[0]: 2}))
    _after_commit()
    stocked(lyon, products[0], 4)
    other = _ship_order((products[0], 1))
    waiting = orders.assign_fulfilment(other, lyon, {other.lines[0]: 1}, actor=ACTOR)
    order_id, first_id, waiting_id = order.id, first.id, waiting.id
    db.session.commit()
    captured = payments.totals(_fresh(Order, order_id)).captured
    candidates = api["get"](f"/fulfilments/{first_id}/reship-candidates")
    assert candidates.status_code == 200, candidates.json
    assert {"location": "LYO", "covers": True, "units": 2, "wanted": 2}.items() <= next(
        c for c in candidates.json if c["location"] == "LYO"
    ).items()
    url = f"/fulfilments/{first_id}/reship"
    _invalid(api["post"](url, {"location": "LYO", "note": " "}), "note")
    _invalid(api["post"](url, {"location": "NOPE", "note": "lost"}), "location")
    _invalid(api["post"](url, {"note": "lost"}), "location")
    assert api["post"](url, {"location": "LYO", "note": "lost"}, token=api["pos"]).status_code == 403
    assert api["post"](url, {"location": "LYO", "note": "lost"}, token=api["shop"]).status_code == 403
    new = api["post"](url, {"location": "LYO", "note": "parcel lost by the carrier"}, key="rs-1")
    assert new.status_code == 200, new.json
    assert (new.json["location"], new.json["status"], new.json["reship_of"]) == ("LYO", S.CREATED, first_id)
    assert new.json["order_id"] == order_id and [line["quantity"] for line in new.json["lines"]] == [2]
    _replayed(new, api["post"](url, {"location": "LYO", "note": "parcel lost by the carrier"}, key="rs-1"))
    assert stock.available_to_promise(lyon, products[0]) == 1  # 4, less 1 for the other order, less 2
    shown = api["get"](f"/orders/{order_id}").json
    assert shown["status"] == "open"
    assert [f["reship_of"] for f in shown["fulfilments"]] == [None, first_id]
    assert _events(order_id, "order.cs_reshipped")[0].after == {
        "fulfilment": new.json["id"],
        "location": "LYO",
        "note": "parcel lost by the carrier",
    }
    _refused(api["post"](url, {"location": "LYO", "note": "again"}), "already sent again")
    _refused(api["post"](f"/fulfilments/{new.json['id']}/reship", {"location": "LYO", "note": "x"}), "can be sent")
    _refused(api["post"](f"/fulfilments/{waiting_id}/reship", {"location": "LYO", "note": "x"}), "can be sent")
    assert api["get"](f"/fulfilments/{first_id}/reship-candidates").json == []  # every unit went again
    assert api["get"](f"/fulfilments/{waiting_id}/reship-candidates").json == []  # not shipped
    assert payments.totals(_fresh(Order, order_id)).captured == captured  # nothing charged for the second parcel
    assert db.session.scalar(select(func.count(Fulfilment.id)).where(Fulfilment.order_id == order_id)) == 2


def test_the_reroute_candidates_are_ranked_and_customer_service_may_reroute(api):
    product = make_product()
    paris, lyon, lille = _store("PAR", 48.87, 2.33), _store("LYO", 45.76, 4.84), _store("LIL", 50.63, 3.06)
    stocked(paris, product, 2)
    order = _ship_order((product, 2))
    sourcing.source_order(order, actor=ACTOR)
    (first,) = order.fulfilments
    sourcing.reject_and_reroute(first, reason="damaged", actor=ACTOR)
    stocked(lyon, product, 5)
    stocked(lille, product, 1)
    other = _ship_order((product, 1))
    picking = orders.assign_fulfilment(other, lyon, {other.lines[0]: 1}, actor=ACTOR)
    orders.transition(picking, S.ACCEPTED, actor=ACTOR)
    orders.transition(picking, S.PICKING, actor=ACTOR)
    first_id, picking_id = first.id, picking.id
    db.session.commit()
    ranked = api["get"](f"/fulfilments/{first_id}/reroute-candidates")
    assert ranked.status_code == 200, ranked.json
    assert [(c["location"], c["covers"], c["units"]) for c in ranked.json] == [("LYO", True, 2), ("LIL", False, 1)]
    assert api["get"](f"/fulfilments/{picking_id}/reroute-candidates").json == []  # being picked: not re-routable
    url = f"/fulfilments/{first_id}/reroute"
    _refused(api["post"](url, {"location": "LIL", "note": "closest"}), "LIL does not have the stock")
    new = api["post"](url, {"location": "LYO", "note": "customer agreed"}, key="rr-1")  # customer_service:write
    assert new.status_code == 200 and new.json["location"] == "LYO", new.json
    _replayed(new, api["post"](url, {"location": "LYO", "note": "customer agreed"}, key="rr-1"))
    assert stock.available_to_promise(lyon, product) == 2  # 5, less 1 being picked, less 2
    assert api["get"](f"/fulfilments/{first_id}/reroute-candidates").json == []  # nothing left to place
    assert api["post"](url, {"location": "LYO"}, token=api["shop"]).status_code == 403
    for path in ("reroute-candidates", "reship-candidates"):
        assert api["get"](f"/fulfilments/{first_id}/{path}", token="nope").status_code == 401
        assert api["get"](f"/fulfilments/{first_id}/{path}", token=api["cs"]).status_code == 200
        for missing in (99999999, HUGE):
            assert api["get"](f"/fulfilments/{missing}/{path}").status_code == 404


# --- pickup holds ----------------------------------------------------------------------------------------------


def test_a_hold_is_extended_with_a_note_by_customer_service(api):
    _, _products, fulfilment, _slot = _ready()
    fulfilment_id, order_id = fulfilment.id, fulfilment.order_id
    db.session.commit()
    later = (datetime.now(UTC) + timedelta(days=12)).replace(microsecond=0)
    url = f"/fulfilments/{fulfilment_id}/pickup"
    _invalid(api["patch"](url, {"expires_at": later.isoformat(), "note": ""}), "note")
    _invalid(api["patch"](url, {"expires_at": later.isoformat(), "note": "   "}), "note")
    _invalid(api["patch"](url, {"expires_at": later.isoformat(), "note": 5}), "note")
    answer = api["patch"](url, {"expires_at": later.isoformat(), "note": "customer on holiday"})
    assert answer.status_code == 200, answer.json
    assert datetime.fromisoformat(answer.json["pickup"]["expires_at"]) == later
    again = api["patch"](url, {"expires_at": later.isoformat(), "note": "customer on holiday"})
    assert again.status_code == 200 and again.json == answer.json
    (event,) = _events(order_id, "order.cs_hold_extended")
    assert (event.actor, event.after) == ("api:crm", {"fulfilment": fulfilment_id, "note": "customer on holiday"})
    assert api["patch"](url, {"expires_at": later.isoformat()}, token=api["reader"]).status_code == 403
    pickups.expire(_fresh(Fulfilment, fulfilment_id), actor=ACTOR, now=later + timedelta(minutes=1))
    db.session.commit()
    late = api["patch"](url, {"expires_at": (later + timedelta(days=1)).isoformat(), "note": "too late"})
    _refused(late, "no longer waiting on the hold shelf")


# --- every endpoint: scope, unknown order, key ------------------------------------------------------------------


WRITES = [
    ("/orders/{order}/notes", {"note": "x"}),
    ("/orders/{order}/emails/{email}/resend", {"note": "x"}),
    ("/orders/{order}/lines/cancel", {"lines": [{"line_no": 1, "quantity": 1}], "note": "x"}),
    ("/orders/{order}/address", {**ADDRESS, "note": "x"}),
    ("/orders/{order}/pickup-store", {"location": "PAR", "note": "x"}),
    ("/orders/{order}/goodwill-refunds", {"amount": "5.00", "note": "x"}),
    ("/orders/{order}/complaint", {"note": "x"}),
    ("/orders/{order}/resolve", {"note": "x"}),
    ("/fulfilments/{fulfilment}/reship", {"location": "PAR", "note": "x"}),
]


@pytest.mark.parametrize(("path", "body"), WRITES, ids=[path for path, _ in WRITES])
def test_every_action_needs_its_scope_a_key_and_an_order_that_exists(api, path, body):
    _, _products, fulfilment, _slot = _ready()
    order_id = fulfilment.order_id
    email = db.session.scalar(select(OutboundEmail.id).where(OutboundEmail.order_id == order_id))
    db.session.commit()
    before = db.session.scalar(select(func.count(AuditEvent.id)))
    url = path.format(order=order_id, email=email, fulfilment=fulfilment.id)
    for token in (api["reader"], api["pos"]):
        refused = api["post"](url, body, token=token)
        assert refused.status_code == 403 and refused.json["error"] == "forbidden", refused.json
    assert api["post"](url, body, token="nope").status_code == 401
    _invalid(api["post"](url, body, key=None), "Idempotency-Key")
    _invalid(api["post"](url, body, key="k" * 121), "Idempotency-Key")
    for missing in (99999999, HUGE):
        unknown = path.format(order=missing, email=email, fulfilment=missing)
        answer = api["post"](unknown, body)
        assert answer.status_code == 404 and answer.json["error"] == "not_found", answer.json
    assert db.session.scalar(select(func.count(AuditEvent.id))) == before
    assert db.session.scalar(select(func.count(PaymentTransaction.id)).where(PaymentTransaction.kind == "refund")) == 0


def test_the_scope_is_known_and_documented(api, app):
    from app.api import api as smorest

    spec = smorest.spec.to_dict()
    for path, _ in WRITES:
        template = path.replace("{order}", "{order_id}").replace("{email}", "{email_id}")
        template = template.replace("{fulfilment}", "{fulfilment_id}")
        operation = spec["paths"][f"/api/v1{template}"]["post"]
        assert {"401", "403", "404", "409", "422"} <= set(operation["responses"]), template
        assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"]), template
    for template in (
        "/orders/exceptions",
        "/orders/{order_id}/emails",
        "/fulfilments/{fulfilment_id}/reroute-candidates",
        "/fulfilments/{fulfilment_id}/reship-candidates",
    ):
        assert "get" in spec["paths"][f"/api/v1{template}"], template
    docs = app.test_client().get("/api/v1/docs").get_data(as_text=True)
    assert "<code>/api/v1/orders/{order_id}/goodwill-refunds</code>" in docs


def test_the_reads_need_orders_read_and_an_order_that_exists(api):
    _, writer_only = create_api_client("writer-only", ["customer_service:write"], actor=ACTOR)
    order = _ship_order((make_product(), 1))
    db.session.commit()
    for path in (f"/orders/{order.id}/emails", "/orders/exceptions"):
        lacking = api["get"](path, token=writer_only)
        assert lacking.status_code == 403 and "orders:read" in lacking.json["message"]
    assert api["get"](f"/orders/{order.id}/emails").json == []
    for missing in (99999999, HUGE):
        assert api["get"](f"/orders/{missing}/emails").status_code == 404


def test_a_complaint_about_a_cancelled_order_shows_in_the_exception_queue(api):
    order = _ship_order((make_product(), 1))
    orders.cancel_order(order, reason="customer", actor=ACTOR)
    db.session.commit()
    flagged = api["post"](f"/orders/{order.id}/complaint", {"note": "still charged"}, token=api["shop"])
    assert flagged.status_code == 200 and flagged.json["needs_customer_service"] is True
    assert [o["id"] for o in api["get"]("/orders", needs_customer_service="true").json["items"]] == [order.id]
    assert [x["order_id"] for x in api["get"]("/orders/exceptions").json["items"]] == [order.id]


def test_an_order_flagged_again_after_a_resolved_complaint_shows_its_new_reason(api):
    product = make_product()
    stocked(_store("PAR", 48.87, 2.33), product, 1)
    order = _ship_order((product, 1))
    sourcing.source_order(order, actor=ACTOR)
    db.session.commit()
    assert api["post"](f"/orders/{order.id}/complaint", {"note": "late"}, token=api["shop"]).status_code == 200
    assert api["post"](f"/orders/{order.id}/resolve", {"note": "apologised"}).status_code == 200
    (first,) = _fresh(Order, order.id).fulfilments
    sourcing.reject_and_reroute(first, reason="damaged", actor=ACTOR)  # nothing else has it: flagged, unfulfilled
    db.session.commit()
    assert _fresh(Order, order.id).needs_customer_service
    queue = api["get"]("/orders/exceptions").json["items"]
    assert [(x["order_id"], x["reason"]) for x in queue] == [(order.id, "unfulfilled")]
