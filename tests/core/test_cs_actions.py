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
    # every unit is placed again: what flagged the order is dealt with, it leaves the exception queue
    assert not order.needs_customer_service and order.id not in {x.order.id for x in story.exceptions()}
    assert _events(order, "order.cs_resolved")[0].after["note"].startswith("every unit placed")
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
    assert "at most €50.00" in str(over.value)
    txn = actions.goodwill_refund(order, "15", "late delivery", actor=ACTOR, number=1)
    again = actions.goodwill_refund(order, "15", "late delivery", actor=ACTOR, number=1)
    assert again.id == txn.id and txn.idempotency_key == f"goodwill-O{order.id}-1" and txn.amount == D("15.00")
    with pytest.raises(InvalidInput) as left:
        actions.goodwill_refund(order, "40", "more", actor=ACTOR, number=2)
    assert "€35.00 is left" in str(left.value)
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
    assert story.exception_count() == len(queue) == 3  # the console's badge counts what the queue lists
    assert [x.since for x in queue] == sorted(x.since for x in queue)
    assert next(x for x in queue if x.reason == "late").hours_late >= story.LATE_HOURS + 1


# --- cancelling lines ------------------------------------------------------------------------------------------


def _reserved(store, product):
    return stock.level_for(store, product).reserved if stock.level_for(store, product) else 0


def test_cancelling_units_of_open_lines_releases_their_stock_voids_their_value_and_tells_the_customer(app):
    order, products = _order(quantities=(3, 1), prices=("10.00", "5.00"), fee="4.90")
    store = _store("PAR", 48.87, 2.33)
    for product in products:
        stocked(store, product, 5)
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 3, order.lines[1]: 1}, actor=ACTOR)
    orders.accept_fulfilment(fulfilment, actor=ACTOR)
    assert actions.cancellable(order) == {1: 3, 2: 1}
    done = actions.cancel_lines(order, {1: 2, 2: 1}, "customer changed their mind", actor=ACTOR, expected={})
    assert done == {1: 2, 2: 1}
    assert [line.cancelled for line in order.lines] == [2, 1] and [line.wanted for line in order.lines] == [1, 0]
    # the store keeps one unit of line 1; line 2 is gone from its work; stock back on sale
    assert [(line.order_line.line_no, line.quantity) for line in fulfilment.lines] == [(1, 1)]
    assert fulfilment.status == S.ACCEPTED
    assert stock.available_to_promise(store, products[0]) == 4 and stock.available_to_promise(store, products[1]) == 5
    void = [t for t in actions.payments.transactions(order) if t.kind == "void"]
    assert [t.amount for t in void] == [D("25.00")]  # 2 x 10.00 + 5.00; the fee stays for the parcel
    assert db.session.scalar(select(OutboxEvent).where(OutboxEvent.type == "order.lines_cancelled")).payload[
        "lines"
    ] == {"1": 2, "2": 1}
    assert _events(order, "order.cs_lines_cancelled")[0].after["note"] == "customer changed their mind"
    mail = db.session.scalars(
        select(OutboundEmail).where(OutboundEmail.order_id == order.id, OutboundEmail.kind == "order_cancelled")
    ).one()
    assert "As you asked" in mail.body and "25.00" in mail.body
    # the same form submitted twice: the lines already show it, nothing more is cancelled
    assert actions.cancel_lines(order, {1: 2, 2: 1}, "again", actor=ACTOR, expected={}) == {1: 2, 2: 1}
    assert [line.cancelled for line in order.lines] == [2, 1]
    with pytest.raises(actions.ServiceRefused) as refused:  # more than is left
        actions.cancel_lines(order, {1: 2}, "more", actor=ACTOR)
    assert "at most 1 can still be cancelled" in str(refused.value)
    assert order.lines[0].cancelled == 2


def test_cancelling_every_unit_cancels_the_order_and_voids_the_rest(app):
    order, products = _order(quantities=(2,), prices=("10.00",), fee="4.90")
    store = _store("PAR", 48.87, 2.33)
    stocked(store, products[0], 5)
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 2}, actor=ACTOR)
    actions.cancel_lines(order, {1: 2}, "duplicate order", actor=ACTOR)
    assert fulfilment.status == S.CANCELLED and order.status == "cancelled"
    assert stock.available_to_promise(store, products[0]) == 5
    assert actions.payments.totals(order).capturable == D("0.00")
    with pytest.raises(actions.ServiceRefused):
        actions.cancel_lines(order, {1: 1}, "again", actor=ACTOR)


def test_units_nobody_holds_are_cancelled_and_the_order_completes_with_what_left(app):
    product, other = make_product(), make_product()
    store = _store("PAR", 48.87, 2.33)
    stocked(store, product, 5)
    order = _ship_order((product, 1), (other, 2))
    sourcing.source_order(order, actor=ACTOR)  # nothing has `other`: 2 units unfulfilled
    (fulfilment,) = order.fulfilments
    _ship(_pick_all(fulfilment))
    assert order.status == "open"
    actions.cancel_lines(order, {2: 2}, "out of stock, customer agreed", actor=ACTOR)
    assert order.status == "completed"


