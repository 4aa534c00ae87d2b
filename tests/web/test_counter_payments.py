"""The counter's pickup page and an order paid online: what the payment says before and after the hand-over, and a
declined capture that holds the goods (or not, by the retailer's setting)."""

import html
from decimal import Decimal

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import select

from app.core import payments
from app.core.floor import pickups
from app.core.models import FulfilmentStatus as S
from app.core.models import PaymentTransaction, RetailerSettings, StockLevel
from app.core.ordering import orders
from app.extensions import db
from app.formatting import money
from tests.conftest import csrf_token, login
from tests.factories import ACTOR, PASSWORD, collect_draft, make_location, make_product, make_user, stocked

HX = {"HX-Request": "true", "HX-Target": "pickup"}


def _ready(store, reference, *, paid=True):
    products = [make_product(), make_product()]
    for product in products:
        stocked(store, product, 5)
    draft = collect_draft(store, (products[0], 2), (products[1], 1))
    draft.lines[0].unit_price, draft.lines[1].unit_price = Decimal("10.00"), Decimal("5.00")
    if paid:
        draft.payment_provider, draft.payment_reference, draft.payment_amount = "test", reference, Decimal("25.00")
    order, _ = orders.create_order(draft, actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, store, {line: line.quantity for line in order.lines}, actor=ACTOR)
    for target in (S.ACCEPTED, S.PICKING, S.PICKED):
        orders.transition(fulfilment, target, actor=ACTOR)
    (slot,) = pickups.add_slots(store, [f"A-{fulfilment.id:02d}"], actor=ACTOR)
    pickups.stage(fulfilment, slot, actor=ACTOR)
    return products, fulfilment


@pytest.fixture
def counter(app, client):
    store = make_location(code="HERE", pickup_bag_scan=False)
    user = make_user(stores=[store], language="fr")
    db.session.commit()

    def setup(reference="psp-ok", **kwargs):
        products, fulfilment = _ready(store, reference, **kwargs)
        db.session.commit()
        login(client, user.email, PASSWORD)
        path = f"/stores/{store.code}/pickups/{fulfilment.id}"
        return products, fulfilment, path, csrf_token(client, path)

    setup.store = store
    return setup


def _fr(text, **params):
    with force_locale("fr"):
        return gettext(text, **params)


def _page(client, path):
    response = client.get(path)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def _hand_over(client, path, token, code):
    response = client.post(path + "/collect", data={"csrf_token": token, "by": "code", "code": code}, headers=HX)
    return response.status_code, html.unescape(response.get_data(as_text=True))


def _level(store, product):
    db.session.expire_all()
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == store.id, StockLevel.product_id == product.id)
    )
    return level.on_hand, level.reserved


def test_a_paid_order_is_to_be_captured_at_the_hand_over_then_captured(client, counter):
    _products, fulfilment, path, token = counter("psp-ok")
    assert _fr("Paid online: to be captured at hand-over.") in _page(client, path)
    status, page = _hand_over(client, path, token, fulfilment.pickup.code)
    assert status == 200
    with force_locale("fr"):
        amount = money(Decimal("25.00"), "EUR")
    assert _fr("Paid online: %(amount)s captured.", amount=amount) in page
    capture = db.session.scalar(select(PaymentTransaction).where(PaymentTransaction.kind == "capture"))
    assert (capture.status, capture.amount) == ("succeeded", Decimal("25.00"))


def test_an_order_not_paid_online_says_nothing_of_a_payment(client, counter):
    _products, _fulfilment, path, _token = counter(paid=False)
    page = _page(client, path)
    assert _fr("Payment") not in page.split("<dl", 1)[1].split("</dl>", 1)[0]


def test_a_declined_capture_holds_the_goods_with_a_clear_message(client, counter):
    db.session.add(RetailerSettings(id=1, failed_capture="hold"))
    products, fulfilment, path, token = counter("decline-card")
    before = [_level(counter.store, p) for p in products]
    status, page = _hand_over(client, path, token, fulfilment.pickup.code)
    assert status == 409
    assert _fr(payments.PaymentFailed.message) in page
    hold_text = _fr("Paid online: the capture failed. Do not hand the order over; customer service has been told.")
    assert hold_text in page and 'role="alert"' in page
    assert [_level(counter.store, p) for p in products] == before  # nothing left the shelf
    db.session.expire_all()
    fulfilment = db.session.get(type(fulfilment), fulfilment.id)
    assert fulfilment.status == S.READY_FOR_PICKUP and fulfilment.order.needs_customer_service
    # The page, opened again, still says so.
    assert hold_text in _page(client, path)


def test_a_declined_capture_hands_over_when_the_retailer_lets_it(client, counter):
    db.session.add(RetailerSettings(id=1, failed_capture="hand_over"))
    _products, fulfilment, path, token = counter("decline-card")
    status, page = _hand_over(client, path, token, fulfilment.pickup.code)
    assert status == 200
    assert _fr("Order %(ref)s handed over.", ref=fulfilment.order.reference) in page
    assert _fr("Paid online: the capture failed; customer service has been told.") in page


def test_a_manager_hands_held_goods_over_with_a_note_and_an_associate_cannot(app, client, counter):
    from app.core.models import AuditEvent

    db.session.add(RetailerSettings(id=1, failed_capture="hold"))
    products, fulfilment, path, token = counter("decline-card")
    code = fulfilment.pickup.code
    # An associate's note is ignored: the goods stay held.
    response = client.post(
        path + "/collect",
        data={"csrf_token": token, "by": "code", "code": code, "payment_override": "paid"},
        headers=HX,
    )
    assert response.status_code == 409
    assert "payment-override" not in response.get_data(as_text=True)  # the field is for managers only
    manager = make_user(stores=[counter.store], role="manager", language="fr")
    db.session.commit()
    client.post("/logout", data={"csrf_token": csrf_token(client, path)})
    login(client, manager.email, PASSWORD)
    token = csrf_token(client, path)
    page = _page(client, path)
    assert 'id="payment-override"' in page
    response = client.post(
        path + "/collect",
        data={"csrf_token": token, "by": "code", "code": code, "payment_override": "Paid at the till, ticket 4411"},
        headers=HX,
    )
    assert response.status_code == 200
    db.session.expire_all()
    fulfilment = db.session.get(type(fulfilment), fulfilment.id)
    assert fulfilment.status == S.COLLECTED
    assert [_level(counter.store, p) for p in products] == [(3, 0), (4, 0)]
    note = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "payment.hold_overridden"))
    assert note.after["note"] == "Paid at the till, ticket 4411" and note.actor == f"user:{manager.email}"
