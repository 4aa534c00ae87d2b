import hashlib
import itertools
import json
from dataclasses import asdict, replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core.errors import IllegalTransition, InvalidInput, OrderConflict
from app.core.inventory import stock
from app.core.models import AuditEvent, DeliveryMethod, Fulfilment, Order, OrderLine, OrderStatus, StockLevel
from app.core.models import FulfilmentStatus as S
from app.core.ordering import orders
from app.extensions import db
from tests.factories import ACTOR, collect_draft, make_location, make_product, random_ref, ship_draft, stocked


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_creating_the_same_order_twice_returns_the_first_and_duplicates_nothing(app):
    product = make_product()
    draft = ship_draft((product, 2), ref="W-1001")
    first, created = orders.create_order(draft, actor=ACTOR)
    again, created_again = orders.create_order(ship_draft((product, 2), ref="W-1001"), actor=ACTOR)
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert (_count(Order), _count(OrderLine)) == (1, 1)


def test_a_resend_after_its_product_was_withdrawn_returns_the_first_order_not_a_refusal(app):
    product = make_product()
    first, _ = orders.create_order(ship_draft((product, 1), ref="W-1002"), actor=ACTOR)
    product.active = False  # no longer sold: a new order for it is refused...
    db.session.flush()
    with pytest.raises(InvalidInput):
        orders.create_order(ship_draft((product, 1), ref="W-1003"), actor=ACTOR)
    again, created = orders.create_order(ship_draft((product, 1), ref="W-1002"), actor=ACTOR)  # ...a resend is not
    assert (again.id, created) == (first.id, False)
    with pytest.raises(OrderConflict):  # and a resend with other content is still a conflict
        orders.create_order(ship_draft((product, 2), ref="W-1002"), actor=ACTOR)
    assert _count(Order) == 1


def test_the_same_reference_on_another_channel_is_another_order(app):
    product = make_product()
    orders.create_order(ship_draft((product, 1), ref="X-1"), actor=ACTOR)
    orders.create_order(ship_draft((product, 1), ref="X-1", channel="app"), actor=ACTOR)
    assert _count(Order) == 2


def test_the_same_reference_with_different_content_is_a_conflict(app):
    product = make_product()
    orders.create_order(ship_draft((product, 1), ref="W-7"), actor=ACTOR)
    with pytest.raises(OrderConflict):
        orders.create_order(ship_draft((product, 5), ref="W-7"), actor=ACTOR)
    assert _count(Order) == 1


def test_invalid_orders_name_every_bad_field_and_create_nothing(app):
    product = make_product()
    draft = ship_draft((product, 0))
    draft.lines.append(orders.LineDraft(code="NO-SUCH-SKU", quantity=1))
    draft.ship_to = {"line1": "", "postcode": "75002", "city": "Paris", "country": "FR"}
    with pytest.raises(InvalidInput) as caught:
        orders.create_order(draft, actor=ACTOR)
    assert set(caught.value.fields) == {"lines.0.quantity", "lines.1.sku", "delivery.address.line1"}
    assert _count(Order) == 0


def test_collect_orders_need_an_open_pickup_store(app):
    product = make_product()
    closed = make_location(active=False)
    with pytest.raises(InvalidInput) as caught:
        orders.create_order(collect_draft(closed, (product, 1)), actor=ACTOR)
    assert "delivery.pickup_location" in caught.value.fields


def _fulfilment(method: str, status: str, *, picked: bool = False) -> Fulfilment:
    store, product = make_location(), make_product()
    stocked(store, product, 5)
    draft = ship_draft((product, 2)) if method == DeliveryMethod.SHIP else collect_draft(store, (product, 2))
    order, _ = orders.create_order(draft, actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 2}, actor=ACTOR)
    fulfilment.status = status  # test setup: place the fulfilment directly in the state under test
    if picked:
        fulfilment.lines[0].picked = 2
    db.session.flush()
    return fulfilment


ALL = [(m, a, b) for m in DeliveryMethod for a, b in itertools.product(list(S), repeat=2)]
FORBIDDEN = [case for case in ALL if not orders.is_allowed(*case)]
ALLOWED = [case for case in ALL if orders.is_allowed(*case)]


def test_transition_table_covers_the_documented_flow():
    assert len(ALLOWED) == 37  # ship: 5 steps + 6 open states x {rejected, cancelled}; collect: 8 + 12
    for method, path in [
        ("ship", ["created", "accepted", "picking", "picked", "packed", "shipped"]),
        ("collect", ["created", "accepted", "picking", "picked", "ready_for_pickup", "collected"]),
        ("collect", ["picked", "packed", "ready_for_pickup", "expired"]),
    ]:
        assert all(orders.is_allowed(method, a, b) for a, b in itertools.pairwise(path))


