"""Customer service actions in the core: state, stock, payments and events after each; refused when too late with
a clear message; a repeat changes nothing."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.core.errors import InvalidInput
from app.core.floor import pickups
from app.core.inventory import stock
from app.core.models import AuditEvent, OutboundEmail, OutboxEvent, SourcingDecision, SourcingRules
from app.core.models import FulfilmentStatus as S
from app.core.ordering import orders, sourcing
from app.core.service import actions, story
from app.extensions import db
from tests.core.test_payments import _after_commit, _order, _picked_at, _ship
from tests.core.test_pickups import _ready
from tests.factories import ACTOR, make_location, make_product, ship_draft, stocked

D = Decimal


def _events(order, action):
    return db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.subject_type == "customer_order",
            AuditEvent.subject_id == str(order.id),
            AuditEvent.action == action,
        )
    ).all()


def _store(code, lat, lon):
    return make_location(code=code, latitude=D(str(lat)), longitude=D(str(lon)))


def _ship_order(*lines):
    draft = ship_draft(*lines)
    draft.ship_to.update(latitude=D("48.8686"), longitude=D("2.3314"))
    return orders.create_order(draft, actor=ACTOR)[0]


# --- notes -----------------------------------------------------------------------------------------------------


def test_a_note_is_required_written_on_the_timeline_and_not_twice(app):
    product = make_product()
    order = _ship_order((product, 1))
    with pytest.raises(InvalidInput) as refused:
        actions.add_note(order, "   ", actor=ACTOR)
    assert refused.value.fields["note"][0] == "A note is required."
    assert actions.add_note(order, "Customer  called about the delivery", actor=ACTOR) is True
    assert actions.add_note(order, "Customer called about the delivery", actor=ACTOR) is False
    (event,) = _events(order, "order.cs_note")
    assert event.after == {"note": "Customer called about the delivery"} and event.actor == ACTOR.label
    assert [e.action for e in story.timeline(order)][-1] == "order.cs_note"


# --- resending an e-mail ---------------------------------------------------------------------------------------


def test_an_email_is_resent_as_a_copy_once_until_it_goes(app):
    _, _products, fulfilment, _slot = _ready()
    order = fulfilment.order
    original = db.session.scalar(select(OutboundEmail).where(OutboundEmail.order_id == order.id))
    with pytest.raises(actions.ServiceRefused):  # the first is still waiting: no copy
        actions.resend_email(order, original.id, "customer lost it", actor=ACTOR)
    original.status, original.sent_at = "sent", datetime.now(UTC)
    copy = actions.resend_email(order, original.id, "customer lost it", actor=ACTOR)
    assert copy.id != original.id and copy.status == "pending"
    assert (copy.subject, copy.body, copy.html, copy.qr, copy.kind) == (
        original.subject,
        original.body,
        original.html,
        original.qr,
        original.kind,
    )
    with pytest.raises(actions.ServiceRefused) as refused:  # the copy is waiting: not a second one
        actions.resend_email(order, original.id, "again", actor=ACTOR)
    assert "still waiting" in str(refused.value)
    (event,) = _events(order, "message.resent")
    assert event.after["email"] == original.id and event.after["note"] == "customer lost it"


# --- pickup holds ----------------------------------------------------------------------------------------------


def test_a_hold_is_extended_once_and_refused_once_collected_or_expired(app):
    _, _products, fulfilment, _slot = _ready()
    later = datetime.now(UTC) + timedelta(days=12)
    assert actions.extend_hold(fulfilment, later, "customer on holiday", actor=ACTOR) is True
    assert fulfilment.pickup.expires_at == later
    assert actions.extend_hold(fulfilment, later, "customer on holiday", actor=ACTOR) is False
    assert len(_events(fulfilment.order, "order.cs_hold_extended")) == 1
    assert db.session.scalar(select(OutboxEvent).where(OutboxEvent.type == "pickup.hold_changed"))
    pickups.expire(fulfilment, actor=ACTOR, now=later + timedelta(minutes=1))
    with pytest.raises(actions.ServiceRefused) as refused:
        actions.extend_hold(fulfilment, later + timedelta(days=1), "too late", actor=ACTOR)
    assert "no longer waiting on the hold shelf" in str(refused.value)


# --- re-routing ------------------------------------------------------------------------------------------------


def test_a_rejected_fulfilment_nothing_could_take_is_rerouted_to_a_chosen_ranked_location(app):
    product = make_product()
    paris, lyon, lille = _store("PAR", 48.87, 2.33), _store("LYO", 45.76, 4.84), _store("LIL", 50.63, 3.06)
    stocked(paris, product, 3)
    order = _ship_order((product, 2))
    sourcing.source_order(order, actor=ACTOR)
    (first,) = order.fulfilments
    sourcing.reject_and_reroute(first, reason="damaged", actor=ACTOR)
    assert order.needs_customer_service and first.status == S.REJECTED
    stocked(lyon, product, 5)
    stocked(lille, product, 1)  # one unit only: ranked after Lyon, which has both
    candidates = actions.reroute_candidates(first)
    assert [(c["location"], c["covers"]) for c in candidates] == [("LYO", True), ("LIL", False)]
    with pytest.raises(actions.ServiceRefused) as refused:
        actions.reroute(first, "LIL", "closest", actor=ACTOR)
    assert "LIL does not have the stock" in str(refused.value)
    new = actions.reroute(first, "LYO", "store rejected, customer agreed to wait", actor=ACTOR)
    assert (new.location.code, new.status, [line.quantity for line in new.lines]) == ("LYO", S.CREATED, [2])
    assert stock.available_to_promise(lyon, product) == 3
    decision = db.session.scalars(
        select(SourcingDecision).where(SourcingDecision.order_id == order.id).order_by(SourcingDecision.id.desc())
    ).first()
    assert decision.trigger == "customer_service" and decision.unfulfilled == {}
    assert _events(order, "order.cs_rerouted")[0].after["location"] == "LYO"
    with pytest.raises(actions.ServiceRefused) as again:  # a repeat: nothing is left to re-route
        actions.reroute(first, "LYO", "again", actor=ACTOR)
    assert "Nothing of this fulfilment is left" in str(again.value)
    assert stock.available_to_promise(lyon, product) == 3


def test_an_open_fulfilment_is_given_back_and_rerouted_its_payment_kept(app):
    order, products = _order(quantities=(1,), prices=("20.00",), fee=None)
    paris, lyon = _store("PAR", 48.87, 2.33), _store("LYO", 45.76, 4.84)
    stocked(paris, products[0], 2)
    stocked(lyon, products[0], 2)
    first = orders.assign_fulfilment(order, paris, {order.lines[0]: 1}, actor=ACTOR)
    new = actions.reroute(first, "LYO", "Paris is closed for works", actor=ACTOR)
    assert first.status == S.REJECTED and new.location.code == "LYO"
    assert stock.available_to_promise(paris, products[0]) == 2
    assert stock.available_to_promise(lyon, products[0]) == 1
    kinds = {t.kind for t in actions.payments.transactions(order)}
    assert "void" not in kinds  # the authorisation stays for the new fulfilment


def test_a_fulfilment_being_picked_cannot_be_rerouted(app):
    product = make_product()
    paris, lyon = _store("PAR", 48.87, 2.33), _store("LYO", 45.76, 4.84)
    stocked(paris, product, 2)
    stocked(lyon, product, 2)
    order = _ship_order((product, 1))
    fulfilment = orders.assign_fulfilment(order, paris, {order.lines[0]: 1}, actor=ACTOR)
    orders.transition(fulfilment, S.ACCEPTED, actor=ACTOR)
    orders.transition(fulfilment, S.PICKING, actor=ACTOR)
    with pytest.raises(actions.ServiceRefused) as refused:
        actions.reroute(fulfilment, "LYO", "faster", actor=ACTOR)
    assert "can no longer be re-routed" in str(refused.value)
    assert fulfilment.status == S.PICKING and stock.available_to_promise(lyon, product) == 2


# --- goodwill refunds ------------------------------------------------------------------------------------------


def test_a_goodwill_refund_within_the_limit_once_per_number(app):
    order, _ = _order(quantities=(2,), prices=("40.00",), fee=None)
    _ship(_picked_at(order, make_location(), {order.lines[0]: 2}))
    _after_commit()
    with pytest.raises(InvalidInput) as over:
        actions.goodwill_refund(order, "60", "late delivery", actor=ACTOR)
    assert "at most 50.00" in str(over.value)
    txn = actions.goodwill_refund(order, "15", "late delivery", actor=ACTOR, number=1)
    again = actions.goodwill_refund(order, "15", "late delivery", actor=ACTOR, number=1)
    assert again.id == txn.id and txn.idempotency_key == f"goodwill-O{order.id}-1" and txn.amount == D("15.00")
    with pytest.raises(InvalidInput) as left:
        actions.goodwill_refund(order, "40", "more", actor=ACTOR, number=2)
    assert "35.00 is left" in str(left.value)
    _after_commit()
    assert actions.payments.totals(order).refunded == D("15.00")
    assert _events(order, "order.cs_goodwill")[0].after["note"] == "late delivery"


def test_a_goodwill_refund_before_anything_was_captured_is_refused(app):
    order, _ = _order(quantities=(1,), prices=("10.00",), fee=None)
    with pytest.raises(actions.ServiceRefused) as refused:
        actions.goodwill_refund(order, "5", "sorry", actor=ACTOR)
    assert "Nothing paid on this order is left to refund" in str(refused.value)
    assert actions.goodwill_refunds(order) == []


# --- the exception queue ---------------------------------------------------------------------------------------


def test_the_exception_queue_lists_unsourced_expired_and_late_orders_oldest_first(app):
    product = make_product()
    store = _store("PAR", 48.87, 2.33)
    nothing = _ship_order((product, 1))
    sourcing.source_order(nothing, actor=ACTOR)  # no stock anywhere
    assert nothing.needs_customer_service
    stocked(store, product, 5)
    late = _ship_order((product, 1))
    fulfilment = orders.assign_fulfilment(late, store, {late.lines[0]: 1}, actor=ACTOR)
    fulfilment.ready_by = datetime.now(UTC) - timedelta(hours=story.LATE_HOURS + 2)
    on_time = _ship_order((product, 1))
    orders.assign_fulfilment(on_time, store, {on_time.lines[0]: 1}, actor=ACTOR)
    db.session.get(SourcingRules, 1) or db.session.add(SourcingRules(id=1))
    db.session.get(SourcingRules, 1).pickup_expiry = "customer_service"
    _s, _p, ready, _slot = _ready()
    pickups.expire(ready, actor=ACTOR, now=datetime.now(UTC) + timedelta(days=30))
    db.session.flush()
    queue = story.exceptions()
    by_order = {x.order.id: x.reason for x in queue}
    assert by_order == {nothing.id: "unfulfilled", late.id: "late", ready.order_id: "pickup_expired"}
    assert [x.since for x in queue] == sorted(x.since for x in queue)
    assert next(x for x in queue if x.reason == "late").hours_late >= story.LATE_HOURS + 1