def _pick_all(fulfilment):
    for status in (S.ACCEPTED, S.PICKING, S.PICKED):
        orders.transition(fulfilment, status, actor=ACTOR)
    return fulfilment


def test_work_under_way_is_cancelled_only_whole_and_gone_units_not_at_all(app):
    product = make_product()
    store = _store("PAR", 48.87, 2.33)
    stocked(store, product, 5)
    order = _ship_order((product, 3))
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 3}, actor=ACTOR)
    orders.transition(fulfilment, S.ACCEPTED, actor=ACTOR)
    orders.transition(fulfilment, S.PICKING, actor=ACTOR)
    with pytest.raises(actions.ServiceRefused) as refused:
        actions.cancel_lines(order, {1: 1}, "one less", actor=ACTOR)
    assert "already preparing" in str(refused.value)
    assert order.lines[0].cancelled == 0 and fulfilment.status == S.PICKING
    _ship(_pick_rest(fulfilment))
    assert actions.cancellable(order) == {1: 0}
    with pytest.raises(actions.ServiceRefused):
        actions.cancel_lines(order, {1: 1}, "too late", actor=ACTOR)


def _pick_rest(fulfilment):
    orders.transition(fulfilment, S.PICKED, actor=ACTOR)
    return fulfilment


def test_cancelling_refuses_bad_input_and_a_changed_order(app):
    product = make_product()
    order = _ship_order((product, 3))
    for units, field in (({}, "lines"), ({9: 1}, "lines"), ({1: -1}, "lines.1"), ({"x": 1}, "lines")):
        with pytest.raises(InvalidInput) as refused:
            actions.cancel_lines(order, units, "note", actor=ACTOR)
        assert field in refused.value.fields
    actions.cancel_lines(order, {1: 1}, "first", actor=ACTOR)
    with pytest.raises(actions.ServiceRefused) as changed:  # the form was rendered before the first cancel
        actions.cancel_lines(order, {1: 2}, "second", actor=ACTOR, expected={1: 0})
    assert "changed meanwhile" in str(changed.value)
    assert order.lines[0].cancelled == 1


# --- address and pickup store ----------------------------------------------------------------------------------


def test_the_address_changes_before_packing_only(app):
    product = make_product()
    store = _store("PAR", 48.87, 2.33)
    stocked(store, product, 5)
    order = _ship_order((product, 1))
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 1}, actor=ACTOR)
    address = {"line1": "3 rue Neuve", "line2": "", "postcode": "69002", "city": "Lyon", "country": "fr"}
    with pytest.raises(InvalidInput) as bad:
        actions.change_address(order, {**address, "country": "France", "city": ""}, "moved", actor=ACTOR)
    assert set(bad.value.fields) == {"country", "city"} and order.ship_city != "Lyon"
    assert actions.change_address(order, address, "customer moved", actor=ACTOR) is True
    assert (order.ship_line1, order.ship_city, order.ship_country, order.ship_latitude) == (
        "3 rue Neuve",
        "Lyon",
        "FR",
        None,
    )
    assert actions.change_address(order, address, "again", actor=ACTOR) is False
    assert len(_events(order, "order.cs_address_changed")) == 1
    assert db.session.scalar(select(OutboxEvent).where(OutboxEvent.type == "order.address_changed"))
    mail = db.session.scalars(
        select(OutboundEmail).where(OutboundEmail.order_id == order.id, OutboundEmail.kind == "order_changed")
    ).one()
    assert "3 rue Neuve" in mail.body
    _ship(_pick_all(fulfilment))
    with pytest.raises(actions.ServiceRefused) as late:
        actions.change_address(order, {**address, "line1": "1 rue Vieille"}, "again", actor=ACTOR)
    assert "can no longer change" in str(late.value) and order.ship_line1 == "3 rue Neuve"


def test_the_pickup_store_changes_and_open_work_travels_to_it(app):
    from tests.factories import collect_draft

    product = make_product()
    paris = _store("PAR", 48.87, 2.33)
    _store("LYO", 45.76, 4.84)
    stocked(paris, product, 5)
    order = orders.create_order(collect_draft(paris, (product, 1)), actor=ACTOR)[0]
    fulfilment = orders.assign_fulfilment(order, paris, {order.lines[0]: 1}, actor=ACTOR)
    with pytest.raises(InvalidInput):
        actions.change_pickup_store(order, "NOPE", "x", actor=ACTOR)
    assert actions.change_pickup_store(order, "LYO", "closer to work", actor=ACTOR) is True
    assert order.pickup_location.code == "LYO" and fulfilment.transfer_to.code == "LYO"
    assert actions.change_pickup_store(order, "LYO", "again", actor=ACTOR) is False
    assert actions.change_pickup_store(order, "PAR", "back home", actor=ACTOR) is True
    assert fulfilment.transfer_to is None
    with pytest.raises(actions.ServiceRefused):
        actions.change_address(order, {"line1": "x"}, "not a delivery", actor=ACTOR)


# --- re-shipping -----------------------------------------------------------------------------------------------