@pytest.mark.parametrize(("method", "current", "target"), FORBIDDEN)
def test_every_forbidden_transition_raises_the_domain_error(method, current, target):
    """The table alone refuses it: no application, no database. Writing an audit row, an event or any
    other database work before refusing would fail here outside an application context, not raise the
    domain error."""
    fulfilment = Fulfilment(status=current, order=Order(delivery_method=method))
    with pytest.raises(IllegalTransition):
        orders.transition(fulfilment, target, actor=ACTOR)
    assert fulfilment.status == current


def test_forbidden_transitions_of_stored_fulfilments_change_nothing_in_the_database(app):
    """The same sweep on stored fulfilments, one per delivery method placed in each state in turn."""
    fulfilments = {method: _fulfilment(method, S.CREATED) for method in DeliveryMethod}
    audits = _count(AuditEvent)
    for method, current, target in FORBIDDEN:
        fulfilment = fulfilments[method]
        fulfilment.status = current  # test setup: place the fulfilment directly in the state under test
        db.session.flush()
        with pytest.raises(IllegalTransition):
            orders.transition(fulfilment, target, actor=ACTOR)
        assert fulfilment.status == current
        assert not db.session.dirty and not db.session.new, (method, current, target)
    assert _count(AuditEvent) == audits


@pytest.mark.parametrize(("method", "current", "target"), ALLOWED)
def test_every_allowed_transition_is_applied_and_audited(app, method, current, target):
    fulfilment = _fulfilment(method, current, picked=current in {S.PICKED, S.PACKED, S.READY_FOR_PICKUP})
    orders.transition(fulfilment, target, actor=ACTOR, reason="test")
    assert fulfilment.status == target
    event = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
    assert (event.action, event.before, event.actor) == (f"fulfilment.{target}", {"status": current}, ACTOR.label)


def test_shipping_consumes_the_picked_units_from_on_hand_and_reserved(app):
    fulfilment = _fulfilment("ship", S.PACKED, picked=True)
    orders.transition(fulfilment, S.SHIPPED, actor=ACTOR)
    level = db.session.scalar(select(StockLevel))
    assert (level.on_hand, level.reserved) == (3, 0)
    assert fulfilment.order.status == OrderStatus.COMPLETED


def test_rejecting_releases_the_reservation_and_needs_a_reason(app):
    fulfilment = _fulfilment("ship", S.CREATED)
    with pytest.raises(InvalidInput):
        orders.reject_fulfilment(fulfilment, reason=" ", actor=ACTOR)
    orders.reject_fulfilment(fulfilment, reason="damaged", actor=ACTOR)
    level = db.session.scalar(select(StockLevel))
    assert (level.on_hand, level.reserved) == (5, 0)


def test_cancelling_an_order_releases_everything_and_is_refused_once_shipped(app):
    fulfilment = _fulfilment("ship", S.PICKING)
    orders.cancel_order(fulfilment.order, reason="customer", actor=ACTOR)
    assert (fulfilment.status, fulfilment.order.status) == (S.CANCELLED, OrderStatus.CANCELLED)
    assert db.session.scalar(select(StockLevel.reserved)) == 0
    shipped = _fulfilment("ship", S.PACKED, picked=True)
    orders.transition(shipped, S.SHIPPED, actor=ACTOR)
    with pytest.raises(IllegalTransition):
        orders.cancel_order(shipped.order, reason="too late", actor=ACTOR)


