import random

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from app.core.errors import DomainError, InsufficientStock, InvalidInput, OutOfStock
from app.core.inventory import stock
from app.core.models import MovementKind, Reservation, StockLevel, StockMovement
from app.core.ordering import orders
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product, ship_draft, stocked


def _assert_ledger_consistent():
    for level in db.session.scalars(select(StockLevel)).all():
        db.session.refresh(level)
        assert stock.ledger_totals(level.location_id, level.product_id) == (level.on_hand, level.reserved)
        held = db.session.scalar(
            select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
                Reservation.location_id == level.location_id, Reservation.product_id == level.product_id
            )
        )
        assert held == level.reserved
        assert 0 <= level.reserved <= level.on_hand


def test_receive_writes_one_ledger_row_per_change(app):
    store, product = make_location(), make_product()
    stock.receive(store, product, 7, actor=ACTOR, reference="PO-1")
    stock.adjust(store, product, -2, reason="broken", actor=ACTOR)
    rows = db.session.scalars(select(StockMovement).order_by(StockMovement.id)).all()
    assert [(r.kind, r.on_hand_delta, r.reserved_delta, r.actor) for r in rows] == [
        ("receive", 7, 0, ACTOR.label),
        ("adjust", -2, 0, ACTOR.label),
    ]
    assert stock.available_to_promise(store, product) == 5


def test_available_to_promise_subtracts_reserved_and_safety_stock_and_floors_at_zero(app):
    store, product = make_location(), make_product()
    stocked(store, product, 6)
    stock.set_safety_stock(store, product, 2, actor=ACTOR)
    order, _ = orders.create_order(ship_draft((product, 3)), actor=ACTOR)
    orders.assign_fulfilment(order, store, {order.lines[0]: 3}, actor=ACTOR)
    assert stock.available_to_promise(store, product) == 1
    stock.set_safety_stock(store, product, 5, actor=ACTOR)
    assert stock.available_to_promise(store, product) == 0


def test_reserving_more_than_available_raises_out_of_stock_and_changes_nothing(app):
    store, product = make_location(), make_product()
    stocked(store, product, 2)
    order, _ = orders.create_order(ship_draft((product, 3)), actor=ACTOR)
    with pytest.raises(OutOfStock) as caught:
        with db.session.begin_nested():
            orders.assign_fulfilment(order, store, {order.lines[0]: 3}, actor=ACTOR)
    assert caught.value.params["available"] == 2
    assert db.session.scalar(select(func.sum(StockLevel.reserved))) == 0
    _assert_ledger_consistent()


@pytest.mark.parametrize("delta", [-5, -11])
def test_adjusting_below_zero_or_below_reserved_is_refused(app, delta):
    store, product = make_location(), make_product()
    stocked(store, product, 10)
    order, _ = orders.create_order(ship_draft((product, 6)), actor=ACTOR)
    orders.assign_fulfilment(order, store, {order.lines[0]: 6}, actor=ACTOR)
    with pytest.raises(InsufficientStock):
        stock.adjust(store, product, delta, reason="count", actor=ACTOR)


def test_count_below_reserved_is_refused_and_count_equal_is_a_no_op(app):
    store, product = make_location(), make_product()
    stocked(store, product, 10)
    order, _ = orders.create_order(ship_draft((product, 4)), actor=ACTOR)
    orders.assign_fulfilment(order, store, {order.lines[0]: 4}, actor=ACTOR)
    with pytest.raises(InsufficientStock):
        stock.set_count(store, product, 3, actor=ACTOR)
    assert stock.set_count(store, product, 10, actor=ACTOR) is None
    movement = stock.set_count(store, product, 4, actor=ACTOR, kind=MovementKind.SYNC)
    assert (movement.kind, movement.on_hand_delta) == ("sync", -6)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_quantities_must_be_positive_integers(app, bad):
    store, product = make_location(), make_product()
    with pytest.raises(InvalidInput):
        stock.receive(store, product, bad, actor=ACTOR)
    assert db.session.scalar(select(func.count()).select_from(StockMovement)) == 0


