"""The associate's queue in the core: urgency, rejecting all or some lines, store-wide rejection, review holds."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app.core.errors import IllegalTransition, InvalidInput, OrderHeld
from app.core.floor.urgency import deadline, urgency
from app.core.inventory import stock
from app.core.models import AuditEvent, Fulfilment, OutboxEvent, StockLevel, StockMovement
from app.core.ordering import orders, sourcing
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product, ship_draft, stocked

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def _work(status="created", minutes=100):
    """A fulfilment-like object created at T0 with deadlines `minutes` later."""
    due = T0 + timedelta(minutes=minutes)
    return SimpleNamespace(status=status, created_at=T0, accept_by=due, ready_by=due + timedelta(hours=3))


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(0, ("ok", 6000)), (79, ("ok", 1260)), (80, ("soon", 1200)), (100, ("soon", 0)), (112, ("late", -720))],
)
def test_urgency_is_ok_until_80_percent_then_soon_then_late(elapsed, expected):
    assert urgency(_work(), T0 + timedelta(minutes=elapsed)) == expected


def test_urgency_counts_to_ready_by_once_accepted_and_stops_when_ready():
    accepted = _work("accepted", minutes=100)  # ready_by = T0 + 280 min
    assert deadline(accepted) == T0 + timedelta(minutes=280)
    assert urgency(accepted, T0 + timedelta(minutes=223)) == ("ok", 57 * 60)
    assert urgency(accepted, T0 + timedelta(minutes=224))[0] == "soon"
    assert urgency(accepted, T0 + timedelta(minutes=281)) == ("late", -60)
    assert urgency(_work("ready_for_pickup"), T0 + timedelta(days=3)) == ("ok", None)
    naive = SimpleNamespace(status="created", created_at=T0.replace(tzinfo=None), accept_by=T0.replace(tzinfo=None))
    assert urgency(naive, T0 + timedelta(seconds=1))[0] == "late"


def _setup(*lines, stock_here=10, stock_elsewhere=10):
    """HERE (near Paris) gets the order; THERE can take what HERE gives back."""
    here = make_location(code="HERE", latitude=Decimal("48.87"), longitude=Decimal("2.33"))
    there = make_location(code="THERE", latitude=Decimal("45.76"), longitude=Decimal("4.84"))
    products = []
    for _ in lines:
        product = make_product()
        stocked(here, product, stock_here)
        if stock_elsewhere:
            stocked(there, product, stock_elsewhere)
        products.append(product)
    draft = ship_draft(*zip(products, lines, strict=True))
    draft.ship_to.update(latitude=Decimal("48.86"), longitude=Decimal("2.33"))
    order = orders.create_order(draft, actor=ACTOR)[0]
    sourcing.source_order(order, actor=ACTOR)
    [fulfilment] = order.fulfilments
    assert fulfilment.location.code == "HERE"
    return here, there, products, order, fulfilment


def _level(location, product) -> StockLevel:
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == location.id, StockLevel.product_id == product.id)
    )
    db.session.refresh(level)
    return level


def _by_location(order):
    return {
        (f.location.code, f.status): {line.product.sku: line.quantity - line.short for line in f.lines}
        for f in order.fulfilments
    }


def test_rejecting_every_unit_rejects_the_fulfilment_and_reroutes_it(app):
    here, _there, (a, b), order, fulfilment = _setup(2, 1)
    lines = sorted(fulfilment.lines, key=lambda line: line.id)
    result = sourcing.reject_lines(fulfilment, {lines[0]: 2, lines[1]: 1}, "cannot_find", "", ACTOR)
    assert result.full and result.units == 3
    assert (fulfilment.status, fulfilment.status_reason) == ("rejected", "cannot_find")
    assert _by_location(order)[("THERE", "created")] == {a.sku: 2, b.sku: 1}
    assert _level(here, a).reserved == 0 and _level(here, b).reserved == 0
    assert result.decision.trigger == "rejected"


def test_rejecting_some_units_gives_them_back_and_sources_them_elsewhere(app):
    here, _there, (a, _b), order, fulfilment = _setup(3, 1)
    line_a = next(line for line in fulfilment.lines if line.product_id == a.id)
    version = fulfilment.version
    result = sourcing.reject_lines(fulfilment, {line_a: 2}, "too_busy", "", ACTOR)
    assert not result.full and result.units == 2
    assert fulfilment.status == "created"  # the rest stays to be accepted
    assert fulfilment.version > version  # a stale form is refused on the screen
    assert line_a.short == 2
    assert _level(here, a).reserved == 1
    assert stock.reserved_for(line_a) == 1
    assert _by_location(order)[("THERE", "created")] == {a.sku: 2}
    assert "HERE" not in {c["location"] for c in result.decision.candidates if c.get("chosen")}
    assert any(c["location"] == "HERE" and c.get("refusal") == "failed" for c in result.decision.candidates)
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "fulfilment.lines_rejected"))
    assert audit.after == {"lines": {a.sku: 2}, "reason": "too_busy"}
    event = db.session.scalar(select(OutboxEvent).where(OutboxEvent.type == "fulfilment.lines_rejected"))
    assert event.payload["lines"] == {a.sku: 2}
    # the remaining unit can still be accepted, or rejected in turn (then the fulfilment is rejected)
    again = sourcing.reject_lines(fulfilment, {line_a: 1, fulfilment.lines[1]: 1}, "other", "no time", ACTOR)
    assert again.full and fulfilment.status == "rejected"


def test_nothing_is_left_for_a_reroute_when_no_other_store_has_stock(app):
    _here, _, (_a,), order, fulfilment = _setup(2, stock_elsewhere=0)
    result = sourcing.reject_lines(fulfilment, {fulfilment.lines[0]: 1}, "cannot_find", "", ACTOR)
    assert result.decision.unfulfilled == {"1": 1}
    assert order.needs_customer_service


@pytest.mark.parametrize(
    ("quantity", "reason", "note", "field"),
    [
        (3, "too_busy", "", "lines.{id}"),
        (-1, "too_busy", "", "lines.{id}"),
        ("2", "too_busy", "", "lines.{id}"),
        (True, "too_busy", "", "lines.{id}"),
        (0, "too_busy", "", "lines"),
        (1, "bogus", "", "reason"),
        (1, "other", "   ", "note"),
    ],
)
def test_an_invalid_rejection_is_refused_and_changes_nothing(app, quantity, reason, note, field):
    _here, _, (_a,), order, fulfilment = _setup(2)
    line = fulfilment.lines[0]
    movements = db.session.scalar(select(db.func.count()).select_from(StockMovement))
    with pytest.raises(InvalidInput) as error:
        sourcing.reject_lines(fulfilment, {line: quantity}, reason, note, ACTOR)
    assert field.format(id=line.id) in error.value.fields
    assert (fulfilment.status, line.short, stock.reserved_for(line)) == ("created", 0, 2)
    assert db.session.scalar(select(db.func.count()).select_from(StockMovement)) == movements
    assert len(order.fulfilments) == 1


def test_work_being_picked_or_lines_of_another_order_cannot_be_rejected_here(app):
    _, _, _, _, fulfilment = _setup(1)
    _, _, _, _, other = _setup_second()
    with pytest.raises(InvalidInput):
        sourcing.reject_lines(fulfilment, {other.lines[0]: 1}, "too_busy", "", ACTOR)
    orders.accept_fulfilment(fulfilment, actor=ACTOR)
    orders.transition(fulfilment, "picking", actor=ACTOR)
    with pytest.raises(IllegalTransition):
        sourcing.reject_lines(fulfilment, {fulfilment.lines[0]: 1}, "too_busy", "", ACTOR)


def _setup_second():
    here = db.session.scalar(select(Fulfilment)).location
    product = make_product()
    stocked(here, product, 3)
    order = orders.create_order(ship_draft((product, 1)), actor=ACTOR)[0]
    fulfilment = orders.assign_fulfilment(order, here, {order.lines[0]: 1}, actor=ACTOR)
    return here, None, [product], order, fulfilment


def test_out_of_stock_leaves_nothing_available_here_but_keeps_other_orders_reservations(app):
    here, _, (a,), _order, fulfilment = _setup(2, stock_here=10)
    other_order = orders.create_order(ship_draft((a, 3)), actor=ACTOR)[0]
    other = orders.assign_fulfilment(other_order, here, {other_order.lines[0]: 3}, actor=ACTOR)
    sourcing.reject_lines(fulfilment, {fulfilment.lines[0]: 1}, "out_of_stock", "", ACTOR)
    level = _level(here, a)
    # this order's remaining unit and the other order's 3 stay reserved; nothing else is available
    assert (level.on_hand, level.reserved, level.available) == (4, 4, 0)
    assert stock.reserved_for(other.lines[0]) == 3
    assert stock.ledger_totals(here.id, a.id) == (level.on_hand, level.reserved)


def test_damaged_units_are_set_aside_through_the_ledger(app):
    here, _, (a,), _order, fulfilment = _setup(3, stock_here=5)
    result = sourcing.reject_lines(fulfilment, {fulfilment.lines[0]: 2}, "damaged", "torn", ACTOR)
    assert result.damaged_missing == {}
    level = _level(here, a)
    assert (level.on_hand, level.reserved, level.damaged) == (3, 1, 2)
    assert stock.ledger_totals(here.id, a.id) == (level.on_hand, level.reserved)
    damaged = db.session.scalar(
        select(db.func.sum(StockMovement.damaged_delta)).where(
            StockMovement.location_id == here.id, StockMovement.product_id == a.id
        )
    )
    assert damaged == level.damaged


def test_damaged_units_not_free_on_the_shelf_are_reported_not_forced(app):
    """Released units are always free, so this guards odd cases (a count meanwhile): move what there is, say the rest."""
    here, _, (a,), _order, fulfilment = _setup(3, stock_here=5)
    other_order = orders.create_order(ship_draft((a, 1)), actor=ACTOR)[0]
    orders.assign_fulfilment(other_order, here, {other_order.lines[0]: 1}, actor=ACTOR)
    # 5 on hand, 4 reserved (3 still for this fulfilment): only 1 unit is free to set aside
    missing = sourcing.apply_stock_effect(fulfilment, {fulfilment.lines[0]: 3}, "damaged", "damaged", ACTOR)
    assert missing == {a.sku: 2}
    level = _level(here, a)
    assert (level.on_hand, level.reserved, level.damaged) == (4, 4, 1)
    assert stock.ledger_totals(here.id, a.id) == (level.on_hand, level.reserved)


def test_reject_all_open_gives_back_what_is_not_being_picked_and_a_repeat_finds_nothing(app):
    here, _there, (_a,), order, first = _setup(1)
    _, _, _, _second_order, second = _setup_second()
    orders.accept_fulfilment(second, actor=ACTOR)
    _, _, _, _, picking = _setup_second()
    orders.accept_fulfilment(picking, actor=ACTOR)
    orders.transition(picking, "picking", actor=ACTOR)
    with pytest.raises(InvalidInput):
        sourcing.reject_all_open(here, " ", ACTOR)
    assert sourcing.reject_all_open(here, "too_busy", ACTOR) == 2
    assert (first.status, second.status, picking.status) == ("rejected", "rejected", "picking")
    assert first.status_reason == "too_busy"
    assert ("THERE", "created") in _by_location(order)
    assert sourcing.reject_all_open(here, "too_busy", ACTOR) == 0
    assert db.session.scalar(select(db.func.count()).where(AuditEvent.action == "location.reject_all")) == 1


def test_a_held_order_refuses_picking_until_a_manager_releases_it_once(app):
    _, _, _, order, fulfilment = _setup(1)
    orders.ensure_not_held(fulfilment)  # not held: nothing to say
    order.needs_review = True
    with pytest.raises(OrderHeld) as error:
        orders.ensure_not_held(fulfilment)
    assert error.value.message == "This order is held for review; a manager must release it first."
    assert error.value.http_status == 409
    with pytest.raises(InvalidInput):
        orders.release_review(order, "  ", ACTOR)
    assert order.needs_review
    orders.release_review(order, "Customer called, ID checked", ACTOR)
    orders.release_review(order, "again", ACTOR)  # a resend: nothing more
    assert not order.needs_review
    orders.ensure_not_held(fulfilment)
    audits = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "order.review_released")).all()
    assert [a.after for a in audits] == [{"needs_review": False, "note": "Customer called, ID checked"}]
    assert audits[0].subject_id == str(order.id)
    events = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "order.review_released")).all()
    assert len(events) == 1 and events[0].payload["note"] == "Customer called, ID checked"