def test_deadlines_count_the_store_minutes_in_its_opening_hours_and_timezone(app):
    paris = make_location(accept_within_minutes=60, ready_within_minutes=240, timezone="Europe/Paris")
    reunion = make_location(accept_within_minutes=60, ready_within_minutes=240, timezone="Indian/Reunion")
    lunch = make_location(
        accept_within_minutes=60,
        ready_within_minutes=240,
        opening_hours={day: [["09:00", "12:30"], ["14:00", "19:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    )
    product = make_product()
    for store in (paris, reunion, lunch):
        stocked(store, product, 1)
    order, _ = orders.create_order(ship_draft((product, 3), ref=random_ref()), actor=ACTOR)
    # Tuesday 24 November 2026, 18:30 in Paris (17:30 UTC): half an hour before closing.
    now = datetime(2026, 11, 24, 17, 30, tzinfo=UTC)
    at_paris = orders.assign_fulfilment(order, paris, {order.lines[0]: 1}, actor=ACTOR, now=now)
    assert _utc(at_paris.accept_by) == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)  # Wed 09:30 Paris
    assert _utc(at_paris.ready_by) == datetime(2026, 11, 25, 11, 30, tzinfo=UTC)  # Wed 12:30 Paris
    # The same instant is 21:30 on the island (UTC+4): closed, so the clock starts at 09:00 there.
    at_reunion = orders.assign_fulfilment(order, reunion, {order.lines[0]: 1}, actor=ACTOR, now=now)
    assert _utc(at_reunion.accept_by) == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # Wed 10:00 Réunion
    # Noon in Paris with a lunch break: 30 minutes before it, 30 after 14:00.
    noon = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    at_lunch = orders.assign_fulfilment(order, lunch, {order.lines[0]: 1}, actor=ACTOR, now=noon)
    assert _utc(at_lunch.accept_by) == datetime(2026, 11, 24, 13, 30, tzinfo=UTC)  # 14:30 Paris
    assert stock.reserved_for(at_paris.lines[0]) == 1


def _utc(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_an_order_rejected_by_one_store_and_shipped_by_another_is_completed(app):
    first, second, product = make_location(), make_location(), make_product()
    stocked(first, product, 2)
    stocked(second, product, 2)
    order, _ = orders.create_order(ship_draft((product, 2)), actor=ACTOR)
    rejected = orders.assign_fulfilment(order, first, {order.lines[0]: 2}, actor=ACTOR)
    orders.reject_fulfilment(rejected, reason="damaged", actor=ACTOR)
    shipped = orders.assign_fulfilment(order, second, {order.lines[0]: 2}, actor=ACTOR)
    for target in ["accepted", "picking", "picked", "packed"]:
        orders.transition(shipped, target, actor=ACTOR)
    assert order.status == OrderStatus.OPEN
    orders.transition(shipped, "shipped", actor=ACTOR)
    assert order.status == OrderStatus.COMPLETED


def test_a_line_cannot_be_assigned_beyond_what_the_order_needs(app):
    first, second, product = make_location(), make_location(), make_product()
    stocked(first, product, 5)
    stocked(second, product, 5)
    order, _ = orders.create_order(ship_draft((product, 1)), actor=ACTOR)
    orders.assign_fulfilment(order, first, {order.lines[0]: 1}, actor=ACTOR)
    with pytest.raises(InvalidInput):
        orders.assign_fulfilment(order, second, {order.lines[0]: 1}, actor=ACTOR)
    other, _ = orders.create_order(ship_draft((product, 1)), actor=ACTOR)
    with pytest.raises(InvalidInput):
        orders.assign_fulfilment(order, second, {other.lines[0]: 1}, actor=ACTOR)
    closed = make_location(active=False)
    with pytest.raises(InvalidInput):
        orders.assign_fulfilment(other, closed, {other.lines[0]: 1}, actor=ACTOR)


def test_a_failed_unit_of_work_leaves_no_order_behind(app):
    from app.core.uow import unit_of_work

    product = make_product()
    db.session.commit()
    with pytest.raises(RuntimeError), unit_of_work():
        orders.create_order(ship_draft((product, 1), ref="W-ROLLBACK"), actor=ACTOR)
        raise RuntimeError("boom after the order was written")
    assert orders.find_order("web", "W-ROLLBACK") is None
    assert _count(AuditEvent) == 0


def test_an_orders_fingerprint_is_the_one_its_fields_gave_before(app):
    """The fingerprint is the SHA-256 of the draft's fields as dataclasses.asdict gives them (JSON, sorted keys), the
    fields added later left out when unused: orders taken before still match their resends, whatever the fields."""
    from app.core.ordering.orders import LineDraft, OrderDraft

    draft = OrderDraft(
        channel="web",
        external_ref="W-1",
        customer_name="Zoé",
        delivery_method="ship",
        lines=[LineDraft("SKU-1", 2, Decimal("19.90")), LineDraft("SKU-2", 1)],
        customer_email="zoe@example.fr",
        customer_language="fr",
        ship_to={"line1": "12 rue de la Paix", "postcode": "75002", "latitude": Decimal("48.87"), "extra": [1, "é"]},
        promised_by=datetime(2026, 12, 3, 17, 0, tzinfo=UTC),
        payment_amount=Decimal("24.80"),
        payment_provider="test",
        shipping_fee=Decimal("4.90"),
        gift_wrap=True,
        gift_message="Bon anniversaire",
    )
    for d in (draft, replace(draft, gift_wrap=False, gift_message="", shipping_fee=None)):
        reference = asdict(d)
        for name in ("gift_wrap", "gift_message", "shipping_fee"):
            if not reference[name]:
                del reference[name]
        del reference["payment_provider"]
        expected = hashlib.sha256(json.dumps(reference, sort_keys=True, default=str).encode()).hexdigest()
        assert d.fingerprint() == expected