def test_adjust_needs_a_reason(app):
    store, product = make_location(), make_product()
    stocked(store, product, 3)
    with pytest.raises(InvalidInput):
        stock.adjust(store, product, -1, reason="  ", actor=ACTOR)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE stock_level SET reserved = on_hand + 1",
        "UPDATE stock_level SET on_hand = -1, reserved = 0",
        "UPDATE stock_level SET reserved = -1",
    ],
)
def test_database_check_constraint_rejects_direct_writes_that_break_stock_rules(app, statement):
    store, product = make_location(), make_product()
    stocked(store, product, 3)
    db.session.commit()
    with pytest.raises(IntegrityError):
        db.session.execute(text(statement))
        db.session.flush()
    db.session.rollback()
    level = db.session.scalar(select(StockLevel))
    assert (level.on_hand, level.reserved) == (3, 0)


OPERATIONS = ["receive", "adjust", "damage", "count", "reserve", "release", "ship", "return", "safety"]


@pytest.mark.parametrize("seed", range(4))
def test_ledger_matches_stock_levels_after_a_random_sequence_of_operations(app, seed):
    rng = random.Random(seed)
    stores = [make_location(), make_location()]
    products = [make_product() for _ in range(3)]
    lines = []  # fulfilment lines with something reserved
    refused = 0
    for _ in range(150):
        op, store, product = rng.choice(OPERATIONS), rng.choice(stores), rng.choice(products)
        qty = rng.randint(1, 6)
        try:
            with db.session.begin_nested():
                if op == "receive":
                    stock.receive(store, product, qty, actor=ACTOR)
                elif op in {"adjust", "damage"}:
                    kind = MovementKind.DAMAGE if op == "damage" else MovementKind.ADJUST
                    stock.adjust(store, product, rng.choice([-qty, qty]), reason=op, actor=ACTOR, kind=kind)
                elif op == "count":
                    stock.set_count(store, product, rng.randint(0, 20), actor=ACTOR)
                elif op == "return":
                    stock.return_to_stock(store, product, qty, actor=ACTOR)
                elif op == "safety":
                    stock.set_safety_stock(store, product, rng.randint(0, 3), actor=ACTOR)
                elif op == "reserve":
                    order, _ = orders.create_order(ship_draft((product, qty)), actor=ACTOR)
                    lines.extend(orders.assign_fulfilment(order, store, {order.lines[0]: qty}, actor=ACTOR).lines)
                elif lines:
                    line = rng.choice(lines)
                    held = stock.reserved_for(line)
                    if held:
                        part = rng.randint(1, held)
                        location = line.fulfilment.location
                        if op == "release":
                            stock.release(location, line.product, part, actor=ACTOR, fulfilment_line=line)
                        else:
                            stock.consume(location, line.product, part, actor=ACTOR, fulfilment_line=line)
        except DomainError:
            refused += 1
    db.session.flush()
    _assert_ledger_consistent()
    assert db.session.scalar(select(func.count()).select_from(StockMovement)) > 50
    assert refused < 150


def test_locking_a_row_the_session_already_holds_gives_it_the_figures_locked(app):
    """lock_levels reads the locked rows as Core rows and makes them the session's objects: one loaded before is
    refreshed with what another writer committed meanwhile (as populate_existing did), its relationships intact."""
    store, product = make_location(), make_product()
    stocked(store, product, 5)
    db.session.commit()
    level = db.session.scalar(select(StockLevel).where(StockLevel.location_id == store.id))
    assert (level.on_hand, level.reserved) == (5, 0)
    table = StockLevel.__table__
    db.session.connection().execute(table.update().where(table.c.id == level.id).values(on_hand=9, reserved=2))
    locked = stock.lock_levels([(store.id, product.id)])[(store.id, product.id)]
    assert locked is level
    assert (level.on_hand, level.reserved, level.available) == (9, 2, 7)
    assert level.location is store and level.product is product
    assert not db.session.dirty
    new_store = make_location()
    fresh = stock.lock_levels([(new_store.id, product.id)], create=True)[(new_store.id, product.id)]
    assert (fresh.on_hand, fresh.reserved, fresh.location) == (0, 0, new_store) and fresh in db.session
