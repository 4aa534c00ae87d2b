"""Ship-to-store: a click & collect order served by another location travels to the pickup store as a transfer.

The sending store packs and labels it with the pack flow, addressed to the pickup store; the carrier takes it (on
the manifest) but it is not shipped and the customer gets no "on its way" e-mail; the pickup store receives it by
its tracking number, which moves its units there in the ledger, still reserved, until it is collected."""

import io
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from app.core.errors import InvalidInput
from app.core.floor import carriers, dispatch, packing, pickups
from app.core.models import (
    Fulfilment,
    Manifest,
    OutboundEmail,
    OutboxEvent,
    Pickup,
    StockLevel,
    StockMovement,
)
from app.core.models import FulfilmentStatus as S
from app.core.ordering import orders
from app.documents import label_document, packing_slip_document
from app.extensions import db
from labels.shipping import label_pdf, label_zpl
from tests.factories import ACTOR, collect_draft, make_location, make_product, stocked

MONDAY = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _levels(location, product):
    row = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == location.id, StockLevel.product_id == product.id)
    )
    return (row.on_hand, row.reserved) if row else (0, 0)


def assert_ledger_matches_levels():
    """Every stock level is the sum of its movements (on hand and reserved), at every store."""
    sums = {
        (location_id, product_id): (on_hand or 0, reserved or 0)
        for location_id, product_id, on_hand, reserved in db.session.execute(
            select(
                StockMovement.location_id,
                StockMovement.product_id,
                func.sum(StockMovement.on_hand_delta),
                func.sum(StockMovement.reserved_delta),
            ).group_by(StockMovement.location_id, StockMovement.product_id)
        )
    }
    levels = {
        (row.location_id, row.product_id): (row.on_hand, row.reserved) for row in db.session.scalars(select(StockLevel))
    }
    for key, value in levels.items():
        assert sums.get(key, (0, 0)) == value, key
    assert set(sums) <= set(levels)


def picked_transfer(*quantities, customer_email="giulia@example.it"):
    """A click & collect order for a pickup store that lacks stock, served by another store (transfer_to the
    pickup store), picked in full; the sending store has a box. Returns (fulfilment, sender, pickup store)."""
    quantities = quantities or (2, 1)
    sender = make_location(name="Lyon Part-Dieu", address_line1="17 rue du Docteur Bouchut", postcode="69003")
    pickup_store = make_location(
        name="Milano Duomo",
        address_line1="Piazza del Duomo 1",
        address_line2="Galleria, ingresso B",
        postcode="20121",
        city="Milano",
        country="IT",
    )
    products = [make_product(weight_grams=300 + 100 * i) for i in range(len(quantities))]
    for product, quantity in zip(products, quantities, strict=True):
        stocked(sender, product, quantity + 3)
    draft = collect_draft(pickup_store, *zip(products, quantities, strict=True))
    draft.customer_email, draft.customer_language = customer_email, "it"
    order, _ = orders.create_order(draft, actor=ACTOR)
    fulfilment = orders.assign_fulfilment(
        order, sender, {line: line.quantity for line in order.lines}, actor=ACTOR, now=MONDAY, transfer_to=pickup_store
    )
    for target in (S.ACCEPTED, S.PICKING, S.PICKED):
        orders.transition(fulfilment, target, actor=ACTOR)
    packing.add_package_type(
        sender, {"name": "Box M", "length_mm": 300, "width_mm": 200, "height_mm": 150, "tare_grams": 250}, actor=ACTOR
    )
    carriers.ensure_builtin_carriers()
    db.session.flush()
    return fulfilment, sender, pickup_store


def packed_transfer(*quantities, **kwargs):
    fulfilment, sender, pickup_store = picked_transfer(*quantities, **kwargs)
    packing.start_packing(fulfilment, actor=ACTOR)
    packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)  # the suggested box and weight, service by rule
    return fulfilment, sender, pickup_store


