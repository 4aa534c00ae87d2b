from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.core.floor import dispatch, packing
from app.core.models import Carrier, Manifest, OutboundEmail, OutboxEvent, Scan, StockLevel, StockMovement
from app.extensions import db
from tests.core.test_packing import finished, picked_fulfilment, ready
from tests.factories import ACTOR, make_location

NOW = datetime(2025, 3, 3, 16, 0, tzinfo=UTC)


def _two_parcels(**kwargs):
    fulfilment = picked_fulfilment(2, 1, **kwargs)
    ready(fulfilment)
    second = packing.new_parcel(fulfilment, actor=ACTOR)
    packing.move_items(fulfilment, second, {fulfilment.lines[1]: 1}, actor=ACTOR)
    return finished(fulfilment)


def _events(kind):
    return db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == kind)).all()


def test_handing_over_every_label_ships_consumes_the_picked_units_and_writes_to_the_customer(app):
    fulfilment = _two_parcels(customer_language="fr")
    store = fulfilment.location
    first, second = (p.label.tracking_number for p in fulfilment.parcels)
    before = {line.product_id: line.picked for line in fulfilment.lines}
    on_hand = {
        row.product_id: row.on_hand
        for row in db.session.scalars(select(StockLevel).where(StockLevel.location_id == store.id))
    }

    result = dispatch.hand_over(store, first, "hand-0001", actor=ACTOR, now=NOW)
    assert (result.ok, result.outcome) == (True, "handed_over")
    assert fulfilment.status == "packed"  # one parcel still in the store
    dispatch.hand_over(store, second.lower(), "hand-0002", actor=ACTOR, now=NOW)
    assert fulfilment.status == "shipped"

    ships = db.session.scalars(select(StockMovement).where(StockMovement.kind == "ship")).all()
    assert {m.product_id: -m.on_hand_delta for m in ships} == before
    assert all(m.reserved_delta == m.on_hand_delta for m in ships)
    for row in db.session.scalars(select(StockLevel).where(StockLevel.location_id == store.id)):
        assert row.on_hand == on_hand[row.product_id] - before[row.product_id]
        assert row.reserved == 0
    assert len(_events("parcel.handed_over")) == 2
    assert len(_events("fulfilment.shipped")) == 1
    email = db.session.scalar(select(OutboundEmail))
    assert email.to == "lea@example.fr"
    assert fulfilment.order.reference in email.subject
    assert first in email.body and second in email.body
    assert "Comptoir Express" in email.body
    assert email.status == "pending"


def test_the_email_is_in_the_customers_language(app):
    from flask_babel import force_locale, gettext

    fulfilment = finished(picked_fulfilment(1, customer_language="it"))
    dispatch.hand_over(fulfilment.location, fulfilment.parcels[0].label.tracking_number, "hand-0101", actor=ACTOR)
    email = db.session.scalar(select(OutboundEmail))
    with force_locale("it"):
        expected = gettext("Your order %(ref)s is on its way", ref=fulfilment.order.reference)
    assert email.subject == expected
    with force_locale("it"):
        thanks = gettext("Thank you for your order.")
    assert thanks in email.body


def test_a_resend_is_answered_once_and_a_second_scan_changes_nothing(app):
    fulfilment = finished(picked_fulfilment(1))
    store, code = fulfilment.location, fulfilment.parcels[0].label.tracking_number
    first = dispatch.hand_over(store, code, "hand-0201", actor=ACTOR, now=NOW)
    again = dispatch.hand_over(store, code, "hand-0201", actor=ACTOR, now=NOW)
    other = dispatch.hand_over(store, code, "hand-0202", actor=ACTOR, now=NOW)
    assert (again.replayed, again.outcome) == (True, first.outcome)
    assert other.outcome == "already"
    assert len(_events("fulfilment.shipped")) == 1
    assert len(db.session.scalars(select(StockMovement).where(StockMovement.kind == "ship")).all()) == 1
    assert len(db.session.scalars(select(OutboundEmail)).all()) == 1
    assert len(db.session.scalars(select(Scan).where(Scan.purpose == "dispatch")).all()) == 2


def test_a_manifest_hands_over_all_its_parcels_at_once(app):
    one, two = _two_parcels(), None
    two = finished(picked_fulfilment(1, store=one.location))
    store = one.location
    carrier = one.parcels[0].label.carrier
    manifest = dispatch.open_manifest(store, carrier, actor=ACTOR, now=NOW)
    assert dispatch.open_manifest(store, carrier, actor=ACTOR, now=NOW) is manifest
    assert len(manifest.parcels) == 3
    result = dispatch.hand_over(store, manifest.number, "hand-0301", actor=ACTOR, now=NOW)
    assert result.params["n"] == 3
    assert (one.status, two.status) == ("shipped", "shipped")
    assert manifest.status == "handed_over"
    assert len(dispatch.handed_over_today(store, NOW)) == 3
    # The next day's manifest is a new one.
    other = dispatch.open_manifest(store, carrier, actor=ACTOR, now=datetime(2025, 3, 4, 9, 0, tzinfo=UTC))
    assert other.id != manifest.id and other.parcels == []


def test_unknown_codes_other_stores_and_void_labels_are_refused(app):
    fulfilment = finished(picked_fulfilment(1))
    store, label = fulfilment.location, fulfilment.parcels[0].label
    elsewhere = make_location()
    with pytest.raises(dispatch.UnknownCode):
        dispatch.hand_over(store, "CX999999999FR", "hand-0401", actor=ACTOR)
    with pytest.raises(dispatch.UnknownCode):
        dispatch.hand_over(store, "MAN-999999", "hand-0402", actor=ACTOR)
    with pytest.raises(dispatch.HandOverRefused):
        dispatch.hand_over(elsewhere, label.tracking_number, "hand-0403", actor=ACTOR)
    carrier = db.session.get(Carrier, label.carrier_id)
    manifest = dispatch.open_manifest(store, carrier, actor=ACTOR)
    with pytest.raises(dispatch.HandOverRefused):
        dispatch.hand_over(elsewhere, manifest.number, "hand-0404", actor=ACTOR)
    packing.void_label(label, actor=ACTOR)
    assert db.session.get(Manifest, manifest.id).parcels == []  # a voided parcel leaves the open manifest
    with pytest.raises(dispatch.HandOverRefused):
        dispatch.hand_over(store, label.tracking_number, "hand-0405", actor=ACTOR)
    assert fulfilment.status == "packed"
    assert fulfilment.parcels[0].handed_over_at is None
