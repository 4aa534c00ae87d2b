"""The payments ledger in the core: the authorisation recorded with the order, captures when units leave a store,
voids of what nothing will capture, refunds, and the provider calls after commit (declines, timeouts, retries)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core import payments
from app.core.floor import carriers, dispatch, packing, pickups
from app.core.integration import worker
from app.core.models import Fulfilment, OutboxEvent, PaymentTransaction, RetailerSettings, StockLevel
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.core.ordering import orders, sourcing
from app.core.payments.providers import TestProvider
from app.extensions import db
from tests.factories import ACTOR, collect_draft, make_location, make_product, random_ref, ship_draft, stocked

D = Decimal


class RecordingProvider(TestProvider):
    """The test provider, keeping every call it answered (a real adapter, configured by PAYMENT_PROVIDERS)."""

    name = "recording"
    calls: list = []

    def _answer(self, call):
        RecordingProvider.calls.append(call)
        return super()._answer(call)

    capture = void = refund = _answer


@pytest.fixture
def recording(app):
    app.config["PAYMENT_PROVIDERS"] = {"recording": "tests.core.test_payments:RecordingProvider"}
    RecordingProvider.calls = []
    return RecordingProvider.calls


def _order(
    quantities=(2, 1),
    prices=("10.00", "5.00"),
    *,
    reference="auth-ok",
    amount=None,
    fee="4.90",
    collect_at=None,
    provider="test",
    stock=5,
):
    """A paid order (not sourced): lines at these prices, authorised for the lines plus the fee (unless amount)."""
    products = [make_product() for _ in quantities]
    draft = (
        collect_draft(collect_at, *zip(products, quantities, strict=True))
        if collect_at
        else ship_draft(*zip(products, quantities, strict=True))
    )
    for line, price in zip(draft.lines, prices, strict=True):
        line.unit_price = D(price)
    items = sum(D(p) * q for p, q in zip(prices, quantities, strict=True))
    draft.payment_reference = reference
    draft.payment_provider = provider
    draft.payment_amount = D(amount) if amount is not None else items + D(fee or "0")
    draft.shipping_fee = D(fee) if fee is not None else None
    draft.currency = "EUR"
    order, _ = orders.create_order(draft, actor=ACTOR)
    return order, products


def _picked_at(order, store, quantities: dict):
    """Assign {order_line: quantity} to the store (stocked for it) and pick it in full."""
    for line, quantity in quantities.items():
        stocked(store, line.product, quantity + 3)
    fulfilment = orders.assign_fulfilment(order, store, quantities, actor=ACTOR)
    for status in (S.ACCEPTED, S.PICKING, S.PICKED):
        orders.transition(fulfilment, status, actor=ACTOR)
    return fulfilment


def _ship(fulfilment):
    """Pack the fulfilment in one parcel and hand it to the carrier: shipped."""
    store = fulfilment.location
    if not packing.package_types(store):
        packing.add_package_type(
            store,
            {"name": "Box M", "length_mm": 300, "width_mm": 200, "height_mm": 150, "tare_grams": 250},
            actor=ACTOR,
        )
    carriers.ensure_builtin_carriers()
    packing.start_packing(fulfilment, actor=ACTOR)
    box = packing.package_types(store)[0]
    for parcel in fulfilment.parcels:
        packing.set_parcel(parcel, package_type=box, weight_grams=1500, actor=ACTOR)
    packing.finish_packing(fulfilment, actor=ACTOR)
    for parcel in fulfilment.parcels:
        dispatch.hand_over(store, parcel.label.tracking_number, random_ref("hand-"), actor=ACTOR)
    assert fulfilment.status == S.SHIPPED
    return fulfilment


def _ready_pickup(order=None, **order_kwargs):
    """A paid click & collect order picked in full and on the hold shelf of a store without bag scans."""
    store = make_location(pickup_bag_scan=False)
    if order is None:
        order, _ = _order(collect_at=store, **order_kwargs)
    fulfilment = _picked_at(order, store, {line: line.quantity for line in order.lines})
    (slot,) = pickups.add_slots(store, ["A-01"], actor=ACTOR)
    pickups.stage(fulfilment, slot, actor=ACTOR)
    assert fulfilment.status == S.READY_FOR_PICKUP
    return fulfilment


def _rows(order, kind=None):
    query = select(PaymentTransaction).where(PaymentTransaction.order_id == order.id)
    if kind:
        query = query.where(PaymentTransaction.kind == kind)
    return db.session.scalars(query.order_by(PaymentTransaction.id)).all()


def _events(kind):
    return db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == kind).order_by(OutboxEvent.id)).all()


def _after_commit():
    """What a request does at its end: commit, then call the provider for the rows it wrote."""
    db.session.commit()
    return payments.run_committed()


def _settle(txn):
    return db.session.get(PaymentTransaction, txn.id, populate_existing=True)


def test_the_authorisation_is_recorded_with_the_order_once(app):
    order, _ = _order(reference="psp-123", fee="4.90")
    (auth,) = _rows(order)
    assert (auth.kind, auth.status, auth.amount, auth.currency) == ("authorisation", "succeeded", D("29.90"), "EUR")
    assert (auth.provider, auth.provider_reference, auth.idempotency_key) == ("test", "psp-123", f"auth-O{order.id}")
    assert order.shipping_fee == D("4.90")
    assert payments.record_authorisation(order, actor=ACTOR) is None  # once
    assert len(_rows(order)) == 1
    unpaid, _ = orders.create_order(ship_draft((make_product(), 1)), actor=ACTOR)
    assert _rows(unpaid) == []


def test_shipping_captures_the_shipped_units_and_the_fee_once_then_the_second_parcel_without_it(app):
    order, _ = _order(quantities=(2, 1), prices=("10.00", "5.00"), fee="4.90")  # authorised 29.90
    first_line, second_line = order.lines
    first = _picked_at(order, make_location(), {first_line: 2})
    second = _picked_at(order, make_location(), {second_line: 1})
    _ship(first)
    (capture,) = _rows(order, "capture")
    assert (capture.amount, capture.status, capture.fulfilment_id) == (D("24.90"), "pending", first.id)
    assert _rows(order, "void") == []  # the second fulfilment is still open
    assert _after_commit() == 1
    capture = _settle(capture)
    assert capture.status == "succeeded" and capture.provider_reference.startswith("test_capture_")
    assert capture.attempts == 1 and capture.settled_at is not None

    _ship(db.session.get(Fulfilment, second.id))
    captures = _rows(order, "capture")
    assert [c.amount for c in captures] == [D("24.90"), D("5.00")]  # no fee on the second
    assert _rows(order, "void") == []  # everything authorised was captured: nothing to release
    _after_commit()
    totals = payments.totals(order)
    assert (totals.authorised, totals.captured, totals.voided) == (D("29.90"), D("29.90"), D("0.00"))
    assert len(_events("payment.captured")) == 2
    event = _events("payment.captured")[0]
    assert event.payload["amount"] == "24.90" and event.payload["kind"] == "capture"


def test_a_partial_shipment_captures_what_left_and_voids_the_rest(app):
    order, _ = _order(quantities=(2, 1), prices=("10.00", "5.00"), fee="4.90")
    first_line, second_line = order.lines
    first = _picked_at(order, make_location(), {first_line: 2})
    other_store = make_location()
    stocked(other_store, second_line.product, 1)
    other = orders.assign_fulfilment(order, other_store, {second_line: 1}, actor=ACTOR)
    orders.transition(other, S.CANCELLED, actor=ACTOR, reason="customer service removed the line")
    assert _rows(order, "void") == []  # the first is still open
    _ship(first)
    (capture,) = _rows(order, "capture")
    (void,) = _rows(order, "void")
    assert (capture.amount, void.amount) == (D("24.90"), D("5.00"))
    _after_commit()
    totals = payments.totals(order)
    assert (totals.captured, totals.voided, totals.capturable) == (D("24.90"), D("5.00"), D("0.00"))
    assert [e.payload["amount"] for e in _events("payment.voided")] == ["5.00"]


def test_collecting_everything_captures_at_the_hand_over(app):
    fulfilment = _ready_pickup(quantities=(2, 1), prices=("10.00", "5.00"), fee="0.00")
    order = fulfilment.order
    pickup, txn = pickups.hand_over(fulfilment, actor=ACTOR, pickup_code=fulfilment.pickup.code)
    assert fulfilment.status == S.COLLECTED and not pickup.is_open
    assert (txn.kind, txn.status, txn.amount) == ("capture", "succeeded", D("25.00"))
    assert _rows(order, "void") == []
    assert payments.totals(order).captured == D("25.00")


def test_a_partial_collection_captures_only_what_is_taken_and_voids_the_rest(app):
    fulfilment = _ready_pickup(quantities=(2, 1), prices=("10.00", "5.00"), fee=None, amount="25.00")
    order, code = fulfilment.order, fulfilment.pickup.code
    first, second = (line.order_line.product for line in fulfilment.lines)
    taken = [{"sku": first.sku, "quantity": 1}, {"sku": second.sku, "quantity": 1}]
    _pickup, txn = pickups.hand_over(fulfilment, actor=ACTOR, pickup_code=code, lines=taken, reason="too_small")
    assert txn.status == "succeeded" and txn.amount == D("15.00")  # one at 10, one at 5
    (void,) = _rows(order, "void")
    assert void.amount == D("10.00") and void.status == "pending"  # written by the collect, called after commit
    assert _after_commit() == 1
    totals = payments.totals(order)
    assert (totals.captured, totals.voided) == (D("15.00"), D("10.00"))
    assert totals.captured + totals.voided == totals.authorised


def test_cancelling_a_paid_order_voids_the_whole_authorisation_once(app):
    order, _ = _order(fee="4.90")
    _picked_at(order, make_location(), {line: line.quantity for line in order.lines})
    orders.cancel_order(order, reason="customer asked", actor=ACTOR)
    orders.cancel_order(order, reason="customer asked again", actor=ACTOR)
    (void,) = _rows(order, "void")
    assert (void.amount, void.status, void.idempotency_key) == (D("29.90"), "pending", f"void-O{order.id}-1")
    _after_commit()
    assert _settle(void).status == "succeeded"
    assert payments.totals(order).voided == D("29.90")
    assert len(_events("payment.voided")) == 1


def test_cancelling_a_paid_order_never_sourced_voids_it_too(app):
    order, _ = _order(fee="4.90")
    assert order.fulfilments == []
    orders.cancel_order(order, reason="fraud check", actor=ACTOR)
    (void,) = _rows(order, "void")
    assert void.amount == D("29.90")


def test_an_expired_pickup_voids_the_authorisation(app):
    fulfilment = _ready_pickup(fee="0.00")
    order = fulfilment.order
    db.session.commit()
    assert pickups.expire_due(now=fulfilment.pickup.expires_at + timedelta(minutes=1)) == 1
    fulfilment = db.session.get(Fulfilment, fulfilment.id)
    assert fulfilment.status == S.EXPIRED and fulfilment.order.status == "cancelled"
    (void,) = _rows(order, "void")
    assert void.amount == D("25.00") and void.status == "pending"
    assert payments.process_due(now=utcnow() + timedelta(seconds=1)) == 1
    assert _settle(void).status == "succeeded"


def test_a_rejection_with_nothing_left_voids_and_one_rerouted_does_not(app):
    order, _ = _order(quantities=(1,), prices=("12.00",), fee="3.00")
    store, other = make_location(), make_location()
    (line,) = order.lines
    stocked(store, line.product, 4)
    stocked(other, line.product, 4)
    fulfilment = orders.assign_fulfilment(order, store, {line: 1}, actor=ACTOR)
    sourcing.reject_and_reroute(fulfilment, reason="too_busy", actor=ACTOR)
    assert _rows(order, "void") == []  # the other store took it
    rerouted = next(f for f in order.fulfilments if f.status == S.CREATED)
    assert rerouted.location_id == other.id
    sourcing.reject_and_reroute(rerouted, reason="too_busy", actor=ACTOR)
    (void,) = _rows(order, "void")
    assert void.amount == D("15.00")
    assert order.needs_customer_service


def test_captures_never_exceed_the_authorisation_and_refunds_never_exceed_the_captures(app):
    order, _ = _order(quantities=(2, 1), prices=("10.00", "5.00"), amount="12.00", fee=None)
    first_line, second_line = order.lines
    first = _picked_at(order, make_location(), {first_line: 2})
    second = _picked_at(order, make_location(), {second_line: 1})
    _ship(first)
    assert [c.amount for c in _rows(order, "capture")] == [D("12.00")]  # 20 worth left; 12 was authorised
    _ship(db.session.get(Fulfilment, second.id))
    assert len(_rows(order, "capture")) == 1  # nothing left to capture: no row
    assert _rows(order, "void") == []
    _after_commit()
    assert payments.totals(order).captured == D("12.00")

    first_refund = payments.refund(order, D("7.50"), key="refund-a", actor=ACTOR)
    again = payments.refund(order, D("7.50"), key="refund-a", actor=ACTOR)
    assert again is first_refund and first_refund.amount == D("7.50")
    capped = payments.refund(order, D("100"), key="refund-b", actor=ACTOR)
    assert capped.amount == D("4.50")
    assert payments.refund(order, D("1"), key="refund-c", actor=ACTOR) is None
    assert _after_commit() == 2
    totals = payments.totals(order)
    assert (totals.refunded, totals.refundable) == (D("12.00"), D("0.00"))
    refunded = _events("payment.refunded")
    assert sorted(e.payload["amount"] for e in refunded) == ["4.50", "7.50"]


def test_a_refund_before_any_capture_is_refused(app):
    order, _ = _order()
    assert payments.refund(order, D("5"), key="refund-early", actor=ACTOR) is None


def test_a_declined_capture_fails_and_calls_customer_service(app):
    order, _ = _order(reference="decline-card", fee="4.90")
    fulfilment = _picked_at(order, make_location(), {line: line.quantity for line in order.lines})
    _ship(fulfilment)
    (capture,) = _rows(order, "capture")
    _after_commit()
    capture = _settle(capture)
    assert capture.status == "failed" and capture.last_error == "declined by the test provider"
    assert capture.next_attempt_at is None and capture.attempts == 1
    assert db.session.get(type(order), order.id).needs_customer_service
    (failed,) = _events("payment.failed")
    assert failed.payload["reason"] == "declined by the test provider" and failed.payload["kind"] == "capture"
    assert _events("payment.captured") == []
    # a failed row is never called again
    assert payments.process_due(now=utcnow() + timedelta(days=1)) == 0


def test_a_timeout_stays_pending_and_the_worker_retries_with_backoff_until_it_gives_up(app):
    order, _ = _order(reference="timeout-card", fee="0.00")
    fulfilment = _picked_at(order, make_location(), {line: line.quantity for line in order.lines})
    _ship(fulfilment)
    (capture,) = _rows(order, "capture")
    start = utcnow()
    _after_commit()
    capture = _settle(capture)
    assert (capture.status, capture.attempts) == ("pending", 1)
    assert "did not answer" in capture.last_error
    assert capture.next_attempt_at >= start + payments.backoff(1)
    now = capture.next_attempt_at
    assert payments.process_due(now=now - timedelta(seconds=1)) == 0  # not due yet
    waits = []
    for attempt in range(2, payments.MAX_ATTEMPTS + 1):
        assert payments.process_due(now=now) == 1
        capture = _settle(capture)
        assert capture.attempts == attempt
        if attempt < payments.MAX_ATTEMPTS:
            assert capture.status == "pending"
            waits.append(capture.next_attempt_at - now)
            now = capture.next_attempt_at
    assert waits == [payments.backoff(n) for n in range(2, payments.MAX_ATTEMPTS)]
    assert waits == sorted(waits) and waits[0] < waits[-1]  # each wait longer than the one before
    assert capture.status == "failed" and capture.next_attempt_at is None
    assert db.session.get(type(order), order.id).needs_customer_service
    assert len(_events("payment.failed")) == 1
    assert payments.process_due(now=now + timedelta(days=1)) == 0


def test_a_late_answer_is_pending_first_then_the_workers_retry_succeeds_with_the_same_key(app, recording):
    order, _ = _order(reference="late-card", provider="recording", fee="0.00")
    fulfilment = _picked_at(order, make_location(), {line: line.quantity for line in order.lines})
    _ship(fulfilment)
    (capture,) = _rows(order, "capture")
    _after_commit()
    capture = _settle(capture)
    assert (capture.status, capture.attempts) == ("pending", 1)
    result = worker.run_once(now=capture.next_attempt_at + timedelta(seconds=1))
    assert result["payments"] == 1
    capture = _settle(capture)
    assert (capture.status, capture.attempts) == ("succeeded", 2)
    assert [(c.kind, c.idempotency_key, c.attempt) for c in recording] == [
        ("capture", f"capture-F{fulfilment.id}", 1),
        ("capture", f"capture-F{fulfilment.id}", 2),
    ]
    assert recording[0].authorisation == "late-card" and recording[0].amount == D("25.00")
    assert len(_events("payment.captured")) == 1


def test_repeats_keep_one_row_per_step_and_the_provider_sees_one_key(app, recording):
    order, _ = _order(provider="recording", fee="4.90")
    fulfilment = _picked_at(order, make_location(), {line: line.quantity for line in order.lines})
    units = {line: line.picked for line in fulfilment.lines}
    first = payments.capture_left_store(fulfilment, units, actor=ACTOR)
    again = payments.capture_left_store(fulfilment, units, actor=ACTOR)
    assert again is first and first.amount == D("29.90")  # the same row, the fee still in it
    db.session.commit()
    assert payments.process(first.id) is not None
    assert payments.process(first.id) is None  # done: not called again
    assert payments.capture_left_store(fulfilment, units, actor=ACTOR).id == first.id
    assert payments.run_committed() == 0
    assert len(_rows(order, "capture")) == 1
    assert [c.idempotency_key for c in recording] == [f"capture-F{fulfilment.id}"]
    # a row claimed by one process is not called by another before its lease runs out
    refund = payments.refund(order, D("5"), key="r-1", actor=ACTOR)
    db.session.commit()
    assert payments._claim(refund.id, utcnow()) is not None
    assert payments.process(refund.id) is None
    assert db.session.scalar(select(func.count()).select_from(PaymentTransaction)) == 3


def _stock(store, product):
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == store.id, StockLevel.product_id == product.id)
    )
    return level.on_hand, level.reserved


def test_a_declined_capture_holds_the_goods_when_the_retailer_says_so(app):
    db.session.add(RetailerSettings(id=1, failed_capture="hold"))
    fulfilment = _ready_pickup(reference="decline-card", fee="0.00")
    store, order = fulfilment.location, fulfilment.order
    products = [line.order_line.product for line in fulfilment.lines]
    before = [_stock(store, p) for p in products]
    with pytest.raises(payments.PaymentFailed) as caught:
        pickups.hand_over(fulfilment, actor=ACTOR, pickup_code=fulfilment.pickup.code)
    assert caught.value.http_status == 409
    db.session.rollback()
    fulfilment = db.session.get(Fulfilment, fulfilment.id)
    assert fulfilment.status == S.READY_FOR_PICKUP and fulfilment.pickup.is_open
    assert [_stock(store, p) for p in products] == before
    (capture,) = _rows(order, "capture")
    assert capture.status == "failed"
    assert _rows(order, "void") == []
    assert fulfilment.order.needs_customer_service
    assert len(_events("payment.failed")) == 1
    assert _events("fulfilment.collected") == []


def test_a_declined_capture_hands_over_when_the_retailer_says_so(app):
    db.session.add(RetailerSettings(id=1, failed_capture="hand_over"))
    fulfilment = _ready_pickup(reference="decline-card", fee="0.00")
    store, order = fulfilment.location, fulfilment.order
    products = [line.order_line.product for line in fulfilment.lines]
    before = [_stock(store, p) for p in products]
    _pickup, txn = pickups.hand_over(fulfilment, actor=ACTOR, pickup_code=fulfilment.pickup.code)
    assert txn.status == "failed"
    assert fulfilment.status == S.COLLECTED
    quantities = [line.picked for line in fulfilment.lines]
    assert [_stock(store, p) for p in products] == [
        (o - q, r - q) for (o, r), q in zip(before, quantities, strict=True)
    ]
    assert fulfilment.order.needs_customer_service
    # The goods left unpaid: what they are worth stays authorised for customer service to settle, never voided.
    assert _rows(order, "void") == []


def test_the_demo_has_a_working_ledger(app, runner):
    from app.core.models import Order

    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    demo_orders = db.session.scalars(select(Order)).all()
    assert demo_orders and all(o.payment_provider == "test" and o.payment_reference for o in demo_orders)
    assert db.session.scalar(select(func.count()).where(PaymentTransaction.status != "succeeded")) == 0
    shipped = collected = cancelled = 0
    for order in demo_orders:
        totals = payments.totals(order)
        assert totals.authorised == order.payment_amount  # the authorisation row, as sent
        assert totals.captured + totals.voided <= totals.authorised
        statuses = {f.status for f in order.fulfilments}
        if S.SHIPPED in statuses or S.COLLECTED in statuses:
            assert totals.captured > 0
            shipped += S.SHIPPED in statuses
            collected += S.COLLECTED in statuses
        if order.status == "cancelled":
            assert (totals.captured, totals.voided) == (D("0.00"), totals.authorised)
            cancelled += 1
    assert shipped and collected and cancelled
