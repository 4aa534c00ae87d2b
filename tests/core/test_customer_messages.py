"""What the customer is told beyond click & collect (issue 13): every kind of message in English, French and Italian
with a text part and an HTML part in that language (money and dates as the customer writes them, times on the
store's clock), text messages where they help, the retailer's on/off per kind, a delay told once per order, and a
partial cancellation naming only what is cancelled."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core.floor import dispatch
from app.core.integration import customer_messages, notices, worker
from app.core.models import (
    CustomerReturn,
    OutboundEmail,
    OutboundSms,
    PaymentTransaction,
    ReturnLine,
)
from app.core.models import FulfilmentStatus as S
from app.core.ordering import capture, orders, sourcing
from app.core.ordering.orders import LineDraft, OrderDraft
from app.core.payments import retailer_settings
from app.extensions import db
from tests.core.test_packing import finished, picked_fulfilment
from tests.factories import ACTOR, make_location, make_product, random_ref, stocked

DUE = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # a Tuesday, 18:00 in Paris
GREETING = {"en": "Hello Zoé", "fr": "Bonjour Zoé", "it": "Buongiorno Zoé"}
THANKS = {"en": "Thank you for your order.", "fr": "Merci pour votre commande.", "it": "Grazie per il tuo ordine."}
# A word of each kind's subject, as the customer reads it.
SUBJECT_WORD = {
    "order_confirmed": {"en": "received", "fr": "reçu", "it": "ricevuto"},
    "order_split": {"en": "several parts", "fr": "plusieurs fois", "it": "più parti"},
    "order_delayed": {"en": "running late", "fr": "retard", "it": "ritardo"},
    "order_cancelled": {"en": "cancelled", "fr": "annulée", "it": "annullat"},
    "shipped": {"en": "on its way", "fr": "en route", "it": "in viaggio"},
    "return_received": {"en": "return", "fr": "retour", "it": "reso"},
    "refunded": {"en": "refund", "fr": "remboursement", "it": "rimborso"},
}
SMS_WORD = {
    "order_delayed": {"en": "running late", "fr": "retard", "it": "ritardo"},
    "order_cancelled": {"en": "cancelled", "fr": "annulé", "it": "annullat"},
    "shipped": {"en": "on its way", "fr": "en route", "it": "in viaggio"},
    "refunded": {"en": "refunded", "fr": "remboursé", "it": "rimborsato"},
}
MONEY = {"en": "€25.00", "fr": "25,00\xa0€", "it": "25,00\xa0€"}
TUESDAY = {"en": "Tuesday", "fr": "mardi", "it": "martedì"}


@pytest.fixture
def world(app):
    paris = make_location(code="PAR01", name="Comptoir Rivoli", timezone="Europe/Paris", daily_capacity=1000)
    lyon = make_location(code="LYO01", name="Comptoir Bellecour", timezone="Europe/Paris", daily_capacity=1000)
    shirt = make_product(sku="TSH-1", name="T-shirt", names={"fr": "Tee-shirt rayé", "it": "Maglietta a righe"})
    cap = make_product(sku="CAP-1", name="Cap", names={"fr": "Casquette", "it": "Berretto"})
    stocked(paris, shirt, 10)
    stocked(lyon, cap, 10)
    db.session.commit()
    return {"paris": paris, "lyon": lyon, "shirt": shirt, "cap": cap}


def _draft(world, language="fr", *, split=True, phone="+33 6 12 34 56 78") -> OrderDraft:
    lines = [LineDraft(code="TSH-1", quantity=1, unit_price=Decimal("25.00"))]
    if split:
        lines.append(LineDraft(code="CAP-1", quantity=1, unit_price=Decimal("30.00")))
    return OrderDraft(
        channel="web",
        external_ref=random_ref("W-"),
        customer_name="Zoé Martin",
        customer_email="zoe@example.test",
        customer_phone=phone,
        customer_language=language,
        delivery_method="ship",
        ship_to={"line1": "12 rue de la Paix", "postcode": "75002", "city": "Paris", "country": "FR"},
        lines=lines,
        payment_reference="auth_1",
        payment_amount=Decimal("59.80") if split else Decimal("29.80"),
        shipping_fee=Decimal("4.80"),
    )


def _captured(world, language="fr", **kwargs):
    order, created = capture.capture_order(_draft(world, language, **kwargs), actor=ACTOR)
    assert created
    db.session.commit()
    return order


def _emails(order=None, kind=None) -> list[OutboundEmail]:
    query = select(OutboundEmail).order_by(OutboundEmail.id)
    if order is not None:
        query = query.where(OutboundEmail.order_id == order.id)
    if kind is not None:
        query = query.where(OutboundEmail.kind == kind)
    return list(db.session.scalars(query))


def _texts(order=None, kind=None) -> list[OutboundSms]:
    query = select(OutboundSms).order_by(OutboundSms.id)
    if order is not None:
        query = query.where(OutboundSms.order_id == order.id)
    if kind is not None:
        query = query.where(OutboundSms.kind == kind)
    return list(db.session.scalars(query))


def _at(order, code):
    return next(f for f in order.fulfilments if f.location.code == code)


def _late(fulfilment, due=DUE):
    orders.transition(fulfilment, S.ACCEPTED, actor=ACTOR)
    fulfilment.ready_by = due
    db.session.commit()


def _one(order, kind) -> OutboundEmail:
    (email,) = _emails(order, kind)
    return email


def _in_language(email: OutboundEmail, kind: str, language: str) -> None:
    assert SUBJECT_WORD[kind][language] in email.subject.lower(), (kind, email.subject)
    assert email.html and f'<html lang="{language}">' in email.html, kind
    for part in (email.body, email.html):
        assert GREETING[language] in part, (kind, part)
        assert THANKS[language] in part, (kind, part)
    assert email.order_id is not None and email.to == "zoe@example.test"


@pytest.mark.parametrize("language", ["en", "fr", "it"])
def test_every_kind_reaches_the_customer_in_their_language_with_text_and_html(app, world, language):
    order = _captured(world, language)
    shirt_name = {"en": "T-shirt", "fr": "Tee-shirt rayé", "it": "Maglietta a righe"}[language]
    cap_name = {"en": "Cap", "fr": "Casquette", "it": "Berretto"}[language]

    confirmed = _one(order, "order_confirmed")
    _in_language(confirmed, "order_confirmed", language)
    for part in (confirmed.body, confirmed.html):
        assert order.reference in part and shirt_name in part and cap_name in part
        assert "12 rue de la Paix" in part
        assert {"en": "€59.80", "fr": "59,80\xa0€", "it": "59,80\xa0€"}[language] in part
    assert not _texts(order, "order_confirmed")  # an e-mail is enough to say the order is in

    split = _one(order, "order_split")
    _in_language(split, "order_split", language)
    assert "2" in split.body and shirt_name in split.body and cap_name in split.html

    _late(_at(order, "LYO01"))
    assert worker.tell_late_orders(now=DUE + timedelta(minutes=5)) == 1
    delayed = _one(order, "order_delayed")
    _in_language(delayed, "order_delayed", language)
    for part in (delayed.body, delayed.html):
        assert TUESDAY[language] in part  # the day it was due, on the store's clock
    assert ("6:00" if language == "en" else "18:00") in delayed.body
    (text,) = _texts(order, "order_delayed")
    assert SMS_WORD["order_delayed"][language] in text.body and text.to == "+33612345678"

    # Paris gives the T-shirt back and nobody else has it: that line is cancelled, the cap goes on.
    sourcing.reject_and_reroute(_at(order, "PAR01"), reason="damaged", actor=ACTOR)
    db.session.commit()
    cancelled = _one(order, "order_cancelled")
    _in_language(cancelled, "order_cancelled", language)
    for part in (cancelled.body, cancelled.html):
        assert shirt_name in part and cap_name not in part
        assert MONEY[language] in part  # the T-shirt's price will not be charged
    (text,) = _texts(order, "order_cancelled")
    assert SMS_WORD["order_cancelled"][language] in text.body

    returned = CustomerReturn(
        order_id=order.id,
        location_id=world["lyon"].id,
        status="received",
        refund_amount=Decimal("25.00"),
        actor="test",
        lines=[
            ReturnLine(
                order_line_id=order.lines[1].id,
                product_id=world["cap"].id,
                quantity=1,
                reason="too_small",
                condition="resellable",
                unit_refund=Decimal("25.00"),
            )
        ],
    )
    db.session.add(returned)
    db.session.flush()
    customer_messages.return_received(returned)
    received = _one(order, "return_received")
    _in_language(received, "return_received", language)
    for part in (received.body, received.html):
        assert returned.number in part and cap_name in part and MONEY[language] in part

    refund = PaymentTransaction(
        order_id=order.id,
        return_id=returned.id,
        kind="refund",
        amount=Decimal("25.00"),
        currency="EUR",
        status="succeeded",
        provider="test",
        idempotency_key=f"refund-{returned.id}",
        actor="test",
    )
    db.session.add(refund)
    db.session.flush()
    customer_messages.refunded(refund)
    refunded = _one(order, "refunded")
    _in_language(refunded, "refunded", language)
    assert MONEY[language] in refunded.body and MONEY[language] in refunded.html
    (text,) = _texts(order, "refunded")
    assert SMS_WORD["refunded"][language] in text.body and MONEY[language] in text.body

    # The whole of another order cancelled: everything authorised is released.
    other = _captured(world, language, split=False)
    orders.cancel_order(other, reason="customer asked", actor=ACTOR)
    whole = _one(other, "order_cancelled")
    _in_language(whole, "order_cancelled", language)
    amount = {"en": "€29.80", "fr": "29,80\xa0€", "it": "29,80\xa0€"}[language]
    assert amount in whole.body and amount in whole.html and shirt_name in whole.body

    fulfilment = finished(picked_fulfilment(1, customer_language=language, customer_name="Zoé Martin"))
    fulfilment.order.customer_email, fulfilment.order.customer_phone = "zoe@example.test", "+39 333 1234567"
    parcel = fulfilment.parcels[0]
    dispatch.hand_over(fulfilment.location, parcel.label.tracking_number, "hand-cm-01", actor=ACTOR)
    shipped = _one(fulfilment.order, "shipped")
    _in_language(shipped, "shipped", language)
    assert parcel.label.tracking_number in shipped.body and parcel.label.tracking_number in shipped.html
    (text,) = _texts(fulfilment.order, "shipped")
    assert SMS_WORD["shipped"][language] in text.body and parcel.label.tracking_number in text.body


def test_a_kind_turned_off_writes_nothing_and_the_others_still_go(app, world):
    retailer_settings.update_settings({"notifications_off": ["order_split", "order_cancelled"]}, actor=ACTOR)
    db.session.commit()
    order = _captured(world, "it")
    assert [e.kind for e in _emails(order)] == ["order_confirmed"]
    orders.cancel_order(order, reason="customer asked", actor=ACTOR)
    db.session.commit()
    assert [e.kind for e in _emails(order)] == ["order_confirmed"] and not _texts(order)

    retailer_settings.update_settings({"notifications_off": list(customer_messages.NOTIFICATION_KINDS)}, actor=ACTOR)
    db.session.commit()
    again = _captured(world, "fr")
    _late(_at(again, "LYO01"))
    assert worker.tell_late_orders(now=DUE + timedelta(hours=1)) == 0
    sourcing.reject_and_reroute(_at(again, "PAR01"), reason="damaged", actor=ACTOR)
    db.session.commit()
    assert not _emails(again) and not _texts(again)


def test_click_and_collect_notices_follow_the_same_switch(app):
    from tests.core.test_pickup_notices import ready

    app.config.update(PUBLIC_URL="https://comptoir.example.test")
    retailer_settings.update_settings({"notifications_off": ["pickup_ready"]}, actor=ACTOR)
    db.session.commit()
    fulfilment, _ = ready()
    assert not _emails(fulfilment.order, "pickup_ready") and not _texts(fulfilment.order, "pickup_ready")
    notices.pickup_reminder(fulfilment.pickup)  # still on
    assert len(_emails(fulfilment.order, "pickup_reminder")) == 1
    assert len(_texts(fulfilment.order, "pickup_reminder")) == 1


def test_a_delay_is_told_once_an_order_and_only_when_late(app, world):
    order = _captured(world, "fr")
    on_time = _captured(world, "fr", split=False)
    for fulfilment in order.fulfilments:
        _late(fulfilment)
    _late(_at(on_time, "PAR01"), due=DUE + timedelta(days=1))
    now = DUE + timedelta(minutes=1)
    assert worker.tell_late_orders(now=now) == 1
    assert worker.tell_late_orders(now=now + timedelta(hours=2)) == 0
    assert len(_emails(order, "order_delayed")) == 1 and len(_texts(order, "order_delayed")) == 1
    assert not _emails(on_time, "order_delayed")
    # Without an e-mail address the text message alone marks the order as told.
    no_email = _captured(world, "it", split=False)
    no_email.customer_email = ""
    _late(no_email.fulfilments[0])
    run = worker.run_once(now=now)
    assert run["delayed"] == 1 and run["errors"] == 0
    assert worker.tell_late_orders(now=now) == 0
    assert (
        db.session.scalar(select(func.count()).select_from(OutboundSms).where(OutboundSms.kind == "order_delayed")) == 2
    )
    # The order on time becomes late a day later: its turn then.
    assert customer_messages.late_fulfilments(now + timedelta(days=3)) == [_at(on_time, "PAR01").id]


def test_a_partial_cancellation_names_only_what_is_cancelled_and_only_once(app, world):
    order = _captured(world, "en")
    sourcing.reject_and_reroute(_at(order, "LYO01"), reason="out of stock", actor=ACTOR)
    db.session.commit()
    cancelled = _one(order, "order_cancelled")
    assert cancelled.subject == f"Part of your order {order.reference} is cancelled"
    assert "1 × Cap" in cancelled.body and "T-shirt" not in cancelled.body
    assert "€30.00" in cancelled.body and "The rest of your order goes on." in cancelled.body
    assert order.status == "open" and _at(order, "PAR01").status == S.CREATED
    # Re-sourcing again (the cap still nowhere) tells nothing new; cancelling the rest tells the rest.
    sourcing.source_order(order, actor=ACTOR, trigger="manual")
    db.session.commit()
    assert len(_emails(order, "order_cancelled")) == 1
    orders.cancel_order(order, reason="customer asked", actor=ACTOR)
    db.session.commit()
    _, whole = _emails(order, "order_cancelled")
    assert whole.subject == f"Your order {order.reference} is cancelled"
    assert "€59.80" in whole.body  # nothing was captured: the whole authorisation is released
