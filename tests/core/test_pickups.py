"""Click & collect after picking, in the core: bags, slots, ready, code, hand-over, partial, expiry, put-back, transfer."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.core.floor import pickups
from app.core.models import (
    AuditEvent,
    Fulfilment,
    OutboundEmail,
    OutboxEvent,
    Pickup,
    SourcingRules,
    StockLevel,
    StockMovement,
)
from app.core.models import FulfilmentStatus as S
from app.core.ordering import orders
from app.extensions import db
from tests.factories import ACTOR, collect_draft, make_location, make_product, stocked


def _level(location, product):
    return db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == location.id, StockLevel.product_id == product.id)
    )


def _ledger_holds(location, product):
    level = _level(location, product)
    on_hand, reserved = db.session.execute(
        select(func.sum(StockMovement.on_hand_delta), func.sum(StockMovement.reserved_delta)).where(
            StockMovement.location_id == location.id, StockMovement.product_id == product.id
        )
    ).one()
    assert (on_hand or 0, reserved or 0) == (level.on_hand, level.reserved)
    return level


def _picked(store=None, quantities=(2, 1), **store_settings):
    store = store or make_location(**store_settings)
    products = [make_product() for _ in quantities]
    for product in products:
        stocked(store, product, 5)
    draft = collect_draft(store, *zip(products, quantities, strict=True))
    draft.customer_email = "giulia@example.it"
    draft.customer_language = "it"
    order, _ = orders.create_order(draft, actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, store, {line: line.quantity for line in order.lines}, actor=ACTOR)
    for target in (S.ACCEPTED, S.PICKING, S.PICKED):
        orders.transition(fulfilment, target, actor=ACTOR)
    return store, products, fulfilment


def _ready(**settings):
    store, products, fulfilment = _picked(**settings)
    (slot,) = pickups.add_slots(store, ["A-01"], actor=ACTOR)
    pickups.stage(fulfilment, slot, actor=ACTOR)
    return store, products, fulfilment, slot


def test_staging_every_bag_makes_the_order_ready_with_a_code_a_deadline_an_email_and_an_event(app):
    store, _products, fulfilment = _picked(pickup_bag_step=True)
    (slot, other) = pickups.add_slots(store, ["a-01", "A-02"], actor=ACTOR)
    assert slot.code == "A-01" and pickups.slot_from_scan(store, slot.barcode) is slot
    with pytest.raises(pickups.PickupRefused):  # the bag step comes first
        pickups.stage(fulfilment, slot, actor=ACTOR)
    pickups.set_bags(fulfilment, 2, actor=ACTOR)
    pickups.stage(fulfilment, slot, actor=ACTOR, bag_number=1)
    assert fulfilment.status == S.PICKED  # bag 2 is not on the shelf yet
    now = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    pickup = pickups.stage(fulfilment, other, actor=ACTOR, bag_number=2, now=now)
    assert fulfilment.status == S.READY_FOR_PICKUP
    assert len(pickup.code) == 6 and set(pickup.code) <= set(pickups.CODE_ALPHABET)
    # seven days in store time, to the end of that day (Paris: UTC+1 in December)
    assert pickup.expires_at.astimezone(UTC) == datetime(2026, 12, 8, 22, 59, tzinfo=UTC)
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.order_id == fulfilment.order_id))
    assert email.kind == "pickup_ready" and email.to == "giulia@example.it"
    assert pickups.describe(fulfilment)["slots"] == ["A-01", "A-02"]
    assert db.session.scalar(select(OutboxEvent).where(OutboxEvent.type == "fulfilment.ready_for_pickup"))


def test_codes_are_unique_among_the_stores_open_pickups(app):
    store = make_location()
    (slot,) = pickups.add_slots(store, ["A"], actor=ACTOR)
    codes = set()
    for _ in range(5):
        _, _, fulfilment = _picked(store)
        codes.add(pickups.stage(fulfilment, slot, actor=ACTOR).code)
    assert len(codes) == 5


def test_collect_with_the_code_and_every_bag_consumes_the_units_and_sends_a_receipt(app):
    store, products, fulfilment, _slot = _ready()
    pickup = fulfilment.pickup
    with pytest.raises(pickups.BagsMissing) as caught:
        pickups.collect(fulfilment, actor=ACTOR, pickup_code=pickup.code, bags_scanned=[])
    assert caught.value.params["missing"] == "1/1"
    with pytest.raises(pickups.WrongCode):
        pickups.collect(
            fulfilment, actor=ACTOR, pickup_code="AAAAAA", bags_scanned=[pickups.bag_barcode(fulfilment.id, 1)]
        )
    pickups.collect(
        fulfilment,
        actor=ACTOR,
        pickup_code=pickups.format_code(pickup.code).lower(),
        bags_scanned=[pickups.bag_barcode(fulfilment.id, 1)],
    )
    assert fulfilment.status == S.COLLECTED and not pickup.is_open and not pickup.put_back
    for product, quantity in zip(products, (2, 1), strict=True):
        level = _ledger_holds(store, product)
        assert (level.on_hand, level.reserved) == (5 - quantity, 0)
    assert fulfilment.order.status == "completed"
    kinds = db.session.scalars(
        select(OutboundEmail.kind).where(OutboundEmail.order_id == fulfilment.order_id).order_by(OutboundEmail.id)
    ).all()
    assert kinds == ["pickup_ready", "pickup_collected"]
    # the same hand-over again changes nothing
    pickups.collect(fulfilment, actor=ACTOR, pickup_code=pickup.code)
    assert _level(store, products[0]).on_hand == 3


def test_wrong_codes_lock_the_pickup_after_five(app):
    _store, _products, fulfilment, _slot = _ready()
    pickup = fulfilment.pickup
    db.session.commit()
    for _ in range(pickups.WRONG_CODES_ALLOWED):
        pickups.count_wrong_code(pickup.id)
    db.session.refresh(pickup)
    assert pickup.locked_until is not None
    with pytest.raises(pickups.CodeLocked):
        pickups.check_code(pickup, pickup.code)


def test_a_code_typed_with_accents_or_other_scripts_is_just_a_wrong_code(app):
    _store, _products, fulfilment, _slot = _ready()
    for text in ("ÉÀÜ-ÇÑØ", "東京大阪名古屋", "١٢٣٤٥٦"):
        with pytest.raises(pickups.WrongCode):
            pickups.check_code(fulfilment.pickup, text)


def test_an_id_check_instead_of_the_code_is_required_in_full_and_audited(app):
    _store, _products, fulfilment, _slot = _ready(pickup_bag_scan=False)
    with pytest.raises(pickups.InvalidInput) as caught:
        pickups.collect(fulfilment, actor=ACTOR, id_check={"kind": "id_card"})
    assert {"id_check.last_digits", "id_check.reason"} <= caught.value.fields.keys()
    pickups.collect(
        fulfilment, actor=ACTOR, id_check={"kind": "passport", "last_digits": "4421", "reason": "phone lost"}
    )
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "pickup.collected"))
    assert audit.after["by"] == "id_check" and audit.after["id_check"]["last_digits"] == "4421"


def test_partial_collection_leaves_the_refused_units_reserved_until_put_back(app):
    store, products, fulfilment, _slot = _ready(pickup_bag_scan=False)
    code = fulfilment.pickup.code
    lines = [{"sku": products[0].sku, "quantity": 1}, {"sku": products[1].sku, "quantity": 1}]
    with pytest.raises(pickups.InvalidInput):  # a reason is needed for what is left
        pickups.collect(fulfilment, actor=ACTOR, pickup_code=code, lines=lines)
    pickups.collect(fulfilment, actor=ACTOR, pickup_code=code, lines=lines, reason="too_small")
    level = _ledger_holds(store, products[0])
    assert (level.on_hand, level.reserved) == (4, 1)  # one left the store, one waits on the shelf, off sale
    assert pickups.put_back_list(store) == [fulfilment.pickup]
    assert fulfilment.pickup.refused == [{"sku": products[0].sku, "quantity": 1, "reason": "too_small"}]
    assert pickups.restock(fulfilment, actor=ACTOR) == {products[0].sku: 1}
    level = _ledger_holds(store, products[0])
    assert (level.on_hand, level.reserved) == (4, 0)
    assert pickups.put_back_list(store) == []
    assert pickups.restock(fulfilment, actor=ACTOR) == {}  # again: nothing


def test_expiry_by_the_worker_keeps_units_off_sale_and_follows_the_retailers_rule(app):
    store, products, fulfilment, _slot = _ready()
    expires = fulfilment.pickup.expires_at
    db.session.commit()
    assert pickups.expire_due(now=expires - timedelta(minutes=1)) == 0
    assert pickups.expire_due(now=expires + timedelta(minutes=1)) == 1
    fulfilment = db.session.get(Fulfilment, fulfilment.id)
    assert fulfilment.status == S.EXPIRED and fulfilment.order.status == "cancelled"
    assert (_level(store, products[0]).on_hand, _level(store, products[0]).reserved) == (5, 2)
    assert pickups.put_back_list(store) == [fulfilment.pickup]
    # put back one line by quantity, then the rest
    pickups.restock(fulfilment, actor=ACTOR, lines=[{"sku": products[0].sku, "quantity": 1}])
    assert pickups.put_back_list(store) == [fulfilment.pickup]
    with pytest.raises(pickups.InvalidInput):
        pickups.restock(fulfilment, actor=ACTOR, lines=[{"sku": products[0].sku, "quantity": 5}])
    pickups.restock(fulfilment, actor=ACTOR)
    assert _ledger_holds(store, products[0]).reserved == 0 and pickups.put_back_list(store) == []


def test_expiry_can_hand_the_order_to_customer_service_instead(app):
    db.session.add(SourcingRules(id=1, pickup_expiry="customer_service"))
    _store, _products, fulfilment, _slot = _ready()
    pickups.expire(fulfilment, actor=ACTOR, now=fulfilment.pickup.expires_at + timedelta(seconds=1))
    assert fulfilment.order.status == "open" and fulfilment.order.needs_customer_service


def test_a_reminder_goes_once_within_the_stores_reminder_hours(app):
    _store, _products, fulfilment, _slot = _ready()
    expires = fulfilment.pickup.expires_at
    db.session.commit()
    assert pickups.remind_due(now=expires - timedelta(hours=25)) == 0
    assert pickups.remind_due(now=expires - timedelta(hours=23)) == 1
    assert pickups.remind_due(now=expires - timedelta(hours=22)) == 0
    kinds = db.session.scalars(
        select(OutboundEmail.kind).where(OutboundEmail.order_id == fulfilment.order_id).order_by(OutboundEmail.id)
    ).all()
    assert kinds == ["pickup_ready", "pickup_reminder"]


def test_extending_a_hold_must_be_in_the_future(app):
    _store, _products, fulfilment, _slot = _ready()
    now = datetime.now(UTC)
    with pytest.raises(pickups.InvalidInput):
        pickups.extend_hold(fulfilment, now - timedelta(hours=1), actor=ACTOR)
    with pytest.raises(pickups.InvalidInput):
        pickups.extend_hold(fulfilment, now + timedelta(days=90), actor=ACTOR)
    later = now + timedelta(days=10)
    assert pickups.extend_hold(fulfilment, later, actor=ACTOR).expires_at == later


def test_a_cancelled_order_on_the_shelf_waits_to_be_put_back(app):
    store, products, fulfilment, slot = _ready()
    orders.cancel_order(fulfilment.order, reason="customer called", actor=ACTOR)
    assert fulfilment.status == S.CANCELLED and fulfilment.pickup.put_back
    assert _level(store, products[0]).reserved == 2
    assert [p.fulfilment_id for p in pickups.restock_scan(store, slot.barcode)] == [fulfilment.id]


def test_arrival_is_recorded_once_and_shown_first(app):
    store, _products, _fulfilment, slot = _ready()
    _, _, other = _picked(store)
    pickups.stage(other, slot, actor=ACTOR)
    pickups.customer_arrived(other.pickup, note="  red Fiat, bay 3 ")
    pickups.customer_arrived(other.pickup, note="red Fiat, bay 3")
    assert other.pickup.arrival_note == "red Fiat, bay 3"
    assert pickups.arrivals(store) == [other.pickup]
    assert pickups.ready(store)[0] is other.pickup
    assert db.session.scalar(select(func.count()).where(OutboxEvent.type == "pickup.customer_arrived")) == 1


def test_counter_search_by_code_order_number_name_phone_and_email(app):
    store, _products, fulfilment, _slot = _ready()
    order = fulfilment.order
    order.customer_phone = "+39 345 678 9012"
    db.session.flush()
    for text in (
        fulfilment.pickup.code,
        pickups.format_code(fulfilment.pickup.code),
        order.reference,
        "giulia ros",
        "giulia@example.it",
        "3456789012",
        pickups.bag_barcode(fulfilment.id, 1),
    ):
        assert fulfilment in pickups.find_at_counter(store, text), text
    assert pickups.find_at_counter(make_location(), order.reference) == []


def test_a_transfer_is_received_at_the_pickup_store_and_its_units_move_there_in_the_ledger(app):
    sender, pickup_store = make_location(), make_location()
    product = make_product()
    stocked(sender, product, 4)
    order, _ = orders.create_order(collect_draft(pickup_store, (product, 2)), actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, sender, {order.lines[0]: 2}, actor=ACTOR, transfer_to=pickup_store)
    for target in (S.ACCEPTED, S.PICKING, S.PICKED, S.PACKED):
        orders.transition(fulfilment, target, actor=ACTOR)
    assert pickups.incoming(pickup_store) == [fulfilment]
    (slot,) = pickups.add_slots(pickup_store, ["B"], actor=ACTOR)
    with pytest.raises(pickups.PickupRefused):
        pickups.stage(fulfilment, slot, actor=ACTOR)
    pickups.receive_transfer(pickup_store, order.reference, actor=ACTOR)
    pickups.receive_transfer(pickup_store, order.reference, actor=ACTOR)  # again: nothing more
    assert (_ledger_holds(sender, product).on_hand, _level(sender, product).reserved) == (2, 0)
    assert (_ledger_holds(pickup_store, product).on_hand, _level(pickup_store, product).reserved) == (2, 2)
    assert pickups.incoming(pickup_store) == []
    pickups.stage(fulfilment, slot, actor=ACTOR)
    pickups.collect(
        fulfilment, actor=ACTOR, pickup_code=fulfilment.pickup.code, bags_scanned=[f"BAG-{fulfilment.id}-1"]
    )
    assert (_ledger_holds(pickup_store, product).on_hand, _level(pickup_store, product).reserved) == (0, 0)
    assert db.session.scalar(select(func.count(Pickup.id))) == 1


def test_a_store_offers_only_the_refusal_reasons_it_chose(app):
    from app.core.ordering import rules

    store, products, fulfilment, _slot = _ready(pickup_bag_scan=False)
    rules.update_location(store, {"pickup_refusal_reasons": ["damaged", "too_small"]}, actor=ACTOR)
    assert pickups.refusal_reasons(store) == ("too_small", "damaged")  # the catalogue's order
    lines = [{"sku": products[0].sku, "quantity": 1}, {"sku": products[1].sku, "quantity": 1}]
    code = fulfilment.pickup.code
    with pytest.raises(pickups.InvalidInput) as caught:
        pickups.collect(fulfilment, actor=ACTOR, pickup_code=code, lines=lines, reason="changed_mind")
    assert "reason" in caught.value.fields
    pickups.collect(fulfilment, actor=ACTOR, pickup_code=code, lines=lines, reason="damaged")
    for bad in ([], ["lost_it"], "damaged"):
        with pytest.raises(pickups.InvalidInput):
            rules.update_location(store, {"pickup_refusal_reasons": bad}, actor=ACTOR)


def test_a_received_transfer_cancelled_before_staging_waits_at_the_pickup_store_to_be_put_back(app):
    sender, pickup_store = make_location(), make_location()
    product = make_product()
    stocked(sender, product, 4)
    order, _ = orders.create_order(collect_draft(pickup_store, (product, 2)), actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, sender, {order.lines[0]: 2}, actor=ACTOR, transfer_to=pickup_store)
    for target in (S.ACCEPTED, S.PICKING, S.PICKED, S.PACKED):
        orders.transition(fulfilment, target, actor=ACTOR)
    pickups.receive_transfer(pickup_store, order.reference, actor=ACTOR)
    orders.cancel_order(order, reason="customer called", actor=ACTOR)
    # the units are at the pickup store, still reserved there (off sale), and nothing changed at the sender
    assert (_ledger_holds(sender, product).on_hand, _level(sender, product).reserved) == (2, 0)
    assert (_ledger_holds(pickup_store, product).on_hand, _level(pickup_store, product).reserved) == (2, 2)
    assert pickups.put_back_list(pickup_store) == [fulfilment.pickup]
    pickups.restock(fulfilment, actor=ACTOR)
    assert (_ledger_holds(pickup_store, product).on_hand, _level(pickup_store, product).reserved) == (2, 0)
