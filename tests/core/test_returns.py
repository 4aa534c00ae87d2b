"""Returns: what can come back, the refund rule, stock by condition, quarantine, returns by post."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.core import payments, returns
from app.core.errors import InvalidInput
from app.core.floor import dispatch
from app.core.models import OutboxEvent, PaymentTransaction, StockLevel, StockMovement
from app.extensions import db
from tests.core.test_packing import finished, picked_fulfilment
from tests.factories import ACTOR, make_location

NOW = datetime(2025, 3, 3, 16, 0, tzinfo=UTC)


def shipped_order(reference="pay-ok", quantities=(2, 1), prices=("20.00", "15.00"), fee="4.90"):
    """A paid ship-from-store order, shipped in one parcel: its capture made (test provider)."""
    fulfilment = picked_fulfilment(*quantities, payment_reference=reference, payment_provider="test")
    order = fulfilment.order
    for line, price in zip(order.lines, prices, strict=True):
        line.unit_price = Decimal(price)
    items = sum(Decimal(p) * q for p, q in zip(prices, quantities, strict=True))
    order.payment_amount = items + Decimal(fee)
    order.shipping_fee = Decimal(fee)
    payments.record_authorisation(order, actor=ACTOR)
    finished(fulfilment)
    for parcel in fulfilment.parcels:
        dispatch.hand_over(
            fulfilment.location, parcel.label.tracking_number, f"hand-{parcel.id:06d}", actor=ACTOR, now=NOW
        )
    assert fulfilment.status == "shipped"
    db.session.commit()
    payments.run_committed()
    return db.session.merge(order)


def _level(location, product):
    return db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == location.id, StockLevel.product_id == product.id)
    )


def test_a_shipped_order_is_captured_with_its_shipping_fee(app):
    order = shipped_order()
    t = payments.totals(order)
    assert (t.authorised, t.captured, t.voided) == (Decimal("59.90"), Decimal("59.90"), Decimal("0.00"))


def test_a_return_at_another_store_puts_resellable_units_on_sale_there_and_refunds_them(app):
    order = shipped_order()
    other = make_location()
    first = order.lines[0]
    quote = returns.quote(
        order, [{"sku": first.product.sku, "quantity": 1, "reason": "too_small", "condition": "resellable"}]
    )
    assert not quote.errors and quote.total == Decimal("20.00") and not quote.whole_order
    ret = returns.create_return(
        order,
        other,
        [{"sku": first.product.sku, "quantity": 1, "reason": "too_small", "condition": "resellable"}],
        actor=ACTOR,
        now=NOW + timedelta(days=2),
    )
    assert ret.number.startswith("RET-") and ret.refund_amount == Decimal("20.00")
    level = _level(other, first.product)
    assert (level.on_hand, level.damaged, level.quarantined) == (1, 0, 0)  # a product this store never stocked
    move = db.session.scalar(select(StockMovement).where(StockMovement.reference == ret.number))
    assert (move.kind, move.on_hand_delta) == ("return", 1)
    db.session.commit()
    payments.run_committed()
    refund = db.session.scalar(select(PaymentTransaction).where(PaymentTransaction.kind == "refund"))
    assert (refund.status, refund.amount, refund.return_id) == ("succeeded", Decimal("20.00"), ret.id)
    kinds = {e.type for e in db.session.scalars(select(OutboxEvent).where(OutboxEvent.order_id == order.id))}
    assert {"return.created", "return.received", "payment.refunded", "payment.captured"} <= kinds


def test_returning_more_than_left_the_store_is_refused_with_fields_and_changes_nothing(app):
    order = shipped_order()
    first = order.lines[0]
    with pytest.raises(InvalidInput) as error:
        returns.create_return(
            order,
            make_location(),
            [{"sku": first.product.sku, "quantity": 3, "reason": "late", "condition": "resellable"}],
            actor=ACTOR,
            now=NOW,
        )
    assert "lines.0.quantity" in error.value.fields
    db.session.rollback()
    assert returns.returns_of(order) == []


def test_the_whole_order_back_refunds_shipping_and_conditions_go_to_their_counts(app):
    order = shipped_order()
    store = make_location()
    first, second = order.lines
    ret = returns.create_return(
        order,
        store,
        [
            {"sku": first.product.sku, "quantity": 2, "reason": "damaged", "condition": "damaged"},
            {"sku": second.product.sku, "quantity": 1, "reason": "not_as_described", "condition": "inspect"},
        ],
        actor=ACTOR,
        now=NOW,
    )
    assert ret.refund_amount == Decimal("59.90") and ret.shipping_refunded == Decimal("4.90")
    assert (_level(store, first.product).damaged, _level(store, first.product).on_hand) == (2, 0)
    assert _level(store, second.product).quarantined == 1
    [waiting] = returns.quarantined(store)
    returns.decide(waiting, "resellable", actor=ACTOR)
    level = _level(store, second.product)
    assert (level.quarantined, level.on_hand) == (0, 1)
    assert returns.quarantined(store) == []
    assert not any(returns.returnable(order).values())


def test_a_return_by_post_waits_for_its_receipt(app):
    order = shipped_order()
    warehouse = make_location()
    first = order.lines[0]
    ret = returns.create_return(
        order,
        warehouse,
        [{"sku": first.product.sku, "quantity": 1, "reason": "changed_mind", "condition": "resellable"}],
        actor=ACTOR,
        status="expected",
        now=NOW,
    )
    assert ret.status == "expected" and ret.refund_amount == Decimal("0.00")
    assert _level(warehouse, first.product) is None
    assert returns.find_orders(ret.number) == [order]
    returns.receive(returns.find_return(ret.number.lower()), warehouse, actor=ACTOR)
    assert ret.status == "received" and ret.refund_amount == Decimal("20.00")
    assert _level(warehouse, first.product).on_hand == 1
    returns.receive(ret, warehouse, actor=ACTOR)  # again: nothing changes
    assert _level(warehouse, first.product).on_hand == 1


def test_the_return_window_ends(app):
    order = shipped_order()
    first = order.lines[0]
    late = returns.quote(
        order,
        [{"sku": first.product.sku, "quantity": 1, "reason": "late", "condition": "resellable"}],
        now=datetime.now(UTC) + timedelta(days=31),
    )
    assert "lines" in late.errors