def test_a_lost_parcel_is_sent_again_at_no_charge_once(app):
    order, products = _order(quantities=(2,), prices=("10.00",), fee="4.90")
    paris, lyon = _store("PAR", 48.87, 2.33), _store("LYO", 45.76, 4.84)
    first = _ship(_picked_at(order, paris, {order.lines[0]: 2}))
    _after_commit()
    captured = actions.payments.totals(order).captured
    assert order.status == "completed" and captured == D("24.90")
    stocked(lyon, products[0], 4)
    with pytest.raises(InvalidInput):  # a note is required
        actions.reship(first, "LYO", " ", actor=ACTOR)
    assert "LYO" in [c["location"] for c in actions.reship_candidates(first) if c["covers"]]
    new = actions.reship(first, "LYO", "parcel lost by the carrier", actor=ACTOR)
    assert new.reship_of_id == first.id and new.location.code == "LYO" and order.status == "open"
    assert [(line.order_line.line_no, line.quantity) for line in new.lines] == [(1, 2)]
    assert stock.available_to_promise(lyon, products[0]) == 2
    assert _events(order, "order.cs_reshipped")[0].after == {
        "fulfilment": new.id,
        "location": "LYO",
        "note": "parcel lost by the carrier",
    }
    with pytest.raises(actions.ServiceRefused) as again:  # a repeat: every unit already went again
        actions.reship(first, "LYO", "again", actor=ACTOR)
    assert "already sent again" in str(again.value)
    with pytest.raises(actions.ServiceRefused):  # a re-shipment is not itself re-shipped before it left
        actions.reship(new, "LYO", "again", actor=ACTOR)
    _ship(_pick_all(new))
    _after_commit()
    assert order.status == "completed"
    assert actions.payments.totals(order).captured == captured  # no charge for the second parcel
    from app.core import returns

    assert returns.left_stores(order) == {order.lines[0].id: 2}  # sent twice, received once


def test_a_parcel_not_yet_shipped_cannot_be_sent_again(app):
    product = make_product()
    store = _store("PAR", 48.87, 2.33)
    stocked(store, product, 5)
    order = _ship_order((product, 1))
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 1}, actor=ACTOR)
    assert actions.reship_candidates(fulfilment) == []
    with pytest.raises(actions.ServiceRefused) as refused:
        actions.reship(fulfilment, "PAR", "lost", actor=ACTOR)
    assert "can be sent again" in str(refused.value)


# --- complaints and resolving ----------------------------------------------------------------------------------


def test_a_complaint_puts_the_order_in_the_queue_until_resolved(app):
    product = make_product()
    order = _ship_order((product, 1))
    assert actions.resolve(order, "nothing to do", actor=ACTOR) is False
    assert actions.flag_complaint(order, "parcel arrived open", actor=ACTOR) is True
    assert actions.flag_complaint(order, "parcel arrived open", actor=ACTOR) is False
    assert order.needs_customer_service
    assert {x.order.id: x.reason for x in story.exceptions()}[order.id] == "complaint"
    assert actions.resolve(order, "replacement sent", actor=ACTOR) is True
    assert not order.needs_customer_service and order.id not in {x.order.id for x in story.exceptions()}
    assert [e.action for e in story.timeline(order)][-2:] == ["order.complaint", "order.cs_resolved"]
    assert actions.flag_complaint(order, "still open", actor=ACTOR) is True  # a new complaint after resolving


def test_the_exact_email_search_finds_the_order_whatever_the_case(app):
    from app.core.service import search

    product = make_product()
    order = _ship_order((product, 1))
    order.customer_email = "Lea.Rossi@Example.com"
    db.session.flush()
    assert search.identified("lea.rossi@example.COM") == [order.id]
    assert [o.id for o in search.search_orders("rossi@example")] == [order.id]


def test_a_complaint_about_a_cancelled_order_is_in_the_queue_an_old_flag_is_not(app):
    product = make_product()
    unsourced = _ship_order((product, 1))
    sourcing.source_order(unsourced, actor=ACTOR)  # nothing has it: flagged
    orders.cancel_order(unsourced, reason="customer gave up", actor=ACTOR)
    complained = _ship_order((product, 1))
    orders.cancel_order(complained, reason="customer", actor=ACTOR)
    actions.flag_complaint(complained, "still charged", actor=ACTOR)
    assert {x.order.id: x.reason for x in story.exceptions()} == {complained.id: "complaint"}
    assert story.exception_count() == 1  # the console's badge counts what the queue lists


def test_after_a_resolved_complaint_the_next_flag_shows_its_own_reason(app):
    product = make_product()
    stocked(_store("PAR", 48.87, 2.33), product, 1)
    order = _ship_order((product, 1))
    sourcing.source_order(order, actor=ACTOR)
    actions.flag_complaint(order, "late", actor=ACTOR)
    actions.resolve(order, "apologised", actor=ACTOR)
    (first,) = order.fulfilments
    sourcing.reject_and_reroute(first, reason="damaged", actor=ACTOR)  # nothing else has it: flagged again
    assert order.needs_customer_service
    assert {x.order.id: x.reason for x in story.exceptions()} == {order.id: "unfulfilled"}