def _pdf_text(body: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def test_a_transfer_is_packed_and_labelled_like_a_ship_order_but_addressed_to_the_pickup_store(app):
    fulfilment, sender, pickup_store = picked_transfer(2, 1)
    assert pickups.is_transfer(fulfilment)
    packing.require_shipping(fulfilment)  # not refused: it travels by carrier
    parcels = packing.start_packing(fulfilment, actor=ACTOR)
    assert [sorted(i.quantity for i in p.items) for p in parcels] == [[1, 2]]
    packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)
    assert fulfilment.status == S.PACKED
    (parcel,) = fulfilment.parcels
    label = packing.printable_label(parcel)
    assert label.service is not None and carriers.takes(label.service, parcel.weight_grams)
    assert packing.ready_parcels(sender) == [parcel]
    # The pickup store's record of it, waiting to be received.
    pickup = db.session.scalar(select(Pickup).where(Pickup.fulfilment_id == fulfilment.id))
    assert (pickup.location_id, pickup.received_at) == (pickup_store.id, None)
    assert pickups.pickup_status(fulfilment) == "to_send"

    document = label_document(label)
    assert document.recipient.name == "Milano Duomo"
    assert (document.recipient.line1, document.recipient.line2) == ("Piazza del Duomo 1", "Galleria, ingresso B")
    assert (document.recipient.postcode, document.recipient.city, document.recipient.country) == (
        "20121",
        "Milano",
        "IT",
    )
    assert fulfilment.order.reference in document.note and pickup_store.code in document.note
    assert "|IT|20121|" in document.routing
    pdf = _pdf_text(label_pdf(document))
    assert "Piazza del Duomo 1" in pdf and "20121 Milano" in pdf and fulfilment.order.reference in pdf
    assert "Giulia Rossi" not in pdf  # the customer is not the recipient
    zpl = label_zpl(document).decode()
    assert "Milano Duomo" in zpl and fulfilment.order.reference in zpl
    slip = _pdf_text(packing_slip_document(fulfilment, "a4"))
    assert "Milano Duomo" in slip and "Piazza del Duomo 1" in slip and pickup_store.code in slip


def test_a_ship_order_label_still_goes_to_the_customer_with_no_note(app):
    from tests.core.test_packing import finished, picked_fulfilment

    fulfilment = finished(picked_fulfilment(1))
    document = label_document(fulfilment.parcels[0].label)
    assert (document.recipient.name, document.recipient.city, document.note) == ("Léa Martin", "Paris", "")


def test_handing_a_transfer_to_the_carrier_does_not_ship_it_nor_write_to_the_customer(app):
    fulfilment, sender, pickup_store = packed_transfer(2, 1)
    (parcel,) = fulfilment.parcels
    product_levels = {line.product_id: _levels(sender, line.product) for line in fulfilment.lines}
    manifest = dispatch.open_manifest(sender, parcel.label.carrier, actor=ACTOR, now=MONDAY)
    assert manifest.parcels == [parcel]

    result = dispatch.hand_over(sender, parcel.label.tracking_number, "hand-t001", actor=ACTOR, now=MONDAY)
    assert (result.ok, result.outcome) == (True, "handed_over")
    assert result.params["transfers"] == [[fulfilment.order.reference, pickup_store.code]]
    assert "shipped" not in result.params
    assert parcel.handed_over_at is not None and fulfilment.status == S.PACKED
    assert db.session.get(Manifest, manifest.id).status == "handed_over"
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 0
    kinds = db.session.scalars(select(OutboxEvent.type)).all()
    assert "parcel.handed_over" in kinds and "fulfilment.shipped" not in kinds
    # Its units are still the sending store's, reserved for the order, until the pickup store receives them.
    assert {line.product_id: _levels(sender, line.product) for line in fulfilment.lines} == product_levels
    assert packing.ready_parcels(sender) == []
    assert pickups.pickup_status(fulfilment) == "in_transit"
    assert pickups.incoming(pickup_store) == [fulfilment]
    # The sending store's work is done: the queue leaves it out.
    with_carrier = select(Fulfilment.id).where(dispatch.with_carrier_clause())
    assert db.session.scalars(with_carrier).all() == [fulfilment.id]
    again = dispatch.hand_over(sender, parcel.label.tracking_number, "hand-t002", actor=ACTOR, now=MONDAY)
    assert again.outcome == "already" and fulfilment.status == S.PACKED
    assert_ledger_matches_levels()


def test_a_transfer_with_two_parcels_is_with_the_carrier_only_once_both_are_handed_over(app):
    fulfilment, sender, _pickup_store = picked_transfer(2, 1)
    packing.start_packing(fulfilment, actor=ACTOR)
    second = packing.new_parcel(fulfilment, actor=ACTOR)
    packing.move_items(fulfilment, second, {fulfilment.lines[1]: 1}, actor=ACTOR)
    packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)
    first, second = fulfilment.parcels
    with_carrier = select(Fulfilment.id).where(dispatch.with_carrier_clause())
    one = dispatch.hand_over(sender, first.label.tracking_number, "hand-t101", actor=ACTOR, now=MONDAY)
    assert "transfers" not in one.params and db.session.scalars(with_carrier).all() == []
    assert pickups.pickup_status(fulfilment) == "to_send"
    two = dispatch.hand_over(sender, second.label.tracking_number, "hand-t102", actor=ACTOR, now=MONDAY)
    assert two.params["transfers"] and db.session.scalars(with_carrier).all() == [fulfilment.id]
    assert fulfilment.status == S.PACKED


def test_the_pickup_store_receives_it_by_its_tracking_number_and_the_ledger_moves_it(app):
    fulfilment, sender, pickup_store = packed_transfer(2, 1)
    (parcel,) = fulfilment.parcels
    dispatch.hand_over(sender, parcel.label.tracking_number, "hand-t201", actor=ACTOR, now=MONDAY)
    before = {line.product_id: _levels(sender, line.product) for line in fulfilment.lines}

    with pytest.raises(InvalidInput):  # another store cannot receive it
        pickups.receive_transfer(make_location(), parcel.label.tracking_number, actor=ACTOR)
    with pytest.raises(InvalidInput):  # a code that names nothing
        pickups.receive_transfer(pickup_store, "NOPE-123", actor=ACTOR)
    assert fulfilment.pickup.received_at is None

    pickups.receive_transfer(pickup_store, parcel.label.tracking_number.lower(), actor=ACTOR)
    moves = db.session.scalar(select(func.count()).select_from(StockMovement))
    pickups.receive_transfer(pickup_store, parcel.label.tracking_number, actor=ACTOR)  # again: nothing more
    assert db.session.scalar(select(func.count()).select_from(StockMovement)) == moves
    assert fulfilment.pickup.received_at is not None and fulfilment.status == S.PACKED
    for line in fulfilment.lines:
        on_hand, reserved = before[line.product_id]
        assert _levels(sender, line.product) == (on_hand - line.picked, reserved - line.picked)
        assert _levels(pickup_store, line.product) == (line.picked, line.picked)  # still reserved for the order
    assert pickups.incoming(pickup_store) == []
    assert pickups.pickup_status(fulfilment) == "to_prepare"
    assert_ledger_matches_levels()

    # Then as any click & collect order at the pickup store: staged, collected, the units leave its ledger.
    (slot,) = pickups.add_slots(pickup_store, ["T-01"], actor=ACTOR)
    pickups.stage(fulfilment, slot, actor=ACTOR)
    assert fulfilment.status == S.READY_FOR_PICKUP
    pickups.collect(
        fulfilment, actor=ACTOR, pickup_code=fulfilment.pickup.code, bags_scanned=[f"BAG-{fulfilment.id}-1"]
    )
    assert fulfilment.status == S.COLLECTED
    for line in fulfilment.lines:
        assert _levels(pickup_store, line.product) == (0, 0)
    assert_ledger_matches_levels()
    # The customer was never told the order was "on its way" by a carrier: only the pickup e-mails.
    kinds = set(db.session.scalars(select(OutboundEmail.kind)).all())
    assert kinds and all(kind.startswith("pickup") for kind in kinds)


def test_a_transfer_the_pickup_store_receives_before_the_carrier_scan_is_not_handed_over_again(app):
    fulfilment, sender, pickup_store = packed_transfer(1)
    (parcel,) = fulfilment.parcels
    pickups.receive_transfer(pickup_store, fulfilment.order.reference, actor=ACTOR)  # brought over by hand
    assert parcel.handed_over_at is not None and packing.ready_parcels(sender) == []
    result = dispatch.hand_over(sender, parcel.label.tracking_number, "hand-t301", actor=ACTOR, now=MONDAY)
    assert result.outcome == "already" and fulfilment.status == S.PACKED
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 0
    assert_ledger_matches_levels()
